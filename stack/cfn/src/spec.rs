//! What the CloudFormation resource provider schemas say about each resource type, kept for code
//! that reasons about templates: validation (`GetAtt` attributes, required properties) and diffs
//! (create-only properties force a replacement).

use serde::Serialize;

/// The schema facts of one resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceSpec {
    /// `AWS::Kinesis::Stream`.
    pub type_name: &'static str,
    /// Top-level properties, in schema order.
    pub properties: &'static [PropertySpec],
    /// Attributes `Fn::GetAtt` can read (from `readOnlyProperties`; nested ones dotted, `Endpoint.Address`).
    pub attributes: &'static [&'static str],
    /// Properties whose change replaces the resource, as JSON pointers below `Properties` (`/Name`).
    pub create_only: &'static [&'static str],
    /// Properties whose change may replace the resource, depending on the change (`conditionalCreateOnlyProperties`).
    pub conditional_create_only: &'static [&'static str],
    /// Properties CloudFormation never returns (secrets and the like), as JSON pointers below `Properties`.
    pub write_only: &'static [&'static str],
    /// The properties that identify a deployed resource, as JSON pointers below `Properties`.
    pub primary_identifier: &'static [&'static str],
}

/// The schema facts of one top-level property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertySpec {
    /// `ShardCount`.
    pub name: &'static str,
    /// In the schema's `required` list.
    pub required: bool,
    /// Changing it replaces the resource.
    pub create_only: bool,
}

impl ResourceSpec {
    /// Whether `Fn::GetAtt` can read `attribute` of this type.
    pub fn has_attribute(&self, attribute: &str) -> bool {
        self.attributes.contains(&attribute)
    }

    /// The spec of a top-level property.
    pub fn property(&self, name: &str) -> Option<&'static PropertySpec> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The required top-level properties.
    pub fn required(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.properties
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
    }
}

/// The properties of one resource type, typed; implemented by the generated L1 structs.
pub trait ResourceProperties: Serialize {
    /// The schema facts of this type.
    const SPEC: &'static ResourceSpec;
}
