//! What the local runtime runs, read from the deployed stack's template: each function, event
//! source mapping, delivery stream and REST API as the configuration of its local stand-in, with
//! every intrinsic resolved against the deployed stack. Nothing here starts anything.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use event_contract::env;
use local_runtime::apigw::{
    ApiKey, Authorization, Quota, RestApiConfig, Route, Throttle, UsagePlan,
};
use local_runtime::esm::{EventSourceMappingConfig, StartingPosition};
use local_runtime::firehose::{CompressionFormat, DeliveryStreamConfig};
use local_runtime::lambda::{FunctionConfig, LogFormat, LoggingConfig};
use serde_json::{Map, Value};
use tracing::info;

use super::binaries::FunctionBinaries;
use crate::props::{PropertyError, Props};
use crate::resolve::StackContext;

const FUNCTION: &str = "AWS::Lambda::Function";
const MAPPING: &str = "AWS::Lambda::EventSourceMapping";
const DELIVERY_STREAM: &str = "AWS::KinesisFirehose::DeliveryStream";
const METHOD: &str = "AWS::ApiGateway::Method";
const API_RESOURCE: &str = "AWS::ApiGateway::Resource";
const STAGE: &str = "AWS::ApiGateway::Stage";
const API_KEY: &str = "AWS::ApiGateway::ApiKey";
const USAGE_PLAN: &str = "AWS::ApiGateway::UsagePlan";
const USAGE_PLAN_KEY: &str = "AWS::ApiGateway::UsagePlanKey";
const QUEUE: &str = "AWS::SQS::Queue";
const ALARM: &str = "AWS::CloudWatch::Alarm";
const TOPIC: &str = "AWS::SNS::Topic";

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error("{logical_id}: {property} is {value:?}: {problem}")]
    Invalid {
        logical_id: String,
        property: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error("function {logical_id}: no binary given for its code package {key}")]
    NoBinary { logical_id: String, key: String },
    #[error("{logical_id}: {reference} is not a function of the stack")]
    UnknownFunction {
        logical_id: String,
        reference: String,
    },
    #[error(
        "REST API {api}: its methods integrate several functions ({functions}); the local API \
         Gateway proxies to one function per API"
    )]
    SeveralFunctions { api: String, functions: String },
    #[error("REST API {api} has {found} stages; the local API Gateway serves one")]
    Stages { api: String, found: usize },
    #[error("the template has {found} {what}; the pipeline runs exactly one")]
    NotOne { what: &'static str, found: usize },
    #[error("function {logical_id} has no environment variable {variable}")]
    MissingVariable {
        logical_id: String,
        variable: &'static str,
    },
    #[error("{logical_id}: {what} {value} is not a resource of the stack")]
    NotInStack {
        logical_id: String,
        what: &'static str,
        value: String,
    },
}

/// How the plan fits this machine and this run; nothing of the template.
#[derive(Debug, Clone)]
pub struct PlanSettings<'a> {
    /// The emulator's endpoint, given to the functions.
    pub endpoint_url: &'a str,
    /// The local Kinesis's endpoint, given to the functions as `AWS_ENDPOINT_URL_KINESIS`.
    pub kinesis_endpoint_url: &'a str,
    /// Execution environments per function at most (the function's reserved concurrency caps it
    /// further).
    pub max_environments: NonZeroUsize,
    /// A folder the functions' output is appended to, `<function name>.log`.
    pub log_dir: Option<&'a Path>,
    /// The port of the REST API; 0 for a free one.
    pub api_port: u16,
}

/// A function of the template, as the local Lambda runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPlan {
    pub logical_id: String,
    pub config: FunctionConfig,
    /// `Role`, resolved: the identity the event source mapping's records carry.
    pub role_arn: String,
}

/// An event source mapping of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingPlan {
    pub logical_id: String,
    /// The logical ID of the function it invokes.
    pub function: String,
    pub config: EventSourceMappingConfig,
}

/// A delivery stream of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPlan {
    pub logical_id: String,
    pub config: DeliveryStreamConfig,
}

/// A REST API of the template: its stage and the methods proxying to one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPlan {
    pub logical_id: String,
    /// The logical ID of the function its methods integrate.
    pub function: String,
    /// Its API keys have no value yet: the template gives none, the service generated them
    /// (the pipeline reads them with `GetApiKey`).
    pub config: RestApiConfig,
    /// The log group the stage's access logs go to (`AccessLogSetting.DestinationArn`).
    pub access_log_group: Option<String>,
}

/// What the pipeline's users look for, resolved from the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// The table the mapped function writes: its `DYNAMODB_TABLE_NAME`.
    pub table: String,
    /// The stream the event source mapping reads.
    pub stream: String,
    pub stream_arn: String,
    /// Where the mapped function reports malformed events: its `MALFORMED_TOPIC_ARN`.
    pub malformed_topic_arn: String,
    /// The topics the alarms notify.
    pub alarm_topic_arns: Vec<String>,
    /// The delivery stream archiving the stream, and its bucket.
    pub delivery_stream: String,
    pub archive_bucket: String,
    /// The event source mapping's on-failure queue.
    pub dead_letter_queue_url: String,
    /// Every function's name, by logical ID.
    pub functions: BTreeMap<String, String>,
}

/// Everything the local runtime runs for a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub functions: Vec<FunctionPlan>,
    pub mappings: Vec<MappingPlan>,
    pub delivery_streams: Vec<DeliveryPlan>,
    pub apis: Vec<ApiPlan>,
    pub names: ResourceNames,
    /// The one `POST` method: its API's logical ID and its resource path (e.g. `/metrics`).
    pub post_route: (String, String),
}

impl Plan {
    /// Reads `template` (deployed as `context`) into the configurations of the local stand-ins.
    pub fn new(
        template: &Value,
        context: &StackContext,
        binaries: &FunctionBinaries,
        settings: &PlanSettings<'_>,
    ) -> Result<Plan, PlanError> {
        let resources = template["Resources"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let of_type = |t: &'static str| {
            resources
                .iter()
                .filter(move |(_, r)| r["Type"] == t)
                .map(|(id, r)| (id.as_str(), r))
        };
        let functions = of_type(FUNCTION)
            .map(|(id, r)| function(id, r, context, binaries, settings))
            .collect::<Result<Vec<_>, _>>()?;
        let mut mappings = Vec::new();
        for (id, resource) in of_type(MAPPING) {
            if let Some(plan) = mapping(id, resource, context, &functions)? {
                mappings.push(plan);
            }
        }
        let delivery_streams = of_type(DELIVERY_STREAM)
            .map(|(id, r)| delivery_stream(id, r, context))
            .collect::<Result<Vec<_>, _>>()?;
        let apis = apis(&resources, context, &functions, settings.api_port)?;
        let names = names(
            &resources,
            context,
            &functions,
            &mappings,
            &delivery_streams,
        )?;
        let posts: Vec<(String, String)> = apis
            .iter()
            .flat_map(|api| {
                api.config
                    .routes
                    .iter()
                    .filter(|r| r.method == "POST")
                    .map(|r| (api.logical_id.clone(), r.resource.clone()))
            })
            .collect();
        let post_route = match <[_; 1]>::try_from(posts) {
            Ok([route]) => route,
            Err(posts) => {
                return Err(PlanError::NotOne {
                    what: "POST methods",
                    found: posts.len(),
                });
            }
        };
        Ok(Plan {
            functions,
            mappings,
            delivery_streams,
            apis,
            names,
            post_route,
        })
    }

    /// The function of logical ID `logical_id`.
    pub fn function(&self, logical_id: &str) -> Option<&FunctionPlan> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }
}

fn props(logical_id: &str, resource: &Value, context: &StackContext) -> Result<Props, PlanError> {
    let resource_type = resource["Type"].as_str().unwrap_or_default();
    Ok(Props::resolve(
        logical_id,
        resource_type,
        resource,
        context,
    )?)
}

fn physical_id(logical_id: &str, context: &StackContext) -> Result<String, PlanError> {
    context
        .physical_id(logical_id)
        .map(str::to_owned)
        .map_err(|source| {
            PlanError::from(PropertyError::Resolve {
                logical_id: logical_id.to_owned(),
                source,
            })
        })
}

fn invalid(
    logical_id: &str,
    property: &'static str,
    value: impl ToString,
    problem: &'static str,
) -> PlanError {
    PlanError::Invalid {
        logical_id: logical_id.to_owned(),
        property,
        value: value.to_string(),
        problem,
    }
}

/// A non-negative integer property.
fn unsigned(p: &Props, name: &'static str) -> Result<Option<u32>, PlanError> {
    match p.i32(name)? {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(&p.logical_id, name, n, "negative")),
    }
}

fn function(
    logical_id: &str,
    resource: &Value,
    context: &StackContext,
    binaries: &FunctionBinaries,
    settings: &PlanSettings<'_>,
) -> Result<FunctionPlan, PlanError> {
    let p = props(logical_id, resource, context)?;
    if let Some(runtime) = p.str("Runtime")?
        && !runtime.starts_with("provided")
    {
        return Err(invalid(
            logical_id,
            "Runtime",
            runtime,
            "only custom runtimes (a bootstrap executable) run locally",
        ));
    }
    let code = p.child("Code")?.ok_or_else(|| p.bad("Code", "an object"))?;
    let key = code.required_str("S3Key")?;
    let bootstrap = binaries
        .path(&key)
        .ok_or_else(|| PlanError::NoBinary {
            logical_id: logical_id.to_owned(),
            key: key.clone(),
        })?
        .to_owned();
    let name = match p.str("FunctionName")? {
        Some(name) => name,
        None => physical_id(logical_id, context)?,
    };
    let environment = match p
        .child("Environment")?
        .map(|e| e.child("Variables"))
        .transpose()?
        .flatten()
    {
        Some(variables) => variables
            .map
            .keys()
            .map(|k| Ok((k.clone(), variables.required_str(k)?)))
            .collect::<Result<_, PropertyError>>()?,
        None => BTreeMap::new(),
    };
    let logging = match p.child("LoggingConfig")? {
        Some(l) => LoggingConfig {
            format: match l.str("LogFormat")?.as_deref() {
                None | Some("Text") => LogFormat::Text,
                Some("JSON") => LogFormat::Json,
                Some(other) => {
                    return Err(invalid(logical_id, "LogFormat", other, "not Text or JSON"));
                }
            },
            application_log_level: l.str("ApplicationLogLevel")?,
            log_group: l.str("LogGroup")?,
        },
        None => LoggingConfig::default(),
    };
    let mut defaults = FunctionConfig::new(&name, &bootstrap, settings.endpoint_url);
    defaults.service_endpoints.insert(
        "KINESIS".to_owned(),
        settings.kinesis_endpoint_url.to_owned(),
    );
    let concurrency = match p.i32("ReservedConcurrentExecutions")? {
        None => settings.max_environments,
        Some(reserved) => usize::try_from(reserved)
            .ok()
            .and_then(NonZeroUsize::new)
            .map(|reserved| reserved.min(settings.max_environments))
            .ok_or_else(|| {
                invalid(
                    logical_id,
                    "ReservedConcurrentExecutions",
                    reserved,
                    "the function could never run",
                )
            })?,
    };
    let config = FunctionConfig {
        environment,
        memory_mb: unsigned(&p, "MemorySize")?.unwrap_or(defaults.memory_mb),
        timeout: unsigned(&p, "Timeout")?
            .map_or(defaults.timeout, |s| Duration::from_secs(u64::from(s))),
        logging,
        region: context.region.clone(),
        account_id: context.account.clone(),
        concurrency,
        log_file: settings.log_dir.map(|dir| dir.join(format!("{name}.log"))),
        ..defaults
    };
    Ok(FunctionPlan {
        logical_id: logical_id.to_owned(),
        config,
        role_arn: p.str("Role")?.unwrap_or_default(),
    })
}

/// The function a reference names: its name or its ARN.
fn find_function<'a>(
    functions: &'a [FunctionPlan],
    logical_id: &str,
    reference: &str,
) -> Result<&'a FunctionPlan, PlanError> {
    functions
        .iter()
        .find(|f| f.config.name == reference || f.config.arn() == reference)
        .ok_or_else(|| PlanError::UnknownFunction {
            logical_id: logical_id.to_owned(),
            reference: reference.to_owned(),
        })
}

/// The mapping, or `None` when it is disabled.
fn mapping(
    logical_id: &str,
    resource: &Value,
    context: &StackContext,
    functions: &[FunctionPlan],
) -> Result<Option<MappingPlan>, PlanError> {
    let p = props(logical_id, resource, context)?;
    p.only(&[
        "BatchSize",
        "BisectBatchOnFunctionError",
        "DestinationConfig",
        "Enabled",
        "EventSourceArn",
        "FunctionName",
        "FunctionResponseTypes",
        "MaximumRetryAttempts",
        "ParallelizationFactor",
        "StartingPosition",
        "StartingPositionTimestamp",
    ])?;
    if p.bool("Enabled")? == Some(false) {
        info!(
            logical_id,
            "event source mapping disabled in the template, not run"
        );
        return Ok(None);
    }
    let function = find_function(functions, logical_id, &p.required_str("FunctionName")?)?;
    let starting_position = match p.required_str("StartingPosition")?.as_str() {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_TIMESTAMP" => {
            let seconds = p
                .f64("StartingPositionTimestamp")?
                .ok_or_else(|| p.bad("StartingPositionTimestamp", "a number of seconds"))?;
            #[allow(clippy::cast_possible_truncation)] // milliseconds of an epoch fit an i64
            let millis = (seconds * 1000.0).round() as i64;
            let at = chrono::DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                invalid(
                    logical_id,
                    "StartingPositionTimestamp",
                    seconds,
                    "not an instant",
                )
            })?;
            StartingPosition::AtTimestamp(at)
        }
        other => {
            return Err(invalid(
                logical_id,
                "StartingPosition",
                other,
                "not TRIM_HORIZON, LATEST or AT_TIMESTAMP",
            ));
        }
    };
    let on_failure = match p.child("DestinationConfig")? {
        Some(d) => match d.child("OnFailure")? {
            Some(f) => f.str("Destination")?,
            None => None,
        },
        None => None,
    };
    let defaults = EventSourceMappingConfig::new(
        p.required_str("EventSourceArn")?,
        function.config.arn(),
        &function.role_arn,
        starting_position,
    );
    let config = EventSourceMappingConfig {
        batch_size: unsigned(&p, "BatchSize")?.unwrap_or(defaults.batch_size),
        bisect_batch_on_function_error: p
            .bool("BisectBatchOnFunctionError")?
            .unwrap_or(defaults.bisect_batch_on_function_error),
        maximum_retry_attempts: p
            .i32("MaximumRetryAttempts")?
            .unwrap_or(defaults.maximum_retry_attempts),
        report_batch_item_failures: p
            .strings("FunctionResponseTypes")?
            .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures")),
        on_failure_destination: on_failure,
        parallelization_factor: unsigned(&p, "ParallelizationFactor")?
            .unwrap_or(defaults.parallelization_factor),
        ..defaults
    };
    Ok(Some(MappingPlan {
        logical_id: logical_id.to_owned(),
        function: function.logical_id.clone(),
        config,
    }))
}

fn delivery_stream(
    logical_id: &str,
    resource: &Value,
    context: &StackContext,
) -> Result<DeliveryPlan, PlanError> {
    let p = props(logical_id, resource, context)?;
    p.only(&[
        "DeliveryStreamName",
        "DeliveryStreamType",
        "KinesisStreamSourceConfiguration",
        "ExtendedS3DestinationConfiguration",
        "Tags",
    ])?;
    let stream_type = p.str("DeliveryStreamType")?.unwrap_or_default();
    if stream_type != "KinesisStreamAsSource" {
        return Err(invalid(
            logical_id,
            "DeliveryStreamType",
            stream_type,
            "only KinesisStreamAsSource runs locally",
        ));
    }
    let name = match p.str("DeliveryStreamName")? {
        Some(name) => name,
        None => physical_id(logical_id, context)?,
    };
    let source = p
        .child("KinesisStreamSourceConfiguration")?
        .ok_or_else(|| p.bad("KinesisStreamSourceConfiguration", "an object"))?;
    let destination = p
        .child("ExtendedS3DestinationConfiguration")?
        .ok_or_else(|| p.bad("ExtendedS3DestinationConfiguration", "an object"))?;
    // What the fill-in creates the delivery stream with; of those, the role and the logging
    // options matter to AWS only: locally nothing is denied or logged to CloudWatch.
    destination.only(crate::fill::EXTENDED_S3_DESTINATION_PROPERTIES)?;
    let defaults = DeliveryStreamConfig::new(
        &name,
        source.required_str("KinesisStreamARN")?,
        destination.required_str("BucketARN")?,
    );
    let (size, interval) = match destination.child("BufferingHints")? {
        Some(b) => (
            unsigned(&b, "SizeInMBs")?,
            unsigned(&b, "IntervalInSeconds")?,
        ),
        None => (None, None),
    };
    let compression_format = match destination.str("CompressionFormat")? {
        Some(format) => format.parse::<CompressionFormat>().map_err(|_| {
            invalid(
                logical_id,
                "CompressionFormat",
                &format,
                "not UNCOMPRESSED or GZIP, the formats written locally",
            )
        })?,
        None => defaults.compression_format,
    };
    let record_delimiter = match destination.child("ProcessingConfiguration")? {
        Some(processing) if processing.bool("Enabled")? != Some(false) => {
            let mut delimiter = None;
            for processor in processing.children("Processors")? {
                let kind = processor.required_str("Type")?;
                if kind != "AppendDelimiterToRecord" {
                    return Err(invalid(
                        logical_id,
                        "ProcessingConfiguration.Processors",
                        &kind,
                        "only AppendDelimiterToRecord runs locally",
                    ));
                }
                // The `Delimiter` parameter, else a newline, as Firehose does.
                let mut given = "\n".to_owned();
                for parameter in processor.children("Parameters")? {
                    if parameter.required_str("ParameterName")? == "Delimiter" {
                        given = parameter
                            .required_str("ParameterValue")?
                            .replace("\\n", "\n");
                    }
                }
                delimiter = Some(given.into_bytes());
            }
            delimiter
        }
        _ => None,
    };
    let config = DeliveryStreamConfig {
        record_delimiter,
        prefix: destination.str("Prefix")?,
        error_output_prefix: destination.str("ErrorOutputPrefix")?,
        buffering_size_mb: size.unwrap_or(defaults.buffering_size_mb),
        buffering_interval_seconds: interval.unwrap_or(defaults.buffering_interval_seconds),
        compression_format,
        ..defaults
    };
    Ok(DeliveryPlan {
        logical_id: logical_id.to_owned(),
        config,
    })
}

/// `{"Ref": "X"}` → `X`.
fn ref_target(value: &Value) -> Option<&str> {
    value.get("Ref").and_then(Value::as_str)
}

/// The path of an API resource from the root, e.g. `/metrics`, following `ParentId` up to
/// `Fn::GetAtt [Api, RootResourceId]`.
fn resource_path(
    resources: &Map<String, Value>,
    method_id: &str,
    resource_id: &Value,
) -> Result<String, PlanError> {
    let mut parts = Vec::new();
    let mut current = resource_id;
    loop {
        let is_root = current
            .get("Fn::GetAtt")
            .and_then(Value::as_array)
            .is_some_and(|a| a.get(1).is_some_and(|attr| attr == "RootResourceId"));
        if is_root {
            break;
        }
        let target = ref_target(current)
            .and_then(|id| resources.get(id).map(|r| (id, r)))
            .filter(|(_, r)| r["Type"] == API_RESOURCE);
        let Some((id, resource)) = target.filter(|_| parts.len() < 32) else {
            return Err(PlanError::NotInStack {
                logical_id: method_id.to_owned(),
                what: "API resource",
                value: current.to_string(),
            });
        };
        let part = resource["Properties"]["PathPart"].as_str().ok_or_else(|| {
            invalid(
                id,
                "PathPart",
                &resource["Properties"]["PathPart"],
                "not a string",
            )
        })?;
        parts.push(part.to_owned());
        current = &resource["Properties"]["ParentId"];
    }
    parts.reverse();
    Ok(format!("/{}", parts.join("/")))
}

/// Each REST API with `AWS_PROXY` methods, its stage and routes.
fn apis(
    resources: &Map<String, Value>,
    context: &StackContext,
    functions: &[FunctionPlan],
    port: u16,
) -> Result<Vec<ApiPlan>, PlanError> {
    // API logical ID → (function logical ID, route) of each proxy method.
    let mut methods: BTreeMap<String, Vec<(String, Route)>> = BTreeMap::new();
    for (id, resource) in resources.iter().filter(|(_, r)| r["Type"] == METHOD) {
        let properties = &resource["Properties"];
        let integration = &properties["Integration"];
        let integration_type = integration["Type"].as_str().unwrap_or_default();
        if integration_type != "AWS_PROXY" {
            return Err(invalid(
                id,
                "Integration.Type",
                integration_type,
                "only AWS_PROXY (Lambda proxy) integrations run locally",
            ));
        }
        let api = ref_target(&properties["RestApiId"]).ok_or_else(|| {
            invalid(
                id,
                "RestApiId",
                &properties["RestApiId"],
                "not a Ref to a RestApi of the stack",
            )
        })?;
        let uri = context
            .resolve_string(&integration["Uri"])
            .map_err(|source| PropertyError::Resolve {
                logical_id: id.clone(),
                source,
            })?;
        // arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations
        let function_arn = uri
            .split_once("/functions/")
            .and_then(|(_, rest)| rest.strip_suffix("/invocations"))
            .ok_or_else(|| invalid(id, "Integration.Uri", &uri, "not a Lambda invocation URI"))?;
        let function = find_function(functions, id, function_arn)?;
        let method = properties["HttpMethod"]
            .as_str()
            .ok_or_else(|| invalid(id, "HttpMethod", &properties["HttpMethod"], "not a string"))?;
        let path = resource_path(resources, id, &properties["ResourceId"])?;
        let p = props(id, resource, context)?;
        let authorization = match p.str("AuthorizationType")? {
            None => Authorization::None,
            Some(name) => name.parse().map_err(|_| {
                invalid(
                    id,
                    "AuthorizationType",
                    &name,
                    "only NONE and AWS_IAM run locally",
                )
            })?,
        };
        let route = Route {
            authorization,
            api_key_required: p.bool("ApiKeyRequired")?.unwrap_or(false),
            ..Route::new(method, path)
        };
        methods
            .entry(api.to_owned())
            .or_default()
            .push((function.logical_id.clone(), route));
    }
    let mut plans = Vec::new();
    for (api, routes) in methods {
        let mut integrated: Vec<&str> = routes.iter().map(|(f, _)| f.as_str()).collect();
        integrated.sort_unstable();
        integrated.dedup();
        let function = match integrated.as_slice() {
            [one] => (*one).to_owned(),
            several => {
                return Err(PlanError::SeveralFunctions {
                    api,
                    functions: several.join(", "),
                });
            }
        };
        let stages: Vec<(&String, &Value)> = resources
            .iter()
            .filter(|(_, r)| r["Type"] == STAGE)
            .filter(|(_, r)| ref_target(&r["Properties"]["RestApiId"]) == Some(api.as_str()))
            .collect();
        let (stage_id, stage) = match stages.as_slice() {
            [one] => *one,
            other => {
                return Err(PlanError::Stages {
                    api,
                    found: other.len(),
                });
            }
        };
        let stage = props(stage_id, stage, context)?;
        let stage_name = stage.required_str("StageName")?;
        let stage_throttle = stage
            .children("MethodSettings")?
            .into_iter()
            .filter(|s| {
                s.str("ResourcePath").ok().flatten().as_deref() == Some("/*")
                    && s.str("HttpMethod").ok().flatten().as_deref() == Some("*")
            })
            .map(|s| throttle(&s, "ThrottlingRateLimit", "ThrottlingBurstLimit"))
            .next()
            .transpose()?
            .flatten();
        let access_log = stage.child("AccessLogSetting")?;
        let access_log_format = match &access_log {
            Some(log) => log.str("Format")?,
            None => None,
        };
        let access_log_group = match &access_log {
            Some(log) => log
                .str("DestinationArn")?
                .map(|arn| {
                    arn.split_once(":log-group:")
                        .map(|(_, name)| name.trim_end_matches(":*").to_owned())
                        .ok_or_else(|| {
                            invalid(
                                stage_id,
                                "AccessLogSetting.DestinationArn",
                                &arn,
                                "only CloudWatch Logs destinations run locally",
                            )
                        })
                })
                .transpose()?,
            None => None,
        };
        let api_id = physical_id(&api, context)?;
        let defaults = RestApiConfig::new(
            stage_name.clone(),
            routes.into_iter().map(|(_, r)| r).collect(),
        );
        plans.push(ApiPlan {
            config: RestApiConfig {
                api_keys: api_keys(resources, context, &api_id, &stage_name)?,
                api_id,
                account_id: context.account.clone(),
                region: context.region.clone(),
                stage_throttle,
                access_log_format,
                port,
                ..defaults
            },
            access_log_group,
            logical_id: api,
            function,
        });
    }
    Ok(plans)
}

/// A throttle from two properties, when the first is set.
fn throttle(p: &Props, rate: &str, burst: &str) -> Result<Option<Throttle>, PlanError> {
    let Some(rate_limit) = p.f64(rate)? else {
        return Ok(None);
    };
    let burst_limit = match p.i32(burst)? {
        None => 0,
        Some(b) => u32::try_from(b).map_err(|_| p.bad(burst, "a non-negative integer"))?,
    };
    Ok(Some(Throttle {
        rate_limit,
        burst_limit,
    }))
}

/// The API keys in the usage plans of stage `stage` of API `api_id` (physical IDs), each with
/// its plan, and no value: the template holds none.
fn api_keys(
    resources: &Map<String, Value>,
    context: &StackContext,
    api_id: &str,
    stage: &str,
) -> Result<Vec<ApiKey>, PlanError> {
    let mut plans = BTreeMap::new();
    for (id, resource) in resources.iter().filter(|(_, r)| r["Type"] == USAGE_PLAN) {
        let p = props(id, resource, context)?;
        let of_stage = p.children("ApiStages")?.iter().any(|s| {
            s.str("ApiId").ok().flatten().as_deref() == Some(api_id)
                && s.str("Stage").ok().flatten().as_deref() == Some(stage)
        });
        if !of_stage {
            continue;
        }
        let quota = match p.child("Quota")? {
            Some(q) => match (q.i32("Limit")?, q.str("Period")?) {
                (Some(limit), Some(period)) => Some(Quota {
                    limit: u32::try_from(limit)
                        .map_err(|_| invalid(id, "Quota.Limit", limit, "negative"))?,
                    period: period.parse().map_err(|_| {
                        invalid(id, "Quota.Period", &period, "not DAY, WEEK or MONTH")
                    })?,
                }),
                _ => None,
            },
            None => None,
        };
        let throttle = match p.child("Throttle")? {
            Some(t) => throttle(&t, "RateLimit", "BurstLimit")?,
            None => None,
        };
        let plan_id = physical_id(id, context)?;
        plans.insert(
            plan_id.clone(),
            UsagePlan {
                name: p.str("UsagePlanName")?.unwrap_or_else(|| plan_id.clone()),
                id: plan_id,
                throttle,
                quota,
            },
        );
    }
    let mut plan_of_key = BTreeMap::new();
    for (id, resource) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == USAGE_PLAN_KEY)
    {
        let p = props(id, resource, context)?;
        let plan = p.required_str("UsagePlanId")?;
        if let Some(plan) = plans.get(&plan) {
            plan_of_key.insert(p.required_str("KeyId")?, plan.clone());
        }
    }
    let mut keys = Vec::new();
    for (id, resource) in resources.iter().filter(|(_, r)| r["Type"] == API_KEY) {
        let p = props(id, resource, context)?;
        let key_id = physical_id(id, context)?;
        keys.push(ApiKey {
            name: p.str("Name")?.unwrap_or_else(|| key_id.clone()),
            value: String::new(),
            enabled: p.bool("Enabled")?.unwrap_or(false),
            usage_plan: plan_of_key.get(&key_id).cloned(),
            id: key_id,
        });
    }
    Ok(keys)
}

fn one<'a, T>(items: &'a [T], what: &'static str) -> Result<&'a T, PlanError> {
    match items {
        [one] => Ok(one),
        other => Err(PlanError::NotOne {
            what,
            found: other.len(),
        }),
    }
}

fn names(
    resources: &Map<String, Value>,
    context: &StackContext,
    functions: &[FunctionPlan],
    mappings: &[MappingPlan],
    delivery_streams: &[DeliveryPlan],
) -> Result<ResourceNames, PlanError> {
    let mapping = one(mappings, "enabled event source mappings")?;
    let delivery = one(delivery_streams, "delivery streams")?;
    let processor = functions
        .iter()
        .find(|f| f.logical_id == mapping.function)
        .ok_or_else(|| PlanError::UnknownFunction {
            logical_id: mapping.logical_id.clone(),
            reference: mapping.function.clone(),
        })?;
    let variable = |name: &'static str| {
        processor
            .config
            .environment
            .get(name)
            .cloned()
            .ok_or_else(|| PlanError::MissingVariable {
                logical_id: processor.logical_id.clone(),
                variable: name,
            })
    };
    let stream_arn = mapping.config.event_source_arn.clone();
    let stream = stream_arn
        .split_once(":stream/")
        .map(|(_, name)| name.to_owned())
        .ok_or_else(|| {
            invalid(
                &mapping.logical_id,
                "EventSourceArn",
                &stream_arn,
                "not a Kinesis stream ARN",
            )
        })?;
    let destination = mapping
        .config
        .on_failure_destination
        .clone()
        .unwrap_or_default();
    let dead_letter_queue = resources
        .iter()
        .filter(|(_, r)| r["Type"] == QUEUE)
        .find(|(id, _)| {
            context
                .get_att(id, "Arn")
                .is_ok_and(|arn| arn == destination)
        })
        .ok_or_else(|| PlanError::NotInStack {
            logical_id: mapping.logical_id.clone(),
            what: "on-failure queue",
            value: destination.clone(),
        })?;
    let archive_bucket = delivery
        .config
        .bucket_arn
        .strip_prefix("arn:aws:s3:::")
        .map(str::to_owned)
        .ok_or_else(|| {
            invalid(
                &delivery.logical_id,
                "BucketARN",
                &delivery.config.bucket_arn,
                "not an S3 bucket ARN",
            )
        })?;
    // A topic's physical ID is its ARN, what `Ref` gives and alarm actions hold.
    let topics: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == TOPIC)
        .filter_map(|(id, _)| context.physical_id(id).ok())
        .collect();
    let mut alarm_topic_arns = Vec::new();
    for (id, resource) in resources.iter().filter(|(_, r)| r["Type"] == ALARM) {
        let p = props(id, resource, context)?;
        for action in p.strings("AlarmActions")?.unwrap_or_default() {
            if topics.contains(&action.as_str()) && !alarm_topic_arns.contains(&action) {
                alarm_topic_arns.push(action);
            }
        }
    }
    alarm_topic_arns.sort();
    Ok(ResourceNames {
        table: variable(env::DYNAMODB_TABLE_NAME)?,
        stream,
        stream_arn,
        malformed_topic_arn: variable(env::MALFORMED_TOPIC_ARN)?,
        alarm_topic_arns,
        delivery_stream: delivery.config.name.clone(),
        archive_bucket,
        dead_letter_queue_url: physical_id(dead_letter_queue.0, context)?,
        functions: functions
            .iter()
            .map(|f| (f.logical_id.clone(), f.config.name.clone()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::resolve::DeployedResource;

    const ACCOUNT: &str = "123456789012";

    fn template() -> Value {
        let app = iops_dashboard::App::new(
            &iops_dashboard::Config::default(),
            iops_dashboard::workspace_root(),
        );
        app.core
            .stack
            .synth()
            .expect("a valid core stack")
            .to_value()
    }

    /// `template` as deployed: every resource with a physical ID as moto gives them (a queue's is
    /// its URL).
    fn deployed(template: &Value) -> StackContext {
        let resources = template["Resources"]
            .as_object()
            .expect("resources")
            .iter()
            .map(|(id, r)| {
                let resource_type = r["Type"].as_str().expect("a type").to_owned();
                let physical_id = if resource_type == QUEUE {
                    format!("http://127.0.0.1:5000/{ACCOUNT}/{id}-physical")
                } else if resource_type == STAGE {
                    // A stage's physical ID is its name: what a usage plan's `Ref` gives.
                    "prod".to_owned()
                } else {
                    format!("{id}-physical")
                };
                let resource = DeployedResource {
                    resource_type,
                    physical_id: Some(physical_id),
                };
                (id.clone(), resource)
            })
            .collect();
        StackContext {
            stack_name: "core".into(),
            stack_id: format!("arn:aws:cloudformation:us-east-2:{ACCOUNT}:stack/core/1"),
            region: "us-east-2".into(),
            account: ACCOUNT.into(),
            partition: "aws".into(),
            parameters: BTreeMap::from([
                ("AlertEmail".into(), "ops@example.com".into()),
                ("AssetsBucketName".into(), "assets".into()),
            ]),
            resources,
        }
    }

    /// A binary for every function of `template`, at `/bin/<logical id>`.
    fn binaries(template: &Value) -> FunctionBinaries {
        let paths = template["Resources"]
            .as_object()
            .expect("resources")
            .iter()
            .filter(|(_, r)| r["Type"] == FUNCTION)
            .map(|(id, r)| {
                let key = r["Properties"]["Code"]["S3Key"].as_str().expect("a key");
                (key.to_owned(), PathBuf::from(format!("/bin/{id}")))
            })
            .collect();
        FunctionBinaries::new(paths)
    }

    fn settings() -> PlanSettings<'static> {
        PlanSettings {
            endpoint_url: "http://127.0.0.1:5000",
            kinesis_endpoint_url: "http://127.0.0.1:5001",
            max_environments: NonZeroUsize::new(3).expect("not zero"),
            log_dir: Some(Path::new("/logs")),
            api_port: 0,
        }
    }

    fn plan_of(template: &Value) -> Result<Plan, PlanError> {
        Plan::new(
            template,
            &deployed(template),
            &binaries(template),
            &settings(),
        )
    }

    /// The template's property of a resource, as a number.
    fn number(template: &Value, logical_id: &str, property: &str) -> u64 {
        template["Resources"][logical_id]["Properties"][property]
            .as_u64()
            .unwrap_or_else(|| panic!("{logical_id}.{property} is a number"))
    }

    #[test]
    fn functions_run_their_binary_with_the_templates_settings_resolved() {
        let template = template();
        let plan = plan_of(&template).expect("the core template runs locally");
        assert_eq!(plan.functions.len(), 2);
        for planned in &plan.functions {
            let id = planned.logical_id.as_str();
            let config = &planned.config;
            assert_eq!(config.name, format!("{id}-physical"));
            assert_eq!(config.bootstrap, PathBuf::from(format!("/bin/{id}")));
            assert_eq!(
                config.timeout.as_secs(),
                number(&template, id, "Timeout"),
                "{id}"
            );
            assert_eq!(
                u64::from(config.memory_mb),
                number(&template, id, "MemorySize"),
                "{id}"
            );
            assert_eq!(config.region, "us-east-2");
            assert_eq!(config.account_id, ACCOUNT);
            assert_eq!(config.endpoint_url, "http://127.0.0.1:5000");
            assert_eq!(
                config.service_endpoints.get("KINESIS").map(String::as_str),
                Some("http://127.0.0.1:5001")
            );
            assert_eq!(config.logging.format, LogFormat::Json);
            assert_eq!(
                config.logging.application_log_level.as_deref(),
                Some("INFO")
            );
            assert_eq!(
                config.logging.log_group,
                Some(format!("{id}LogGroup-physical"))
            );
            assert_eq!(
                config.log_file,
                Some(PathBuf::from(format!("/logs/{id}-physical.log")))
            );
            assert_eq!(
                planned.role_arn,
                format!("arn:aws:iam::{ACCOUNT}:role/{id}ServiceRole-physical")
            );
            assert_eq!(config.concurrency.get(), 3, "capped by the settings");
        }
        let ingest = plan.function("IngestFunction").expect("ingest");
        assert_eq!(
            ingest.config.environment,
            BTreeMap::from([
                (
                    env::DYNAMODB_TABLE_NAME.to_owned(),
                    "MetricsTable-physical".to_owned()
                ),
                (
                    env::MALFORMED_TOPIC_ARN.to_owned(),
                    "MalformedEventsTopic-physical".to_owned()
                ),
                (
                    env::REFUSED_BUCKET_NAME.to_owned(),
                    "ArchiveBucket-physical".to_owned()
                ),
                (env::ALERT_INTERVAL_SECONDS.to_owned(), "60".to_owned()),
                (
                    env::KINESIS_STREAM_NAME.to_owned(),
                    "EventsStream-physical".to_owned()
                ),
                (env::USE_KINESIS.to_owned(), "true".to_owned()),
            ])
        );
        let processor = plan.function("StreamProcessorFunction").expect("processor");
        assert_eq!(
            processor.config.environment,
            BTreeMap::from([
                (
                    env::DYNAMODB_TABLE_NAME.to_owned(),
                    "MetricsTable-physical".to_owned()
                ),
                (
                    env::MALFORMED_TOPIC_ARN.to_owned(),
                    "MalformedEventsTopic-physical".to_owned()
                ),
            ])
        );
    }

    #[test]
    fn the_mapping_the_delivery_stream_and_the_api_are_the_templates() {
        let template = template();
        let plan = plan_of(&template).expect("the core template runs locally");
        let stream_arn =
            format!("arn:aws:kinesis:us-east-2:{ACCOUNT}:stream/EventsStream-physical");

        let [mapping] = plan.mappings.as_slice() else {
            panic!("one mapping: {:?}", plan.mappings);
        };
        let esm = &template["Resources"][&mapping.logical_id]["Properties"];
        assert_eq!(mapping.function, "StreamProcessorFunction");
        let config = &mapping.config;
        assert_eq!(config.event_source_arn, stream_arn);
        assert_eq!(
            config.function_arn,
            format!("arn:aws:lambda:us-east-2:{ACCOUNT}:function:StreamProcessorFunction-physical")
        );
        assert_eq!(
            config.invoke_identity_arn,
            format!("arn:aws:iam::{ACCOUNT}:role/StreamProcessorFunctionServiceRole-physical")
        );
        assert_eq!(config.starting_position, StartingPosition::TrimHorizon);
        assert_eq!(json!(config.batch_size), esm["BatchSize"]);
        assert_eq!(
            json!(config.maximum_retry_attempts),
            esm["MaximumRetryAttempts"]
        );
        assert_eq!(
            json!(config.bisect_batch_on_function_error),
            esm["BisectBatchOnFunctionError"]
        );
        assert!(config.report_batch_item_failures);
        assert_eq!(
            config.on_failure_destination.as_deref(),
            Some(
                format!("arn:aws:sqs:us-east-2:{ACCOUNT}:StreamProcessorDeadLetterQueue-physical")
                    .as_str()
            )
        );

        let [delivery] = plan.delivery_streams.as_slice() else {
            panic!("one delivery stream");
        };
        let firehose = &template["Resources"][&delivery.logical_id]["Properties"];
        let destination = &firehose["ExtendedS3DestinationConfiguration"];
        assert_eq!(json!(delivery.config.name), firehose["DeliveryStreamName"]);
        assert_eq!(delivery.config.source_stream_arn, stream_arn);
        assert_eq!(
            delivery.config.bucket_arn,
            "arn:aws:s3:::ArchiveBucket-physical"
        );
        assert_eq!(json!(delivery.config.prefix), destination["Prefix"]);
        assert_eq!(
            json!(delivery.config.error_output_prefix),
            destination["ErrorOutputPrefix"]
        );
        assert_eq!(
            json!(delivery.config.buffering_interval_seconds),
            destination["BufferingHints"]["IntervalInSeconds"]
        );
        assert_eq!(
            json!(delivery.config.buffering_size_mb),
            destination["BufferingHints"]["SizeInMBs"]
        );
        assert_eq!(delivery.config.compression_format, CompressionFormat::Gzip);

        let [api] = plan.apis.as_slice() else {
            panic!("one API");
        };
        assert_eq!(api.function, "IngestFunction");
        assert_eq!(api.config.api_id, "MetricsApi-physical");
        assert_eq!(api.config.account_id, ACCOUNT);
        assert_eq!(api.config.stage, "prod");
        assert_eq!(
            api.config.routes,
            [Route {
                authorization: Authorization::AwsIam,
                api_key_required: true,
                ..Route::new("POST", "/metrics")
            }]
        );
        assert_eq!(api.config.region, "us-east-2");
        assert_eq!(
            api.config.stage_throttle,
            Some(Throttle {
                rate_limit: 2000.0,
                burst_limit: 2000
            }),
            "the stage's /*/* throttle"
        );
        assert!(
            api.config
                .access_log_format
                .as_deref()
                .is_some_and(|f| f.contains("$context.requestId")),
            "{:?}",
            api.config.access_log_format
        );
        assert_eq!(
            api.access_log_group.as_deref(),
            Some("MetricsApiAccessLogs-physical")
        );
        let [key] = api.config.api_keys.as_slice() else {
            panic!("one key: {:?}", api.config.api_keys);
        };
        assert_eq!(key.id, "MetricsApiDefaultUsagePlanApiKey-physical");
        assert_eq!(key.name, "iops-dashboard-api-default");
        assert!(key.enabled);
        assert!(key.value.is_empty(), "the template holds no value");
        let plan_of_key = key.usage_plan.as_ref().expect("in the default plan");
        assert_eq!(
            plan_of_key.throttle,
            Some(Throttle {
                rate_limit: 1000.0,
                burst_limit: 2000
            })
        );
        assert_eq!(
            plan_of_key.quota,
            Some(Quota {
                limit: 10_000_000,
                period: local_runtime::apigw::QuotaPeriod::Day
            })
        );
        assert_eq!(
            plan.post_route,
            ("MetricsApi".to_owned(), "/metrics".to_owned())
        );
    }

    #[test]
    fn the_resource_names_follow_the_templates_references() {
        let plan = plan_of(&template()).expect("the core template runs locally");
        let names = &plan.names;
        assert_eq!(names.table, "MetricsTable-physical");
        assert_eq!(names.stream, "EventsStream-physical");
        assert_eq!(names.malformed_topic_arn, "MalformedEventsTopic-physical");
        assert_eq!(names.alarm_topic_arns, ["HighRiskAlertsTopic-physical"]);
        assert_eq!(names.delivery_stream, "iops-dashboard-archive-firehose");
        assert_eq!(names.archive_bucket, "ArchiveBucket-physical");
        assert_eq!(
            names.dead_letter_queue_url,
            format!("http://127.0.0.1:5000/{ACCOUNT}/StreamProcessorDeadLetterQueue-physical")
        );
        assert_eq!(names.functions.len(), 2);
    }

    fn with(mut template: Value, logical_id: &str, property: &str, value: Value) -> Value {
        template["Resources"][logical_id]["Properties"][property] = value;
        template
    }

    fn mapping_id(template: &Value) -> String {
        template["Resources"]
            .as_object()
            .expect("resources")
            .iter()
            .find(|(_, r)| r["Type"] == MAPPING)
            .map(|(id, _)| id.clone())
            .expect("a mapping")
    }

    #[test]
    fn reserved_concurrency_caps_the_environments_and_zero_is_refused() {
        let one = with(
            template(),
            "StreamProcessorFunction",
            "ReservedConcurrentExecutions",
            json!(1),
        );
        let plan = plan_of(&one).expect("runs");
        let processor = plan.function("StreamProcessorFunction").expect("processor");
        assert_eq!(processor.config.concurrency.get(), 1);
        let zero = with(
            template(),
            "StreamProcessorFunction",
            "ReservedConcurrentExecutions",
            json!(0),
        );
        assert!(matches!(
            plan_of(&zero),
            Err(PlanError::Invalid {
                property: "ReservedConcurrentExecutions",
                ..
            })
        ));
    }

    #[test]
    fn what_cannot_run_locally_is_named() {
        let template = template();
        let error = Plan::new(
            &template,
            &deployed(&template),
            &FunctionBinaries::default(),
            &settings(),
        )
        .expect_err("no binaries");
        assert!(matches!(error, PlanError::NoBinary { .. }), "{error}");

        let mapping = mapping_id(&template);
        let filtered = with(
            template.clone(),
            &mapping,
            "FilterCriteria",
            json!({"Filters": []}),
        );
        let error = plan_of(&filtered).expect_err("filters are not run");
        assert!(
            matches!(&error, PlanError::Property(PropertyError::Unsupported { property, .. }) if property == "FilterCriteria"),
            "{error}"
        );

        let disabled = with(template.clone(), &mapping, "Enabled", json!(false));
        let error = plan_of(&disabled).expect_err("no mapping left");
        assert!(
            matches!(error, PlanError::NotOne { found: 0, .. }),
            "{error}"
        );

        let mut not_proxy = template.clone();
        not_proxy["Resources"]["MetricsApimetricsPOST"]["Properties"]["Integration"]["Type"] =
            json!("AWS");
        let error = plan_of(&not_proxy).expect_err("only proxies");
        assert!(
            matches!(&error, PlanError::Invalid { property: "Integration.Type", value, .. } if value == "AWS"),
            "{error}"
        );

        let python = with(template, "IngestFunction", "Runtime", json!("python3.12"));
        let error = plan_of(&python).expect_err("only custom runtimes");
        assert!(
            matches!(
                error,
                PlanError::Invalid {
                    property: "Runtime",
                    ..
                }
            ),
            "{error}"
        );
    }
}
