//! Every number and name of the deployment, in one place. The defaults are the Phase 1 spec's
//! (`shared/spec/kinesis-phase1-deployment-summary.md`).

use std::num::NonZeroU32;
use std::time::Duration;

use constructs::apigateway::{AccountRole, Authorization, Throttle};
use constructs::assets::Architecture;
use constructs::logs::RetentionDays;

/// The whole deployment's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The account the stacks deploy to, when pinned (templates use `AWS::AccountId` either way).
    pub account: Option<String>,
    /// The region of the core stack. Default: `us-east-2`.
    pub region: String,
    /// Events per second the pipeline must take in a burst. Default: 4,000 (the spec's claim).
    pub target_burst_rps: u64,
    /// The instruction set of both functions. Default: x86_64 (the spec's); arm64 runs on
    /// Graviton at a lower price per GB-second.
    pub architecture: Architecture,
    pub stream: StreamConfig,
    pub archive: ArchiveConfig,
    pub processor: ProcessorConfig,
    pub ingest: IngestConfig,
    pub alarms: AlarmConfig,
    pub billing: BillingConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub name: String,
    pub shards: NonZeroU32,
    pub retention: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveConfig {
    /// `Fn::Sub` template of the bucket name.
    pub bucket_name: String,
    pub firehose_name: String,
    pub infrequent_access_after_days: u32,
    pub glacier_after_days: u32,
    pub expire_after_days: u32,
    pub buffer_size_mib: u32,
    pub buffer_interval: Duration,
    /// Firehose prefix expressions for `events/year={yyyy}/month={MM}/day={dd}/hour={HH}/`.
    pub prefix: String,
    /// … and for `errors/year={yyyy}/month={MM}/day={dd}/{error-type}/`.
    pub error_prefix: String,
    /// One event a line in the archive objects (JSON Lines, what Athena reads). Default: true.
    pub newline_delimited: bool,
    /// Days the bodies of refused requests (`refused/`) are kept for forensics. Default: 90.
    pub refused_expire_after_days: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorConfig {
    pub memory_mb: u32,
    pub timeout: Duration,
    pub reserved_concurrency: u32,
    pub batch_size: u32,
    pub retry_attempts: u32,
    pub malformed_topic_name: String,
    pub log_retention: RetentionDays,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Execution environments ingest may run at once, reserved for it and capped: a flood
    /// through the public API cannot take the account's concurrency from the processor and
    /// everything else. Default: 100 (2,000 requests/s, the stage's throttle, at 50 ms each).
    pub reserved_concurrency: u32,
    /// The feature flag: write to Kinesis (`true`) or straight to DynamoDB.
    pub use_kinesis: bool,
    pub api_name: String,
    pub stage_name: String,
    pub log_retention: RetentionDays,
    /// How `POST /metrics` authorizes callers. Default: IAM (SigV4): producers sign with their
    /// own role, given `execute-api:Invoke` by the producer policy. `Authorization::None` is
    /// the API-key-only mode, for clients that cannot sign: weaker, since API keys identify
    /// and meter clients but are no authentication.
    pub authorization: Authorization,
    /// The upstream clients, each with an API key and a usage plan of its own. Every request
    /// needs one of their keys (`x-api-key`) as well. Default: one client, `default`.
    pub clients: Vec<ApiClient>,
    /// Names of existing IAM roles that produce events: the producer policy is attached to
    /// them. Default: none (attach the policy, output `MetricsProducerPolicyArn`, yourself).
    pub producer_roles: Vec<String>,
    /// The shortest time between two malformed-event alerts from one ingest environment.
    /// Default: 60 s, so at most `reserved_concurrency` alerts a minute however bad the input.
    pub alert_interval: Duration,
    /// The account's API Gateway logging role (one per account and region). Default: the
    /// stack creates and retains it.
    pub api_gateway_account_role: AccountRole,
}

/// An upstream client of the API: its key's name and what its usage plan lets it send.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiClient {
    /// Letters, digits and `-`; names the key (`<api name>-<name>`) and its plan.
    pub name: String,
    pub throttle: Throttle,
    /// Requests a day.
    pub daily_quota: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    pub alerts_topic_name: String,
    /// Iterator age that means processing lags. Default: 60 s.
    pub max_iterator_age: Duration,
    /// Malformed events, percent of processed. Default: 5 %.
    pub malformed_rate_percent: f64,
    /// Stream processor errors, percent of invocations. Default: 5 %.
    pub processor_error_rate_percent: f64,
    /// API Gateway 4xx responses, fraction of requests. Default: 5 %.
    pub api_4xx_rate: f64,
    /// API Gateway 5xx responses, fraction of requests. Default: 1 %.
    pub api_5xx_rate: f64,
    pub period: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BillingConfig {
    /// Billing metrics exist only in us-east-1.
    pub region: String,
    pub monthly_threshold_usd: f64,
    pub alarm_name: String,
    pub topic_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            account: None,
            region: "us-east-2".into(),
            target_burst_rps: 4_000,
            architecture: Architecture::X86_64,
            stream: StreamConfig {
                name: "iops-dashboard-events-stream".into(),
                shards: NonZeroU32::new(2).expect("invariant: 2 is not zero"),
                retention: Duration::from_secs(24 * 3600),
            },
            archive: ArchiveConfig {
                bucket_name: "iops-dashboard-archive-${AWS::AccountId}".into(),
                firehose_name: "iops-dashboard-archive-firehose".into(),
                infrequent_access_after_days: 30,
                glacier_after_days: 90,
                expire_after_days: 365,
                buffer_size_mib: 5,
                buffer_interval: Duration::from_secs(300),
                prefix: "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/".into(),
                error_prefix: "errors/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/!{firehose:error-output-type}/".into(),
                newline_delimited: true,
                refused_expire_after_days: 90,
            },
            processor: ProcessorConfig {
                memory_mb: 512,
                timeout: Duration::from_secs(300),
                reserved_concurrency: 50,
                batch_size: 100,
                retry_attempts: 3,
                malformed_topic_name: "iops-dashboard-malformed-events".into(),
                log_retention: RetentionDays::OneMonth,
            },
            ingest: IngestConfig {
                memory_mb: 256,
                timeout: Duration::from_secs(10),
                reserved_concurrency: 100,
                use_kinesis: true,
                api_name: "iops-dashboard-api".into(),
                stage_name: "prod".into(),
                log_retention: RetentionDays::OneMonth,
                authorization: Authorization::Iam,
                clients: vec![ApiClient {
                    name: "default".into(),
                    throttle: Throttle {
                        rate_limit: 1_000.0,
                        burst_limit: 2_000,
                    },
                    daily_quota: 10_000_000,
                }],
                producer_roles: Vec::new(),
                alert_interval: Duration::from_secs(
                    event_contract::env::DEFAULT_ALERT_INTERVAL_SECONDS,
                ),
                api_gateway_account_role: AccountRole::Create,
            },
            alarms: AlarmConfig {
                alerts_topic_name: "iops-dashboard-high-risk-alerts".into(),
                max_iterator_age: Duration::from_secs(60),
                malformed_rate_percent: 5.0,
                processor_error_rate_percent: 5.0,
                api_4xx_rate: 0.05,
                api_5xx_rate: 0.01,
                period: Duration::from_secs(300),
            },
            billing: BillingConfig {
                region: "us-east-1".into(),
                monthly_threshold_usd: 300.0,
                alarm_name: "iops-dashboard-monthly-cost-alarm".into(),
                topic_name: "iops-dashboard-billing-alerts".into(),
            },
        }
    }
}
