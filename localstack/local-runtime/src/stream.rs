//! Reading a Kinesis stream shard by shard, as the event source mapping and Firehose both do:
//! `ListShards`, `GetShardIterator` at a starting position, `GetRecords` in a loop at most once
//! per interval (AWS's consumers poll each shard once a second, which keeps two of them inside a
//! shard's 5 reads a second); an expired iterator is replaced by one after the last record read;
//! failed calls (a read throttled by the shard's limits too) are retried with backoff. A closed
//! shard ends with its children, which [`crate::follow`] reads next.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
use aws_sdk_kinesis::primitives::DateTime as SdkDateTime;
use aws_sdk_kinesis::types::{EncryptionType, Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::retry::{Backoff, sleep_or_stop};

/// Records one `GetRecords` returns at most: what AWS's consumers ask for.
pub const MAX_RECORDS_PER_READ: u32 = 10_000;

/// A Kinesis stream's ARN, `arn:<partition>:kinesis:<region>:<account>:stream/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamArn {
    arn: String,
    region: String,
    name: String,
}

impl StreamArn {
    /// The region of the stream: `awsRegion` of the records.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole ARN.
    pub fn as_str(&self) -> &str {
        &self.arn
    }
}

impl fmt::Display for StreamArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// A string that is not a Kinesis stream ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)")]
pub struct NotAStreamArn(pub String);

impl FromStr for StreamArn {
    type Err = NotAStreamArn;

    fn from_str(arn: &str) -> Result<Self, Self::Err> {
        let invalid = || NotAStreamArn(arn.to_owned());
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, _partition, service, region, _account, resource] = parts[..] else {
            return Err(invalid());
        };
        let name = resource.strip_prefix("stream/").ok_or_else(invalid)?;
        if prefix != "arn" || service != "kinesis" || region.is_empty() || name.is_empty() {
            return Err(invalid());
        }
        Ok(StreamArn {
            arn: arn.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Where reading a shard starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record kept.
    TrimHorizon,
    /// Just after the newest record: only records put after the reading started.
    Latest,
    /// The first record that arrived at or after the instant.
    AtTimestamp(DateTime<Utc>),
}

/// One record read from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamRecord {
    pub(crate) sequence_number: String,
    pub(crate) partition_key: String,
    pub(crate) data: Vec<u8>,
    pub(crate) approximate_arrival: DateTime<Utc>,
    pub(crate) kms_encrypted: bool,
}

impl StreamRecord {
    pub(crate) fn from_sdk(record: &Record) -> StreamRecord {
        let arrival = record
            .approximate_arrival_timestamp()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or_else(Utc::now);
        StreamRecord {
            sequence_number: record.sequence_number().to_owned(),
            partition_key: record.partition_key().to_owned(),
            data: record.data().as_ref().to_vec(),
            approximate_arrival: arrival,
            kms_encrypted: record.encryption_type() == Some(&EncryptionType::Kms),
        }
    }
}

/// Orders two sequence numbers: decimal strings of up to 128 digits, too long for an integer.
pub(crate) fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A call to Kinesis that failed where it must not.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// `ListShards` failed.
    #[error("cannot list the shards of stream {stream}: {message}")]
    ListShards {
        /// The stream.
        stream: String,
        /// The SDK's error, with its causes.
        message: String,
    },
    /// `GetShardIterator` failed.
    #[error("cannot get an iterator for shard {shard} of stream {stream}: {message}")]
    ShardIterator {
        /// The stream.
        stream: String,
        /// The shard.
        shard: String,
        /// The SDK's error, with its causes.
        message: String,
    },
}

/// A shard as `ListShards` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    pub(crate) id: String,
    /// Its parent and adjacent parent, when resharding made it.
    pub(crate) parents: Vec<String>,
    /// Whether it still takes writes (no ending sequence number).
    pub(crate) open: bool,
}

/// A child of a closed shard, as `GetRecords` names it at the shard's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildShard {
    pub(crate) id: String,
    pub(crate) parents: Vec<String>,
}

/// The stream's shards, open and closed, in the order Kinesis lists them.
pub(crate) async fn list_shards(
    client: &Client,
    stream: &StreamArn,
) -> Result<Vec<ShardInfo>, StreamError> {
    let mut shards = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let request = match &next_token {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_name(stream.name()),
        };
        let output = request.send().await.map_err(|e| StreamError::ListShards {
            stream: stream.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
        shards.extend(output.shards().iter().map(|s| {
            ShardInfo {
                id: s.shard_id().to_owned(),
                parents: s
                    .parent_shard_id()
                    .into_iter()
                    .chain(s.adjacent_parent_shard_id())
                    .map(str::to_owned)
                    .collect(),
                open: s
                    .sequence_number_range()
                    .is_none_or(|r| r.ending_sequence_number().is_none()),
            }
        }));
        match output.next_token() {
            Some(token) => next_token = Some(token.to_owned()),
            None => return Ok(shards),
        }
    }
}

/// What one read of a shard gave.
#[derive(Debug)]
pub(crate) enum Read {
    /// Records, in order; none when the reader is at the tip of the shard.
    Records(Vec<StreamRecord>),
    /// The shard is closed and everything in it was read; its children follow.
    Closed(Vec<ChildShard>),
    /// A stop came while reading.
    Stopped,
}

/// Reads one shard from a starting position onwards.
#[derive(Debug)]
pub(crate) struct ShardReader {
    client: Client,
    stream: StreamArn,
    shard_id: String,
    start: StartingPosition,
    iterator: Option<String>,
    last_sequence_number: Option<String>,
    closed: Option<Vec<ChildShard>>,
    backoff: Backoff,
    /// At most one `GetRecords` per interval.
    interval: Duration,
    last_call: Option<Instant>,
}

impl ShardReader {
    /// A reader of `shard_id` positioned at `start`, calling `GetRecords` at most once per
    /// `interval`: for [`StartingPosition::Latest`], records put after this returns are read.
    pub(crate) async fn open(
        client: Client,
        stream: StreamArn,
        shard_id: String,
        start: StartingPosition,
        interval: Duration,
    ) -> Result<ShardReader, StreamError> {
        let mut reader = ShardReader {
            client,
            stream,
            shard_id,
            start,
            iterator: None,
            last_sequence_number: None,
            closed: None,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            interval,
            last_call: None,
        };
        reader.iterator = Some(reader.acquire().await?);
        Ok(reader)
    }

    /// The shard's id, e.g. `shardId-000000000000`.
    pub(crate) fn shard_id(&self) -> &str {
        &self.shard_id
    }

    /// Reads up to `limit` records (at most 10,000), retrying failed calls until `stop`; waits
    /// first when the last call was less than the interval ago.
    pub(crate) async fn read(&mut self, limit: u32, stop: &mut watch::Receiver<bool>) -> Read {
        loop {
            if *stop.borrow() {
                return Read::Stopped;
            }
            if let Some(children) = &self.closed {
                return Read::Closed(children.clone());
            }
            if let Some(last) = self.last_call {
                let wait = (last + self.interval).saturating_duration_since(Instant::now());
                if !wait.is_zero() && sleep_or_stop(wait, stop).await {
                    return Read::Stopped;
                }
            }
            let iterator = match self.iterator.take() {
                Some(iterator) => iterator,
                None => match self.acquire().await {
                    Ok(iterator) => iterator,
                    Err(error) => {
                        warn!(%error, "cannot position the shard reader, retrying");
                        if sleep_or_stop(self.backoff.next_delay(), stop).await {
                            return Read::Stopped;
                        }
                        continue;
                    }
                },
            };
            self.last_call = Some(Instant::now());
            let result = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(i32::try_from(limit.min(MAX_RECORDS_PER_READ)).unwrap_or(i32::MAX))
                .send()
                .await;
            match result {
                Ok(output) => {
                    self.backoff.reset();
                    let records: Vec<_> = output
                        .records()
                        .iter()
                        .map(StreamRecord::from_sdk)
                        .collect();
                    if let Some(last) = records.last() {
                        self.last_sequence_number = Some(last.sequence_number.clone());
                    }
                    match output.next_shard_iterator() {
                        Some(next) => self.iterator = Some(next.to_owned()),
                        None => {
                            self.closed = Some(
                                output
                                    .child_shards()
                                    .iter()
                                    .map(|c| ChildShard {
                                        id: c.shard_id().to_owned(),
                                        parents: c.parent_shards().to_vec(),
                                    })
                                    .collect(),
                            );
                        }
                    }
                    return Read::Records(records);
                }
                Err(SdkError::ServiceError(e)) if e.err().is_expired_iterator_exception() => {
                    // The next round positions a new iterator after the last record read.
                }
                Err(SdkError::ServiceError(e))
                    if e.err().is_provisioned_throughput_exceeded_exception() =>
                {
                    // The shard's read limit, shared with the other consumers: as AWS's
                    // consumers do, wait and read again.
                    debug!(stream = %self.stream, shard = %self.shard_id, "GetRecords throttled, reading again later");
                    self.iterator = Some(iterator);
                    if sleep_or_stop(self.backoff.next_delay(), stop).await {
                        return Read::Stopped;
                    }
                }
                Err(error) => {
                    warn!(
                        stream = %self.stream,
                        shard = %self.shard_id,
                        error = %DisplayErrorContext(&error),
                        "GetRecords failed, retrying"
                    );
                    self.iterator = Some(iterator);
                    if sleep_or_stop(self.backoff.next_delay(), stop).await {
                        return Read::Stopped;
                    }
                }
            }
        }
    }

    /// An iterator after the last record read, or at the starting position before any.
    async fn acquire(&self) -> Result<String, StreamError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(self.stream.name())
            .shard_id(&self.shard_id);
        let request = match (&self.last_sequence_number, self.start) {
            (Some(sequence_number), _) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence_number),
            (None, StartingPosition::TrimHorizon) => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            (None, StartingPosition::Latest) => {
                request.shard_iterator_type(ShardIteratorType::Latest)
            }
            (None, StartingPosition::AtTimestamp(at)) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(SdkDateTime::from_secs_and_nanos(
                    at.timestamp(),
                    at.timestamp_subsec_nanos(),
                )),
        };
        let error = |message: String| StreamError::ShardIterator {
            stream: self.stream.to_string(),
            shard: self.shard_id.clone(),
            message,
        };
        let output = request
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(&e).to_string()))?;
        output
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| error("the answer holds no iterator".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_arn_gives_its_region_and_name() {
        let arn: StreamArn = "arn:aws:kinesis:us-east-2:123456789012:stream/iops-events"
            .parse()
            .expect("a stream ARN");
        assert_eq!(arn.region(), "us-east-2");
        assert_eq!(arn.name(), "iops-events");
        assert_eq!(
            arn.to_string(),
            "arn:aws:kinesis:us-east-2:123456789012:stream/iops-events"
        );
    }

    #[test]
    fn other_arns_are_refused() {
        for bad in [
            "",
            "iops-events",
            "arn:aws:sqs:us-east-2:123456789012:queue",
            "arn:aws:kinesis:us-east-2:123456789012:stream/",
            "arn:aws:kinesis::123456789012:stream/s",
            "arn:aws:kinesis:us-east-2:123456789012:table/s",
        ] {
            assert_eq!(bad.parse::<StreamArn>(), Err(NotAStreamArn(bad.to_owned())));
        }
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(compare_sequence_numbers("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence_numbers("010", "10"), Ordering::Equal);
        let long_a = "49590338271490256608559692538361571095921575989136588898";
        let long_b = "49590338271490256608559692540925702759324208523137515618";
        assert_eq!(compare_sequence_numbers(long_b, long_a), Ordering::Greater);
    }
}
