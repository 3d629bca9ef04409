//! Copying the schemas of the types in `types.txt` out of cfn-lint's bundled registry schemas.

use std::collections::BTreeSet;
use std::path::Path;

use crate::{Error, Layout, schema};

/// What [`vendor`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vendored {
    /// The schema files written, one per type.
    pub written: Vec<String>,
    /// Schema files removed because their type left `types.txt`.
    pub removed: Vec<String>,
    /// `schema_date` from cfn-lint's `version.json`, if present.
    pub schema_date: Option<String>,
    /// cfn-lint's version from `cfnlint/version.py`, if `from` sits inside a cfn-lint package.
    pub cfn_lint_version: Option<String>,
}

/// The type names listed in `types.txt` (one per line; blank lines and `#` comments ignored).
pub fn read_types(path: &Path) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Re-vendors every type of `types.txt` from `from` (cfn-lint's `data/schemas` directory, holding
/// `providers/<region>.json` and `resources/<hash>.json`), pretty-printed with sorted keys, and
/// rewrites `schemas/NOTICE.md`.
pub fn vendor(layout: &Layout, from: &Path, region: &str) -> Result<Vendored, Error> {
    let types = read_types(&layout.types)?;
    let providers_path = from.join("providers").join(format!("{region}.json"));
    let providers = schema::read_json(&providers_path, &providers_path.display().to_string())?;
    std::fs::create_dir_all(&layout.schemas).map_err(|source| Error::Write {
        path: layout.schemas.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for type_name in &types {
        let hash = providers
            .get(type_name)
            .and_then(|h| h.as_str())
            .ok_or_else(|| Error::UnknownType {
                type_name: type_name.clone(),
                providers: providers_path.clone(),
            })?;
        let source = from.join("resources").join(format!("{hash}.json"));
        let doc = schema::read_json(&source, &source.display().to_string())?;
        let file = schema::file_name(type_name);
        write(
            &layout.schemas.join(&file),
            &pretty(&schema::sort_keys(&doc)),
        )?;
        written.push(file);
    }
    let keep: BTreeSet<&String> = written.iter().collect();
    let mut removed = Vec::new();
    for file in schema::json_files(&layout.schemas)? {
        if !keep.contains(&file) {
            let path = layout.schemas.join(&file);
            std::fs::remove_file(&path).map_err(|source| Error::Write { path, source })?;
            removed.push(file);
        }
    }
    let version_path = from.join("version.json");
    let schema_date = if version_path.is_file() {
        schema::read_json(&version_path, "version.json")?
            .get("schema_date")
            .and_then(|d| d.as_str())
            .map(str::to_owned)
    } else {
        None
    };
    let cfn_lint_version = std::fs::read_to_string(from.join("../../version.py"))
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("__version__"))?;
            Some(line.split('"').nth(1)?.to_owned())
        });
    let vendored = Vendored {
        written,
        removed,
        schema_date,
        cfn_lint_version,
    };
    write(
        &layout.schemas.join("NOTICE.md"),
        &notice(&vendored, region, &types),
    )?;
    Ok(vendored)
}

fn pretty(doc: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(doc)
        .expect("invariant: a serde_json::Value with string keys always serializes");
    text.push('\n');
    text
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

fn notice(vendored: &Vendored, region: &str, types: &[String]) -> String {
    let version = vendored
        .cfn_lint_version
        .as_deref()
        .unwrap_or("(unknown version)");
    let date = vendored.schema_date.as_deref().unwrap_or("(unknown)");
    format!(
        "# Vendored CloudFormation resource schemas\n\
         \n\
         The `*.json` files here are the resource provider schemas of the {count} types listed in\n\
         `../types.txt`, as bundled with cfn-lint {version} under `cfnlint/data/schemas`\n\
         (schema_date {date}, region {region}): for each type, the file that\n\
         `providers/{region}.json` points to in `resources/`. They are re-serialized with sorted keys\n\
         and two-space indentation so that diffs stay readable; the content is otherwise unchanged.\n\
         Fixes are kept apart, as data, in `../patches/`.\n\
         \n\
         cfn-lint is licensed under MIT-0 (MIT No Attribution). The schemas originate from the AWS\n\
         CloudFormation resource provider registry (what `aws cloudformation describe-type`\n\
         returns), with cfn-lint's own corrections applied.\n\
         \n\
         ## Refreshing\n\
         \n\
         ```sh\n\
         mkdir -p /tmp/cfnl && cd /tmp/cfnl\n\
         pip download --no-deps cfn-lint==<version> -d .\n\
         unzip -q -o cfn_lint-<version>-py3-none-any.whl -d whl\n\
         cd <workspace root>\n\
         cargo run -p cfn-codegen -- vendor --from /tmp/cfnl/whl/cfnlint/data/schemas --region {region}\n\
         cargo run -p cfn-codegen\n\
         ```\n\
         \n\
         `vendor` rewrites this file and the schema of every type in `../types.txt`, and removes the\n\
         schemas of types no longer listed; the second command regenerates\n\
         `stack/cfn/src/resources/`. To add a type, add its line to `../types.txt` and run both.\n",
        count = types.len(),
    )
}
