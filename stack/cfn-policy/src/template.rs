//! Read access to a template's resources, their references and their suppressions.

use serde_json::{Map, Value};

use crate::{Finding, MIN_REASON_CHARS, RuleId};

/// The metadata key holding a resource's suppressions: `[{"Rule": ..., "Reason": ...}]`.
pub const SUPPRESSIONS_METADATA_KEY: &str = "Suppressions";

/// The metadata key our constructs record the construct path under.
const PATH_METADATA_KEY: &str = "ConstructPath";

/// One suppression, as written in a resource's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub rule: String,
    pub reason: String,
}

impl Suppression {
    pub(crate) fn reason_is_valid(&self) -> bool {
        self.reason.trim().chars().count() >= MIN_REASON_CHARS
    }
}

/// A resource of the template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resource<'t> {
    pub(crate) id: &'t str,
    pub(crate) body: &'t Value,
}

impl<'t> Resource<'t> {
    pub(crate) fn type_name(&self) -> &'t str {
        self.body["Type"].as_str().unwrap_or_default()
    }

    /// A property, `Null` when absent.
    pub(crate) fn prop(&self, name: &str) -> &'t Value {
        &self.body["Properties"][name]
    }
}

/// A violation before suppressions are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) resource: String,
    pub(crate) message: String,
}

impl Violation {
    pub(crate) fn new(resource: &str, message: impl Into<String>) -> Self {
        Violation {
            resource: resource.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Template<'t> {
    resources: Option<&'t Map<String, Value>>,
}

impl<'t> Template<'t> {
    pub(crate) fn new(template: &'t Value) -> Self {
        Template {
            resources: template["Resources"].as_object(),
        }
    }

    /// Every resource, in logical ID order.
    pub(crate) fn resources(&self) -> impl Iterator<Item = Resource<'t>> + '_ {
        self.resources
            .into_iter()
            .flatten()
            .map(|(id, body)| Resource { id, body })
    }

    /// The resources of one type.
    pub(crate) fn of_type<'a>(
        &'a self,
        type_name: &'a str,
    ) -> impl Iterator<Item = Resource<'t>> + 'a {
        self.resources().filter(move |r| r.type_name() == type_name)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Resource<'t>> {
        self.resources?
            .get_key_value(id)
            .map(|(id, body)| Resource { id, body })
    }

    /// The resource `value` refers to by `Ref`, `Fn::GetAtt`, or an `Fn::Sub` that is nothing but
    /// one reference (`"${Queue.Arn}"`), if any.
    pub(crate) fn referenced(&self, value: &Value) -> Option<Resource<'t>> {
        let id = match value {
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((key, Value::String(id))) if key == "Ref" => id.as_str(),
                Some((key, Value::Array(args))) if key == "Fn::GetAtt" => args.first()?.as_str()?,
                Some((key, Value::String(att))) if key == "Fn::GetAtt" => att.split('.').next()?,
                Some((key, Value::String(sub))) if key == "Fn::Sub" => {
                    match sub_variables(sub).as_slice() {
                        [var] if sub.len() == var.len() + 3 => var_resource(var),
                        _ => return None,
                    }
                }
                _ => return None,
            },
            _ => return None,
        };
        self.get(id)
    }

    /// Every resource `value` refers to anywhere inside it: by `Ref`, `Fn::GetAtt`, or a
    /// `${Id}` / `${Id.Attribute}` of an `Fn::Sub` (not its own variables), nested in any
    /// intrinsic (`Fn::Join`, `Fn::If`, ...). In order of appearance, each once.
    pub(crate) fn references(&self, value: &Value) -> Vec<Resource<'t>> {
        let mut ids = Vec::new();
        collect_references(value, &mut ids);
        let mut out: Vec<Resource<'t>> = Vec::new();
        for id in ids {
            if let Some(r) = self.get(id)
                && !out.iter().any(|seen| seen.id == r.id)
            {
                out.push(r);
            }
        }
        out
    }

    pub(crate) fn construct_path(&self, id: &str) -> Option<String> {
        self.get(id)?.body["Metadata"][PATH_METADATA_KEY]
            .as_str()
            .map(str::to_owned)
    }

    /// The suppressions written on resource `id`; malformed entries are skipped here and reported
    /// by [`Template::invalid_suppressions`].
    pub(crate) fn suppressions(&self, id: &str) -> impl Iterator<Item = Suppression> + use<> {
        let entries = self
            .get(id)
            .and_then(|r| {
                r.body["Metadata"][SUPPRESSIONS_METADATA_KEY]
                    .as_array()
                    .cloned()
            })
            .unwrap_or_default();
        entries.into_iter().filter_map(|entry| {
            Some(Suppression {
                rule: entry["Rule"].as_str()?.to_owned(),
                reason: entry["Reason"].as_str().unwrap_or_default().to_owned(),
            })
        })
    }

    /// A finding for every suppression that is not an object naming a known rule with a reason.
    pub(crate) fn invalid_suppressions(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        for resource in self.resources() {
            let entries = &resource.body["Metadata"][SUPPRESSIONS_METADATA_KEY];
            let entries = match entries {
                Value::Null => continue,
                Value::Array(entries) => entries.as_slice(),
                _ => std::slice::from_ref(entries),
            };
            for (i, entry) in entries.iter().enumerate() {
                let rule = entry["Rule"].as_str();
                let reason = entry["Reason"].as_str().unwrap_or_default();
                let problem = match rule {
                    None => Some(format!(
                        "suppression {i} is not {{\"Rule\": ..., \"Reason\": ...}}: {entry}"
                    )),
                    Some(rule) if RuleId::parse(rule).is_none() => Some(format!(
                        "suppression {i} names no rule: `{rule}`; the rules are {}",
                        RuleId::ALL.map(RuleId::as_str).join(", ")
                    )),
                    Some(rule) if reason.trim().chars().count() < MIN_REASON_CHARS => {
                        Some(format!(
                            "suppression of {rule} needs a reason of at least {MIN_REASON_CHARS} characters, \
                             got {reason:?}"
                        ))
                    }
                    Some(_) => None,
                };
                if let Some(message) = problem {
                    findings.push(Finding {
                        rule: RuleId::ValidSuppression,
                        resource: resource.id.to_owned(),
                        path: self.construct_path(resource.id),
                        message,
                        suppressed: None,
                    });
                }
            }
        }
        findings
    }
}

/// The logical IDs `value` refers to, pushed onto `ids` (pseudo parameters and `Fn::Sub`'s own
/// variables included; [`Template::references`] keeps those that are resources).
fn collect_references<'v>(value: &'v Value, ids: &mut Vec<&'v str>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, ids)),
        Value::Object(map) if map.len() == 1 => match map.iter().next() {
            Some((key, Value::String(id))) if key == "Ref" => ids.push(id),
            Some((key, Value::Array(args))) if key == "Fn::GetAtt" => {
                ids.extend(args.first().and_then(Value::as_str));
            }
            Some((key, Value::String(att))) if key == "Fn::GetAtt" => {
                ids.extend(att.split('.').next());
            }
            Some((key, Value::String(sub))) if key == "Fn::Sub" => {
                ids.extend(sub_variables(sub).into_iter().map(var_resource));
            }
            Some((key, Value::Array(args))) if key == "Fn::Sub" => {
                let own = args.get(1).and_then(Value::as_object);
                if let Some(Value::String(sub)) = args.first() {
                    ids.extend(
                        sub_variables(sub)
                            .into_iter()
                            .filter(|var| own.is_none_or(|own| !own.contains_key(*var)))
                            .map(var_resource),
                    );
                }
                own.into_iter()
                    .flat_map(|own| own.values())
                    .for_each(|v| collect_references(v, ids));
            }
            Some((_, inner)) => collect_references(inner, ids),
            None => {}
        },
        Value::Object(map) => map.values().for_each(|v| collect_references(v, ids)),
        _ => {}
    }
}

/// The variables of an `Fn::Sub` string: `Id` and `Id.Attribute` of each `${...}`, skipping the
/// literal `${!...}`.
fn sub_variables(sub: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sub;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let var = &after[..end];
        if !var.starts_with('!') {
            out.push(var);
        }
        rest = &after[end + 1..];
    }
    out
}

/// The logical ID in an `Fn::Sub` variable: `Id` of `Id.Attribute`.
fn var_resource(var: &str) -> &str {
    var.split('.').next().unwrap_or(var)
}

/// `value` as a list: an array's items, or the value itself; nothing for `Null`.
pub(crate) fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Null => &[],
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}
