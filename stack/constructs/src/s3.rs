//! S3: buckets encrypted, private, TLS-only and retained by default, with lifecycle rules.

use cfn::resources::s3;
use cfn::{Expr, Policy, Resource, Value};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Effect, Grantee, PolicyStatement, Principal, actions, policy_document};
use crate::problem::Problem;

/// Storage classes objects can move to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    InfrequentAccess,
    IntelligentTiering,
    Glacier,
    GlacierInstantRetrieval,
    DeepArchive,
}

impl StorageClass {
    fn name(self) -> &'static str {
        match self {
            StorageClass::InfrequentAccess => "STANDARD_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::Glacier => "GLACIER",
            StorageClass::GlacierInstantRetrieval => "GLACIER_IR",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// The fewest days after creation S3 accepts for a transition to this class.
    fn minimum_days(self) -> u32 {
        match self {
            StorageClass::InfrequentAccess => 30,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub storage_class: StorageClass,
    pub after_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    pub id: String,
    /// Only objects under this prefix. Default: every object.
    pub prefix: Option<String>,
    pub transitions: Vec<Transition>,
    pub expiration_days: Option<u32>,
    /// Default (None): 7 days, so failed uploads do not linger.
    pub abort_incomplete_multipart_upload_days: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct BucketProps {
    /// Default: a name CloudFormation generates. An expression allows `${AWS::AccountId}`.
    pub bucket_name: Option<Value<String>>,
    pub lifecycle_rules: Vec<LifecycleRule>,
    pub versioned: bool,
    /// Default: retained, the data outlives the stack.
    pub removal_policy: Policy,
}

impl Default for BucketProps {
    fn default() -> Self {
        BucketProps {
            bucket_name: None,
            lifecycle_rules: Vec::new(),
            versioned: false,
            removal_policy: Policy::Retain,
        }
    }
}

/// A bucket with SSE-S3 encryption, all public access blocked, ACLs disabled, and a bucket
/// policy denying requests without TLS.
#[derive(Debug, Clone)]
pub struct Bucket {
    resource: ResourceRef,
}

fn check_rule(scope: &Scope, rule: &LifecycleRule) {
    let bad = |reason: String| {
        scope.report(Problem::BadLifecycleRule {
            rule: rule.id.clone(),
            reason,
        })
    };
    let mut previous: Option<&Transition> = None;
    for t in &rule.transitions {
        if t.after_days < t.storage_class.minimum_days() {
            bad(format!(
                "{} needs at least {} days, got {}",
                t.storage_class.name(),
                t.storage_class.minimum_days(),
                t.after_days
            ));
        }
        if let Some(p) = previous
            && t.after_days <= p.after_days
        {
            bad(format!(
                "transition to {} after {} days does not come after {} ({} days)",
                t.storage_class.name(),
                t.after_days,
                p.storage_class.name(),
                p.after_days
            ));
        }
        previous = Some(t);
    }
    if let (Some(exp), Some(last)) = (rule.expiration_days, rule.transitions.last())
        && exp <= last.after_days
    {
        bad(format!(
            "expiration after {exp} days does not come after the last transition ({} days)",
            last.after_days
        ));
    }
    if rule.transitions.is_empty() && rule.expiration_days.is_none() {
        bad("it neither transitions nor expires anything".into());
    }
}

impl Bucket {
    pub fn new(scope: &Scope, id: &str, props: BucketProps) -> Bucket {
        let scope = scope.child(id);
        let rules: Vec<Value<s3::bucket::Rule>> = props
            .lifecycle_rules
            .iter()
            .map(|rule| {
                check_rule(&scope, rule);
                let transitions: Vec<Value<s3::bucket::Transition>> = rule
                    .transitions
                    .iter()
                    .map(|t| {
                        s3::bucket::Transition {
                            transition_in_days: Some(i64::from(t.after_days).into()),
                            ..s3::bucket::Transition::new(t.storage_class.name())
                        }
                        .into()
                    })
                    .collect();
                let abort = rule.abort_incomplete_multipart_upload_days.unwrap_or(7);
                s3::bucket::Rule {
                    id: Some(rule.id.as_str().into()),
                    prefix: rule.prefix.as_deref().map(Into::into),
                    transitions: (!transitions.is_empty()).then(|| transitions.into()),
                    expiration_in_days: rule.expiration_days.map(|d| i64::from(d).into()),
                    abort_incomplete_multipart_upload: Some(
                        s3::bucket::AbortIncompleteMultipartUpload::new(i64::from(abort)).into(),
                    ),
                    ..s3::bucket::Rule::new("Enabled")
                }
                .into()
            })
            .collect();
        let encryption =
            s3::bucket::BucketEncryption::new(vec![s3::bucket::ServerSideEncryptionRule {
                server_side_encryption_by_default: Some(
                    s3::bucket::ServerSideEncryptionByDefault::new("AES256").into(),
                ),
                ..s3::bucket::ServerSideEncryptionRule::default()
            }]);
        let bucket = s3::Bucket {
            bucket_name: props.bucket_name,
            bucket_encryption: Some(encryption.into()),
            public_access_block_configuration: Some(
                s3::bucket::PublicAccessBlockConfiguration {
                    block_public_acls: Some(true.into()),
                    block_public_policy: Some(true.into()),
                    ignore_public_acls: Some(true.into()),
                    restrict_public_buckets: Some(true.into()),
                }
                .into(),
            ),
            ownership_controls: Some(
                s3::bucket::OwnershipControls::new(vec![s3::bucket::OwnershipControlsRule {
                    object_ownership: Some("BucketOwnerEnforced".into()),
                }])
                .into(),
            ),
            lifecycle_configuration: (!rules.is_empty())
                .then(|| s3::bucket::LifecycleConfiguration::new(rules).into()),
            versioning_configuration: props
                .versioned
                .then(|| s3::bucket::VersioningConfiguration::new("Enabled").into()),
            ..s3::Bucket::default()
        };
        let resource =
            scope.add_resource(Resource::new(&bucket).with_removal_policy(props.removal_policy));
        let b = Bucket { resource };
        let tls_only = PolicyStatement {
            sid: Some("DenyInsecureTransport".into()),
            effect: Effect::Deny,
            principal: Some(Principal::Anyone),
            actions: actions("s3", &["*"]),
            resources: vec![b.arn().json(), b.objects_arn().json()],
            condition: Some(json!({ "Bool": { "aws:SecureTransport": "false" } })),
        };
        let policy =
            s3::BucketPolicy::new(b.resource.r#ref().value(), policy_document(&[tls_only]));
        scope.child("Policy").add_resource(Resource::new(&policy));
        b
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The bucket name (`Ref`).
    pub fn name(&self) -> Expr {
        self.resource.r#ref()
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// The ARN of every object in the bucket.
    pub fn objects_arn(&self) -> Expr {
        Expr::sub(format!("${{{}.Arn}}/*", self.resource.logical_id()))
    }

    /// Lets the grantee put objects under `prefix` (e.g. `refused/`), and nothing else: no
    /// listing, no reading back, no other prefix.
    pub fn grant_put(&self, grantee: &dyn Grantee, prefix: &str) {
        let objects = Expr::sub(format!("${{{}.Arn}}/{prefix}*", self.resource.logical_id()));
        grantee.grant(actions("s3", &["PutObject"]), vec![objects.json()]);
    }

    /// Lets the grantee write objects, as Firehose's S3 destination needs (it also lists and
    /// reads back multipart uploads).
    pub fn grant_write(&self, grantee: &dyn Grantee) {
        let acts = actions(
            "s3",
            &[
                "AbortMultipartUpload",
                "GetBucketLocation",
                "GetObject",
                "ListBucket",
                "ListBucketMultipartUploads",
                "PutObject",
            ],
        );
        grantee.grant(acts, vec![self.arn().json(), self.objects_arn().json()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stack;

    fn rule(transitions: Vec<Transition>, expiration_days: Option<u32>) -> LifecycleRule {
        LifecycleRule {
            id: "Archive".into(),
            prefix: None,
            transitions,
            expiration_days,
            abort_incomplete_multipart_upload_days: None,
        }
    }

    #[test]
    fn buckets_are_private_encrypted_retained_and_tls_only() {
        let s = stack();
        Bucket::new(&s, "Archive", BucketProps::default());
        let t = s.synth().expect("valid");
        let b = &t.resources["Archive"];
        assert_eq!(b.deletion_policy, Some(Policy::Retain));
        assert_eq!(
            b.properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
                ["SSEAlgorithm"],
            "AES256"
        );
        assert_eq!(
            b.properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
            true
        );
        let statement = &t.resources["ArchivePolicy"].properties["PolicyDocument"]["Statement"][0];
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
    }

    #[test]
    fn lifecycle_rules_are_checked() {
        let s = stack();
        let ia = |d| Transition {
            storage_class: StorageClass::InfrequentAccess,
            after_days: d,
        };
        let glacier = |d| Transition {
            storage_class: StorageClass::Glacier,
            after_days: d,
        };
        Bucket::new(
            &s,
            "Ok",
            BucketProps {
                lifecycle_rules: vec![rule(vec![ia(30), glacier(90)], Some(365))],
                ..Default::default()
            },
        );
        Bucket::new(
            &s,
            "TooSoon",
            BucketProps {
                lifecycle_rules: vec![rule(vec![ia(10)], None)],
                ..Default::default()
            },
        );
        Bucket::new(
            &s,
            "Backwards",
            BucketProps {
                lifecycle_rules: vec![rule(vec![ia(90), glacier(60)], Some(30))],
                ..Default::default()
            },
        );
        let errors = s.synth().expect_err("bad rules").0;
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["Test/TooSoon", "Test/Backwards", "Test/Backwards"],
            "{errors:#?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| matches!(e.problem, Problem::BadLifecycleRule { .. }))
        );
    }
}
