//! A CloudFormation template: parameters, conditions, resources with their attributes, outputs.
//! Plain data with deterministic serialization (ordered maps, fixed field order).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::spec::{ResourceProperties, ResourceSpec};

/// The only `AWSTemplateFormatVersion` there is.
pub const FORMAT_VERSION: &str = "2010-09-09";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, serde_json::Value>,
    pub resources: BTreeMap<String, Resource>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Output>,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            format_version: FORMAT_VERSION,
            description: None,
            metadata: BTreeMap::new(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }
}

impl Template {
    /// The template as pretty-printed JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .expect("invariant: a Template always serializes to JSON");
        s.push('\n');
        s
    }

    /// The template as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("invariant: a Template always serializes to JSON")
    }
}

/// What happens to a resource's physical resource when it leaves the stack or is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Policy {
    Delete,
    Retain,
    RetainExceptOnCreate,
    Snapshot,
}

/// One resource: its type, typed properties rendered to JSON, and its resource attributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub type_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub depends_on: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<Policy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<Policy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// The schema facts of the type, when it is one of the generated types.
    #[serde(skip)]
    pub spec: Option<&'static ResourceSpec>,
}

impl Resource {
    /// A resource from typed properties.
    pub fn new<P: ResourceProperties>(properties: &P) -> Self {
        let properties = match serde_json::to_value(properties) {
            Ok(serde_json::Value::Object(map)) => map,
            other => unreachable!(
                "invariant: generated resource properties serialize to a JSON object, got {other:?}"
            ),
        };
        Resource {
            type_name: P::SPEC.type_name.to_owned(),
            condition: None,
            depends_on: BTreeSet::new(),
            deletion_policy: None,
            update_replace_policy: None,
            metadata: None,
            properties,
            spec: Some(P::SPEC),
        }
    }

    /// Both `DeletionPolicy` and `UpdateReplacePolicy`, as CDK's removal policy sets them.
    pub fn with_removal_policy(mut self, policy: Policy) -> Self {
        self.deletion_policy = Some(policy);
        self.update_replace_policy = Some(policy);
        self
    }
}

/// The type of a template parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ParameterType {
    String,
    Number,
    #[serde(rename = "List<Number>")]
    NumberList,
    CommaDelimitedList,
    /// An AWS-specific type such as `AWS::EC2::KeyPair::KeyName`.
    #[serde(untagged)]
    Aws(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub parameter_type: ParameterType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_echo: bool,
}

impl Parameter {
    /// A parameter of a type, every constraint unset.
    pub fn new(parameter_type: ParameterType) -> Self {
        Parameter {
            parameter_type,
            description: None,
            default: None,
            allowed_pattern: None,
            allowed_values: Vec::new(),
            constraint_description: None,
            min_length: None,
            max_length: None,
            min_value: None,
            max_value: None,
            no_echo: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Export {
    pub name: serde_json::Value,
}
