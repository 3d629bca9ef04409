//! The running delivery stream: a reader per shard feeding one buffer, and its deliveries to S3.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tracing::{error, info, warn};

use super::buffer::{Batch, Buffer};
use super::config::{ConfigError, DeliveryStreamConfig, Settings};
use crate::follow::{Follower, Reading, ShardConsumer};
use crate::retry::Backoff;
use crate::stream::{MAX_RECORDS_PER_READ, StartingPosition, StreamError, StreamRecord};

/// The Firehose stream version in object names: 1 until the configuration changes, which it
/// does not here.
pub const VERSION: u32 = 1;

/// How long deliveries are retried once the stream is stopping, before the data is dropped.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Timing that is not in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Overrides `BufferingHints.IntervalInSeconds` (e.g. 1 s in a test instead of 300 s).
    /// Default: none, the template's interval.
    pub buffer_interval: Option<Duration>,
    /// How long a shard's reader waits when the shard has no new records. Default 1 s.
    pub poll_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            buffer_interval: None,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Why a delivery stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source stream's shards cannot be listed or positioned.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// A Firehose delivery stream running locally, from a Kinesis stream to S3. It reads every shard
/// from `LATEST`, as Firehose starts on a Kinesis source, buffers the records of all shards
/// together, and writes an object when the buffer reaches its size or its interval. Stopping
/// delivers what is buffered.
#[derive(Debug)]
pub struct DeliveryStream {
    settings: Arc<Settings>,
    stop: watch::Sender<bool>,
    follower: Follower,
    writer: JoinHandle<()>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    read: AtomicU64,
    records: AtomicU64,
    objects: AtomicU64,
}

impl DeliveryStream {
    /// Starts reading the source stream. Its shards are positioned before this returns: records
    /// put afterwards are delivered.
    pub async fn start(
        config: &DeliveryStreamConfig,
        kinesis: aws_sdk_kinesis::Client,
        s3: aws_sdk_s3::Client,
        timing: Timing,
    ) -> Result<DeliveryStream, StartError> {
        let mut settings = config.validate()?;
        if let Some(interval) = timing.buffer_interval {
            settings.interval = interval;
        }
        let settings = Arc::new(settings);
        let (stop, stop_rx) = watch::channel(false);
        let (records_tx, records_rx) = mpsc::channel(16);
        let counts = Arc::new(Counts::default());
        // Firehose reads each shard of its source once a second, from the newest records on.
        let reading = Reading {
            start: StartingPosition::Latest,
            interval: timing.poll_interval,
            limit: MAX_RECORDS_PER_READ,
        };
        let forward = Arc::new(Forward {
            records: records_tx,
            counts: counts.clone(),
        });
        let follower = Follower::start(kinesis, settings.source.clone(), reading, forward).await?;
        let writer = Writer {
            settings: settings.clone(),
            s3,
            counts: counts.clone(),
            stop: stop_rx,
        };
        let writer = tokio::spawn(writer.run(records_rx));
        info!(
            delivery_stream = %settings.name,
            source = %settings.source,
            bucket = %settings.bucket,
            interval_s = settings.interval.as_secs_f64(),
            size_bytes = settings.size_bytes,
            "delivery stream started"
        );
        Ok(DeliveryStream {
            settings,
            stop,
            follower,
            writer,
            counts,
        })
    }

    /// Records taken off the source stream so far, delivered or buffered.
    pub fn records_read(&self) -> u64 {
        self.counts.read.load(Ordering::Relaxed)
    }

    /// Records written to S3 so far.
    pub fn records_delivered(&self) -> u64 {
        self.counts.records.load(Ordering::Relaxed)
    }

    /// Objects written to S3 so far.
    pub fn objects_written(&self) -> u64 {
        self.counts.objects.load(Ordering::Relaxed)
    }

    /// The bucket written to.
    pub fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// The `ErrorOutputPrefix` at `at` for `error_output_type` (e.g. `processing-failed`): where
    /// Firehose writes records its processing or format conversion failed on. This stream has
    /// neither (nor has the template), so, as on AWS, nothing is written there: S3 failures are
    /// retried.
    pub fn error_output_prefix(&self, at: DateTime<Utc>, error_output_type: &str) -> String {
        self.settings.error_prefix.evaluate(at, error_output_type)
    }

    /// Stops reading, delivers what is buffered, and waits for it.
    pub async fn stop(self) {
        self.follower.stop().await;
        // The readers are done: the writer delivers what is buffered and ends.
        self.stop.send_replace(true);
        let _ = self.writer.await;
        info!(delivery_stream = %self.settings.name, "delivery stream stopped");
    }
}

/// Hands what is read to the writer.
struct Forward {
    records: mpsc::Sender<Vec<StreamRecord>>,
    counts: Arc<Counts>,
}

impl ShardConsumer for Forward {
    async fn consume<'a>(
        &'a self,
        _shard_id: &'a str,
        records: Vec<StreamRecord>,
        _stop: &'a mut watch::Receiver<bool>,
    ) -> bool {
        let read = u64::try_from(records.len()).unwrap_or(u64::MAX);
        if self.records.send(records).await.is_err() {
            return false;
        }
        self.counts.read.fetch_add(read, Ordering::Relaxed);
        true
    }
}

/// Buffers what the readers send and writes the objects.
struct Writer {
    settings: Arc<Settings>,
    s3: aws_sdk_s3::Client,
    counts: Arc<Counts>,
    stop: watch::Receiver<bool>,
}

impl Writer {
    async fn run(self, mut records: mpsc::Receiver<Vec<StreamRecord>>) {
        let mut buffer = Buffer::default();
        loop {
            let due = buffer
                .started()
                .map(|started| started + self.settings.interval);
            tokio::select! {
                biased;
                received = records.recv() => {
                    let Some(received) = received else { break };
                    for record in &received {
                        let delimiter = &self.settings.delimiter;
                        if buffer.would_overflow(record, delimiter, self.settings.size_bytes)
                            && let Some(batch) = buffer.take()
                        {
                            self.deliver(batch).await;
                        }
                        buffer.push(record, delimiter, Instant::now());
                        if buffer.is_full(self.settings.size_bytes)
                            && let Some(batch) = buffer.take()
                        {
                            self.deliver(batch).await;
                        }
                    }
                    // Under a steady flow the timer branch may not get its turn.
                    let overdue = buffer
                        .started()
                        .is_some_and(|started| started + self.settings.interval <= Instant::now());
                    if overdue && let Some(batch) = buffer.take() {
                        self.deliver(batch).await;
                    }
                }
                () = wait_until(due) => {
                    if let Some(batch) = buffer.take() {
                        self.deliver(batch).await;
                    }
                }
            }
        }
        // Every reader is done: deliver the rest.
        if let Some(batch) = buffer.take() {
            self.deliver(batch).await;
        }
    }

    /// Writes one object, retrying until S3 takes it; once stopping, for [`STOP_GRACE`] at most.
    async fn deliver(&self, batch: Batch) {
        let settings = &self.settings;
        let prefix = settings.prefix.evaluate(batch.oldest, "");
        let key = batch.key(&prefix, &settings.name, VERSION, settings.gzip);
        let body = match batch.body(settings.gzip) {
            Ok(body) => body,
            Err(error) => {
                error!(%error, records = batch.records, "cannot compress the batch, dropping it");
                return;
            }
        };
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut give_up_at: Option<Instant> = None;
        loop {
            let put = self
                .s3
                .put_object()
                .bucket(&settings.bucket)
                .key(&key)
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match put {
                Ok(_) => {
                    info!(bucket = %settings.bucket, %key, records = batch.records, bytes = body.len(), "object delivered");
                    self.counts.records.fetch_add(
                        u64::try_from(batch.records).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    self.counts.objects.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    warn!(bucket = %settings.bucket, %key, error = %DisplayErrorContext(&e), "PutObject failed, retrying");
                }
            }
            if *self.stop.borrow() {
                let deadline = *give_up_at.get_or_insert_with(|| Instant::now() + STOP_GRACE);
                if Instant::now() >= deadline {
                    error!(bucket = %settings.bucket, %key, records = batch.records, "stopping: the batch could not be delivered and is dropped");
                    return;
                }
            }
            sleep(backoff.next_delay()).await;
        }
    }
}

/// Resolves at `due`, or never when nothing is buffered.
async fn wait_until(due: Option<Instant>) {
    match due {
        Some(due) => sleep_until(due).await,
        None => std::future::pending().await,
    }
}
