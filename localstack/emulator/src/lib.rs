//! A local AWS emulator that the tests and a developer use alike, and the Python tools the
//! project installs on first use ([`python`]).
//!
//! [`Emulator::start`] picks the backend: the endpoint in `AWS_ENDPOINT_URL` as is; else LocalStack
//! in Docker when a Docker engine answers; else a moto server run as a host process. Every SDK
//! client made from [`Emulator::sdk_config`] talks to that endpoint with dummy credentials, never
//! to AWS. Dropping the handle stops whatever it started.

mod docker;
mod localstack;
mod moto;
/// The pinned Python tools (moto, cfn-lint) and where they are cached.
pub use python_tools as python;

use std::fmt;
use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use tracing::info;

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
    _running: Running,
}

impl Emulator {
    /// Starts the emulator the environment calls for: the endpoint in `AWS_ENDPOINT_URL` as is;
    /// else LocalStack when a Docker engine answers; else a moto server (installed on first use).
    pub async fn start() -> Result<Emulator, EmulatorError> {
        if let Some(endpoint) = non_empty_env(ENDPOINT_ENV) {
            return Emulator::external(endpoint);
        }
        match docker::probe().await {
            Ok(host) => {
                info!(docker = %host, "Docker answers; running LocalStack");
                let container = localstack::LocalStackContainer::start().await?;
                Ok(Emulator::ready(
                    Backend::LocalStack,
                    container.endpoint(),
                    Running::LocalStack {
                        _container: Box::new(container),
                    },
                ))
            }
            Err(reason) => {
                info!(%reason, "Docker is not reachable; running moto");
                Emulator::moto().await
            }
        }
    }

    /// Starts a moto server on a free loopback port, whatever the environment says.
    pub async fn moto() -> Result<Emulator, EmulatorError> {
        let server = moto::MotoServer::start(&tools_dir()).await?;
        Ok(Emulator::ready(
            Backend::Moto,
            server.endpoint(),
            Running::Moto { _server: server },
        ))
    }

    /// The endpoint given, started by someone else.
    fn external(endpoint: String) -> Result<Emulator, EmulatorError> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(EmulatorError::InvalidEndpoint { value: endpoint });
        }
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        Ok(Emulator::ready(
            Backend::External,
            endpoint,
            Running::Nothing,
        ))
    }

    fn ready(backend: Backend, endpoint: String, running: Running) -> Emulator {
        let region = non_empty_env(REGION_ENV).unwrap_or_else(|| DEFAULT_REGION.to_owned());
        info!(backend = %backend, %endpoint, %region, "emulator ready");
        Emulator {
            backend,
            endpoint,
            region,
            _running: running,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The emulator's URL, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The region the clients use: `AWS_REGION`, else `us-east-2`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK configuration for [`Emulator::region`]: this endpoint, dummy static credentials,
    /// the latest behavior version. Nothing is read from the environment or the AWS profile files.
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
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .behavior_version(BehaviorVersion::latest())
            .build()
    }
}

impl fmt::Display for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} ({})", self.backend, self.endpoint, self.region)
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

/// This workspace's cached tools folder (`<target>/tools`).
fn tools_dir() -> PathBuf {
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

    #[test]
    fn an_external_endpoint_must_be_a_url() {
        let err = Emulator::external("localhost:4566".into()).expect_err("no scheme");
        assert!(
            matches!(err, EmulatorError::InvalidEndpoint { .. }),
            "{err}"
        );
        let emulator = Emulator::external("http://localhost:4566/".into()).expect("a URL");
        assert_eq!(emulator.backend(), Backend::External);
        assert_eq!(emulator.endpoint(), "http://localhost:4566");
    }

    #[tokio::test]
    async fn the_sdk_config_points_at_the_emulator_with_dummy_credentials() {
        let emulator = Emulator::external("http://127.0.0.1:1".into()).expect("a URL");
        let config = emulator.sdk_config_in("us-east-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
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
