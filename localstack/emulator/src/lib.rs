//! A local AWS emulator that the tests and a developer use alike, and the Python tools the
//! project installs on first use ([`python`]).
//!
//! [`Emulator::start`] picks the backend: the endpoint in `AWS_ENDPOINT_URL` as is; else LocalStack
//! in Docker when a Docker engine answers; else a moto server run as a host process. Beside it, the
//! handle serves Kinesis itself ([`local_kinesis`]: AWS's shard limits, which no emulator
//! enforces), taking over the streams the backend's CloudFormation creates. Every SDK client made
//! from [`Emulator::sdk_config`] talks to those endpoints with dummy credentials, never to AWS.
//! Dropping the handle stops whatever it started.

mod docker;
mod localstack;
mod moto;
/// The pinned Python tools (moto, cfn-lint) and where they are cached.
pub use python_tools as python;

use std::fmt;
use std::path::PathBuf;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use local_kinesis::{Backing, CloudWatchSink, LocalKinesis, ShardLimits, StartOptions};
use tracing::info;

pub use local_kinesis;

pub use docker::{DEFAULT_DOCKER_HOST, DOCKER_HOST_ENV, DOCKER_TLS_VERIFY_ENV, DockerUnreachable};
pub use localstack::{DEFAULT_LOCALSTACK_IMAGE, LOCALSTACK_AUTH_TOKEN_ENV, LOCALSTACK_IMAGE_ENV};
pub use moto::MOTO;

/// An endpoint to use as is (any emulator already running, e.g. `http://localhost:4566`); when set,
/// nothing is started.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL";
/// The region the clients use; [`DEFAULT_REGION`] when unset.
pub const REGION_ENV: &str = "AWS_REGION";
/// The region of the core stack, the default when `AWS_REGION` is unset.
pub const DEFAULT_REGION: &str = "us-east-2";
/// The access key id and secret of the dummy credentials every client signs with.
pub const DUMMY_CREDENTIAL: &str = "test";
/// The variable the AWS SDKs and CLI read for the Kinesis endpoint alone (the standard
/// service-specific endpoint setting): the local Kinesis.
pub const KINESIS_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_KINESIS";

/// How the emulator runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The local Kinesis's shard limits. Default AWS's; a test that cannot offer AWS's rates on
    /// this machine scales them down ([`ShardLimits::scaled`]) and says so.
    pub kinesis_limits: ShardLimits,
    /// How often the local Kinesis publishes its metrics to the backend's CloudWatch. Default a
    /// minute, as Kinesis does; [`Emulator::flush_kinesis_metrics`] publishes at once.
    pub kinesis_metrics_interval: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kinesis_limits: ShardLimits::AWS,
            kinesis_metrics_interval: local_kinesis::DEFAULT_METRICS_INTERVAL,
        }
    }
}

/// Which emulator serves the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The endpoint in `AWS_ENDPOINT_URL`, started by someone else.
    External,
    /// LocalStack in a Docker container started through testcontainers.
    LocalStack,
    /// A moto server run as a host process.
    Moto,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::External => "endpoint from AWS_ENDPOINT_URL",
            Backend::LocalStack => "LocalStack (Docker)",
            Backend::Moto => "moto server",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("{ENDPOINT_ENV} is {value:?}, not an http:// or https:// URL")]
    InvalidEndpoint { value: String },
    #[error("{LOCALSTACK_IMAGE_ENV} is {value:?}, not an image name with a tag (name:tag)")]
    InvalidImage { value: String },
    #[error("cannot start LocalStack ({image}) in Docker")]
    LocalStack {
        image: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("cannot install moto ({requirement})")]
    Install {
        requirement: &'static str,
        #[source]
        source: python::ToolError,
    },
    #[error("the install of moto ({requirement}) panicked")]
    InstallPanicked {
        requirement: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("cannot find a free loopback port")]
    NoFreePort(#[source] std::io::Error),
    #[error("cannot create the emulator log {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the moto server exited with {status} before answering; log {log}:\n{tail}")]
    Exited {
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("the local Kinesis cannot start")]
    Kinesis(#[source] local_kinesis::StartError),
    #[error("the moto server did not answer at {endpoint} within {waited:?}; log {log}:\n{tail}")]
    Unhealthy {
        endpoint: String,
        waited: std::time::Duration,
        log: PathBuf,
        tail: String,
    },
}

/// What the handle started, stopped when it drops.
#[derive(Debug)]
enum Running {
    Nothing,
    Moto {
        _server: moto::MotoServer,
    },
    LocalStack {
        _container: Box<localstack::LocalStackContainer>,
    },
}

/// A running emulator: its endpoint, region, and the SDK configuration that points at it.
#[derive(Debug)]
pub struct Emulator {
    backend: Backend,
    endpoint: String,
    region: String,
    kinesis: LocalKinesis,
    _running: Running,
}

impl Emulator {
    /// Starts the emulator the environment calls for: the endpoint in `AWS_ENDPOINT_URL` as is;
    /// else LocalStack when a Docker engine answers; else a moto server (installed on first use).
    pub async fn start() -> Result<Emulator, EmulatorError> {
        Emulator::start_with(Options::default()).await
    }

    /// [`Emulator::start`] with `options`.
    pub async fn start_with(options: Options) -> Result<Emulator, EmulatorError> {
        if let Some(endpoint) = non_empty_env(ENDPOINT_ENV) {
            return Emulator::external(endpoint, &options).await;
        }
        match docker::probe().await {
            Ok(host) => {
                info!(docker = %host, "Docker answers; running LocalStack");
                let container = localstack::LocalStackContainer::start().await?;
                Emulator::ready(
                    Backend::LocalStack,
                    container.endpoint(),
                    Running::LocalStack {
                        _container: Box::new(container),
                    },
                    &options,
                )
                .await
            }
            Err(reason) => {
                info!(%reason, "Docker is not reachable; running moto");
                Emulator::moto_with(options).await
            }
        }
    }

    /// Starts a moto server on a free loopback port, whatever the environment says.
    pub async fn moto() -> Result<Emulator, EmulatorError> {
        Emulator::moto_with(Options::default()).await
    }

    /// [`Emulator::moto`] with `options`.
    pub async fn moto_with(options: Options) -> Result<Emulator, EmulatorError> {
        let server = moto::MotoServer::start(&tools_dir()).await?;
        Emulator::ready(
            Backend::Moto,
            server.endpoint(),
            Running::Moto { _server: server },
            &options,
        )
        .await
    }

    /// The endpoint given, started by someone else.
    async fn external(endpoint: String, options: &Options) -> Result<Emulator, EmulatorError> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(EmulatorError::InvalidEndpoint { value: endpoint });
        }
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        Emulator::ready(Backend::External, endpoint, Running::Nothing, options).await
    }

    async fn ready(
        backend: Backend,
        endpoint: String,
        running: Running,
        options: &Options,
    ) -> Result<Emulator, EmulatorError> {
        let region = non_empty_env(REGION_ENV).unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let kinesis = LocalKinesis::start(StartOptions {
            service: local_kinesis::Options {
                region: region.clone(),
                limits: options.kinesis_limits,
                backing: Some(Backing::new(&endpoint)),
                ..local_kinesis::Options::default()
            },
            metrics: Some(Arc::new(CloudWatchSink::new(&endpoint))),
            metrics_interval: options.kinesis_metrics_interval,
            ..StartOptions::default()
        })
        .await
        .map_err(EmulatorError::Kinesis)?;
        info!(
            backend = %backend,
            %endpoint,
            kinesis = %kinesis.endpoint(),
            %region,
            "emulator ready"
        );
        Ok(Emulator {
            backend,
            endpoint,
            region,
            kinesis,
            _running: running,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The emulator's URL, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The local Kinesis's URL, e.g. `http://127.0.0.1:45124`: what [`KINESIS_ENDPOINT_ENV`] is
    /// set to for the functions, the AWS CLI and the SDKs.
    pub fn kinesis_endpoint(&self) -> String {
        self.kinesis.endpoint()
    }

    /// The local Kinesis itself.
    pub fn kinesis(&self) -> &LocalKinesis {
        &self.kinesis
    }

    /// Publishes the local Kinesis's metrics counted so far to the backend's CloudWatch.
    pub async fn flush_kinesis_metrics(&self) -> Result<(), String> {
        self.kinesis.flush_metrics().await
    }

    /// The environment an AWS CLI or SDK process needs to use this emulator in `region`: the
    /// endpoints (Kinesis its own), the region and the dummy credentials. `up` prints it as an
    /// `export` line.
    pub fn client_env(&self, region: &str) -> Vec<(&'static str, String)> {
        vec![
            (ENDPOINT_ENV, self.endpoint.clone()),
            (KINESIS_ENDPOINT_ENV, self.kinesis.endpoint()),
            (REGION_ENV, region.to_owned()),
            // The AWS CLI v1 reads only this one.
            ("AWS_DEFAULT_REGION", region.to_owned()),
            ("AWS_ACCESS_KEY_ID", DUMMY_CREDENTIAL.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", DUMMY_CREDENTIAL.to_owned()),
        ]
    }

    /// The region the clients use: `AWS_REGION`, else `us-east-2`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK configuration for [`Emulator::region`]: this endpoint (Kinesis: the local one),
    /// dummy static credentials, the latest behavior version. Nothing is read from the
    /// environment or the AWS profile files.
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_in(&self.region)
    }

    /// [`Emulator::sdk_config`] for another region (the billing stack lives in us-east-1).
    pub fn sdk_config_in(&self, region: &str) -> SdkConfig {
        let credentials = Credentials::new(
            DUMMY_CREDENTIAL,
            DUMMY_CREDENTIAL,
            None,
            None,
            "emulator-dummy",
        );
        SdkConfig::builder()
            .endpoint_url(&self.endpoint)
            .service_config(KinesisEndpoint(self.kinesis.endpoint()))
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .behavior_version(BehaviorVersion::latest())
            .build()
    }
}

impl fmt::Display for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {} ({}), Kinesis at {}",
            self.backend,
            self.endpoint,
            self.region,
            self.kinesis.endpoint()
        )
    }
}

/// The SDK's service-specific endpoint setting (what `AWS_ENDPOINT_URL_KINESIS` gives from the
/// environment): the Kinesis client made from the config talks to the local Kinesis.
#[derive(Debug)]
struct KinesisEndpoint(String);

impl LoadServiceConfig for KinesisEndpoint {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "Kinesis" && key.env() == "AWS_ENDPOINT_URL").then(|| self.0.clone())
    }
}

/// An S3 client for `config` with path-style addressing (`http://host/bucket/key`), as emulators
/// on loopback need: they have no DNS for `bucket.host`.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// A bucket that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("cannot list the objects of bucket {bucket}")]
    List {
        bucket: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("cannot read s3://{bucket}/{key}")]
    Read {
        bucket: String,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// Every object of `bucket`, key and content, in key order: what was written to an emulated
/// bucket, read back.
pub async fn objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Vec<(String, Vec<u8>)>, ObjectsError> {
    let mut keys = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ObjectsError::List {
            bucket: bucket.to_owned(),
            source: Box::new(e),
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
    }
    let mut objects = Vec::with_capacity(keys.len());
    for key in keys {
        let read =
            |source: Box<dyn std::error::Error + Send + Sync + 'static>| ObjectsError::Read {
                bucket: bucket.to_owned(),
                key: key.clone(),
                source,
            };
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| read(Box::new(e)))?;
        let body = object.body.collect().await.map_err(|e| read(Box::new(e)))?;
        objects.push((key, body.into_bytes().to_vec()));
    }
    Ok(objects)
}

/// A queue that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot {operation} on queue {queue_url}")]
pub struct ReceiveError {
    pub operation: &'static str,
    pub queue_url: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// The bodies of the messages `queue_url` has now (up to 10, waiting up to a second for the
/// first), each deleted once received: what a test reads from an emulated queue.
pub async fn receive_messages(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<String>, ReceiveError> {
    let error = |operation: &'static str| {
        move |e: Box<dyn std::error::Error + Send + Sync + 'static>| ReceiveError {
            operation,
            queue_url: queue_url.to_owned(),
            source: e,
        }
    };
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .map_err(|e| error("ReceiveMessage")(Box::new(e)))?;
    let mut bodies = Vec::new();
    for message in output.messages() {
        bodies.push(message.body().unwrap_or_default().to_owned());
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(|e| error("DeleteMessage")(Box::new(e)))?;
    }
    Ok(bodies)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// This workspace's cached tools folder (`<target>/tools`), where the pinned Python tools live.
pub fn tools_dir() -> PathBuf {
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // localstack/emulator/ → the workspace root.
    let workspace_root = manifest_dir.ancestors().nth(2).unwrap_or(manifest_dir);
    python::default_tools_dir(workspace_root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::ProvideCredentials;

    #[test]
    fn backends_say_what_they_are() {
        assert_eq!(
            Backend::External.to_string(),
            "endpoint from AWS_ENDPOINT_URL"
        );
        assert_eq!(Backend::LocalStack.to_string(), "LocalStack (Docker)");
        assert_eq!(Backend::Moto.to_string(), "moto server");
    }

    #[tokio::test]
    async fn an_external_endpoint_must_be_a_url() {
        let options = Options::default();
        let err = Emulator::external("localhost:4566".into(), &options)
            .await
            .expect_err("no scheme");
        assert!(
            matches!(err, EmulatorError::InvalidEndpoint { .. }),
            "{err}"
        );
        let emulator = Emulator::external("http://localhost:4566/".into(), &options)
            .await
            .expect("a URL");
        assert_eq!(emulator.backend(), Backend::External);
        assert_eq!(emulator.endpoint(), "http://localhost:4566");
    }

    #[tokio::test]
    async fn the_sdk_config_points_at_the_emulator_with_dummy_credentials() {
        let emulator = Emulator::external("http://127.0.0.1:1".into(), &Options::default())
            .await
            .expect("a URL");
        let config = emulator.sdk_config_in("us-east-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        // Kinesis goes to the local Kinesis (the endpoint above answers nothing).
        aws_sdk_kinesis::Client::new(&config)
            .create_stream()
            .stream_name("made-here")
            .shard_count(1)
            .send()
            .await
            .expect("the local Kinesis answers");
        emulator
            .kinesis()
            .service()
            .call(
                "us-east-1",
                "DescribeStreamSummary",
                br#"{"StreamName":"made-here"}"#,
            )
            .await
            .expect("the stream is in the local Kinesis, in the config's region");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        let credentials = config
            .credentials_provider()
            .expect("credentials set")
            .provide_credentials()
            .await
            .expect("static credentials");
        assert_eq!(credentials.access_key_id(), "test");
        assert_eq!(credentials.secret_access_key(), "test");
        assert!(
            emulator
                .to_string()
                .starts_with("endpoint from AWS_ENDPOINT_URL at http://127.0.0.1:1")
        );
    }
}
