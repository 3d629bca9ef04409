//! What changes when a CloudFormation stack goes from one template to another, as a reviewer
//! needs to know it: resources added, removed and modified, down to the property (old → new);
//! whether each change replaces the resource, from the create-only properties of the resource
//! schemas ([`cfn::resources::spec`]), and which resources a replacement replaces in turn
//! (those whose create-only properties refer to it); which removals and replacements destroy data; and IAM
//! policies compared statement by statement, with every widening of a permission called out.
//!
//! Pure functions over two templates as JSON values; the output is ordered, so the same input
//! always gives the same output, and a template compared with itself gives an empty diff.
//!
//! ```
//! use serde_json::json;
//!
//! let base = json!({"Resources": {"Events": {"Type": "AWS::Kinesis::Stream",
//!     "Properties": {"Name": "events", "ShardCount": 2}}}});
//! let current = json!({"Resources": {"Events": {"Type": "AWS::Kinesis::Stream",
//!     "Properties": {"Name": "events-v2", "ShardCount": 2}}}});
//! let diff = cfn_diff::diff_templates(&base, &current)?;
//! let events = &diff.resources["Events"];
//! assert_eq!(events.replacement, Some(cfn_diff::Replacement::WillReplace));
//! assert!(events.data_loss.is_some(), "a stream replaced without UpdateReplacePolicy Retain");
//! assert!(cfn_diff::diff_templates(&base, &base)?.is_empty());
//! # Ok::<(), cfn_diff::DiffError>(())
//! ```

mod cascade;
mod iam;
mod model;
mod path;
pub mod render;
mod resource;
mod values;

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

pub use model::{
    AttachmentChange, ChangeKind, DataLoss, ElementChange, EntryDiff, Finding, PropertyChange,
    REPORT_VERSION, Replacement, Report, ResourceDiff, StackDiff, StackReport, StatementChange,
    Summary, ValueChange, Widening, WideningKind,
};
pub use path::{Path, Segment};
pub use resource::is_stateful;

/// Which of the two templates a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    Current,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::Current => "current",
        })
    }
}

/// A template that cannot be compared, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    #[error("the {side} template is not a JSON object")]
    NotATemplate { side: Side },
    #[error("the {side} template's {section} is not an object")]
    Section { side: Side, section: &'static str },
    #[error("the {side} template's resource {logical_id} is not an object")]
    Resource { side: Side, logical_id: String },
    #[error("the {side} template's resource {logical_id} has no Type (a string)")]
    NoType { side: Side, logical_id: String },
}

/// The sections compared entry by entry; every other top-level key is compared as a value.
const RESOURCES: &str = "Resources";
const PARAMETERS: &str = "Parameters";
const OUTPUTS: &str = "Outputs";

/// Everything that differs from the `base` template to the `current` one.
pub fn diff_templates(base: &Value, current: &Value) -> Result<StackDiff, DiffError> {
    let old = as_template(base, Side::Base)?;
    let new = as_template(current, Side::Current)?;
    let mut diff = StackDiff::default();

    let (old_resources, new_resources) =
        (resources(old, Side::Base)?, resources(new, Side::Current)?);
    let ids: BTreeSet<&String> = old_resources
        .keys()
        .chain(new_resources.keys())
        .copied()
        .collect();
    for id in ids {
        let found = match (old_resources.get(id), new_resources.get(id)) {
            (Some(o), Some(n)) => resource::modified(*o, *n),
            (Some(o), None) => Some(resource::added_or_removed(ChangeKind::Removed, *o)),
            (None, Some(n)) => Some(resource::added_or_removed(ChangeKind::Added, *n)),
            (None, None) => None,
        };
        if let Some(found) = found {
            diff.resources.insert(id.clone(), found);
        }
    }
    cascade::add_followers(&new_resources, &old_resources, &mut diff.resources);

    for (section, out) in [
        (PARAMETERS, &mut diff.parameters),
        (OUTPUTS, &mut diff.outputs),
    ] {
        let (o, n) = (
            entries(old, section, Side::Base)?,
            entries(new, section, Side::Current)?,
        );
        let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for name in names {
            let (before, after) = (o.get(name), n.get(name));
            let change = match (before, after) {
                (Some(_), Some(_)) => ChangeKind::Modified,
                (Some(_), None) => ChangeKind::Removed,
                _ => ChangeKind::Added,
            };
            let mut changes = Vec::new();
            values::diff(&Path::root(), before, after, &mut changes);
            if !changes.is_empty() {
                out.insert(name.clone(), EntryDiff { change, changes });
            }
        }
    }

    let sections: BTreeSet<&String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| ![RESOURCES, PARAMETERS, OUTPUTS].contains(&k.as_str()))
        .collect();
    for section in sections {
        values::diff(
            &Path::root().key(section),
            old.get(section),
            new.get(section),
            &mut diff.sections,
        );
    }
    Ok(diff)
}

fn as_template(value: &Value, side: Side) -> Result<&Map<String, Value>, DiffError> {
    value.as_object().ok_or(DiffError::NotATemplate { side })
}

fn entries(
    template: &Map<String, Value>,
    section: &'static str,
    side: Side,
) -> Result<Map<String, Value>, DiffError> {
    match template.get(section) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(DiffError::Section { side, section }),
    }
}

fn resources<'a>(
    template: &'a Map<String, Value>,
    side: Side,
) -> Result<std::collections::BTreeMap<&'a String, resource::Resource<'a>>, DiffError> {
    let map = match template.get(RESOURCES) {
        None | Some(Value::Null) => return Ok(Default::default()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(DiffError::Section {
                side,
                section: RESOURCES,
            });
        }
    };
    map.iter()
        .map(|(id, body)| {
            let body = body.as_object().ok_or_else(|| DiffError::Resource {
                side,
                logical_id: id.clone(),
            })?;
            let type_name =
                body.get("Type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| DiffError::NoType {
                        side,
                        logical_id: id.clone(),
                    })?;
            Ok((id, resource::Resource { type_name, body }))
        })
        .collect()
}
