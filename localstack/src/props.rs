//! A resource's template properties, resolved and read with errors that name them: what the
//! fill-ins and the local pipeline read from the template.

use serde_json::{Map, Value};

use crate::resolve::{ResolveError, StackContext};

/// A property that cannot be read as the reader needs it.
#[derive(Debug, thiserror::Error)]
pub enum PropertyError {
    #[error("{logical_id} ({resource_type}): property {property} is not supported here")]
    Unsupported {
        logical_id: String,
        resource_type: String,
        property: String,
    },
    #[error("{logical_id} ({resource_type}): property {property} is missing or not {expected}")]
    Bad {
        logical_id: String,
        resource_type: String,
        property: String,
        expected: &'static str,
    },
    #[error("{logical_id}: cannot resolve its properties")]
    Resolve {
        logical_id: String,
        #[source]
        source: ResolveError,
    },
}

/// A resource's properties with every intrinsic resolved, read with errors that name them.
#[derive(Debug)]
pub(crate) struct Props {
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    /// Where these properties are, for messages: empty at the top, else `Outer.Inner[0].`.
    path: String,
    pub(crate) map: Map<String, Value>,
}

impl Props {
    pub(crate) fn resolve(
        logical_id: &str,
        resource_type: &str,
        resource: &Value,
        context: &StackContext,
    ) -> Result<Props, PropertyError> {
        let resolved =
            context
                .resolve(&resource["Properties"])
                .map_err(|source| PropertyError::Resolve {
                    logical_id: logical_id.to_owned(),
                    source,
                })?;
        Ok(Props {
            logical_id: logical_id.to_owned(),
            resource_type: resource_type.to_owned(),
            path: String::new(),
            map: match resolved {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        })
    }

    /// Every property is one of `known`: anything else would be silently dropped.
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), PropertyError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(property) => Err(PropertyError::Unsupported {
                logical_id: self.logical_id.clone(),
                resource_type: self.resource_type.clone(),
                property: format!("{}{property}", self.path),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn bad(&self, name: &str, expected: &'static str) -> PropertyError {
        PropertyError::Bad {
            logical_id: self.logical_id.clone(),
            resource_type: self.resource_type.clone(),
            property: format!("{}{name}", self.path),
            expected,
        }
    }

    pub(crate) fn str(&self, name: &str) -> Result<Option<String>, PropertyError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(_) => Err(self.bad(name, "a string")),
        }
    }

    pub(crate) fn required_str(&self, name: &str) -> Result<String, PropertyError> {
        self.str(name)?.ok_or_else(|| self.bad(name, "a string"))
    }

    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, PropertyError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(self.bad(name, "a boolean")),
        }
    }

    pub(crate) fn f64(&self, name: &str) -> Result<Option<f64>, PropertyError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(name, "a number")),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| self.bad(name, "a number")),
            Some(_) => Err(self.bad(name, "a number")),
        }
    }

    pub(crate) fn i32(&self, name: &str) -> Result<Option<i32>, PropertyError> {
        match self.f64(name)? {
            None => Ok(None),
            Some(n) if n.fract() == 0.0 && n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX) => {
                Ok(Some(n as i32))
            }
            Some(_) => Err(self.bad(name, "an integer")),
        }
    }

    pub(crate) fn strings(&self, name: &str) -> Result<Option<Vec<String>>, PropertyError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| self.bad(name, "a list of strings"))
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(self.bad(name, "a list of strings")),
        }
    }

    /// A JSON document (a policy) as the string the APIs take.
    pub(crate) fn document(&self, name: &str) -> Result<String, PropertyError> {
        match self.map.get(name) {
            Some(v @ Value::Object(_)) => Ok(v.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(self.bad(name, "a JSON document")),
        }
    }

    pub(crate) fn child(&self, name: &str) -> Result<Option<Props>, PropertyError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Props {
                logical_id: self.logical_id.clone(),
                resource_type: self.resource_type.clone(),
                path: format!("{}{name}.", self.path),
                map: map.clone(),
            })),
            Some(_) => Err(self.bad(name, "an object")),
        }
    }

    pub(crate) fn children(&self, name: &str) -> Result<Vec<Props>, PropertyError> {
        match self.map.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(Props {
                        logical_id: self.logical_id.clone(),
                        resource_type: self.resource_type.clone(),
                        path: format!("{}{name}[{i}].", self.path),
                        map: map.clone(),
                    }),
                    _ => Err(self.bad(name, "a list of objects")),
                })
                .collect(),
            Some(_) => Err(self.bad(name, "a list of objects")),
        }
    }

    /// The name CloudFormation would generate when the template gives none.
    pub(crate) fn generated_name(&self, context: &StackContext) -> String {
        format!("{}-{}", context.stack_name, self.logical_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(map: Value) -> Props {
        Props {
            logical_id: "Thing".into(),
            resource_type: "AWS::Test::Thing".into(),
            path: String::new(),
            map: match map {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }

    #[test]
    fn an_unknown_property_is_an_error_naming_it() {
        let p = props(json!({"Known": 1, "Outer": {"Inner": [{"Surprise": true}]}}));
        assert!(p.only(&["Known", "Outer"]).is_ok());
        let err = p.only(&["Known"]).expect_err("Outer is unknown");
        assert!(
            matches!(&err, PropertyError::Unsupported { property, .. } if property == "Outer"),
            "{err}"
        );
        let inner = &p
            .child("Outer")
            .expect("object")
            .expect("present")
            .children("Inner")
            .expect("list")[0];
        let err = inner.only(&[]).expect_err("Surprise is unknown");
        assert!(
            matches!(
                &err,
                PropertyError::Unsupported { property, .. }
                    if property == "Outer.Inner[0].Surprise"
            ),
            "{err}"
        );
    }

    #[test]
    fn properties_are_read_with_their_types() {
        let p = props(json!({
            "S": "x", "N": 300, "F": 0.01, "B": true, "BS": "false",
            "L": ["a", "b"], "Bad": [1]
        }));
        assert_eq!(p.required_str("S").expect("string"), "x");
        assert_eq!(p.str("N").expect("number as string"), Some("300".into()));
        assert_eq!(p.i32("N").expect("integer"), Some(300));
        assert_eq!(p.f64("F").expect("number"), Some(0.01));
        assert!(matches!(p.i32("F"), Err(PropertyError::Bad { .. })));
        assert_eq!(p.bool("B").expect("bool"), Some(true));
        assert_eq!(p.bool("BS").expect("bool string"), Some(false));
        assert_eq!(
            p.strings("L").expect("list"),
            Some(vec!["a".into(), "b".into()])
        );
        assert!(matches!(p.strings("Bad"), Err(PropertyError::Bad { .. })));
        assert!(matches!(
            p.required_str("Missing"),
            Err(PropertyError::Bad { .. })
        ));
        assert_eq!(p.str("Missing").expect("absent is fine"), None);
    }
}
