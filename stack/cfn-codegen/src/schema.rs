//! Loading the vendored schemas and applying the patches kept beside them.

use std::path::Path;

use serde_json::{Map, Value};

use crate::Error;

/// One vendored schema, with its patch (if any) applied.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The file name under `schemas/`: `aws-kinesis-stream.json`.
    pub file: String,
    /// The file name under `patches/` that was applied, if any.
    pub patch: Option<String>,
    pub doc: Value,
}

/// The file a type is vendored to: `AWS::Kinesis::Stream` → `aws-kinesis-stream.json`.
pub fn file_name(type_name: &str) -> String {
    format!("{}.json", type_name.to_lowercase().replace("::", "-"))
}

/// Every `*.json` under `schemas_dir`, sorted by file name, each with the same-named patch from
/// `patches_dir` applied. A patch without a schema is an error, so a stale patch cannot linger.
pub fn load_all(schemas_dir: &Path, patches_dir: &Path) -> Result<Vec<SchemaFile>, Error> {
    let mut schemas = Vec::new();
    for file in json_files(schemas_dir)? {
        let doc = read_json(&schemas_dir.join(&file), &file)?;
        schemas.push(SchemaFile {
            file,
            patch: None,
            doc,
        });
    }
    if patches_dir.is_dir() {
        for patch_file in json_files(patches_dir)? {
            let patch = read_json(&patches_dir.join(&patch_file), &patch_file)?;
            let Some(schema) = schemas.iter_mut().find(|s| s.file == patch_file) else {
                return Err(Error::OrphanPatch {
                    schema: schemas_dir.join(&patch_file).display().to_string(),
                    patch: patch_file,
                });
            };
            let Some(merge) = patch.get("merge_patch").filter(|m| m.is_object()) else {
                return Err(Error::Shape {
                    file: format!("patches/{patch_file}"),
                    pointer: "/merge_patch".to_owned(),
                    expected: "an RFC 7396 merge patch object",
                });
            };
            merge_patch(&mut schema.doc, merge);
            schema.patch = Some(patch_file);
        }
    }
    Ok(schemas)
}

/// The names of the `*.json` files in `dir`, sorted.
pub fn json_files(dir: &Path) -> Result<Vec<String>, Error> {
    let read_err = |source| Error::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && entry.path().is_file() {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and parses a JSON file; `name` is how errors refer to it.
pub fn read_json(path: &Path, name: &str) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        file: name.to_owned(),
        source,
    })
}

/// RFC 7396: objects merge key by key, `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The same JSON with every object's keys in sorted order (whatever `serde_json`'s map keeps).
pub fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut sorted = Map::new();
            for key in keys {
                sorted.insert(key.clone(), sort_keys(&map[key]));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_replaces_merges_and_removes() {
        let mut doc = json!({"a": {"oneOf": [1, 2], "keep": true}, "b": 1});
        merge_patch(
            &mut doc,
            &json!({"a": {"oneOf": null, "$ref": "#/x"}, "b": [2]}),
        );
        assert_eq!(doc, json!({"a": {"keep": true, "$ref": "#/x"}, "b": [2]}));
    }

    #[test]
    fn file_name_is_lowercase_and_dashed() {
        assert_eq!(
            file_name("AWS::KinesisFirehose::DeliveryStream"),
            "aws-kinesisfirehose-deliverystream.json"
        );
    }
}
