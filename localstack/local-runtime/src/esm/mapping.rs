//! The running mapping: the stream followed shard by shard ([`crate::follow`]: one `GetRecords`
//! per shard a second, up to 10,000 records, children after their parents), each read passed
//! through the function in batches of `BatchSize`, in order, and the on-failure destination.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;
use tracing::{info, warn};

use super::batch::{self, Policy, Stopped};
use super::config::{ConfigError, EventSourceMappingConfig, QueueArn, Settings};
use super::event::event_record;
use super::record::{Discarded, InvocationRecord};
use crate::follow::{Follower, Reading, ShardConsumer};
use crate::lambda::{Invoke, MAX_PAYLOAD_BYTES};
use crate::retry::{Backoff, sleep_or_stop};
use crate::stream::{MAX_RECORDS_PER_READ, StreamError, StreamRecord};

/// How often a shard is read: Lambda polls each shard once per second at its base rate.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why a mapping could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The stream's shards cannot be listed or positioned.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The on-failure queue cannot be found.
    #[error("cannot find the on-failure queue {name} of account {account_id}: {message}")]
    Destination {
        /// The queue's name.
        name: String,
        /// Its account.
        account_id: String,
        /// The SDK's error, with its causes.
        message: String,
    },
}

/// A Kinesis event source mapping running locally: each shard of the stream is read from the
/// starting position and passed through the function one batch at a time, in order; after a
/// resharding, the children are read once their parents are. Stopping lets the invocation in
/// flight finish.
#[derive(Debug)]
pub struct EventSourceMapping {
    follower: Follower,
    processed: Arc<AtomicU64>,
}

impl EventSourceMapping {
    /// Starts polling every shard of the stream of `config` for `function`, each at most once
    /// per `poll_interval`. Shards are positioned before this returns: with `LATEST`, records
    /// put afterwards are delivered.
    pub async fn start<I: Invoke + 'static>(
        config: &EventSourceMappingConfig,
        function: Arc<I>,
        kinesis: aws_sdk_kinesis::Client,
        sqs: aws_sdk_sqs::Client,
        poll_interval: Duration,
    ) -> Result<EventSourceMapping, StartError> {
        let settings = Arc::new(config.validate()?);
        let destination = match &settings.destination {
            Some(queue) => Some(Arc::new(Destination::resolve(sqs, queue).await?)),
            None => None,
        };
        let processed = Arc::new(AtomicU64::new(0));
        let poller = Arc::new(ShardPoller {
            settings: settings.clone(),
            function,
            destination,
            processed: processed.clone(),
        });
        let reading = Reading {
            start: settings.starting_position,
            interval: poll_interval,
            limit: MAX_RECORDS_PER_READ,
        };
        let follower = Follower::start(kinesis, settings.stream.clone(), reading, poller).await?;
        info!(
            stream = %settings.stream,
            function = %settings.function_arn,
            shards = follower.first_shards(),
            "event source mapping started"
        );
        Ok(EventSourceMapping {
            follower,
            processed,
        })
    }

    /// Records taken off the stream so far: passed through the function or discarded.
    pub fn records_processed(&self) -> u64 {
        self.processed.load(Ordering::Relaxed)
    }

    /// Stops polling and waits for the shards' pollers; an invocation in flight finishes.
    pub async fn stop(self) {
        self.follower.stop().await;
        info!("event source mapping stopped");
    }
}

/// Passes what is read from the shards through the function.
struct ShardPoller<I> {
    settings: Arc<Settings>,
    function: Arc<I>,
    destination: Option<Arc<Destination>>,
    processed: Arc<AtomicU64>,
}

impl<I: Invoke + 'static> ShardConsumer for ShardPoller<I> {
    async fn consume<'a>(
        &'a self,
        shard_id: &'a str,
        records: Vec<StreamRecord>,
        stop: &'a mut watch::Receiver<bool>,
    ) -> bool {
        let batch_size = usize::try_from(self.settings.batch_size).unwrap_or(usize::MAX);
        for batch in records.chunks(batch_size.max(1)) {
            if self.deliver(shard_id, batch, stop).await.is_err() {
                return false;
            }
        }
        true
    }
}

impl<I: Invoke> ShardPoller<I> {
    /// Passes a batch read from the shard through the function, in parts within the invocation
    /// payload limit.
    async fn deliver(
        &self,
        shard_id: &str,
        records: &[StreamRecord],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let settings = &self.settings;
        let events: Vec<Value> = records
            .iter()
            .map(|r| event_record(r, shard_id, &settings.stream, &settings.invoke_identity_arn))
            .collect();
        let sequence_numbers: Vec<&str> =
            records.iter().map(|r| r.sequence_number.as_str()).collect();
        let policy = Policy {
            bisect: settings.bisect,
            maximum_retries: settings.maximum_retries,
            report_batch_item_failures: settings.report_batch_item_failures,
        };
        for part in within_payload_limit(&events) {
            let discards = batch::process(
                self.function.as_ref(),
                &events[part.clone()],
                &sequence_numbers[part.clone()],
                policy,
                stop,
            )
            .await?;
            for discard in discards {
                let discarded = Discarded {
                    records: &records
                        [part.start + discard.range.start..part.start + discard.range.end],
                    invoke_count: discard.invoke_count,
                    function_error: discard.function_error,
                };
                self.discard(shard_id, &discarded, discard.at, stop).await;
            }
            self.processed.fetch_add(
                u64::try_from(part.len()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        Ok(())
    }

    async fn discard(
        &self,
        shard_id: &str,
        discarded: &Discarded<'_>,
        at: chrono::DateTime<Utc>,
        stop: &mut watch::Receiver<bool>,
    ) {
        let settings = &self.settings;
        let Some(record) = InvocationRecord::new(
            discarded,
            shard_id,
            settings.stream.as_str(),
            &settings.function_arn,
            at,
        ) else {
            return;
        };
        let info = &record.kinesis_batch_info;
        warn!(
            shard = shard_id,
            start_sequence_number = %info.start_sequence_number,
            end_sequence_number = %info.end_sequence_number,
            records = info.batch_size,
            invocations = discarded.invoke_count,
            "batch discarded after its retries"
        );
        match &self.destination {
            Some(destination) => destination.send(&record, stop).await,
            None => warn!(
                shard = shard_id,
                "no on-failure destination, the discarded records are only in the stream"
            ),
        }
    }
}

/// Consecutive parts of a batch whose event fits in a synchronous invocation.
pub(super) fn within_payload_limit(events: &[Value]) -> Vec<std::ops::Range<usize>> {
    const ENVELOPE: usize = r#"{"Records":[]}"#.len();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut size = ENVELOPE;
    for (i, event) in events.iter().enumerate() {
        let record_size = event.to_string().len() + 1;
        if i > start && size + record_size > MAX_PAYLOAD_BYTES {
            parts.push(start..i);
            start = i;
            size = ENVELOPE;
        }
        size += record_size;
    }
    if start < events.len() {
        parts.push(start..events.len());
    }
    parts
}

/// The on-failure SQS queue.
#[derive(Debug)]
struct Destination {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Destination {
    async fn resolve(
        client: aws_sdk_sqs::Client,
        queue: &QueueArn,
    ) -> Result<Destination, StartError> {
        let output = client
            .get_queue_url()
            .queue_name(&queue.name)
            .queue_owner_aws_account_id(&queue.account_id)
            .send()
            .await
            .map_err(|e| StartError::Destination {
                name: queue.name.clone(),
                account_id: queue.account_id.clone(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        let queue_url = output.queue_url().unwrap_or_default().to_owned();
        Ok(Destination { client, queue_url })
    }

    /// Sends the record, retrying until it is accepted or the mapping stops.
    async fn send(&self, record: &InvocationRecord, stop: &mut watch::Receiver<bool>) {
        let body = match serde_json::to_string(record) {
            Ok(body) => body,
            Err(error) => {
                warn!(%error, "cannot serialize the invocation record");
                return;
            }
        };
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let sent = self
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(&body)
                .send()
                .await;
            match sent {
                Ok(_) => return,
                Err(error) => {
                    warn!(queue = %self.queue_url, error = %DisplayErrorContext(&error), "cannot send the invocation record, retrying");
                    if sleep_or_stop(backoff.next_delay(), stop).await {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_batch_is_split_where_its_event_would_pass_six_megabytes() {
        let big = json!({"data": "x".repeat(2 * 1024 * 1024)});
        let small = json!({"data": "x"});
        let events = [big.clone(), big.clone(), small.clone(), big, small];
        assert_eq!(within_payload_limit(&events), [0..3, 3..5]);
        let single = within_payload_limit(&events[2..3]);
        assert_eq!(single.len(), 1);
        assert_eq!(single[0], 0..1);
        assert!(within_payload_limit(&[]).is_empty());
    }
}
