//! Reading a template from text, as files, snapshots and CloudFormation's `GetTemplate` hold it:
//! JSON, or YAML with CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`, …) turned into
//! the JSON form of the intrinsics.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

#[derive(Debug, thiserror::Error)]
pub enum TemplateTextError {
    #[error("it is not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("it is not valid YAML")]
    Yaml(#[source] Box<serde_saphyr::Error>),
    #[error("it is empty")]
    Empty,
}

/// The template in `text`: JSON when it starts with `{`, else YAML.
pub fn parse(text: &str) -> Result<Value, TemplateTextError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(TemplateTextError::Empty);
    }
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).map_err(TemplateTextError::Json);
    }
    let node: Node =
        serde_saphyr::from_str(trimmed).map_err(|e| TemplateTextError::Yaml(Box::new(e)))?;
    Ok(node.0)
}

/// The body of an insta snapshot file: what follows its `---` header; the text itself when it
/// has no header.
pub fn snapshot_body(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + "\n---\n".len()..],
        None => text,
    }
}

/// A YAML node as a JSON value, with a CloudFormation tag turned into its intrinsic.
struct Node(Value);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let serde_saphyr::Tagged(Untagged(value), tag) =
            serde_saphyr::Tagged::<Untagged>::deserialize(deserializer)?;
        Ok(Node(match tag {
            Some(tag) => intrinsic(&tag, value),
            None => value,
        }))
    }
}

/// `!Ref X` → `{"Ref": "X"}`; `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`; `!Condition X` →
/// `{"Condition": "X"}`; any other `!Name v` → `{"Fn::Name": v}`. YAML's own tags (`!!str`)
/// change nothing.
fn intrinsic(tag: &str, value: Value) -> Value {
    let Some(name) = tag.strip_prefix('!').filter(|n| !n.starts_with('!')) else {
        return value;
    };
    let (key, value) = match name {
        "Ref" | "Condition" => (name.to_owned(), value),
        "GetAtt" => {
            let value = match value {
                Value::String(s) => match s.split_once('.') {
                    Some((resource, attribute)) => {
                        Value::Array(vec![resource.into(), attribute.into()])
                    }
                    None => Value::String(s),
                },
                other => other,
            };
            ("Fn::GetAtt".to_owned(), value)
        }
        other => (format!("Fn::{other}"), value),
    };
    Value::Object(Map::from_iter([(key, value)]))
}

/// A YAML node's value, its children read as [`Node`]s.
struct Untagged(Value);

impl<'de> Deserialize<'de> for Untagged {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UntaggedVisitor).map(Untagged)
    }
}

struct UntaggedVisitor;

impl<'de> Visitor<'de> for UntaggedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Node::deserialize(d).map(|n| n.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Node(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((key, Node(value))) = map.next_entry::<String, Node>()? {
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_is_read_as_json() {
        let t =
            parse("  {\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\"}}}\n").expect("json");
        assert_eq!(t["Resources"]["Q"]["Type"], "AWS::SQS::Queue");
        assert!(matches!(parse("{ nope"), Err(TemplateTextError::Json(_))));
        assert!(matches!(parse(" \n"), Err(TemplateTextError::Empty)));
    }

    #[test]
    fn yaml_short_form_tags_become_intrinsics() {
        let yaml = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-dlq"
      DelaySeconds: 5
      FifoQueue: false
      Tags:
        - Key: stream
          Value: !GetAtt Events.Arn
        - Key: nested
          Value: !Join ["", [!Ref "AWS::Region", "-x"]]
        - Key: attribute
          Value: !GetAtt [Events, StreamModeDetails.StreamMode]
        - Key: plain
          Value: !!str 300
"#;
        let t = parse(yaml).expect("yaml");
        assert_eq!(
            t["Resources"]["Queue"]["Properties"],
            json!({
                "QueueName": {"Fn::Sub": "${AWS::StackName}-dlq"},
                "DelaySeconds": 5,
                "FifoQueue": false,
                "Tags": [
                    {"Key": "stream", "Value": {"Fn::GetAtt": ["Events", "Arn"]}},
                    {"Key": "nested", "Value": {"Fn::Join": ["", [{"Ref": "AWS::Region"}, "-x"]]}},
                    {"Key": "attribute", "Value": {"Fn::GetAtt": ["Events", "StreamModeDetails.StreamMode"]}},
                    {"Key": "plain", "Value": "300"}
                ]
            })
        );
        assert_eq!(t["AWSTemplateFormatVersion"], "2010-09-09");
    }

    #[test]
    fn yaml_long_form_is_read_as_is() {
        let yaml = "Outputs:\n  Name:\n    Value:\n      Ref: Events\n    Condition: IsProd\n";
        let t = parse(yaml).expect("yaml");
        assert_eq!(
            t["Outputs"]["Name"],
            json!({"Value": {"Ref": "Events"}, "Condition": "IsProd"})
        );
        assert!(matches!(parse("a: [1,"), Err(TemplateTextError::Yaml(_))));
    }

    #[test]
    fn the_snapshot_header_is_left_out() {
        let snap =
            "---\nsource: tests/templates.rs\ndescription: x\n---\n{\n  \"Resources\": {}\n}\n";
        assert_eq!(snapshot_body(snap), "{\n  \"Resources\": {}\n}\n");
        assert_eq!(snapshot_body("{}"), "{}");
        assert_eq!(snapshot_body("---\nno end"), "---\nno end");
    }
}
