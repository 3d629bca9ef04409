//! The semantic comparison of two JSON values: objects by key, arrays by index, intrinsic
//! functions as whole values.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::model::ValueChange;
use crate::path::Path;

/// Whether `value` is an intrinsic function: an object with the single key `Ref` or `Fn::…`.
pub fn is_intrinsic(value: &Value) -> bool {
    value.as_object().is_some_and(is_intrinsic_map)
}

/// [`is_intrinsic`] of an object.
pub fn is_intrinsic_map(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .next()
            .is_some_and(|k| k == "Ref" || k.starts_with("Fn::"))
}

/// Whether `value` is or holds an intrinsic function anywhere, so that its deployed value is
/// known only when CloudFormation resolves it.
pub fn contains_intrinsic(value: &Value) -> bool {
    match value {
        _ if is_intrinsic(value) => true,
        Value::Object(map) => map.values().any(contains_intrinsic),
        Value::Array(items) => items.iter().any(contains_intrinsic),
        _ => false,
    }
}

/// Appends to `out` every difference between `old` and `new` below `path` (`None`: absent).
/// Objects are compared key by key and arrays index by index; an intrinsic function, or a value
/// whose kind changed, is one change as a whole.
pub fn diff(path: &Path, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<ValueChange>) {
    match (old, new) {
        (None, None) => {}
        (Some(o), Some(n)) if o == n => {}
        (Some(Value::Object(o)), Some(Value::Object(n)))
            if !is_intrinsic_map(o) && !is_intrinsic_map(n) =>
        {
            let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for key in keys {
                diff(&path.key(key), o.get(key), n.get(key), out);
            }
        }
        (Some(Value::Array(o)), Some(Value::Array(n))) => {
            for i in 0..o.len().max(n.len()) {
                diff(&path.index(i), o.get(i), n.get(i), out);
            }
        }
        (old, new) => out.push(ValueChange {
            path: path.clone(),
            old: old.cloned(),
            new: new.cloned(),
        }),
    }
}

/// A value as one short line: strings bare, everything else as compact JSON.
pub fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn changes(old: Value, new: Value) -> Vec<String> {
        let mut out = Vec::new();
        diff(&Path::root(), Some(&old), Some(&new), &mut out);
        out.iter()
            .map(|c| {
                let show = |v: &Option<Value>| v.as_ref().map_or("-".to_owned(), Value::to_string);
                format!("{} {} -> {}", c.path, show(&c.old), show(&c.new))
            })
            .collect()
    }

    #[test]
    fn objects_by_key_arrays_by_index() {
        let old = json!({"A": 1, "B": {"C": [1, 2, 3]}, "D": "x"});
        let new = json!({"A": 1, "B": {"C": [1, 5]}, "E": true});
        assert_eq!(
            changes(old, new),
            [
                "B.C[1] 2 -> 5",
                "B.C[2] 3 -> -",
                "D \"x\" -> -",
                "E - -> true"
            ]
        );
    }

    #[test]
    fn an_intrinsic_is_one_value() {
        let old = json!({"K": {"Fn::Sub": "${A}-x"}});
        let new = json!({"K": {"Fn::Sub": "${A}-y"}});
        assert_eq!(
            changes(old, new),
            ["K {\"Fn::Sub\":\"${A}-x\"} -> {\"Fn::Sub\":\"${A}-y\"}"]
        );
        let old = json!({"K": {"Ref": "A"}});
        let new = json!({"K": {"Ref": "A", "Other": 1}});
        assert_eq!(changes(old, new).len(), 1);
    }

    #[test]
    fn intrinsics_are_found_anywhere() {
        assert!(is_intrinsic(&json!({"Ref": "X"})));
        assert!(is_intrinsic(&json!({"Fn::GetAtt": ["X", "Arn"]})));
        assert!(!is_intrinsic(&json!({"Condition": "X"})));
        assert!(!is_intrinsic(&json!({"Ref": "X", "Y": 1})));
        assert!(contains_intrinsic(
            &json!({"A": [1, {"Fn::Join": ["", []]}]})
        ));
        assert!(!contains_intrinsic(&json!({"A": [1, {"B": "Ref"}]})));
    }

    #[test]
    fn equal_values_have_no_changes() {
        let v = json!({"A": [1, {"B": {"Ref": "C"}}]});
        assert!(changes(v.clone(), v).is_empty());
    }
}
