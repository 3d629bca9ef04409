//! What both stacks build the same way.

use cfn::{Expr, Output, Parameter, ParameterType};
use constructs::Stack;
use constructs::kms::{Key, KeyProps, ServiceUse};
use constructs::sns::{Topic, TopicEncryption, TopicProps};

/// The template parameter with the address alerts are e-mailed to.
pub const ALERT_EMAIL_PARAMETER: &str = "AlertEmail";

const CLOUDWATCH: &str = "cloudwatch.amazonaws.com";

/// An e-mail address parameter (no address lives in code).
pub(crate) fn email_parameter(stack: &Stack, description: &str) -> Expr {
    let parameter = Parameter {
        description: Some(description.into()),
        allowed_pattern: Some(r"^[^@\s]+@[^@\s]+\.[^@\s]+$".into()),
        constraint_description: Some("must be an e-mail address".into()),
        ..Parameter::new(ParameterType::String)
    };
    stack.add_parameter(ALERT_EMAIL_PARAMETER, parameter)
}

pub(crate) fn output(stack: &Stack, name: &str, description: &str, value: Expr) {
    stack.add_output(
        name,
        Output {
            description: Some(description.into()),
            value: value.json(),
            export: None,
            condition: None,
        },
    );
}

/// A topic CloudWatch alarms can notify, e-mailing `email`. It is encrypted with a customer
/// managed key of its own (`<id>Key`) whose policy lets CloudWatch use it: CloudWatch cannot
/// publish to a topic under the AWS managed `alias/aws/sns` key.
pub(crate) fn alarm_topic(
    stack: &Stack,
    id: &str,
    topic_name: &str,
    display_name: &str,
    email: Expr,
) -> Topic {
    let key = Key::new(
        &stack.child(id),
        "Key",
        KeyProps {
            description: Some(format!("Encrypts the {topic_name} topic")),
            alias: Some(topic_name.to_owned()),
            services: vec![ServiceUse::cloudwatch_alarms()],
        },
    );
    let topic = Topic::new(
        stack,
        id,
        TopicProps {
            topic_name: Some(topic_name.to_owned()),
            display_name: Some(display_name.to_owned()),
            encryption: TopicEncryption::Key(key),
            publishing_services: vec![CLOUDWATCH],
        },
    );
    topic.add_email_subscription("EmailSubscription", email);
    topic
}
