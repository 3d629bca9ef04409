//! KMS: customer managed keys with rotation and a key policy that names who may use them.

use cfn::resources::kms;
use cfn::{Expr, Policy, Resource};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Action, Effect, PolicyStatement, Principal, actions, policy_document};

/// What the account's administrators may do with the key (listed, never `kms:*`).
const ADMIN_ACTIONS: &[&str] = &[
    "CancelKeyDeletion",
    "CreateAlias",
    "CreateGrant",
    "Decrypt",
    "DeleteAlias",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListResourceTags",
    "PutKeyPolicy",
    "ReEncryptFrom",
    "ReEncryptTo",
    "RetireGrant",
    "RevokeGrant",
    "ScheduleKeyDeletion",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateKeyDescription",
];

#[derive(Debug, Clone, Default)]
pub struct KeyProps {
    pub description: Option<String>,
    /// An alias, without the `alias/` prefix.
    pub alias: Option<String>,
    /// Services that may encrypt and decrypt with the key (e.g. `cloudwatch.amazonaws.com`, so
    /// alarms can publish to a topic encrypted with it).
    pub services: Vec<&'static str>,
}

/// A customer managed key: rotation on, retained when removed from the stack (data encrypted
/// with a deleted key is lost).
#[derive(Debug, Clone)]
pub struct Key {
    resource: ResourceRef,
}

impl Key {
    pub fn new(scope: &Scope, id: &str, props: KeyProps) -> Key {
        let scope = scope.child(id);
        let mut statements = vec![PolicyStatement {
            sid: Some("AccountAdministersKey".into()),
            effect: Effect::Allow,
            principal: Some(Principal::ThisAccount),
            actions: actions("kms", ADMIN_ACTIONS),
            resources: vec![json!("*")],
            condition: None,
        }];
        for service in &props.services {
            statements.push(PolicyStatement {
                sid: Some(format!(
                    "{}UsesKey",
                    service.split('.').next().unwrap_or(service)
                )),
                effect: Effect::Allow,
                principal: Some(Principal::service(service)),
                actions: vec![
                    Action::new("kms", "Decrypt"),
                    Action::new("kms", "GenerateDataKey"),
                ],
                resources: vec![json!("*")],
                condition: None,
            });
        }
        for s in &statements {
            s.check(&scope);
        }
        let key = kms::Key {
            description: props.description.map(Into::into),
            enable_key_rotation: Some(true.into()),
            key_policy: Some(policy_document(&statements)),
            ..kms::Key::default()
        };
        let resource = scope.add_resource(Resource::new(&key).with_removal_policy(Policy::Retain));
        if let Some(alias) = props.alias {
            let alias = kms::Alias::new(format!("alias/{alias}"), resource.r#ref().value());
            scope.child("Alias").add_resource(Resource::new(&alias));
        }
        Key { resource }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }
}
