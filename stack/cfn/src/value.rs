//! Values that are either a literal or an intrinsic function, so that every typed
//! field of a resource can hold a `Ref`, `Fn::GetAtt`, `Fn::Sub`, ...

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

/// A field value: a literal of type `T`, or an expression CloudFormation evaluates at deploy time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<T> {
    Lit(T),
    Expr(Expr),
}

impl<T: Serialize> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Lit(v) => v.serialize(serializer),
            Value::Expr(e) => e.serialize(serializer),
        }
    }
}

impl<T> From<T> for Value<T> {
    fn from(v: T) -> Self {
        Value::Lit(v)
    }
}

impl From<&str> for Value<String> {
    fn from(v: &str) -> Self {
        Value::Lit(v.to_owned())
    }
}

impl From<i32> for Value<i64> {
    fn from(v: i32) -> Self {
        Value::Lit(i64::from(v))
    }
}

impl From<u32> for Value<i64> {
    fn from(v: u32) -> Self {
        Value::Lit(i64::from(v))
    }
}

impl<T> From<Vec<T>> for Value<Vec<Value<T>>> {
    fn from(v: Vec<T>) -> Self {
        Value::Lit(v.into_iter().map(Value::Lit).collect())
    }
}

impl From<Vec<&str>> for Value<Vec<Value<String>>> {
    fn from(v: Vec<&str>) -> Self {
        Value::Lit(v.into_iter().map(Value::from).collect())
    }
}

macro_rules! expr_into_value {
    ($($t:ty),* $(,)?) => {$(
        impl From<Expr> for Value<$t> {
            fn from(e: Expr) -> Self {
                Value::Expr(e)
            }
        }
    )*};
}
expr_into_value!(String, i64, f64, bool, Vec<Value<String>>);

/// A map value with string keys, as `Tags`-like or `Variables`-like properties use.
pub type Map<T> = BTreeMap<String, T>;

/// The pseudo parameters CloudFormation defines in every template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pseudo {
    AccountId,
    NotificationArns,
    NoValue,
    Partition,
    Region,
    StackId,
    StackName,
    UrlSuffix,
}

impl Pseudo {
    /// The name as written in a template (`AWS::AccountId`).
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::NotificationArns => "AWS::NotificationARNs",
            Pseudo::NoValue => "AWS::NoValue",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }

    /// Every pseudo parameter, for reference checks.
    pub const ALL: [Pseudo; 8] = [
        Pseudo::AccountId,
        Pseudo::NotificationArns,
        Pseudo::NoValue,
        Pseudo::Partition,
        Pseudo::Region,
        Pseudo::StackId,
        Pseudo::StackName,
        Pseudo::UrlSuffix,
    ];

    /// `{"Ref": "AWS::..."}`.
    pub fn expr(self) -> Expr {
        Expr::Ref(self.name().to_owned())
    }
}

/// An intrinsic function or condition function.
///
/// Operands that can be of any type are kept as JSON (`serde_json::Value`), which itself may hold
/// nested intrinsics; build them with [`Expr::json`] or `serde_json::json!`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `{"Ref": name}`: a parameter, a resource's logical ID or a pseudo parameter.
    Ref(String),
    /// `{"Fn::GetAtt": [logical_id, attribute]}`.
    GetAtt(String, String),
    /// `{"Fn::Sub": template}` or `{"Fn::Sub": [template, {variables}]}`.
    Sub(String, BTreeMap<String, serde_json::Value>),
    /// `{"Fn::Join": [delimiter, [parts]]}`.
    Join(String, Vec<serde_json::Value>),
    /// `{"Fn::Select": [index, list]}`.
    Select(u32, Box<serde_json::Value>),
    /// `{"Fn::Split": [delimiter, source]}`.
    Split(String, Box<serde_json::Value>),
    /// `{"Fn::If": [condition, when_true, when_false]}`.
    If(String, Box<serde_json::Value>, Box<serde_json::Value>),
    /// `{"Fn::GetAZs": region}`.
    GetAzs(Box<serde_json::Value>),
    /// `{"Fn::ImportValue": name}`.
    ImportValue(Box<serde_json::Value>),
    /// `{"Fn::Equals": [a, b]}` (conditions).
    Equals(Box<serde_json::Value>, Box<serde_json::Value>),
    /// `{"Fn::Not": [condition]}` (conditions).
    Not(Box<serde_json::Value>),
    /// `{"Fn::And": [conditions]}` (conditions).
    And(Vec<serde_json::Value>),
    /// `{"Fn::Or": [conditions]}` (conditions).
    Or(Vec<serde_json::Value>),
    /// `{"Condition": name}`: a named condition inside a condition function.
    Condition(String),
}

impl Expr {
    pub fn r#ref(name: impl Into<String>) -> Self {
        Expr::Ref(name.into())
    }

    pub fn get_att(logical_id: impl Into<String>, attribute: impl Into<String>) -> Self {
        Expr::GetAtt(logical_id.into(), attribute.into())
    }

    /// `Fn::Sub` without a variable map: `${Name}` refers to parameters, resources and pseudo
    /// parameters, `${Name.Attr}` to attributes.
    pub fn sub(template: impl Into<String>) -> Self {
        Expr::Sub(template.into(), BTreeMap::new())
    }

    pub fn join(
        delimiter: impl Into<String>,
        parts: impl IntoIterator<Item = serde_json::Value>,
    ) -> Self {
        Expr::Join(delimiter.into(), parts.into_iter().collect())
    }

    pub fn select(index: u32, list: impl Into<serde_json::Value>) -> Self {
        Expr::Select(index, Box::new(list.into()))
    }

    pub fn r#if(
        condition: impl Into<String>,
        when_true: impl Into<serde_json::Value>,
        when_false: impl Into<serde_json::Value>,
    ) -> Self {
        Expr::If(
            condition.into(),
            Box::new(when_true.into()),
            Box::new(when_false.into()),
        )
    }

    pub fn equals(a: impl Into<serde_json::Value>, b: impl Into<serde_json::Value>) -> Self {
        Expr::Equals(Box::new(a.into()), Box::new(b.into()))
    }

    /// This expression as a JSON value, for untyped (JSON) properties and operands.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("invariant: an Expr always serializes to JSON")
    }

    /// This expression as a typed value.
    pub fn value<T>(self) -> Value<T> {
        Value::Expr(self)
    }
}

impl From<Expr> for serde_json::Value {
    fn from(e: Expr) -> Self {
        e.json()
    }
}

impl From<Pseudo> for Expr {
    fn from(p: Pseudo) -> Self {
        p.expr()
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Expr::Ref(name) => map.serialize_entry("Ref", name)?,
            Expr::GetAtt(id, attr) => map.serialize_entry("Fn::GetAtt", &[id, attr])?,
            Expr::Sub(template, vars) if vars.is_empty() => {
                map.serialize_entry("Fn::Sub", template)?
            }
            Expr::Sub(template, vars) => map.serialize_entry("Fn::Sub", &(template, vars))?,
            Expr::Join(delimiter, parts) => map.serialize_entry("Fn::Join", &(delimiter, parts))?,
            Expr::Select(index, list) => {
                map.serialize_entry("Fn::Select", &(index.to_string(), list))?
            }
            Expr::Split(delimiter, source) => {
                map.serialize_entry("Fn::Split", &(delimiter, source))?
            }
            Expr::If(cond, a, b) => map.serialize_entry("Fn::If", &(cond, a, b))?,
            Expr::GetAzs(region) => map.serialize_entry("Fn::GetAZs", region)?,
            Expr::ImportValue(name) => map.serialize_entry("Fn::ImportValue", name)?,
            Expr::Equals(a, b) => map.serialize_entry("Fn::Equals", &(a, b))?,
            Expr::Not(c) => map.serialize_entry("Fn::Not", &[c])?,
            Expr::And(cs) => map.serialize_entry("Fn::And", cs)?,
            Expr::Or(cs) => map.serialize_entry("Fn::Or", cs)?,
            Expr::Condition(name) => map.serialize_entry("Condition", name)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_serialize_as_themselves() {
        assert_eq!(
            serde_json::to_value(Value::<String>::from("x")).unwrap(),
            json!("x")
        );
        assert_eq!(
            serde_json::to_value(Value::<i64>::from(2)).unwrap(),
            json!(2)
        );
    }

    #[test]
    fn intrinsics_serialize_in_template_syntax() {
        let cases = [
            (Expr::r#ref("Bucket"), json!({"Ref": "Bucket"})),
            (
                Expr::get_att("Stream", "Arn"),
                json!({"Fn::GetAtt": ["Stream", "Arn"]}),
            ),
            (
                Expr::sub("a-${AWS::AccountId}"),
                json!({"Fn::Sub": "a-${AWS::AccountId}"}),
            ),
            (
                Expr::Sub("${X}".into(), BTreeMap::from([("X".into(), json!("y"))])),
                json!({"Fn::Sub": ["${X}", {"X": "y"}]}),
            ),
            (
                Expr::join("", [json!("a"), Pseudo::Region.expr().json()]),
                json!({"Fn::Join": ["", ["a", {"Ref": "AWS::Region"}]]}),
            ),
            (
                Expr::select(1, json!(["a", "b"])),
                json!({"Fn::Select": ["1", ["a", "b"]]}),
            ),
            (
                Expr::r#if("C", json!(1), Pseudo::NoValue.expr()),
                json!({"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]}),
            ),
            (
                Expr::equals(json!("a"), json!("b")),
                json!({"Fn::Equals": ["a", "b"]}),
            ),
            (
                Expr::Not(Box::new(json!({"Condition": "C"}))),
                json!({"Fn::Not": [{"Condition": "C"}]}),
            ),
        ];
        for (expr, expected) in cases {
            assert_eq!(expr.json(), expected, "{expr:?}");
        }
    }

    #[test]
    fn a_typed_field_can_hold_an_intrinsic() {
        let v: Value<i64> = Expr::r#ref("ShardCount").into();
        assert_eq!(
            serde_json::to_value(v).unwrap(),
            json!({"Ref": "ShardCount"})
        );
    }
}
