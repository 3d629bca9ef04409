//! Replacements that follow from others: a replaced resource gets a new physical ID (and ARN),
//! so a resource whose create-only property refers to it (`Ref`, `Fn::GetAtt`, `Fn::Sub`) is
//! replaced too, though its own template text did not change.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::{ChangeKind, PropertyChange, Replacement, ResourceDiff, ValueChange};
use crate::path::Path;
use crate::resource::{self, Resource};

/// Adds to `diffs` the resources of the current template that a replacement elsewhere replaces,
/// until nothing more follows.
pub fn add_followers(
    current: &BTreeMap<&String, Resource<'_>>,
    base: &BTreeMap<&String, Resource<'_>>,
    diffs: &mut BTreeMap<String, ResourceDiff>,
) {
    loop {
        let replaced: BTreeMap<String, Replacement> = diffs
            .iter()
            .filter_map(|(id, d)| {
                d.replacement
                    .filter(|r| *r > Replacement::InPlace)
                    .map(|r| (id.clone(), r))
            })
            .collect();
        let mut added = false;
        for (id, r) in current {
            // Only resources in both templates: an added one is created anyway.
            let Some(old) = base.get(id) else { continue };
            let Some(spec) = cfn::resources::spec(r.type_name) else {
                continue;
            };
            let properties = match r.body.get("Properties") {
                Some(Value::Object(p)) => p,
                _ => continue,
            };
            for pointer in spec.create_only {
                let segments: Vec<&str> = pointer.split('/').skip(1).collect();
                let mut found = segments.first().and_then(|first| properties.get(*first));
                for segment in segments.iter().skip(1) {
                    found = found.and_then(|v| v.get(*segment));
                }
                let Some(value) = found else { continue };
                let path = segments
                    .iter()
                    .fold(Path::root().key("Properties"), |p, s| p.key(s));
                let Some((target, level)) = references(value)
                    .into_iter()
                    .filter_map(|t| replaced.get(&t).map(|l| (t, *l)))
                    .max_by_key(|(_, l)| *l)
                else {
                    continue;
                };
                let diff = diffs.entry((*id).clone()).or_insert_with(|| ResourceDiff {
                    change: ChangeKind::Modified,
                    type_name: r.type_name.to_owned(),
                    replacement: Some(Replacement::InPlace),
                    data_loss: None,
                    changes: Vec::new(),
                    iam: Vec::new(),
                    attachments: Vec::new(),
                });
                if diff.change != ChangeKind::Modified {
                    continue;
                }
                let reason = format!(
                    "create-only property {} refers to {target}, which is replaced: its value changes",
                    segments.join(".")
                );
                match diff.changes.iter_mut().find(|c| c.change.path == path) {
                    Some(c) if c.replacement >= level => continue,
                    Some(c) => {
                        c.replacement = level;
                        c.reason = Some(reason);
                    }
                    None => diff.changes.push(PropertyChange {
                        change: ValueChange {
                            path,
                            old: Some(value.clone()),
                            new: Some(value.clone()),
                        },
                        replacement: level,
                        reason: Some(reason),
                    }),
                }
                diff.changes
                    .sort_by(|a, b| a.change.path.cmp(&b.change.path));
                let worst = diff
                    .changes
                    .iter()
                    .map(|c| c.replacement)
                    .max()
                    .unwrap_or(level);
                diff.replacement = Some(worst);
                diff.data_loss = resource::replacement_loss(*old, *r, worst);
                added = true;
            }
        }
        if !added {
            return;
        }
    }
}

/// The logical IDs a value refers to: `Ref X`, `Fn::GetAtt [X, …]` or `"X.attr"`, `${X}` and
/// `${X.attr}` in `Fn::Sub` (but for its own variables and `AWS::` pseudo parameters).
fn references(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(value, &mut out);
    out
}

fn collect(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let (1, Some((key, arg))) = (map.len(), map.iter().next()) {
                match (key.as_str(), arg) {
                    ("Ref", Value::String(id)) => {
                        out.insert(id.clone());
                        return;
                    }
                    ("Fn::GetAtt", Value::Array(items)) => {
                        if let Some(Value::String(id)) = items.first() {
                            out.insert(id.clone());
                        }
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        out.insert(s.split('.').next().unwrap_or(s).to_owned());
                    }
                    ("Fn::Sub", Value::String(s)) => sub_references(s, &BTreeSet::new(), out),
                    ("Fn::Sub", Value::Array(items)) => {
                        let vars: BTreeSet<String> = items
                            .get(1)
                            .and_then(Value::as_object)
                            .map(|m| m.keys().cloned().collect())
                            .unwrap_or_default();
                        if let Some(Value::String(s)) = items.first() {
                            sub_references(s, &vars, out);
                        }
                    }
                    _ => {}
                }
            }
            for v in map.values() {
                collect(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

fn sub_references(template: &str, vars: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { return };
        let name = &after[..end];
        let id = name.split('.').next().unwrap_or(name);
        if !name.starts_with('!') && !id.starts_with("AWS::") && !vars.contains(id) {
            out.insert(id.to_owned());
        }
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_are_found_in_every_form() {
        let v = json!({"A": {"Ref": "Stream"}, "B": [{"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::GetAtt": "Key.Arn"}],
            "C": {"Fn::Sub": "arn:${AWS::Partition}:x:${Bucket.Arn}/${!Literal}/${Queue}"},
            "D": {"Fn::Sub": ["${Var}-${Topic}", {"Var": {"Ref": "Param"}}]}});
        let found: Vec<String> = references(&v).into_iter().collect();
        assert_eq!(
            found,
            [
                "Bucket", "Key", "Param", "Queue", "Stream", "Table", "Topic"
            ]
        );
    }
}
