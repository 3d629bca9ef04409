//! SQS: encrypted queues that refuse plain HTTP.

use std::time::Duration;

use cfn::resources::sqs;
use cfn::{Expr, Policy, Resource};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Effect, Grantee, PolicyStatement, Principal, actions, policy_document};
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
}

impl Default for QueueProps {
    fn default() -> Self {
        QueueProps {
            queue_name: None,
            retention: Duration::from_secs(14 * 24 * 3600),
            visibility_timeout: Duration::from_secs(30),
            removal_policy: Policy::Retain,
        }
    }
}

/// A queue with SQS-managed encryption at rest and a policy denying requests without TLS.
#[derive(Debug, Clone)]
pub struct Queue {
    resource: ResourceRef,
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
            sqs_managed_sse_enabled: Some(true.into()),
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
        Queue { resource }
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

    /// Lets the grantee send messages (an event source mapping's on-failure destination).
    pub fn grant_send_messages(&self, grantee: &dyn Grantee) {
        let acts = actions("sqs", &["GetQueueAttributes", "GetQueueUrl", "SendMessage"]);
        grantee.grant(acts, vec![self.arn().json()]);
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
