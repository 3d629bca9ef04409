//! Kinesis Data Streams, served locally with AWS's limits: what no emulator does (not moto, not
//! kinesalite, not kinesis-mock, which LocalStack runs).
//!
//! - **Writes per shard**: 1,000 records/s and 1 MiB/s (data + partition key); over that, a
//!   `PutRecords` entry fails with `ProvisionedThroughputExceededException` and AWS's message
//!   while the others succeed, and a `PutRecord` fails as a whole. The shard is the open one
//!   whose hash key range holds the MD5 of the partition key (or the `ExplicitHashKey`).
//! - **Reads per shard**: 5 `GetRecords` calls/s and 2 MiB/s, shared by every consumer;
//!   `MillisBehindLatest` in each answer.
//! - **Resharding**: `UpdateShardCount` (uniform scaling, through splits and merges as AWS
//!   does), `SplitShard`, `MergeShards`: parents close, children open, readers reaching the end
//!   of a parent get its `ChildShards`.
//! - **On-demand** streams: 4 shards, AWS's initial 4 MiB/s and 4,000 records/s.
//! - **Metrics** per minute under `AWS/Kinesis` ([`metrics`]), published to CloudWatch.
//! - **Concurrency**: every record confirmed is stored once, at its own position.
//!
//! Streams created in a backing emulator ([`Backing`]) are taken over on first use, so a stack
//! deployed through the emulator's CloudFormation has its stream here. See `README.md` for what
//! is modelled and what is not.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use local_kinesis::{LocalKinesis, StartOptions};
//! let kinesis = LocalKinesis::start(StartOptions::default()).await?;
//! println!("AWS_ENDPOINT_URL_KINESIS={}", kinesis.endpoint());
//! kinesis.stop().await;
//! # Ok(()) }
//! ```

mod backing;
mod clock;
mod error;
pub mod hash;
mod iterator;
pub mod limits;
pub mod metrics;
mod publish;
pub mod sequence;
mod server;
mod service;
mod stream;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use backing::{Backing, BackingError};
pub use clock::Clock;
pub use error::{ApiError, ErrorCode};
pub use iterator::ITERATOR_TTL_MILLIS;
pub use limits::ShardLimits;
pub use publish::{CloudWatchSink, MetricsSink, PublishFuture};
pub use server::{MAX_BODY_BYTES, TARGET_PREFIX};
pub use service::{
    Kinesis, MAX_GET_RECORDS, MAX_GET_RECORDS_BYTES, MAX_PUT_RECORDS, MAX_PUT_RECORDS_BYTES,
    MAX_SCALINGS_PER_DAY, MAX_SHARDS, Options,
};
pub use stream::{DEFAULT_MAX_RECORD_KIB, ON_DEMAND_SHARDS, StreamMode, shard_id};

/// How often the metrics are published by default: CloudWatch's one-minute period.
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(60);

/// How the server starts.
#[derive(Debug)]
pub struct StartOptions {
    pub service: Options,
    /// The loopback port. Default 0: a free one.
    pub port: u16,
    /// Where the metrics go. Default none: counted, not published.
    pub metrics: Option<Arc<dyn MetricsSink>>,
    /// How often the ended minutes are published. Default a minute.
    pub metrics_interval: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            service: Options::default(),
            port: 0,
            metrics: None,
            metrics_interval: DEFAULT_METRICS_INTERVAL,
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve Kinesis on 127.0.0.1:{port}")]
pub struct StartError {
    pub port: u16,
    #[source]
    pub source: std::io::Error,
}

/// The local Kinesis, serving on a loopback port until stopped or dropped.
#[derive(Debug)]
pub struct LocalKinesis {
    addr: SocketAddr,
    service: Arc<Kinesis>,
    metrics: Option<Arc<dyn MetricsSink>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    publisher: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl LocalKinesis {
    pub async fn start(options: StartOptions) -> Result<LocalKinesis, StartError> {
        let port = options.port;
        let bind = |source| StartError { port, source };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let limits = options.service.limits;
        let service = Arc::new(Kinesis::new(options.service));
        let app = server::router(service.clone());
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(error) = served {
                warn!(%error, %addr, "the local Kinesis stopped serving");
            }
        });
        let publisher = options.metrics.clone().map(|sink| {
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn(publish_every(
                service.clone(),
                sink,
                options.metrics_interval,
                stop_rx,
            ));
            (stop, task)
        });
        info!(
            endpoint = %format!("http://{addr}"),
            write_records_per_shard = limits.write_records_per_second,
            write_bytes_per_shard = limits.write_bytes_per_second,
            "local Kinesis serving"
        );
        Ok(LocalKinesis {
            addr,
            service,
            metrics: options.metrics,
            shutdown: Some(shutdown),
            server: Some(server),
            publisher,
        })
    }

    /// `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_KINESIS` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service itself, to call without HTTP.
    pub fn service(&self) -> &Arc<Kinesis> {
        &self.service
    }

    /// Publishes every metric counted so far, the current minute's too.
    pub async fn flush_metrics(&self) -> Result<(), String> {
        match &self.metrics {
            Some(sink) => publish(&self.service, sink.as_ref(), true).await,
            None => Ok(()),
        }
    }

    /// Stops serving, waits for requests in flight, and publishes the metrics left.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some((stop, task)) = self.publisher.take() {
            stop.send_replace(true);
            let _ = task.await;
        }
    }
}

impl Drop for LocalKinesis {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
        if let Some((_, task)) = &self.publisher {
            task.abort();
        }
    }
}

/// Publishes the minutes that ended (all of them with `everything`), if there are any.
async fn publish(
    service: &Kinesis,
    sink: &dyn MetricsSink,
    everything: bool,
) -> Result<(), String> {
    let data = service.recorder.drain(service.clock().wall(), everything);
    if data.is_empty() {
        return Ok(());
    }
    sink.publish(data).await
}

async fn publish_every(
    service: Arc<Kinesis>,
    sink: Arc<dyn MetricsSink>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            _ = stop.changed() => true,
        };
        if let Err(error) = publish(&service, sink.as_ref(), stopping).await {
            warn!(%error, "the stream metrics could not be published");
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}
