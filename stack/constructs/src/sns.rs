//! SNS: encrypted topics that refuse plain HTTP, with e-mail subscriptions and publish grants.

use cfn::resources::sns;
use cfn::{Expr, Resource, Value};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Effect, Grantee, PolicyStatement, Principal, actions, policy_document};
use crate::kms::Key;

/// How a topic encrypts messages at rest.
#[derive(Debug, Clone, Default)]
pub enum TopicEncryption {
    /// The AWS managed key `alias/aws/sns`. Publishers in the account need no KMS permission,
    /// but AWS services (CloudWatch alarms) cannot publish to such a topic.
    #[default]
    AwsManaged,
    /// A customer managed key, whose key policy must let the publishing services use it.
    Key(Key),
}

#[derive(Debug, Clone, Default)]
pub struct TopicProps {
    /// Default: a name CloudFormation generates.
    pub topic_name: Option<String>,
    pub display_name: Option<String>,
    pub encryption: TopicEncryption,
    /// AWS services allowed to publish (e.g. `cloudwatch.amazonaws.com` for alarm actions), from
    /// this account only.
    pub publishing_services: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Topic {
    scope: Scope,
    resource: ResourceRef,
    encryption: TopicEncryption,
}

impl Topic {
    pub fn new(scope: &Scope, id: &str, props: TopicProps) -> Topic {
        let scope = scope.child(id);
        let key: Value<String> = match &props.encryption {
            TopicEncryption::AwsManaged => Value::from("alias/aws/sns"),
            TopicEncryption::Key(key) => key.arn().value(),
        };
        let topic = sns::Topic {
            topic_name: props.topic_name.map(Into::into),
            display_name: props.display_name.map(Into::into),
            kms_master_key_id: Some(key),
            ..sns::Topic::default()
        };
        let resource = scope.add_resource(Resource::new(&topic));
        let tls_only = PolicyStatement {
            sid: Some("DenyInsecureTransport".into()),
            effect: Effect::Deny,
            principal: Some(Principal::Anyone),
            actions: actions("sns", &["Publish"]),
            resources: vec![resource.r#ref().json()],
            condition: Some(json!({ "Bool": { "aws:SecureTransport": "false" } })),
        };
        let mut statements = vec![tls_only];
        for service in &props.publishing_services {
            statements.push(PolicyStatement {
                sid: Some(format!("{}Publishes", service.split('.').next().unwrap_or(service))),
                effect: Effect::Allow,
                principal: Some(Principal::service(service)),
                actions: actions("sns", &["Publish"]),
                resources: vec![resource.r#ref().json()],
                condition: Some(json!({ "StringEquals": { "aws:SourceAccount": Expr::r#ref("AWS::AccountId").json() } })),
            });
        }
        let policy =
            sns::TopicPolicy::new(policy_document(&statements), vec![resource.r#ref().value()]);
        scope.child("Policy").add_resource(Resource::new(&policy));
        Topic {
            scope,
            resource,
            encryption: props.encryption,
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The topic ARN (`Ref` of a topic is its ARN).
    pub fn arn(&self) -> Expr {
        self.resource.r#ref()
    }

    /// Subscribes an e-mail address (usually a template parameter, so no address is in code).
    pub fn add_email_subscription(&self, id: &str, address: Expr) {
        let sub = sns::Subscription {
            endpoint: Some(address.value()),
            ..sns::Subscription::new("email", self.arn().value())
        };
        self.scope.child(id).add_resource(Resource::new(&sub));
    }

    /// Lets the grantee publish to this topic, and use its key when it has a customer managed
    /// one (SNS asks KMS for a data key on the publisher's behalf).
    pub fn grant_publish(&self, grantee: &dyn Grantee) {
        grantee.grant(actions("sns", &["Publish"]), vec![self.arn().json()]);
        if let TopicEncryption::Key(key) = &self.encryption {
            key.grant_use(grantee);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::KeyProps;
    use crate::test_support::stack;

    #[test]
    fn topics_are_encrypted_with_the_managed_key_by_default() {
        let s = stack();
        Topic::new(&s, "T", TopicProps::default());
        let t = s.synth().expect("valid");
        assert_eq!(
            t.resources["T"].properties["KmsMasterKeyId"],
            "alias/aws/sns"
        );
        assert_eq!(
            t.resources["TPolicy"].properties["PolicyDocument"]["Statement"][0]["Effect"],
            "Deny"
        );
    }

    #[test]
    fn a_customer_key_lets_named_services_publish() {
        let s = stack();
        let key = Key::new(
            &s,
            "Key",
            KeyProps {
                services: vec![crate::kms::ServiceUse::cloudwatch_alarms()],
                ..Default::default()
            },
        );
        let topic = Topic::new(
            &s,
            "T",
            TopicProps {
                encryption: TopicEncryption::Key(key),
                publishing_services: vec!["cloudwatch.amazonaws.com"],
                ..Default::default()
            },
        );
        let publisher = crate::iam::Role::new(
            &s,
            "Publisher",
            crate::iam::RoleProps {
                assumed_by: crate::iam::Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        topic.grant_publish(&publisher);
        let t = s.synth().expect("valid");
        assert_eq!(
            t.resources["PublisherDefaultPolicy"].properties["PolicyDocument"]["Statement"],
            json!([
                {"Action": ["sns:Publish"], "Effect": "Allow", "Resource": [{"Ref": "T"}]},
                {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow", "Resource": [{"Fn::GetAtt": ["Key", "Arn"]}]}
            ]),
            "publishing to a topic under a customer key needs the key too"
        );
        let topic_policy = &t.resources["TPolicy"].properties["PolicyDocument"]["Statement"][1];
        assert_eq!(
            topic_policy["Principal"]["Service"],
            "cloudwatch.amazonaws.com"
        );
        assert_eq!(topic_policy["Action"], json!(["sns:Publish"]));
        assert_eq!(
            t.resources["T"].properties["KmsMasterKeyId"],
            json!({"Fn::GetAtt": ["Key", "Arn"]})
        );
        let statements = &t.resources["Key"].properties["KeyPolicy"]["Statement"];
        assert_eq!(
            statements[1]["Principal"]["Service"],
            "cloudwatch.amazonaws.com"
        );
        assert_eq!(
            statements[1]["Condition"],
            json!({
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}}
            })
        );
        assert_eq!(t.resources["Key"].properties["EnableKeyRotation"], true);
    }
}
