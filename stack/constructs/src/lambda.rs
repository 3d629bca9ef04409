//! Lambda: functions with their own role, a log group with retention, code packaged from a
//! Rust crate of the workspace, and event sources that bring their own permissions.

use std::collections::BTreeMap;
use std::time::Duration;

use cfn::resources::lambda;
use cfn::{Expr, Parameter, ParameterType, Resource, Value};

use crate::assets::Architecture;
use crate::cloudwatch::{Metric, Statistic};
use crate::core::{ResourceRef, Scope};
use crate::iam::{Grantee, Principal, Role, RoleProps};
use crate::kinesis::{Stream, StreamAction};
use crate::logs::{LogGroup, LogGroupProps, RetentionDays};
use crate::problem::{Problem, check_range};
use crate::sqs::{Queue, QueueAction};

/// The template parameter naming the bucket the function code packages are uploaded to.
pub const ASSETS_BUCKET_PARAMETER: &str = "AssetsBucketName";

/// Where the function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A binary crate of the workspace, built in release for the function's architecture and
    /// zipped as `bootstrap` by the packaging step (`synth package`).
    Rust { package: String, binary: String },
}

impl Code {
    /// The package's binary of the same name.
    pub fn rust(package: &str) -> Code {
        Code::Rust {
            package: package.to_owned(),
            binary: package.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// The OS-only runtime for compiled binaries named `bootstrap`.
    #[default]
    ProvidedAl2023,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::ProvidedAl2023 => "provided.al2023",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FunctionProps {
    pub code: Code,
    pub description: Option<String>,
    pub runtime: Runtime,
    pub architecture: Architecture,
    /// 128 to 10,240 MB. Default: 128.
    pub memory_mb: u32,
    /// 1 s to 15 min. Default: 3 s.
    pub timeout: Duration,
    /// Default: none (the account's unreserved pool).
    pub reserved_concurrency: Option<u32>,
    pub environment: BTreeMap<String, Value<String>>,
    /// Default: one month.
    pub log_retention: RetentionDays,
}

impl FunctionProps {
    /// A function running the workspace crate `package` on `provided.al2023`.
    pub fn rust(package: &str) -> FunctionProps {
        FunctionProps {
            code: Code::rust(package),
            description: None,
            runtime: Runtime::ProvidedAl2023,
            architecture: Architecture::X86_64,
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            reserved_concurrency: None,
            environment: BTreeMap::new(),
            log_retention: RetentionDays::OneMonth,
        }
    }
}

/// A function, its service role (which may write only to the function's own log group until
/// granted more) and its log group.
#[derive(Debug, Clone)]
pub struct Function {
    scope: Scope,
    resource: ResourceRef,
    role: Role,
}

impl Grantee for Function {
    fn role(&self) -> &Role {
        &self.role
    }
}

impl Function {
    pub fn new(scope: &Scope, id: &str, props: FunctionProps) -> Function {
        let scope = scope.child(id);
        check_range(
            &scope,
            "memory (MB)",
            i64::from(props.memory_mb),
            128,
            10_240,
        );
        let timeout = props.timeout.as_secs() as i64;
        check_range(&scope, "timeout (s)", timeout, 1, 900);
        if let Some(n) = props.reserved_concurrency {
            check_range(&scope, "reserved concurrency", i64::from(n), 0, 1_000_000);
        }

        let role = Role::new(
            &scope,
            "ServiceRole",
            RoleProps {
                assumed_by: Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        let log_group = LogGroup::new(
            &scope,
            "LogGroup",
            LogGroupProps {
                retention: props.log_retention,
                ..Default::default()
            },
        );
        log_group.grant_write(&role);

        let code = match &props.code {
            Code::Rust { package, binary } => {
                rust_code(&scope, package, binary, props.architecture)
            }
        };
        let environment = (!props.environment.is_empty()).then(|| {
            lambda::function::Environment {
                variables: Some(props.environment.clone().into()),
            }
            .into()
        });
        let function = lambda::Function {
            description: props.description.map(Into::into),
            runtime: Some(props.runtime.name().into()),
            handler: Some("bootstrap".into()),
            architectures: Some(vec![props.architecture.lambda_name()].into()),
            memory_size: Some(i64::from(props.memory_mb).into()),
            timeout: Some(timeout.into()),
            reserved_concurrent_executions: props.reserved_concurrency.map(|n| i64::from(n).into()),
            environment,
            logging_config: Some(
                lambda::function::LoggingConfig {
                    log_group: Some(log_group.name().value()),
                    log_format: Some("JSON".into()),
                    application_log_level: Some("INFO".into()),
                    system_log_level: Some("WARN".into()),
                }
                .into(),
            ),
            ..lambda::Function::new(code, role.arn().value())
        };
        let resource = scope.add_resource(Resource::new(&function));
        role.add_policy_dependent(&resource);
        Function {
            scope,
            resource,
            role,
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The function name (`Ref`).
    pub fn name(&self) -> Expr {
        self.resource.r#ref()
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Lets an AWS service invoke the function, from the given source only.
    pub fn grant_invoke(&self, id: &str, service: &str, source_arn: Expr) {
        let permission = lambda::Permission {
            source_arn: Some(source_arn.value()),
            ..lambda::Permission::new("lambda:InvokeFunction", self.arn().value(), service)
        };
        self.scope
            .child(id)
            .add_resource(Resource::new(&permission));
    }

    /// Adds an event source; it grants the function what it needs to read the source.
    pub fn add_event_source(&self, source: KinesisEventSource) {
        source.bind(self);
    }

    /// A metric of this function in `AWS/Lambda`.
    pub fn metric(&self, name: &str, statistic: Statistic, period: Duration) -> Metric {
        Metric::new("AWS/Lambda", name, statistic, period).dimension("FunctionName", self.name())
    }
}

fn rust_code(
    scope: &Scope,
    package: &str,
    binary: &str,
    architecture: Architecture,
) -> lambda::function::Code {
    let bucket: Value<String> = if scope.has_parameter(ASSETS_BUCKET_PARAMETER) {
        Expr::r#ref(ASSETS_BUCKET_PARAMETER).value()
    } else {
        let parameter = Parameter {
            description: Some("The S3 bucket the function code packages (cdk.out/assets/*.zip) are uploaded to, in the stack's region".into()),
            min_length: Some(3),
            max_length: Some(63),
            allowed_pattern: Some("^[a-z0-9][a-z0-9.-]*[a-z0-9]$".into()),
            ..Parameter::new(ParameterType::String)
        };
        scope
            .add_parameter(ASSETS_BUCKET_PARAMETER, parameter)
            .value()
    };
    let key = match scope
        .workspace()
        .and_then(|workspace| workspace.rust_asset(package, binary, architecture))
    {
        Ok(asset) => {
            let key = asset.key.clone();
            scope.add_asset(asset);
            key
        }
        Err(e) => {
            scope.report(Problem::Asset(e));
            String::from("assets/unresolved.zip")
        }
    };
    lambda::function::Code {
        s3_bucket: Some(bucket),
        s3_key: Some(key.into()),
        ..lambda::function::Code::default()
    }
}

/// Where reading starts when the mapping is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    /// The oldest record in the stream: nothing written before the mapping exists is skipped.
    #[default]
    TrimHorizon,
    Latest,
}

#[derive(Debug, Clone)]
pub struct KinesisEventSourceProps {
    /// 1 to 10,000. Default: 100.
    pub batch_size: u32,
    pub starting_position: StartingPosition,
    /// Split a failing batch in two and retry each half.
    pub bisect_batch_on_error: bool,
    /// 0 to 10,000; None retries until the record expires.
    pub retry_attempts: Option<u32>,
    /// The function answers `batchItemFailures`, and only those records are retried.
    pub report_batch_item_failures: bool,
    /// Where a batch that still fails goes (its shard and sequence range, not its records).
    pub on_failure: Option<Queue>,
    /// 0 to 300 s. Default: none.
    pub max_batching_window: Option<Duration>,
    /// 1 to 10 concurrent batches per shard. Default: 1.
    pub parallelization_factor: u32,
}

impl Default for KinesisEventSourceProps {
    fn default() -> Self {
        KinesisEventSourceProps {
            batch_size: 100,
            starting_position: StartingPosition::TrimHorizon,
            bisect_batch_on_error: false,
            retry_attempts: None,
            report_batch_item_failures: false,
            on_failure: None,
            max_batching_window: None,
            parallelization_factor: 1,
        }
    }
}

/// What Lambda calls on the stream, with the function's role, to poll it for the function.
pub const EVENT_SOURCE_STREAM_ACTIONS: &[StreamAction] = StreamAction::READ;
/// What Lambda calls on the on-failure queue, with the function's role, to send it a failed
/// batch's description.
pub const EVENT_SOURCE_QUEUE_ACTIONS: &[QueueAction] = &[QueueAction::SendMessage];

/// A Kinesis stream as an event source of a function.
#[derive(Debug, Clone)]
pub struct KinesisEventSource {
    stream: Stream,
    props: KinesisEventSourceProps,
}

impl KinesisEventSource {
    pub fn new(stream: &Stream, props: KinesisEventSourceProps) -> KinesisEventSource {
        KinesisEventSource {
            stream: stream.clone(),
            props,
        }
    }

    fn bind(self, function: &Function) {
        let KinesisEventSource { stream, props } = self;
        let scope = function.scope.child(&format!(
            "KinesisEventSource{}",
            stream.resource().logical_id()
        ));
        check_range(&scope, "batch size", i64::from(props.batch_size), 1, 10_000);
        if let Some(n) = props.retry_attempts {
            check_range(&scope, "retry attempts", i64::from(n), 0, 10_000);
        }
        check_range(
            &scope,
            "parallelization factor",
            i64::from(props.parallelization_factor),
            1,
            10,
        );
        if let Some(w) = props.max_batching_window {
            check_range(
                &scope,
                "maximum batching window (s)",
                w.as_secs() as i64,
                0,
                300,
            );
        }

        stream.grant(function, EVENT_SOURCE_STREAM_ACTIONS);
        let destination = props.on_failure.as_ref().map(|queue| {
            queue.grant(function, EVENT_SOURCE_QUEUE_ACTIONS);
            lambda::event_source_mapping::DestinationConfig {
                on_failure: Some(
                    lambda::event_source_mapping::OnFailure {
                        destination: Some(queue.arn().value()),
                    }
                    .into(),
                ),
            }
            .into()
        });
        let mapping = lambda::EventSourceMapping {
            event_source_arn: Some(stream.arn().value()),
            batch_size: Some(i64::from(props.batch_size).into()),
            starting_position: Some(
                match props.starting_position {
                    StartingPosition::TrimHorizon => "TRIM_HORIZON",
                    StartingPosition::Latest => "LATEST",
                }
                .into(),
            ),
            bisect_batch_on_function_error: Some(props.bisect_batch_on_error.into()),
            maximum_retry_attempts: props.retry_attempts.map(|n| i64::from(n).into()),
            function_response_types: props
                .report_batch_item_failures
                .then(|| vec!["ReportBatchItemFailures"].into()),
            destination_config: destination,
            maximum_batching_window_in_seconds: props
                .max_batching_window
                .map(|w| (w.as_secs() as i64).into()),
            parallelization_factor: Some(i64::from(props.parallelization_factor).into()),
            ..lambda::EventSourceMapping::new(function.name().value())
        };
        let resource = scope.add_resource(Resource::new(&mapping));
        function.role.add_policy_dependent(&resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::StreamProps;
    use crate::sqs::QueueProps;
    use crate::test_support::{stack, workspace_stack};
    use serde_json::json;

    #[test]
    fn a_function_has_a_role_a_log_group_with_retention_and_hashed_code() {
        let s = workspace_stack();
        let f = Function::new(
            &s,
            "Worker",
            FunctionProps {
                memory_mb: 512,
                ..FunctionProps::rust("synth")
            },
        );
        let t = s.synth().expect("valid");
        let props = &t.resources["Worker"].properties;
        assert_eq!(props["Runtime"], "provided.al2023");
        assert_eq!(props["Handler"], "bootstrap");
        assert_eq!(
            props["Code"]["S3Bucket"],
            json!({"Ref": ASSETS_BUCKET_PARAMETER})
        );
        let key = props["Code"]["S3Key"].as_str().expect("key");
        assert!(
            key.starts_with("assets/")
                && key.ends_with(".zip")
                && key.len() == "assets/.zip".len() + 64,
            "{key}"
        );
        assert_eq!(
            props["LoggingConfig"]["LogGroup"],
            json!({"Ref": "WorkerLogGroup"})
        );
        assert_eq!(
            t.resources["WorkerLogGroup"].properties["RetentionInDays"],
            30
        );
        assert!(
            t.resources["Worker"]
                .depends_on
                .contains("WorkerServiceRoleDefaultPolicy")
        );
        let policy = &t.resources["WorkerServiceRoleDefaultPolicy"].properties["PolicyDocument"]["Statement"];
        assert_eq!(
            policy[0]["Action"],
            json!(["logs:CreateLogStream", "logs:PutLogEvents"])
        );
        assert_eq!(s.assets().len(), 1);
        assert_eq!(f.name(), Expr::r#ref("Worker"));
    }

    #[test]
    fn a_kinesis_event_source_brings_its_permissions_and_waits_for_them() {
        let s = workspace_stack();
        let stream = Stream::new(&s, "Events", StreamProps::default());
        let dlq = Queue::new(&s, "Dlq", QueueProps::default());
        let f = Function::new(&s, "Processor", FunctionProps::rust("synth"));
        f.add_event_source(KinesisEventSource::new(
            &stream,
            KinesisEventSourceProps {
                bisect_batch_on_error: true,
                retry_attempts: Some(3),
                report_batch_item_failures: true,
                on_failure: Some(dlq),
                ..Default::default()
            },
        ));
        let t = s.synth().expect("valid");
        let esm = &t.resources["ProcessorKinesisEventSourceEvents"];
        assert_eq!(
            esm.properties["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"])
        );
        assert_eq!(
            esm.properties["DestinationConfig"]["OnFailure"]["Destination"],
            json!({"Fn::GetAtt": ["Dlq", "Arn"]})
        );
        assert!(esm.depends_on.contains("ProcessorServiceRoleDefaultPolicy"));
        let statements = t.resources["ProcessorServiceRoleDefaultPolicy"].properties["PolicyDocument"]["Statement"].to_string();
        assert!(
            statements.contains("kinesis:GetRecords") && statements.contains("sqs:SendMessage"),
            "{statements}"
        );
        // A polling mapping: no enhanced fan-out, and Lambda only sends to the queue.
        assert!(!statements.contains("SubscribeToShard"), "{statements}");
        assert!(!statements.contains("sqs:GetQueueUrl"), "{statements}");
        assert!(
            !statements.contains("\"*\""),
            "no wildcard resources: {statements}"
        );
    }

    #[test]
    fn out_of_range_props_are_problems_with_paths() {
        let s = workspace_stack();
        let stream = Stream::new(&s, "Events", StreamProps::default());
        let f = Function::new(
            &s,
            "F",
            FunctionProps {
                memory_mb: 64,
                timeout: Duration::from_secs(901),
                ..FunctionProps::rust("synth")
            },
        );
        f.add_event_source(KinesisEventSource::new(
            &stream,
            KinesisEventSourceProps {
                batch_size: 20_000,
                ..Default::default()
            },
        ));
        let errors = s.synth().expect_err("out of range").0;
        let found: Vec<_> = errors
            .iter()
            .map(|e| match &e.problem {
                Problem::OutOfRange {
                    property, value, ..
                } => (e.path.as_str(), *property, *value),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            found,
            [
                ("Test/F", "memory (MB)", 64),
                ("Test/F", "timeout (s)", 901),
                ("Test/F/KinesisEventSourceEvents", "batch size", 20_000)
            ]
        );
    }

    #[test]
    fn an_unknown_crate_is_a_problem() {
        let s = workspace_stack();
        Function::new(&s, "F", FunctionProps::rust("no-such-crate"));
        let errors = s.synth().expect_err("unknown crate").0;
        assert!(
            matches!(
                &errors[0].problem,
                Problem::Asset(crate::assets::AssetError::UnknownPackage { .. })
            ),
            "{errors:#?}"
        );
    }

    #[test]
    fn without_a_workspace_root_code_cannot_be_packaged() {
        let s = stack();
        Function::new(&s, "F", FunctionProps::rust("synth"));
        let errors = s.synth().expect_err("no root").0;
        assert!(
            matches!(
                &errors[0].problem,
                Problem::Asset(crate::assets::AssetError::NoWorkspaceRoot)
            ),
            "{errors:#?}"
        );
    }
}
