//! Writing synthesized templates: `<StackName>.template.json` (or `.yaml`) per stack, and a
//! `manifest.json` that says where each stack deploys and which code packages it needs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cfn::Template;
use constructs::assets::Asset;
use serde::Serialize;

/// The template file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Json,
    Yaml,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot render {stack} as YAML")]
    Yaml {
        stack: String,
        #[source]
        source: serde_saphyr::ser_error::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The template as text in the format: pretty JSON, or block-style YAML; both end in a newline.
pub fn render(stack: &str, template: &Template, format: Format) -> Result<String, OutputError> {
    match format {
        Format::Json => Ok(template.to_json()),
        Format::Yaml => {
            let mut text =
                serde_saphyr::to_string(template).map_err(|source| OutputError::Yaml {
                    stack: stack.to_owned(),
                    source,
                })?;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            Ok(text)
        }
    }
}

/// The name of a stack's template file.
pub fn template_file_name(stack: &str, format: Format) -> String {
    format!("{stack}.template.{}", format.extension())
}

/// What `manifest.json` says about one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackManifest {
    pub template: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The template's parameters; `aws cloudformation deploy --parameter-overrides` takes them.
    pub parameters: Vec<String>,
    /// The code packages the template refers to (build and upload them with `synth package`).
    pub assets: Vec<Asset>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub version: u32,
    pub stacks: BTreeMap<String, StackManifest>,
}

pub const MANIFEST_FILE: &str = "manifest.json";

/// Writes `text` to `path` only when it differs, so unchanged outputs keep their mtime.
pub fn write_if_changed(path: &Path, text: &str) -> Result<bool, OutputError> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|source| OutputError::Write {
            path: dir.to_owned(),
            source,
        })?;
    }
    fs::write(path, text).map_err(|source| OutputError::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(true)
}

/// The manifest as pretty JSON with a trailing newline.
pub fn render_manifest(manifest: &Manifest) -> String {
    let mut s =
        serde_json::to_string_pretty(manifest).expect("invariant: the manifest always serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        let mut t = Template::default();
        let queue = cfn::resources::sqs::Queue {
            queue_name: Some("true".into()),
            ..Default::default()
        };
        t.resources.insert("Q".into(), cfn::Resource::new(&queue));
        t.outputs.insert(
            "Url".into(),
            cfn::Output {
                description: None,
                value: cfn::Expr::sub("${Q}:300").json(),
                export: None,
                condition: None,
            },
        );
        t
    }

    #[test]
    fn yaml_keeps_strings_strings() {
        let yaml = render("S", &template(), Format::Yaml).expect("yaml");
        // Strings YAML would otherwise read as a date, a bool or a number stay quoted.
        assert!(
            yaml.contains("AWSTemplateFormatVersion: '2010-09-09'")
                || yaml.contains("AWSTemplateFormatVersion: \"2010-09-09\""),
            "{yaml}"
        );
        assert!(
            yaml.contains("QueueName: 'true'") || yaml.contains("QueueName: \"true\""),
            "{yaml}"
        );
        assert!(yaml.ends_with('\n'));
    }

    #[test]
    fn json_is_pretty_and_ends_in_a_newline() {
        let json = render("S", &template(), Format::Json).expect("json");
        assert!(
            json.starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\""),
            "{json}"
        );
        assert!(json.ends_with("}\n"));
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a/b.json");
        assert!(write_if_changed(&path, "x").expect("write"));
        assert!(!write_if_changed(&path, "x").expect("write"));
        assert!(write_if_changed(&path, "y").expect("write"));
    }
}
