//! KMS: customer managed keys with rotation and a key policy that names who may use them.

use cfn::resources::kms;
use cfn::{Expr, Policy, Resource};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Effect, Grantee, PolicyStatement, Principal, actions, policy_document};

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
    /// Services that may encrypt and decrypt with the key (e.g. CloudWatch, so alarms can
    /// publish to a topic encrypted with it), each on behalf of this account only.
    pub services: Vec<ServiceUse>,
}

/// An AWS service allowed to use a key, and on whose behalf. The key policy statement carries
/// `aws:SourceAccount` (this account) and, when given, `aws:SourceArn`, so that the service
/// cannot be made to use the key for another account's resources (the confused deputy).
#[derive(Debug, Clone)]
pub struct ServiceUse {
    /// The service principal, e.g. `cloudwatch.amazonaws.com`.
    pub service: &'static str,
    /// An ARN pattern (`ArnLike`) of the resources the service acts for, e.g. this account's
    /// alarms in this region.
    pub source_arn: Option<Expr>,
}

impl ServiceUse {
    /// CloudWatch, for this account's alarms in the stack's region.
    pub fn cloudwatch_alarms() -> ServiceUse {
        ServiceUse {
            service: "cloudwatch.amazonaws.com",
            source_arn: Some(Expr::sub(
                "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
            )),
        }
    }

    /// The `Condition` block of the service's statement.
    fn condition(&self) -> serde_json::Value {
        let mut condition = json!({
            "StringEquals": { "aws:SourceAccount": Expr::r#ref("AWS::AccountId").json() }
        });
        if let Some(arn) = &self.source_arn {
            condition["ArnLike"] = json!({ "aws:SourceArn": arn.json() });
        }
        condition
    }
}

/// What a user of an encrypted topic or queue needs of its key: data keys to encrypt messages,
/// and decryption to read them back (SNS and SQS call KMS on the caller's behalf).
pub const USE_ACTIONS: &[&str] = &["Decrypt", "GenerateDataKey"];

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
        for user in &props.services {
            let service = user.service;
            statements.push(PolicyStatement {
                sid: Some(format!(
                    "{}UsesKey",
                    service.split('.').next().unwrap_or(service)
                )),
                effect: Effect::Allow,
                principal: Some(Principal::service(service)),
                actions: actions("kms", USE_ACTIONS),
                resources: vec![json!("*")],
                condition: Some(user.condition()),
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

    /// Lets the grantee encrypt and decrypt messages with the key through SNS or SQS
    /// ([`USE_ACTIONS`], on this key only).
    pub fn grant_use(&self, grantee: &dyn Grantee) {
        grantee.grant(actions("kms", USE_ACTIONS), vec![self.arn().json()]);
    }
}
