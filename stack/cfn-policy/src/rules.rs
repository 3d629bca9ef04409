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
    Rule {
        id: RuleId::ApiMethodAuthorization,
        summary: "every API method and route requires authorization (CORS preflight and API-key-only methods aside)",
        check: api_method_authorization,
    },
    Rule {
        id: RuleId::ApiStageAccessLogging,
        summary: "every API stage writes access logs",
        check: api_stage_access_logging,
    },
    Rule {
        id: RuleId::LambdaPublicApiConcurrency,
        summary: "every function an API invokes has a reserved concurrency cap",
        check: lambda_public_api_concurrency,
    },
    Rule {
        id: RuleId::KmsServiceSourceCondition,
        summary: "a key policy grants a service principal only under a source condition",
        check: kms_service_source_condition,
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

/// `value` for a message: a string as it is, anything else (an intrinsic) as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A name for a message: a literal quoted, an intrinsic as JSON, an absent one `(unnamed)`.
fn label(name: &Value) -> String {
    match name {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "(unnamed)".to_owned(),
        other => other.to_string(),
    }
}

/// What is wrong with an `AuthorizationType`: `None` when it is set to something other than
/// `NONE` (an intrinsic we cannot judge included).
fn missing_authorization(authorization: &Value) -> Option<String> {
    match authorization {
        Value::String(s) if s.eq_ignore_ascii_case("NONE") => {
            Some(format!("has AuthorizationType {s:?}"))
        }
        _ if !present(authorization) => Some("sets no AuthorizationType (so NONE)".to_owned()),
        _ => None,
    }
}

fn api_method_authorization(t: &Template<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for method in t.of_type("AWS::ApiGateway::Method") {
        let http_method = method.prop("HttpMethod");
        let preflight = http_method
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("OPTIONS"));
        if preflight || is_true(method.prop("ApiKeyRequired")) {
            continue;
        }
        if let Some(problem) = missing_authorization(method.prop("AuthorizationType")) {
            out.push(Violation::new(
                method.id,
                format!(
                    "the {} method {problem} and requires no API key: anyone can call it; \
                     use AWS_IAM, COGNITO_USER_POOLS or CUSTOM (an authorizer)",
                    shown(http_method)
                ),
            ));
        }
    }
    for route in t.of_type("AWS::ApiGatewayV2::Route") {
        if is_true(route.prop("ApiKeyRequired")) {
            continue;
        }
        if let Some(problem) = missing_authorization(route.prop("AuthorizationType")) {
            out.push(Violation::new(
                route.id,
                format!(
                    "the route {} {problem} and requires no API key: anyone can call it; \
                     use AWS_IAM, JWT or CUSTOM (a Lambda authorizer)",
                    label(route.prop("RouteKey"))
                ),
            ));
        }
    }
    out
}

const ACCESS_LOG_ADVICE: &str =
    "its requests leave no access log; send them to a log group or a Firehose stream";

fn api_stage_access_logging(t: &Template<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (type_name, setting) in [
        ("AWS::ApiGateway::Stage", "AccessLogSetting"),
        ("AWS::ApiGatewayV2::Stage", "AccessLogSettings"),
    ] {
        for stage in t.of_type(type_name) {
            if !present(&stage.prop(setting)["DestinationArn"]) {
                out.push(Violation::new(
                    stage.id,
                    format!(
                        "the stage {} has no {setting}.DestinationArn: {ACCESS_LOG_ADVICE}",
                        label(stage.prop("StageName"))
                    ),
                ));
            }
        }
    }
    // A deployment naming a stage creates it, configured by its StageDescription.
    for deployment in t.of_type("AWS::ApiGateway::Deployment") {
        let description = deployment.prop("StageDescription");
        let name = deployment.prop("StageName");
        if (present(description) || present(name))
            && !present(&description["AccessLogSetting"]["DestinationArn"])
        {
            out.push(Violation::new(
                deployment.id,
                format!(
                    "the deployment creates the stage {} without \
                     StageDescription.AccessLogSetting.DestinationArn: {ACCESS_LOG_ADVICE} \
                     (or declare the stage as an AWS::ApiGateway::Stage with an AccessLogSetting)",
                    label(name)
                ),
            ));
        }
    }
    out
}

/// Whether `text` names the function called `name`: the name itself, or an ARN or URI holding
/// `:function:<name>` (followed by nothing, a qualifier or a path).
fn names_function(text: &str, name: &str) -> bool {
    text == name
        || text.match_indices(":function:").any(|(at, tag)| {
            text[at + tag.len()..]
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        })
}

/// The literal strings of `value` (an `Fn::Sub` template or an `Fn::Join` part included), not the
/// logical IDs of its references.
fn literal_strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| literal_strings(v, out)),
        Value::Object(map) if map.contains_key("Ref") || map.contains_key("Fn::GetAtt") => {}
        Value::Object(map) => map.values().for_each(|v| literal_strings(v, out)),
        _ => {}
    }
}

/// The Lambda functions `value` (a `FunctionName`, an ARN, an integration URI) names: by a
/// reference to the function or to one of its aliases or versions, or by its literal
/// `FunctionName`.
fn functions_named<'t>(t: &Template<'t>, value: &Value) -> Vec<Resource<'t>> {
    let mut out: Vec<Resource<'t>> = Vec::new();
    for r in t.references(value) {
        let function = match r.type_name() {
            "AWS::Lambda::Function" => Some(r),
            "AWS::Lambda::Alias" | "AWS::Lambda::Version" => t
                .referenced(r.prop("FunctionName"))
                .filter(|f| f.type_name() == "AWS::Lambda::Function"),
            _ => None,
        };
        out.extend(function);
    }
    let mut texts = Vec::new();
    literal_strings(value, &mut texts);
    for function in t.of_type("AWS::Lambda::Function") {
        if let Some(name) = function.prop("FunctionName").as_str()
            && texts.iter().any(|text| names_function(text, name))
        {
            out.push(function);
        }
    }
    out
}

/// Whether `principal` is the API Gateway service principal (in any partition).
fn is_api_gateway(principal: &Value) -> bool {
    let text = match principal {
        Value::Object(map) => map.get("Fn::Sub").and_then(Value::as_str),
        other => other.as_str(),
    };
    text.is_some_and(|p| p.starts_with("apigateway."))
}

fn lambda_public_api_concurrency(t: &Template<'_>) -> Vec<Violation> {
    // (function, what invokes it through an API)
    let mut invoked: Vec<(&str, &str)> = Vec::new();
    for method in t.of_type("AWS::ApiGateway::Method") {
        for f in functions_named(t, &method.prop("Integration")["Uri"]) {
            invoked.push((f.id, method.id));
        }
    }
    for integration in t.of_type("AWS::ApiGatewayV2::Integration") {
        for f in functions_named(t, integration.prop("IntegrationUri")) {
            invoked.push((f.id, integration.id));
        }
    }
    for permission in t.of_type("AWS::Lambda::Permission") {
        if is_api_gateway(permission.prop("Principal")) {
            for f in functions_named(t, permission.prop("FunctionName")) {
                invoked.push((f.id, permission.id));
            }
        }
    }
    invoked.sort_unstable();
    invoked.dedup();
    t.of_type("AWS::Lambda::Function")
        .filter(|f| !present(f.prop("ReservedConcurrentExecutions")))
        .filter_map(|function| {
            let by: Vec<_> = invoked
                .iter()
                .filter(|(f, _)| *f == function.id)
                .map(|(_, by)| *by)
                .collect();
            (!by.is_empty()).then(|| {
                Violation::new(
                    function.id,
                    format!(
                        "an API invokes the function ({}) and it sets no ReservedConcurrentExecutions: \
                         a flood through the API can take the account's whole concurrency from every \
                         other function; reserve a cap for it",
                        by.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// Condition keys that tie a service principal's use to our own account, organization or
/// resources (confused-deputy protection).
const SOURCE_CONDITION_KEYS: &[&str] = &[
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "kms:CallerAccount",
    "kms:ViaService",
];

fn kms_service_source_condition(t: &Template<'_>) -> Vec<Violation> {
    statements(t)
        .into_iter()
        .filter(|s| s.resource.type_name() == "AWS::KMS::Key" && s.allows())
        .filter_map(|s| {
            let services = as_list(&s.body["Principal"]["Service"]);
            if services.is_empty() {
                return None;
            }
            // Condition keys are case-insensitive; the operator (StringEquals, ArnLike, ...)
            // does not matter here.
            let keys: Vec<&str> = s.body["Condition"]
                .as_object()
                .into_iter()
                .flat_map(|operators| operators.values())
                .filter_map(Value::as_object)
                .flat_map(|keys| keys.keys().map(String::as_str))
                .collect();
            let guarded = keys.iter().any(|key| {
                SOURCE_CONDITION_KEYS
                    .iter()
                    .any(|source| source.eq_ignore_ascii_case(key))
            });
            (!guarded).then(|| {
                let conditions = if keys.is_empty() {
                    "no condition".to_owned()
                } else {
                    format!("conditions only on {}", keys.join(", "))
                };
                Violation::new(
                    s.resource.id,
                    format!(
                        "{} allows the service principal {} with {conditions}: the service could use \
                         the key on behalf of any account (confused deputy); add a condition on one \
                         of {}",
                        s.describe(),
                        services.iter().map(shown).collect::<Vec<_>>().join(", "),
                        SOURCE_CONDITION_KEYS.join(", ")
                    ),
                )
            })
        })
        .collect()
}
