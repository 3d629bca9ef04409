use std::path::PathBuf;

/// Why generating or vendoring failed. Schema problems name the file and the JSON pointer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON in {file}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("unresolvable $ref {reference} in {file} at {pointer}")]
    UnresolvableRef {
        file: String,
        reference: String,
        pointer: String,
    },
    #[error("{file} at {pointer}: expected {expected}")]
    Shape {
        file: String,
        pointer: String,
        expected: &'static str,
    },
    #[error("{file}: type name {type_name:?} is not of the form AWS::Service::Resource")]
    TypeName { file: String, type_name: String },
    #[error(
        "{file}: properties {first:?} and {second:?} at {pointer} both map to the field {field}"
    )]
    FieldClash {
        file: String,
        pointer: String,
        first: String,
        second: String,
        field: String,
    },
    #[error("{type_name} is in both {first} and {second}")]
    DuplicateType {
        type_name: String,
        first: String,
        second: String,
    },
    #[error("patch {patch} has no schema {schema} to apply to")]
    OrphanPatch { patch: String, schema: String },
    #[error("cannot run rustfmt")]
    RustfmtSpawn(#[source] std::io::Error),
    #[error("rustfmt rejected the code generated for {file}: {stderr}")]
    Rustfmt { file: String, stderr: String },
    #[error("type {type_name} is not in {providers}")]
    UnknownType {
        type_name: String,
        providers: PathBuf,
    },
}
