//! Generates the typed resources of the `cfn` crate (`stack/cfn/src/resources/`) from the
//! CloudFormation resource provider schemas vendored in `schemas/`.
//!
//! The pipeline: [`schema`] loads each schema and applies its patch from `patches/`, [`model`]
//! resolves `$ref`s and turns it into structs and Rust types, [`render`] writes the Rust source,
//! [`output`] formats it with `rustfmt` and compares it with, or writes it to, the tree.
//! [`vendor`] refreshes `schemas/` from cfn-lint's bundled copy of the registry.

mod docs;
mod error;
pub mod model;
mod naming;
pub mod output;
pub mod render;
pub mod schema;
pub mod vendor;

use std::path::{Path, PathBuf};

pub use error::Error;
pub use output::{Files, Stale, generate, stale, write};

/// Where the generator reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The vendored schemas: `stack/cfn-codegen/schemas`.
    pub schemas: PathBuf,
    /// Fixes to the schemas, one merge patch per schema file: `stack/cfn-codegen/patches`.
    pub patches: PathBuf,
    /// The type names to vendor: `stack/cfn-codegen/types.txt`.
    pub types: PathBuf,
    /// The generated module: `stack/cfn/src/resources`.
    pub out: PathBuf,
}

impl Layout {
    /// The layout of this repository, from the generator crate's directory (pass
    /// `env!("CARGO_MANIFEST_DIR")`, so that the working directory does not matter).
    pub fn from_manifest_dir(manifest_dir: &Path) -> Self {
        Layout {
            schemas: manifest_dir.join("schemas"),
            patches: manifest_dir.join("patches"),
            types: manifest_dir.join("types.txt"),
            out: match manifest_dir.parent() {
                Some(stack) => stack.join("cfn/src/resources"),
                None => manifest_dir.join("../cfn/src/resources"),
            },
        }
    }
}
