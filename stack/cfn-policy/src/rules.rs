//! The rules. Each reads the template and returns what breaks it; [`crate::check`] applies the
//! suppressions.

use serde_json::Value;

use crate::RuleId;
use crate::document::{Kind, statements};
use crate::template::{Resource, Template, Violation, as_list};

/// A rule: its id, what it asks, and its check.
#[derive(Debug)]
pub struct Rule {
    pub id: RuleId,
    pub summary: &'static str,
    pub(crate) check: fn(&Template<'_>) -> Vec<Violation>,
}

/// Every rule, in report order.
pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId::EncryptionAtRest,
        summary: "streams, buckets, queues, topics and tables are encrypted at rest",
        check: encryption_at_rest,
    },
    Rule {
        id: RuleId::S3TlsOnly,
        summary: "every bucket's policy denies requests without TLS",
        check: s3_tls_only,
    },
    Rule {
        id: RuleId::S3BlockPublicAccess,
        summary: "every bucket blocks all public access",
        check: s3_block_public_access,
    },
    Rule {
        id: RuleId::IamNoWildcardAction,
        summary: "no Allow statement grants `*` or `service:*`, or uses NotAction",
        check: iam_no_wildcard_action,
    },
    Rule {
        id: RuleId::IamNoWildcardResource,
        summary: "no identity policy allows on `*` an action that can be scoped to a resource",
        check: iam_no_wildcard_resource,
    },
    Rule {
        id: RuleId::LambdaLogRetention,
        summary: "every Lambda function logs to a log group with a retention",
        check: lambda_log_retention,
    },
    Rule {
        id: RuleId::AsyncFailureDestination,
        summary: "every asynchronous path has a failure destination",
        check: async_failure_destination,
    },
    Rule {
        id: RuleId::AlarmHasAction,
        summary: "every alarm has an action",
        check: alarm_has_action,
    },
];

fn is_true(value: &Value) -> bool {
    value == true || value == "true"
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => true,
    }
}

fn encryption_at_rest(t: &Template<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for r in t.resources() {
        let problem = match r.type_name() {
            "AWS::Kinesis::Stream" => (!present(r.prop("StreamEncryption")))
                .then_some("the stream has no StreamEncryption (use KMS)"),
            "AWS::S3::Bucket" => {
                (!present(&r.prop("BucketEncryption")["ServerSideEncryptionConfiguration"]))
                    .then_some("the bucket has no BucketEncryption")
            }
            "AWS::SQS::Queue" => (!present(r.prop("KmsMasterKeyId"))
                && !is_true(r.prop("SqsManagedSseEnabled")))
            .then_some("the queue sets neither KmsMasterKeyId nor SqsManagedSseEnabled"),
            "AWS::SNS::Topic" => {
                (!present(r.prop("KmsMasterKeyId"))).then_some("the topic has no KmsMasterKeyId")
            }
            "AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable" => {
                (!is_true(&r.prop("SSESpecification")["SSEEnabled"]))
                    .then_some("the table does not set SSESpecification.SSEEnabled (KMS)")
            }
            _ => None,
        };
        if let Some(message) = problem {
            out.push(Violation::new(r.id, message));
        }
    }
    out
}

/// The bucket a bucket policy applies to.
fn policy_bucket<'t>(t: &Template<'t>, policy: &Resource<'t>) -> Option<&'t str> {
    t.referenced(policy.prop("Bucket")).map(|b| b.id)
}

fn denies_insecure_transport(statement: &Value) -> bool {
    statement["Effect"] == "Deny"
        && ["Bool", "BoolIfExists"].iter().any(|op| {
            let value = &statement["Condition"][op]["aws:SecureTransport"];
            value == false || value == "false"
        })
}

fn s3_tls_only(t: &Template<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for bucket in t.of_type("AWS::S3::Bucket") {
        let tls_only = t.of_type("AWS::S3::BucketPolicy").any(|policy| {
            policy_bucket(t, &policy) == Some(bucket.id)
                && as_list(&policy.prop("PolicyDocument")["Statement"])
                    .iter()
                    .any(denies_insecure_transport)
        });
        if !tls_only {
            out.push(Violation::new(
                bucket.id,
                "no bucket policy denies requests without TLS (`aws:SecureTransport` false)",
            ));
        }
    }
    out
}

fn s3_block_public_access(t: &Template<'_>) -> Vec<Violation> {
    const FLAGS: [&str; 4] = [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ];
    t.of_type("AWS::S3::Bucket")
        .filter_map(|bucket| {
            let config = bucket.prop("PublicAccessBlockConfiguration");
            let missing: Vec<_> = FLAGS
                .into_iter()
                .filter(|flag| !is_true(&config[flag]))
                .collect();
            (!missing.is_empty()).then(|| {
                Violation::new(
                    bucket.id,
                    format!(
                        "PublicAccessBlockConfiguration does not set {} to true",
                        missing.join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn iam_no_wildcard_action(t: &Template<'_>) -> Vec<Violation> {
    statements(t)
        .into_iter()
        .filter(|s| s.allows())
        .filter_map(|s| {
            let wildcards: Vec<_> = s
                .actions()
                .filter(|a| *a == "*" || a.ends_with(":*"))
                .collect();
            let message = if s.has_not_action() {
                format!(
                    "{} allows NotAction: everything else is granted",
                    s.describe()
                )
            } else if !wildcards.is_empty() {
                format!(
                    "{} allows the wildcard action {}",
                    s.describe(),
                    wildcards.join(", ")
                )
            } else {
                return None;
            };
            Some(Violation::new(s.resource.id, message))
        })
        .collect()
}

/// Actions that take no resource-level permission: `*` is the only resource they can have.
const UNSCOPABLE_ACTIONS: &[&str] = &[
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "cloudwatch:PutMetricData",
    "dynamodb:ListTables",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "firehose:ListDeliveryStreams",
    "kinesis:DescribeLimits",
    "kinesis:ListStreams",
    "kms:CreateKey",
    "kms:ListAliases",
    "kms:ListKeys",
    "lambda:ListFunctions",
    "logs:DescribeLogGroups",
    "s3:ListAllMyBuckets",
    "sns:ListTopics",
    "sqs:ListQueues",
    "sts:GetCallerIdentity",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
];

fn iam_no_wildcard_resource(t: &Template<'_>) -> Vec<Violation> {
    statements(t)
        .into_iter()
        .filter(|s| s.kind == Kind::Identity && s.allows() && s.on_any_resource())
        .filter_map(|s| {
            let scopable: Vec<_> = s
                .actions()
                .filter(|a| !UNSCOPABLE_ACTIONS.contains(a))
                .collect();
            (!scopable.is_empty() || s.has_not_action()).then(|| {
                Violation::new(
                    s.resource.id,
                    format!(
                        "{} allows {} on `*`; scope it to the resources it needs",
                        s.describe(),
                        if scopable.is_empty() {
                            "NotAction".to_owned()
                        } else {
                            scopable.join(", ")
                        }
                    ),
                )
            })
        })
        .collect()
}

/// Whether `group` is a log group with a retention.
fn has_retention(group: Option<Resource<'_>>) -> bool {
    group.is_some_and(|g| {
        g.type_name() == "AWS::Logs::LogGroup" && present(g.prop("RetentionInDays"))
    })
}

/// Whether `name` (a `LogGroupName`) is `/aws/lambda/<function>`, literally or by reference.
fn names_function_log_group(name: &Value, function: &Resource<'_>) -> bool {
    let literal = function.prop("FunctionName").as_str();
    match name {
        Value::String(s) => literal.is_some_and(|f| s == &format!("/aws/lambda/{f}")),
        Value::Object(map) => {
            if let Some(Value::String(sub)) = map.get("Fn::Sub") {
                return sub == &format!("/aws/lambda/${{{}}}", function.id);
            }
            if let Some(Value::Array(args)) = map.get("Fn::Join")
                && let [Value::String(sep), Value::Array(parts)] = args.as_slice()
                && sep.is_empty()
                && let [prefix, reference] = parts.as_slice()
            {
                return prefix == "/aws/lambda/"
                    && reference == &serde_json::json!({"Ref": function.id});
            }
            false
        }
        _ => false,
    }
}

fn lambda_log_retention(t: &Template<'_>) -> Vec<Violation> {
    t.of_type("AWS::Lambda::Function")
        .filter_map(|function| {
            let configured = &function.prop("LoggingConfig")["LogGroup"];
            let ok = if present(configured) {
                has_retention(t.referenced(configured))
                    || t.of_type("AWS::Logs::LogGroup").any(|g| {
                        g.prop("LogGroupName") == configured && present(g.prop("RetentionInDays"))
                    })
            } else {
                t.of_type("AWS::Logs::LogGroup").any(|g| {
                    names_function_log_group(g.prop("LogGroupName"), &function)
                        && present(g.prop("RetentionInDays"))
                })
            };
            (!ok).then(|| {
                Violation::new(
                    function.id,
                    "the function's log group has no retention (or is not in the template): \
                     its logs would be kept forever",
                )
            })
        })
        .collect()
}

/// Whether `arn` is a Kinesis or DynamoDB stream, literally or by reference.
fn is_stream_source(t: &Template<'_>, arn: &Value) -> bool {
    match t.referenced(arn) {
        Some(r) => matches!(
            r.type_name(),
            "AWS::Kinesis::Stream" | "AWS::DynamoDB::Table"
        ),
        None => arn
            .as_str()
            .is_some_and(|a| a.contains(":kinesis:") || a.contains(":dynamodb:")),
    }
}

/// Principals that invoke a function asynchronously.
const ASYNC_INVOKERS: &[&str] = &[
    "sns.amazonaws.com",
    "s3.amazonaws.com",
    "events.amazonaws.com",
    "scheduler.amazonaws.com",
    "logs.amazonaws.com",
    "iot.amazonaws.com",
    "ses.amazonaws.com",
];

fn async_failure_destination(t: &Template<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for mapping in t.of_type("AWS::Lambda::EventSourceMapping") {
        if is_stream_source(t, mapping.prop("EventSourceArn"))
            && !present(&mapping.prop("DestinationConfig")["OnFailure"]["Destination"])
        {
            out.push(Violation::new(
                mapping.id,
                "the stream event source mapping has no DestinationConfig.OnFailure: records that keep failing are dropped",
            ));
        }
    }
    for subscription in t.of_type("AWS::SNS::Subscription") {
        let protocol = subscription.prop("Protocol").as_str().unwrap_or_default();
        if matches!(protocol, "sqs" | "lambda" | "firehose")
            && !present(subscription.prop("RedrivePolicy"))
        {
            out.push(Violation::new(
                subscription.id,
                format!("the {protocol} subscription has no RedrivePolicy: undeliverable messages are dropped"),
            ));
        }
    }
    for permission in t.of_type("AWS::Lambda::Permission") {
        let principal = permission.prop("Principal").as_str().unwrap_or_default();
        if !ASYNC_INVOKERS.contains(&principal) {
            continue;
        }
        let Some(function) = t.referenced(permission.prop("FunctionName")) else {
            continue;
        };
        let dead_letter = present(&function.prop("DeadLetterConfig")["TargetArn"]);
        let on_failure = t.of_type("AWS::Lambda::EventInvokeConfig").any(|c| {
            t.referenced(c.prop("FunctionName"))
                .is_some_and(|f| f.id == function.id)
                && present(&c.prop("DestinationConfig")["OnFailure"]["Destination"])
        });
        if !dead_letter && !on_failure {
            out.push(Violation::new(
                function.id,
                format!(
                    "{principal} invokes the function asynchronously ({}), but it has neither a \
                     DeadLetterConfig nor an EventInvokeConfig OnFailure destination",
                    permission.id
                ),
            ));
        }
    }
    out
}

fn alarm_has_action(t: &Template<'_>) -> Vec<Violation> {
    t.of_type("AWS::CloudWatch::Alarm")
        .chain(t.of_type("AWS::CloudWatch::CompositeAlarm"))
        .filter_map(|alarm| {
            let message = if !present(alarm.prop("AlarmActions")) {
                "the alarm has no AlarmActions: it would change state and tell nobody"
            } else if alarm.prop("ActionsEnabled") == false {
                "the alarm's actions are disabled (ActionsEnabled false)"
            } else {
                return None;
            };
            Some(Violation::new(alarm.id, message))
        })
        .collect()
}
