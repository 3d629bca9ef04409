//! SQS: encrypted queues that refuse plain HTTP.

use std::time::Duration;

use cfn::resources::sqs;
use cfn::{Expr, Policy, Resource};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Action, Effect, Grantee, PolicyStatement, Principal, actions, policy_document};
use crate::kms::Key;
use crate::problem::check_range;

#[derive(Debug, Clone)]
pub struct QueueProps {
    /// Default: a name CloudFormation generates.
    pub queue_name: Option<String>,
    /// 60 s to 14 days. Default: 14 days, the longest, as a dead-letter queue wants.
    pub retention: Duration,
    /// Default: 30 s.
    pub visibility_timeout: Duration,
    /// Default: retained, since a queue may hold undelivered data.
    pub removal_policy: Policy,
    /// Default: SQS-managed keys (SSE-SQS), which need no KMS permission of anyone.
    pub encryption: QueueEncryption,
}

/// How a queue encrypts messages at rest.
#[derive(Debug, Clone, Default)]
pub enum QueueEncryption {
    /// SSE-SQS: keys SQS owns.
    #[default]
    SqsManaged,
    /// A customer managed key: senders and receivers need to use it too, which the grants add.
    Key(Key),
}

/// A call on a queue that a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueAction {
    ChangeMessageVisibility,
    DeleteMessage,
    GetQueueAttributes,
    GetQueueUrl,
    ReceiveMessage,
    SendMessage,
}

impl QueueAction {
    /// CDK's `grantSendMessages`.
    pub const SEND: &[QueueAction] = &[
        QueueAction::GetQueueAttributes,
        QueueAction::GetQueueUrl,
        QueueAction::SendMessage,
    ];

    /// The IAM action.
    pub fn action(self) -> Action {
        let name = match self {
            QueueAction::ChangeMessageVisibility => "ChangeMessageVisibility",
            QueueAction::DeleteMessage => "DeleteMessage",
            QueueAction::GetQueueAttributes => "GetQueueAttributes",
            QueueAction::GetQueueUrl => "GetQueueUrl",
            QueueAction::ReceiveMessage => "ReceiveMessage",
            QueueAction::SendMessage => "SendMessage",
        };
        Action::new("sqs", name)
    }
}

impl Default for QueueProps {
    fn default() -> Self {
        QueueProps {
            queue_name: None,
            retention: Duration::from_secs(14 * 24 * 3600),
            visibility_timeout: Duration::from_secs(30),
            removal_policy: Policy::Retain,
            encryption: QueueEncryption::SqsManaged,
        }
    }
}

/// A queue with SQS-managed encryption at rest and a policy denying requests without TLS.
#[derive(Debug, Clone)]
pub struct Queue {
    resource: ResourceRef,
    encryption: QueueEncryption,
}

impl Queue {
    pub fn new(scope: &Scope, id: &str, props: QueueProps) -> Queue {
        let scope = scope.child(id);
        let retention = props.retention.as_secs() as i64;
        check_range(&scope, "message retention (s)", retention, 60, 1_209_600);
        let visibility = props.visibility_timeout.as_secs() as i64;
        check_range(&scope, "visibility timeout (s)", visibility, 0, 43_200);
        let queue = sqs::Queue {
            queue_name: props.queue_name.map(Into::into),
            message_retention_period: Some(retention.into()),
            visibility_timeout: Some(visibility.into()),
            sqs_managed_sse_enabled: match &props.encryption {
                QueueEncryption::SqsManaged => Some(true.into()),
                QueueEncryption::Key(_) => None,
            },
            kms_master_key_id: match &props.encryption {
                QueueEncryption::SqsManaged => None,
                QueueEncryption::Key(key) => Some(key.arn().value()),
            },
            ..sqs::Queue::default()
        };
        let resource =
            scope.add_resource(Resource::new(&queue).with_removal_policy(props.removal_policy));
        let tls_only = PolicyStatement {
            sid: Some("DenyInsecureTransport".into()),
            effect: Effect::Deny,
            principal: Some(Principal::Anyone),
            actions: actions("sqs", &["*"]),
            resources: vec![resource.get_att("Arn").json()],
            condition: Some(json!({ "Bool": { "aws:SecureTransport": "false" } })),
        };
        let policy =
            sqs::QueuePolicy::new(policy_document(&[tls_only]), vec![resource.r#ref().value()]);
        scope.child("Policy").add_resource(Resource::new(&policy));
        Queue {
            resource,
            encryption: props.encryption,
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// The queue URL (`Ref`).
    pub fn url(&self) -> Expr {
        self.resource.r#ref()
    }

    /// Lets the grantee send messages and look the queue up, as CDK's `grantSendMessages`.
    pub fn grant_send_messages(&self, grantee: &dyn Grantee) {
        self.grant(grantee, QueueAction::SEND);
    }

    /// Lets the grantee make exactly these calls on this queue, and use its key when it has a
    /// customer managed one.
    pub fn grant(&self, grantee: &dyn Grantee, actions: &[QueueAction]) {
        grantee.grant(
            actions.iter().map(|a| a.action()).collect(),
            vec![self.arn().json()],
        );
        if let QueueEncryption::Key(key) = &self.encryption {
            key.grant_use(grantee);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use crate::test_support::stack;

    #[test]
    fn queues_are_encrypted_and_tls_only() {
        let s = stack();
        Queue::new(&s, "Dlq", QueueProps::default());
        let t = s.synth().expect("valid");
        assert_eq!(t.resources["Dlq"].properties["SqsManagedSseEnabled"], true);
        let statement = &t.resources["DlqPolicy"].properties["PolicyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
    }

    #[test]
    fn a_queue_under_a_customer_key_grants_the_key_with_its_actions() {
        let s = stack();
        let key = Key::new(&s, "Key", crate::kms::KeyProps::default());
        let queue = Queue::new(
            &s,
            "Q",
            QueueProps {
                encryption: QueueEncryption::Key(key),
                ..Default::default()
            },
        );
        let sender = crate::iam::Role::new(
            &s,
            "Sender",
            crate::iam::RoleProps {
                assumed_by: Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        queue.grant(&sender, &[QueueAction::SendMessage]);
        let t = s.synth().expect("valid");
        assert_eq!(
            t.resources["Q"].properties["KmsMasterKeyId"],
            json!({"Fn::GetAtt": ["Key", "Arn"]})
        );
        assert!(
            t.resources["Q"]
                .properties
                .get("SqsManagedSseEnabled")
                .is_none()
        );
        assert_eq!(
            t.resources["SenderDefaultPolicy"].properties["PolicyDocument"]["Statement"],
            json!([
                {"Action": ["sqs:SendMessage"], "Effect": "Allow", "Resource": [{"Fn::GetAtt": ["Q", "Arn"]}]},
                {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow", "Resource": [{"Fn::GetAtt": ["Key", "Arn"]}]}
            ])
        );
    }

    #[test]
    fn retention_is_checked() {
        let s = stack();
        Queue::new(
            &s,
            "Q",
            QueueProps {
                retention: Duration::from_secs(30),
                ..Default::default()
            },
        );
        let errors = s.synth().expect_err("too short").0;
        assert!(
            matches!(
                errors[0].problem,
                Problem::OutOfRange {
                    value: 30,
                    min: 60,
                    ..
                }
            ),
            "{errors:#?}"
        );
    }
}
