//! The IAM policy documents of a template, and their statements.

use serde_json::Value;

use crate::template::{Resource, Template, as_list};

/// Whose policy a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Attached to a role or user: `Resource` says what it grants on.
    Identity,
    /// Attached to a resource (bucket, topic, queue, key): `Resource` is that resource.
    ResourcePolicy,
    /// A role's trust policy.
    Trust,
}

/// One statement, with where it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement<'t> {
    pub(crate) resource: Resource<'t>,
    pub(crate) kind: Kind,
    /// `Sid`, or the statement's index in its document.
    pub(crate) label: &'t str,
    pub(crate) index: usize,
    pub(crate) body: &'t Value,
}

impl<'t> Statement<'t> {
    pub(crate) fn allows(&self) -> bool {
        self.body["Effect"] == "Allow"
    }

    /// The literal actions (intrinsics are not actions we can judge).
    pub(crate) fn actions(&self) -> impl Iterator<Item = &'t str> {
        as_list(&self.body["Action"])
            .iter()
            .filter_map(Value::as_str)
    }

    pub(crate) fn has_not_action(&self) -> bool {
        !self.body["NotAction"].is_null()
    }

    /// Whether `Resource` is or holds `*`.
    pub(crate) fn on_any_resource(&self) -> bool {
        as_list(&self.body["Resource"]).iter().any(|r| r == "*")
    }

    /// `statement 2` or `statement "AllowRead"`, for messages.
    pub(crate) fn describe(&self) -> String {
        if self.label.is_empty() {
            format!("statement {}", self.index)
        } else {
            format!("statement {:?}", self.label)
        }
    }
}

/// Every statement of every policy document in `template`.
pub(crate) fn statements<'t>(template: &Template<'t>) -> Vec<Statement<'t>> {
    let mut out = Vec::new();
    for resource in template.resources() {
        let mut documents: Vec<(Kind, &'t Value)> = Vec::new();
        match resource.type_name() {
            "AWS::IAM::Role" => {
                documents.push((Kind::Trust, resource.prop("AssumeRolePolicyDocument")));
                for policy in as_list(resource.prop("Policies")) {
                    documents.push((Kind::Identity, &policy["PolicyDocument"]));
                }
            }
            "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy"
            | "AWS::IAM::UserPolicy"
            | "AWS::IAM::RolePolicy"
            | "AWS::IAM::GroupPolicy" => {
                documents.push((Kind::Identity, resource.prop("PolicyDocument")));
            }
            "AWS::S3::BucketPolicy" | "AWS::SNS::TopicPolicy" | "AWS::SQS::QueuePolicy" => {
                documents.push((Kind::ResourcePolicy, resource.prop("PolicyDocument")));
            }
            "AWS::KMS::Key" => documents.push((Kind::ResourcePolicy, resource.prop("KeyPolicy"))),
            _ => {}
        }
        for (kind, document) in documents {
            for (index, body) in as_list(&document["Statement"]).iter().enumerate() {
                out.push(Statement {
                    resource,
                    kind,
                    label: body["Sid"].as_str().unwrap_or_default(),
                    index,
                    body,
                });
            }
        }
    }
    out
}
