//! The whole pipeline run locally, from the deployed stack's template: each
//! `AWS::Lambda::Function` as a local function running the binary given for its code package,
//! with the template's environment resolved to the deployed resources and pointed at the
//! emulator; each `AWS::Lambda::EventSourceMapping` as a local mapping (its on-failure queue
//! resolved); each `AWS::KinesisFirehose::DeliveryStream` from its properties; each REST API's
//! stage with its Lambda proxy methods. What the template says is read by [`Plan`]; the
//! emulator serves everything else (streams, tables, topics, queues, buckets).
//!
//! ```no_run
//! # async fn run(emulator: &localstack::emulator::Emulator, template: &serde_json::Value,
//! #              deployed: &localstack::Deployed,
//! #              binaries: &localstack::pipeline::FunctionBinaries) -> Result<(), Box<dyn std::error::Error>> {
//! use localstack::pipeline::{Pipeline, PipelineOptions};
//! let pipeline = Pipeline::start(emulator, template, deployed, binaries, PipelineOptions::default()).await?;
//! println!("POST {}", pipeline.metrics_url());
//! println!("table {}", pipeline.names().table);
//! pipeline.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Dropping the [`Pipeline`] stops everything too, without waiting; [`Pipeline::shutdown`] waits
//! for invocations in flight and delivers what the delivery streams buffered.

mod access_log;
mod binaries;
mod plan;
mod transport;

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use emulator::Emulator;
use local_runtime::apigw::ApiGateway;
use local_runtime::esm::{self, EventSourceMapping, InvocationRecord, Redriven};
use local_runtime::firehose::{DeliveryStream, Timing};
use local_runtime::lambda::{Function, Invoke, InvokeError};
use serde_json::Value;
use tracing::{info, warn};

use crate::Deployed;

pub use binaries::{BinariesError, CARGO_ENV, FunctionBinaries};
pub use plan::{
    ApiPlan, DeliveryPlan, FunctionPlan, MappingPlan, Plan, PlanError, PlanSettings, ResourceNames,
};

/// Decides, for each invocation an event source mapping makes, whether it fails before it
/// reaches the function, and how: a fault drill (a processor that cannot run) without touching
/// the function. Given the event; `None` lets the invocation through.
#[derive(Clone)]
pub struct InvocationFault(Arc<FaultFn>);

/// The decision: the event in, the error to fail with out.
type FaultFn = dyn Fn(&Value) -> Option<InvokeError> + Send + Sync;

impl InvocationFault {
    pub fn new(fault: impl Fn(&Value) -> Option<InvokeError> + Send + Sync + 'static) -> Self {
        InvocationFault(Arc::new(fault))
    }
}

impl fmt::Debug for InvocationFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvocationFault(..)")
    }
}

/// How the pipeline runs on this machine; nothing here changes what the template says, except
/// the buffer interval, which is logged when overridden.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Replaces the delivery streams' `BufferingHints.IntervalInSeconds` (300 s in our template,
    /// longer than a test can wait). Default: none, the template's interval.
    pub firehose_buffer_interval: Option<Duration>,
    /// How often the mapping and the delivery stream read each shard (one `GetRecords` per
    /// interval, up to 10,000 records). Default 1 s, Lambda's and Firehose's rate.
    pub poll_interval: Duration,
    /// Execution environments per function at most, to spare the machine; a function's
    /// `ReservedConcurrentExecutions` caps it further. Default 4.
    pub max_environments: NonZeroUsize,
    /// The loopback port of the REST API. Default 0: a free one.
    pub api_port: u16,
    /// A folder the functions' output is appended to, `<function name>.log`. Default none
    /// (kept in memory only, see [`Pipeline::function_logs`]).
    pub log_dir: Option<PathBuf>,
    /// Fails chosen invocations of the event source mappings before they reach the function.
    /// Default none.
    pub invocation_fault: Option<InvocationFault>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            firehose_buffer_interval: None,
            poll_interval: esm::DEFAULT_POLL_INTERVAL,
            max_environments: NonZeroUsize::new(4).expect("invariant: 4 is not zero"),
            api_port: 0,
            log_dir: None,
            invocation_fault: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the template cannot run locally")]
    Plan(#[source] PlanError),
    #[error("function {logical_id} cannot start")]
    Function {
        logical_id: String,
        #[source]
        source: local_runtime::lambda::StartError,
    },
    #[error("event source mapping {logical_id} cannot start")]
    Mapping {
        logical_id: String,
        #[source]
        source: esm::StartError,
    },
    #[error("delivery stream {logical_id} cannot start")]
    DeliveryStream {
        logical_id: String,
        #[source]
        source: local_runtime::firehose::StartError,
    },
    #[error("REST API {logical_id} cannot be served")]
    Api {
        logical_id: String,
        #[source]
        source: local_runtime::apigw::StartError,
    },
    #[error("no event source mapping of the pipeline invokes {function_arn} from {stream_arn}")]
    NoMapping {
        function_arn: String,
        stream_arn: String,
    },
    #[error("the value of API key {key_id} cannot be read")]
    ApiKey {
        key_id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("the batch cannot be redriven")]
    Redrive(#[source] esm::RedriveError),
    #[error("{operation} on bucket {bucket} failed")]
    BucketPolicy {
        bucket: String,
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// `GetApiKey --include-value`.
async fn api_key_value(
    apigateway: &aws_sdk_apigateway::Client,
    key_id: &str,
) -> Result<String, PipelineError> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| PipelineError::ApiKey {
        key_id: key_id.to_owned(),
        source,
    };
    let key = apigateway
        .get_api_key()
        .api_key(key_id)
        .include_value(true)
        .send()
        .await
        .map_err(|e| failed(e.into()))?;
    key.value()
        .map(str::to_owned)
        .ok_or_else(|| failed("the service answered no value".into()))
}

/// A function behind an event source mapping, with the fault drill in front of it.
struct Gated {
    function: Function,
    fault: Option<InvocationFault>,
}

impl Invoke for Gated {
    async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        if let Some(error) = self.fault.as_ref().and_then(|fault| (fault.0)(&payload)) {
            return Err(error);
        }
        self.function.invoke(payload).await
    }
}

/// One route of a REST API, served locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `POST`, `GET`, … or `ANY`.
    pub method: String,
    /// The local URL, e.g. `http://127.0.0.1:41234/prod/metrics`.
    pub url: String,
    /// The name of the function it proxies to.
    pub function: String,
}

/// The pipeline running locally. Dropping it stops everything without waiting.
#[derive(Debug)]
pub struct Pipeline {
    plan: Plan,
    endpoints: Vec<Endpoint>,
    metrics_url: String,
    functions: Vec<(String, Function)>,
    mappings: Vec<(String, EventSourceMapping)>,
    delivery_streams: Vec<(String, DeliveryStream)>,
    apis: Vec<(String, ApiGateway)>,
    access_logs: Vec<tokio::task::JoinHandle<()>>,
    kinesis: aws_sdk_kinesis::Client,
}

impl Pipeline {
    /// Starts what `template`, deployed as `deployed` in `emulator`, runs: the functions (each
    /// with the binary `binaries` has for its code package), the delivery streams and event
    /// source mappings (their shards positioned), then the REST APIs.
    pub async fn start(
        emulator: &Emulator,
        template: &Value,
        deployed: &Deployed,
        binaries: &FunctionBinaries,
        options: PipelineOptions,
    ) -> Result<Pipeline, PipelineError> {
        let kinesis_endpoint = emulator.kinesis_endpoint();
        let settings = PlanSettings {
            endpoint_url: emulator.endpoint(),
            kinesis_endpoint_url: &kinesis_endpoint,
            max_environments: options.max_environments,
            log_dir: options.log_dir.as_deref(),
            api_port: options.api_port,
        };
        let mut plan = Plan::new(template, &deployed.context, binaries, &settings)
            .map_err(PipelineError::Plan)?;
        let config = emulator.sdk_config_in(&deployed.context.region);
        let kinesis = aws_sdk_kinesis::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let s3 = emulator::s3_client(&config);

        let mut functions = Vec::new();
        for planned in &plan.functions {
            let function = Function::start(planned.config.clone())
                .await
                .map_err(|source| PipelineError::Function {
                    logical_id: planned.logical_id.clone(),
                    source,
                })?;
            functions.push((planned.logical_id.clone(), function));
        }
        let function_of = |logical_id: &str| {
            functions
                .iter()
                .find(|(id, _)| id == logical_id)
                .map(|(_, f)| f.clone())
                .expect("invariant: the plan names only functions it planned")
        };

        let mut delivery_streams = Vec::new();
        for planned in &plan.delivery_streams {
            if let Some(bucket) = planned.config.bucket_arn.strip_prefix("arn:aws:s3:::") {
                transport::lift_transport_denials(&s3, bucket).await?;
            }
            if let Some(interval) = options.firehose_buffer_interval {
                warn!(
                    delivery_stream = %planned.config.name,
                    template_seconds = planned.config.buffering_interval_seconds,
                    seconds = interval.as_secs_f64(),
                    "buffer interval overridden for this run"
                );
            }
            let timing = Timing {
                buffer_interval: options.firehose_buffer_interval,
                poll_interval: options.poll_interval,
            };
            let stream =
                DeliveryStream::start(&planned.config, kinesis.clone(), s3.clone(), timing)
                    .await
                    .map_err(|source| PipelineError::DeliveryStream {
                        logical_id: planned.logical_id.clone(),
                        source,
                    })?;
            delivery_streams.push((planned.logical_id.clone(), stream));
        }

        let mut mappings = Vec::new();
        for planned in &plan.mappings {
            let gated = Arc::new(Gated {
                function: function_of(&planned.function),
                fault: options.invocation_fault.clone(),
            });
            let mapping = EventSourceMapping::start(
                &planned.config,
                gated,
                kinesis.clone(),
                sqs.clone(),
                options.poll_interval,
            )
            .await
            .map_err(|source| PipelineError::Mapping {
                logical_id: planned.logical_id.clone(),
                source,
            })?;
            mappings.push((planned.logical_id.clone(), mapping));
        }

        let apigateway = aws_sdk_apigateway::Client::new(&config);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
        let mut apis = Vec::new();
        let mut access_logs = Vec::new();
        let mut endpoints = Vec::new();
        let mut metrics_url = String::new();
        for planned in &mut plan.apis {
            // The template holds no key values: the service generated them on deploy.
            for key in &mut planned.config.api_keys {
                key.value = api_key_value(&apigateway, &key.id).await?;
            }
            let function = function_of(&planned.function);
            let invoke = Arc::new(function.clone());
            let started = match &planned.access_log_group {
                Some(group) => {
                    let stream = format!(
                        "local-{}-{}",
                        planned.config.stage,
                        uuid::Uuid::new_v4().simple()
                    );
                    let (sink, task) = access_log::start(logs.clone(), group.clone(), stream);
                    access_logs.push(task);
                    ApiGateway::start_with_access_log(planned.config.clone(), invoke, sink).await
                }
                None => ApiGateway::start(planned.config.clone(), invoke).await,
            };
            let api = started.map_err(|source| PipelineError::Api {
                logical_id: planned.logical_id.clone(),
                source,
            })?;
            for route in &planned.config.routes {
                let url = format!("{}{}", api.url(), route.resource);
                if plan.post_route == (planned.logical_id.clone(), route.resource.clone())
                    && route.method == "POST"
                {
                    metrics_url.clone_from(&url);
                }
                endpoints.push(Endpoint {
                    method: route.method.clone(),
                    url,
                    function: function.config().name.clone(),
                });
            }
            apis.push((planned.logical_id.clone(), api));
        }
        info!(
            functions = functions.len(),
            mappings = mappings.len(),
            delivery_streams = delivery_streams.len(),
            url = %metrics_url,
            "pipeline running"
        );
        Ok(Pipeline {
            plan,
            endpoints,
            metrics_url,
            functions,
            mappings,
            delivery_streams,
            apis,
            access_logs,
            kinesis,
        })
    }

    /// The API keys of the REST APIs, with the values the service generated: what a client
    /// sends as `x-api-key`.
    pub fn api_keys(&self) -> Vec<&local_runtime::apigw::ApiKey> {
        self.plan
            .apis
            .iter()
            .flat_map(|api| &api.config.api_keys)
            .collect()
    }

    /// The URL of the template's one `POST` method, e.g. `http://127.0.0.1:41234/prod/metrics`.
    pub fn metrics_url(&self) -> &str {
        &self.metrics_url
    }

    /// Every route served, with its local URL.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The resources the pipeline reads and writes.
    pub fn names(&self) -> &ResourceNames {
        &self.plan.names
    }

    /// What runs, as read from the template.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The running function of logical ID `logical_id`.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, f)| f)
    }

    /// What each function wrote, by logical ID: the newest lines of each.
    pub fn function_logs(&self) -> Vec<(String, Vec<String>)> {
        self.functions
            .iter()
            .map(|(id, f)| (id.clone(), f.logs().into_iter().map(|l| l.text).collect()))
            .collect()
    }

    /// Records each event source mapping took off its stream so far, by logical ID.
    pub fn records_processed(&self) -> Vec<(String, u64)> {
        self.mappings
            .iter()
            .map(|(id, m)| (id.clone(), m.records_processed()))
            .collect()
    }

    /// Passes the records a discarded batch's invocation record names (as the on-failure queue
    /// received it) through the function of its mapping again, as the mapping would, bypassing
    /// [`PipelineOptions::invocation_fault`]. See [`esm::redrive`].
    pub async fn redrive(&self, record: &InvocationRecord) -> Result<Redriven, PipelineError> {
        let function_arn = &record.request_context.function_arn;
        let stream_arn = &record.kinesis_batch_info.stream_arn;
        let planned = self
            .plan
            .mappings
            .iter()
            .find(|m| {
                m.config.function_arn == *function_arn && m.config.event_source_arn == *stream_arn
            })
            .ok_or_else(|| PipelineError::NoMapping {
                function_arn: function_arn.clone(),
                stream_arn: stream_arn.clone(),
            })?;
        let function = self
            .function(&planned.function)
            .expect("invariant: a planned mapping's function runs");
        esm::redrive(
            &planned.config,
            function,
            &self.kinesis,
            &record.kinesis_batch_info,
        )
        .await
        .map_err(PipelineError::Redrive)
    }

    /// Stops accepting requests, stops the mappings (invocations in flight finish), delivers
    /// what the delivery streams buffered, and stops the functions.
    pub async fn shutdown(self) {
        for (_, api) in self.apis {
            api.stop().await;
        }
        for writer in self.access_logs {
            let _ = writer.await;
        }
        for (_, mapping) in self.mappings {
            mapping.stop().await;
        }
        for (_, stream) in self.delivery_streams {
            stream.stop().await;
        }
        for (_, function) in self.functions {
            function.stop().await;
        }
        info!("pipeline stopped");
    }
}
