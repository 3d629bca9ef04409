//! Putting events on the stream: `PutRecords` in requests within Kinesis's limits, records the
//! stream reports as failed retried with backoff until the deadline.

use std::error::Error;
use std::future::Future;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use event_contract::backoff::Backoff;
use event_contract::sdk::{Chain, is_retryable};
use tokio::time::Instant;
use tracing::{error, warn};

/// The most records one `PutRecords` takes.
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// The most bytes (data and partition keys) one `PutRecords` takes.
pub const MAX_BYTES_PER_REQUEST: usize = 5 * 1024 * 1024;
/// The longest partition key, in characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// One record to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// The event, as the client sent it.
    pub data: Vec<u8>,
    /// Picks the shard: the session, else the user, else random.
    pub partition_key: String,
}

impl OutRecord {
    /// What the record counts towards Kinesis's size limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// A boxed error from a sink.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A `PutRecords` that failed as a whole.
#[derive(Debug, thiserror::Error)]
#[error("putting records on the events stream failed")]
pub struct SinkError {
    /// Whether the same request may succeed later.
    pub retryable: bool,
    #[source]
    source: BoxError,
}

impl SinkError {
    /// A failure worth retrying.
    pub fn retryable(source: impl Into<BoxError>) -> Self {
        SinkError {
            retryable: true,
            source: source.into(),
        }
    }

    /// A failure that will happen again.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        SinkError {
            retryable: false,
            source: source.into(),
        }
    }
}

/// Where ingest puts events: the events stream, or a fake in tests.
pub trait KinesisSink: Send + Sync {
    /// Puts records in one request within [`MAX_RECORDS_PER_REQUEST`] and
    /// [`MAX_BYTES_PER_REQUEST`]. Returns, for each record in order, `None` when it was written
    /// or the error code the stream gave it (`ProvisionedThroughputExceededException`, …).
    fn put_records(
        &self,
        records: &[OutRecord],
    ) -> impl Future<Output = Result<Vec<Option<String>>, SinkError>> + Send;
}

/// The events stream, through the AWS SDK.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    client: aws_sdk_kinesis::Client,
    stream_name: String,
}

impl KinesisStream {
    /// A sink putting records on `stream_name`.
    pub fn new(client: aws_sdk_kinesis::Client, stream_name: impl Into<String>) -> Self {
        KinesisStream {
            client,
            stream_name: stream_name.into(),
        }
    }
}

impl KinesisSink for KinesisStream {
    async fn put_records(&self, records: &[OutRecord]) -> Result<Vec<Option<String>>, SinkError> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.data.clone()))
                    .partition_key(&r.partition_key)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(SinkError::permanent)?;
        let output = self
            .client
            .put_records()
            .stream_name(&self.stream_name)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| {
                if is_retryable(&e) {
                    SinkError::retryable(e)
                } else {
                    SinkError::permanent(e)
                }
            })?;
        Ok(output.records.into_iter().map(|r| r.error_code).collect())
    }
}

/// The partition key of an event: `payload.session_id`, else `payload.user_id`, else a random
/// key; cut to Kinesis's 256 characters (the same long id still maps to the same shard).
pub fn partition_key(session_id: Option<&str>, user_id: Option<&str>) -> String {
    match session_id.or(user_id) {
        Some(id) => match id.char_indices().nth(MAX_PARTITION_KEY_CHARS) {
            Some((end, _)) => id[..end].to_owned(),
            None => id.to_owned(),
        },
        None => format!("{:032x}", fastrand::u128(..)),
    }
}

/// What became of a [`put_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutReport {
    /// The positions of the records not put: out of retries, out of time, or refused.
    pub failed: Vec<usize>,
    /// `PutRecords` calls made.
    pub calls: usize,
}

/// Puts every record, in requests within Kinesis's limits; the records the stream reports as
/// failed (and requests that failed and may succeed later) are retried after a [`Backoff`]
/// wait, while retries and time before `deadline` last.
pub async fn put_all<K: KinesisSink>(
    sink: &K,
    records: &[OutRecord],
    backoff: &Backoff,
    deadline: Instant,
) -> PutReport {
    let mut report = PutReport::default();
    let mut pending: Vec<usize> = (0..records.len()).collect();
    let mut retry = 0;
    while !pending.is_empty() {
        let mut again = Vec::new();
        let mut requests = requests(&pending, records).into_iter();
        for request in requests.by_ref() {
            if deadline.saturating_duration_since(Instant::now()) < backoff.reserve {
                report.failed.extend(request);
                break;
            }
            let batch: Vec<OutRecord> = request.iter().map(|&i| records[i].clone()).collect();
            report.calls += 1;
            let attempt =
                tokio::time::timeout_at(backoff.cutoff(deadline), sink.put_records(&batch));
            let result = attempt.await.unwrap_or_else(|_| {
                Err(SinkError::retryable(
                    "no answer before the invocation's deadline",
                ))
            });
            match result {
                Ok(results) => {
                    // A record the answer does not mention is treated as failed.
                    let failed: Vec<usize> = request
                        .iter()
                        .enumerate()
                        .filter(|&(n, _)| !matches!(results.get(n), Some(None)))
                        .map(|(_, &i)| i)
                        .collect();
                    if !failed.is_empty() {
                        let code = results
                            .iter()
                            .flatten()
                            .next()
                            .map_or("missing", String::as_str);
                        warn!(
                            failed = failed.len(),
                            records = request.len(),
                            error_code = code,
                            "records not put, will retry"
                        );
                    }
                    again.extend(failed);
                }
                Err(e) if e.retryable => {
                    warn!(records = request.len(), error = %Chain(&e), "put records failed, will retry");
                    again.extend(request);
                }
                Err(e) => {
                    error!(records = request.len(), error = %Chain(&e), "put records refused");
                    report.failed.extend(request);
                }
            }
        }
        for request in requests {
            report.failed.extend(request);
        }
        if again.is_empty() {
            break;
        }
        retry += 1;
        match backoff.delay(retry, deadline.saturating_duration_since(Instant::now())) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => {
                warn!(
                    records = again.len(),
                    retries = retry - 1,
                    "put records gave up"
                );
                report.failed.extend(again);
                break;
            }
        }
        pending = again;
    }
    report.failed.sort_unstable();
    report
}

/// Groups record positions into requests of at most [`MAX_RECORDS_PER_REQUEST`] records and
/// [`MAX_BYTES_PER_REQUEST`] bytes, in order.
pub fn requests(positions: &[usize], records: &[OutRecord]) -> Vec<Vec<usize>> {
    let mut requests: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for &i in positions {
        let size = records[i].size();
        match requests.last_mut() {
            Some(request)
                if request.len() < MAX_RECORDS_PER_REQUEST
                    && bytes + size <= MAX_BYTES_PER_REQUEST =>
            {
                request.push(i);
                bytes += size;
            }
            _ => {
                requests.push(vec![i]);
                bytes = size;
            }
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(len: usize) -> OutRecord {
        OutRecord {
            data: vec![b'x'; len],
            partition_key: "k".to_owned(),
        }
    }

    #[test]
    fn partition_keys_prefer_the_session_then_the_user_then_chance() {
        assert_eq!(partition_key(Some("s"), Some("u")), "s");
        assert_eq!(partition_key(None, Some("u")), "u");
        let random = partition_key(None, None);
        assert_eq!(random.len(), 32);
        assert!(random.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random, partition_key(None, None));
    }

    #[test]
    fn long_partition_keys_are_cut_to_256_characters() {
        let long = "é".repeat(300);
        let key = partition_key(Some(&long), None);
        assert_eq!(key.chars().count(), MAX_PARTITION_KEY_CHARS);
        assert_eq!(partition_key(Some(&"a".repeat(256)), None).len(), 256);
    }

    #[test]
    fn requests_hold_at_most_500_records() {
        let records: Vec<_> = (0..1001).map(|_| record(10)).collect();
        let positions: Vec<_> = (0..records.len()).collect();
        let sizes: Vec<_> = requests(&positions, &records)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [500, 500, 1]);
    }

    #[test]
    fn requests_hold_at_most_5_mib() {
        // Each record is 1 MiB with its key: five fit exactly, the sixth starts a new request.
        let records: Vec<_> = (0..7).map(|_| record(1024 * 1024 - 1)).collect();
        let positions: Vec<_> = (0..records.len()).collect();
        let groups = requests(&positions, &records);
        assert_eq!(groups, [vec![0, 1, 2, 3, 4], vec![5, 6]]);
    }

    #[test]
    fn requests_keep_the_order_of_the_positions_given() {
        let records: Vec<_> = (0..5).map(|_| record(1)).collect();
        assert_eq!(requests(&[4, 1, 3], &records), [vec![4, 1, 3]]);
        assert!(requests(&[], &records).is_empty());
    }
}
