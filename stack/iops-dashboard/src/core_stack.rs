//! `IOpsDashboard-CoreStack`: API → ingest → Kinesis → stream processor → DynamoDB / SNS, and
//! Kinesis → Firehose → S3, watched by alarms that notify the high-risk alerts topic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cfn::{Expr, Value};
use constructs::apigateway::{
    ExecutionLogging, HttpMethod, Quota, QuotaPeriod, RestApi, RestApiProps, UsagePlanProps,
};
use constructs::cloudwatch::{
    Alarm, AlarmProps, AlarmSource, Comparison, Metric, Statistic, TreatMissingData,
};
use constructs::dynamodb::{Attribute, Table, TableAction, TableProps};
use constructs::firehose::{Compression, DeliveryStream, DeliveryStreamProps, S3Destination};
use constructs::iam::{ManagedPolicy, ManagedPolicyProps};
use constructs::kinesis::{Stream, StreamAction, StreamMode, StreamProps, WriteCapacity};
use constructs::lambda::{Function, FunctionProps, KinesisEventSource, KinesisEventSourceProps};
use constructs::logs::RetentionDays;
use constructs::s3::{Bucket, BucketProps, LifecycleRule, StorageClass, Transition};
use constructs::sns::{Topic, TopicProps};
use constructs::sqs::{Queue, QueueProps};
use constructs::{Environment, Stack, StackProps};
use event_contract::{env, metrics, refused, table};

use crate::config::Config;
use crate::shared::{alarm_topic, email_parameter, output};

pub const CORE_STACK_NAME: &str = "IOpsDashboard-CoreStack";

/// The Cargo packages of the functions.
pub const INGEST_PACKAGE: &str = "ingest";
pub const STREAM_PROCESSOR_PACKAGE: &str = "stream-processor";

/// The core stack and handles to what other code asks about.
#[derive(Debug, Clone)]
pub struct CoreStack {
    pub stack: Stack,
    pub events: Stream,
    target_burst_rps: u64,
}

/// A stream's write capacity next to the burst the pipeline is meant to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityReport {
    pub capacity: WriteCapacity,
    pub shards: Option<u32>,
    pub target_burst_rps: u64,
}

impl CapacityReport {
    /// Records per second the stream cannot take of the target burst (0 when it can).
    pub fn shortfall_rps(&self) -> u64 {
        self.target_burst_rps
            .saturating_sub(self.capacity.records_per_second)
    }

    /// Shards a provisioned stream needs for the target burst.
    pub fn shards_needed(&self) -> u64 {
        self.target_burst_rps
            .div_ceil(constructs::kinesis::SHARD_WRITE_RECORDS_PER_SECOND)
    }
}

impl CoreStack {
    pub fn new(config: &Config, workspace_root: PathBuf) -> CoreStack {
        let stack = Stack::new(
            CORE_STACK_NAME,
            StackProps {
                env: Environment { account: config.account.clone(), region: config.region.clone() },
                description: Some("IOps Dashboard event pipeline: API, Kinesis, stream processor, DynamoDB, SNS alerts, S3 archive".into()),
                workspace_root: Some(workspace_root),
            },
        );
        let alert_email = email_parameter(
            &stack,
            "Where malformed-event reports and high-risk alarms are e-mailed",
        );

        // Buffer: the stream every event passes through.
        let events = Stream::new(
            &stack,
            "EventsStream",
            StreamProps {
                stream_name: Some(config.stream.name.clone()),
                mode: StreamMode::Provisioned {
                    shards: config.stream.shards,
                },
                retention: config.stream.retention,
                ..Default::default()
            },
        );

        // Archive: Kinesis → Firehose → S3, partitioned by hour, GZIP.
        let a = &config.archive;
        let archive = Bucket::new(
            &stack,
            "ArchiveBucket",
            BucketProps {
                bucket_name: Some(Expr::sub(&a.bucket_name).value()),
                lifecycle_rules: vec![
                    LifecycleRule {
                        id: "ArchiveTiering".into(),
                        prefix: None,
                        transitions: vec![
                            Transition {
                                storage_class: StorageClass::InfrequentAccess,
                                after_days: a.infrequent_access_after_days,
                            },
                            Transition {
                                storage_class: StorageClass::Glacier,
                                after_days: a.glacier_after_days,
                            },
                        ],
                        expiration_days: Some(a.expire_after_days),
                        abort_incomplete_multipart_upload_days: None,
                    },
                    // The bodies ingest refused: evidence for a while, not an archive.
                    LifecycleRule {
                        id: "RefusedRequests".into(),
                        prefix: Some(refused::PREFIX.into()),
                        transitions: Vec::new(),
                        expiration_days: Some(a.refused_expire_after_days),
                        abort_incomplete_multipart_upload_days: None,
                    },
                ],
                ..Default::default()
            },
        );
        let firehose = DeliveryStream::new(
            &stack,
            "ArchiveFirehose",
            DeliveryStreamProps {
                delivery_stream_name: Some(a.firehose_name.clone()),
                source: events.clone(),
                destination: S3Destination {
                    bucket: archive.clone(),
                    prefix: a.prefix.clone(),
                    error_output_prefix: a.error_prefix.clone(),
                    buffer_size_mib: a.buffer_size_mib,
                    buffer_interval: a.buffer_interval,
                    compression: Compression::Gzip,
                    newline_delimited: a.newline_delimited,
                },
                error_log_retention: RetentionDays::OneMonth,
            },
        );

        // Data quality alerts.
        let malformed_topic = Topic::new(
            &stack,
            "MalformedEventsTopic",
            TopicProps {
                topic_name: Some(config.processor.malformed_topic_name.clone()),
                display_name: Some("IOps Dashboard malformed events".into()),
                ..Default::default()
            },
        );
        malformed_topic.add_email_subscription("EmailSubscription", alert_email.clone());

        // High-risk alerts: every alarm notifies this topic.
        let alerts = alarm_topic(
            &stack,
            "HighRiskAlertsTopic",
            &config.alarms.alerts_topic_name,
            "IOps Dashboard high-risk alerts",
            alert_email,
        );

        // Storage.
        let metrics_table = Table::new(
            &stack,
            "MetricsTable",
            TableProps::new(Attribute::string(table::PARTITION_KEY)),
        );

        // Stream processor: validate, write to DynamoDB, report malformed events.
        let p = &config.processor;
        let dead_letters = Queue::new(
            &stack,
            "StreamProcessorDeadLetterQueue",
            QueueProps::default(),
        );
        let processor = Function::new(
            &stack,
            "StreamProcessorFunction",
            FunctionProps {
                description: Some("Validates events from the Kinesis stream, writes them to DynamoDB and reports malformed ones".into()),
                memory_mb: p.memory_mb,
                timeout: p.timeout,
                reserved_concurrency: Some(p.reserved_concurrency),
                environment: BTreeMap::from([
                    (env::DYNAMODB_TABLE_NAME.to_owned(), metrics_table.name().value()),
                    (env::MALFORMED_TOPIC_ARN.to_owned(), malformed_topic.arn().value()),
                ]),
                log_retention: p.log_retention,
                architecture: config.architecture,
                ..FunctionProps::rust(STREAM_PROCESSOR_PACKAGE)
            },
        );
        // Exactly the calls its code makes (`stream_processor::AWS_CALLS`); the event source
        // mapping adds what Lambda itself calls with the role.
        metrics_table.grant(&processor, &[TableAction::BatchWriteItem]);
        malformed_topic.grant_publish(&processor);
        processor.add_event_source(KinesisEventSource::new(
            &events,
            KinesisEventSourceProps {
                batch_size: p.batch_size,
                bisect_batch_on_error: true,
                retry_attempts: Some(p.retry_attempts),
                report_batch_item_failures: true,
                on_failure: Some(dead_letters.clone()),
                ..Default::default()
            },
        ));

        // Ingest: the API's function, writing to Kinesis (or, with the flag off, to DynamoDB).
        let i = &config.ingest;
        let ingest = Function::new(
            &stack,
            "IngestFunction",
            FunctionProps {
                description: Some(
                    "Accepts metric events over HTTP and writes them to the Kinesis stream".into(),
                ),
                memory_mb: i.memory_mb,
                timeout: i.timeout,
                reserved_concurrency: Some(i.reserved_concurrency),
                environment: BTreeMap::from([
                    (env::KINESIS_STREAM_NAME.to_owned(), events.name().value()),
                    (
                        env::USE_KINESIS.to_owned(),
                        Value::from(i.use_kinesis.to_string()),
                    ),
                    (
                        env::DYNAMODB_TABLE_NAME.to_owned(),
                        metrics_table.name().value(),
                    ),
                    (
                        env::MALFORMED_TOPIC_ARN.to_owned(),
                        malformed_topic.arn().value(),
                    ),
                    (env::REFUSED_BUCKET_NAME.to_owned(), archive.name().value()),
                    (
                        env::ALERT_INTERVAL_SECONDS.to_owned(),
                        Value::from(i.alert_interval.as_secs().to_string()),
                    ),
                ]),
                log_retention: i.log_retention,
                architecture: config.architecture,
                ..FunctionProps::rust(INGEST_PACKAGE)
            },
        );
        // Exactly the calls its code makes on the configured path (`ingest::aws_calls`): the
        // flag is a template change that `synth diff` shows as an IAM change.
        if i.use_kinesis {
            events.grant(&ingest, &[StreamAction::PutRecords]);
        } else {
            metrics_table.grant(&ingest, &[TableAction::BatchWriteItem]);
        }
        malformed_topic.grant_publish(&ingest);
        archive.grant_put(&ingest, refused::PREFIX);

        // The API refuses (429) what the stream cannot take, rather than accepting it into
        // retries: a request holds at least one event, so the stream's records per second
        // bound the requests per second.
        let capacity = events.write_capacity().records_per_second;
        let api = RestApi::new(
            &stack,
            "MetricsApi",
            RestApiProps {
                description: Some("IOps Dashboard metric event ingestion".into()),
                stage_name: i.stage_name.clone(),
                throttling_rate_limit: capacity as f64,
                throttling_burst_limit: u32::try_from(capacity).unwrap_or(u32::MAX),
                authorization: i.authorization,
                api_key_required: !i.clients.is_empty(),
                execution_logging: ExecutionLogging::Errors {
                    retention: i.log_retention,
                    account_role: i.api_gateway_account_role,
                },
                ..RestApiProps::new(&i.api_name)
            },
        );
        api.add_lambda_proxy("metrics", HttpMethod::Post, &ingest);
        let mut client_keys = Vec::new();
        for client in &i.clients {
            let id = pascal_case(&client.name);
            let plan = api.add_usage_plan(
                &format!("{id}UsagePlan"),
                UsagePlanProps {
                    name: format!("{}-{}", i.api_name, client.name),
                    description: Some(format!("What the {} client may send", client.name)),
                    throttle: Some(client.throttle),
                    quota: Some(Quota {
                        limit: client.daily_quota,
                        period: QuotaPeriod::Day,
                    }),
                },
            );
            let key = plan.add_api_key(
                "ApiKey",
                &format!("{}-{}", i.api_name, client.name),
                Some(&format!("The {} client's key", client.name)),
            );
            client_keys.push((id, client.name.clone(), key));
        }
        let producers = ManagedPolicy::new(
            &stack,
            "MetricsProducerPolicy",
            ManagedPolicyProps {
                managed_policy_name: None,
                description: Some("Lets a producer sign POST /metrics requests".into()),
                statements: vec![api.invoke_statement(HttpMethod::Post, "metrics")],
                roles: i
                    .producer_roles
                    .iter()
                    .map(|r| Value::from(r.clone()))
                    .collect(),
            },
        );

        alarms(
            &stack,
            config,
            &events,
            &processor,
            &ingest,
            &metrics_table,
            &api,
            &alerts,
        );

        output(
            &stack,
            "KinesisStreamName",
            "Name of the Kinesis Data Stream",
            events.name(),
        );
        output(
            &stack,
            "KinesisStreamArn",
            "ARN of the Kinesis Data Stream",
            events.arn(),
        );
        output(
            &stack,
            "ArchiveBucketName",
            "S3 bucket for archived events",
            archive.name(),
        );
        output(
            &stack,
            "ArchiveDeliveryStreamName",
            "Firehose delivery stream archiving the events",
            firehose.name(),
        );
        output(
            &stack,
            "MalformedDataTopicArn",
            "SNS topic for data quality alerts",
            malformed_topic.arn(),
        );
        output(
            &stack,
            "HighRiskAlertsTopicArn",
            "SNS topic the alarms notify",
            alerts.arn(),
        );
        output(
            &stack,
            "StreamProcessorFunctionName",
            "Lambda function processing the stream",
            processor.name(),
        );
        output(
            &stack,
            "StreamProcessorDeadLetterQueueUrl",
            "SQS queue receiving batches the processor could not handle",
            dead_letters.url(),
        );
        output(
            &stack,
            "IngestFunctionName",
            "Lambda function behind the metrics endpoint",
            ingest.name(),
        );
        output(
            &stack,
            "MetricsTableName",
            "DynamoDB table of validated events",
            metrics_table.name(),
        );
        output(
            &stack,
            "MetricsEndpoint",
            "API endpoint for event ingestion (POST)",
            api.url_for("metrics"),
        );
        output(
            &stack,
            "MetricsProducerPolicyArn",
            "Managed policy to attach to producer roles: execute-api:Invoke on POST /metrics",
            producers.arn(),
        );
        output(
            &stack,
            "MetricsApiAccessLogGroupName",
            "Log group of the API's access logs (one JSON line per request)",
            api.access_logs().name(),
        );
        for (id, name, key) in &client_keys {
            output(
                &stack,
                &format!("{id}ApiKeyId"),
                &format!(
                    "Id of the {name} client's API key (its value: aws apigateway get-api-key --include-value)"
                ),
                key.id(),
            );
        }

        CoreStack {
            stack,
            events,
            target_burst_rps: config.target_burst_rps,
        }
    }

    /// The event stream's write capacity against the target burst.
    pub fn capacity(&self) -> CapacityReport {
        let shards = match self.events.mode() {
            StreamMode::Provisioned { shards } => Some(shards.get()),
            StreamMode::OnDemand => None,
        };
        CapacityReport {
            capacity: self.events.write_capacity(),
            shards,
            target_burst_rps: self.target_burst_rps,
        }
    }
}

/// `my-client` → `MyClient`, for logical ids and output names.
fn pascal_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[allow(clippy::too_many_arguments)] // one handle per watched resource reads better than a struct here
fn alarms(
    stack: &Stack,
    config: &Config,
    events: &Stream,
    processor: &Function,
    ingest: &Function,
    table: &Table,
    api: &RestApi,
    alerts: &Topic,
) {
    let c = &config.alarms;
    let minute = Duration::from_secs(60);
    let alarm = |id: &str,
                 name: &str,
                 description: &str,
                 source: AlarmSource,
                 comparison: Comparison,
                 threshold: f64| {
        Alarm::new(
            stack,
            id,
            AlarmProps {
                alarm_name: Some(format!("iops-dashboard-{name}")),
                description: description.into(),
                source,
                comparison,
                threshold,
                evaluation_periods: 1,
                datapoints_to_alarm: None,
                treat_missing_data: TreatMissingData::NotBreaching,
                actions: vec![alerts.clone()],
            },
        );
    };
    let rate = |expression: &str, label: &str, metrics: [(&str, Metric); 2]| AlarmSource::Math {
        expression: expression.into(),
        label: label.into(),
        metrics: metrics
            .into_iter()
            .map(|(id, m)| (id.to_owned(), m))
            .collect(),
        period: c.period,
    };

    // Kinesis.
    alarm(
        "IteratorAgeAlarm",
        "iterator-age",
        "Processing lags: the oldest unread record in the events stream is older than the limit",
        AlarmSource::Metric(events.metric(
            "GetRecords.IteratorAgeMilliseconds",
            Statistic::Maximum,
            minute,
        )),
        Comparison::GreaterThanThreshold,
        c.max_iterator_age.as_millis() as f64,
    );
    alarm(
        "WriteThroughputExceededAlarm",
        "write-throughput-exceeded",
        "Writes to the events stream exceed its provisioned shard capacity",
        AlarmSource::Metric(events.metric(
            "WriteProvisionedThroughputExceeded",
            Statistic::Sum,
            minute,
        )),
        Comparison::GreaterThanThreshold,
        0.0,
    );

    // Stream processor.
    alarm(
        "StreamProcessorErrorRateAlarm",
        "stream-processor-error-rate",
        "The stream processor fails more than the allowed percentage of its invocations",
        rate(
            "IF(invocations > 0, 100 * errors / invocations, 0)",
            "Stream processor error rate (%)",
            [
                (
                    "errors",
                    processor.metric("Errors", Statistic::Sum, c.period),
                ),
                (
                    "invocations",
                    processor.metric("Invocations", Statistic::Sum, c.period),
                ),
            ],
        ),
        Comparison::GreaterThanThreshold,
        c.processor_error_rate_percent,
    );
    let custom = |name: &str| Metric::new(metrics::NAMESPACE, name, Statistic::Sum, c.period);
    alarm(
        "MalformedRateAlarm",
        "malformed-rate",
        "More than the allowed percentage of processed events are malformed",
        rate(
            "IF(processed > 0, 100 * malformed / processed, 0)",
            "Malformed events (%)",
            [
                ("malformed", custom(metrics::MALFORMED_EVENTS)),
                ("processed", custom(metrics::PROCESSED_EVENTS)),
            ],
        ),
        Comparison::GreaterThanThreshold,
        c.malformed_rate_percent,
    );

    // The existing alarms: ingest, DynamoDB, API Gateway.
    alarm(
        "IngestErrorsAlarm",
        "ingest-errors",
        "The ingest function returned errors",
        AlarmSource::Metric(ingest.metric("Errors", Statistic::Sum, c.period)),
        Comparison::GreaterThanThreshold,
        0.0,
    );
    alarm(
        "IngestThrottlesAlarm",
        "ingest-throttles",
        "Invocations of the ingest function were throttled",
        AlarmSource::Metric(ingest.metric("Throttles", Statistic::Sum, c.period)),
        Comparison::GreaterThanThreshold,
        0.0,
    );
    alarm(
        "MetricsTableThrottleAlarm",
        "metrics-table-throttles",
        "Reads or writes to the metrics table were throttled",
        AlarmSource::Math {
            expression: "reads + writes".into(),
            label: "Throttled requests".into(),
            metrics: BTreeMap::from([
                (
                    "reads".to_owned(),
                    table.metric("ReadThrottleEvents", Statistic::Sum, c.period),
                ),
                (
                    "writes".to_owned(),
                    table.metric("WriteThrottleEvents", Statistic::Sum, c.period),
                ),
            ]),
            period: c.period,
        },
        Comparison::GreaterThanThreshold,
        0.0,
    );
    alarm(
        "Api4xxAlarm",
        "api-4xx-rate",
        "The metrics API answers too many requests with 4xx",
        AlarmSource::Metric(api.metric("4XXError", Statistic::Average, c.period)),
        Comparison::GreaterThanThreshold,
        c.api_4xx_rate,
    );
    alarm(
        "Api5xxAlarm",
        "api-5xx-rate",
        "The metrics API answers too many requests with 5xx",
        AlarmSource::Metric(api.metric("5XXError", Statistic::Average, c.period)),
        Comparison::GreaterThanThreshold,
        c.api_5xx_rate,
    );
}
