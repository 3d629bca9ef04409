//! Writing items to the metrics table: `BatchWriteItem` in chunks of 25, unprocessed items
//! retried with backoff until the deadline, and the keys that still failed reported back so
//! the caller can fail exactly the records (or requests) they came from.

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use tokio::time::Instant;
use tracing::{error, warn};

use crate::backoff::Backoff;
use crate::item::{Item, item_key};
use crate::sdk::{Chain, is_retryable};

/// The most items one `BatchWriteItem` takes.
pub const MAX_BATCH_ITEMS: usize = 25;

/// A boxed error from a store implementation.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Where valid events go: the metrics table, or a fake in tests.
pub trait EventStore: Send + Sync {
    /// Puts up to [`MAX_BATCH_ITEMS`] items in one request and returns the items the table
    /// left unprocessed (to retry later).
    fn batch_write(
        &self,
        items: &[Item],
    ) -> impl Future<Output = Result<Vec<Item>, StoreError>> + Send;
}

/// A `BatchWriteItem` that failed as a whole.
#[derive(Debug, thiserror::Error)]
#[error("batch write to the metrics table failed")]
pub struct StoreError {
    /// Whether the same request may succeed later (throttling, a timeout, a server fault).
    pub retryable: bool,
    #[source]
    source: BoxError,
}

impl StoreError {
    /// A failure worth retrying.
    pub fn retryable(source: impl Into<BoxError>) -> Self {
        StoreError {
            retryable: true,
            source: source.into(),
        }
    }

    /// A failure that will happen again: the request is refused as it is.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        StoreError {
            retryable: false,
            source: source.into(),
        }
    }
}

/// The metrics table, through the AWS SDK.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbStore {
    /// A store writing to `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbStore {
            client,
            table: table.into(),
        }
    }
}

impl EventStore for DynamoDbStore {
    async fn batch_write(&self, items: &[Item]) -> Result<Vec<Item>, StoreError> {
        let requests = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item.clone())).build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()
            .map_err(StoreError::permanent)?;
        let output = self
            .client
            .batch_write_item()
            .request_items(&self.table, requests)
            .send()
            .await
            .map_err(|e| {
                if is_retryable(&e) {
                    StoreError::retryable(e)
                } else {
                    StoreError::permanent(e)
                }
            })?;
        let unprocessed = output
            .unprocessed_items
            .and_then(|mut tables| tables.remove(&self.table))
            .unwrap_or_default();
        Ok(unprocessed
            .into_iter()
            .filter_map(|w| w.put_request)
            .map(|p| p.item)
            .collect())
    }
}

/// What became of a [`write_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Distinct items the table accepted.
    pub written: usize,
    /// The keys of the items not written: out of retries, out of time, or refused.
    pub failed: Vec<String>,
    /// `BatchWriteItem` calls made.
    pub calls: usize,
}

/// Writes `items` (each with its partition key) to `store` in chunks of [`MAX_BATCH_ITEMS`].
///
/// Items with the same key are written once, the last one winning as consecutive puts would
/// (and as `BatchWriteItem` requires: it refuses a request with a key twice). Unprocessed
/// items and retryable failures are retried together after a [`Backoff`] wait, while retries
/// and time before `deadline` last; a chunk is only sent with `backoff.reserve` left.
pub async fn write_all<S: EventStore>(
    store: &S,
    items: Vec<(String, Item)>,
    backoff: &Backoff,
    deadline: Instant,
) -> WriteReport {
    let mut pending = dedup_last_wins(items);
    let total = pending.len();
    let mut report = WriteReport::default();
    let mut retry = 0;
    while !pending.is_empty() {
        let mut again = Vec::new();
        let mut chunks = pending.chunks(MAX_BATCH_ITEMS);
        for chunk in chunks.by_ref() {
            if deadline.saturating_duration_since(Instant::now()) < backoff.reserve {
                report
                    .failed
                    .extend(chunk.iter().map(|(key, _)| key.clone()));
                break;
            }
            let batch: Vec<Item> = chunk.iter().map(|(_, item)| item.clone()).collect();
            report.calls += 1;
            let attempt =
                tokio::time::timeout_at(backoff.cutoff(deadline), store.batch_write(&batch));
            let result = attempt.await.unwrap_or_else(|_| {
                Err(StoreError::retryable(
                    "no answer before the invocation's deadline",
                ))
            });
            match result {
                Ok(unprocessed) => {
                    let keys: Vec<&str> = unprocessed.iter().filter_map(item_key).collect();
                    again.extend(
                        chunk
                            .iter()
                            .filter(|(key, _)| keys.contains(&key.as_str()))
                            .cloned(),
                    );
                }
                Err(e) if e.retryable => {
                    warn!(items = chunk.len(), error = %Chain(&e), "batch write failed, will retry");
                    again.extend(chunk.iter().cloned());
                }
                Err(e) => {
                    error!(items = chunk.len(), error = %Chain(&e), "batch write refused");
                    report
                        .failed
                        .extend(chunk.iter().map(|(key, _)| key.clone()));
                }
            }
        }
        for chunk in chunks {
            report
                .failed
                .extend(chunk.iter().map(|(key, _)| key.clone()));
        }
        if again.is_empty() {
            break;
        }
        retry += 1;
        match backoff.delay(retry, deadline.saturating_duration_since(Instant::now())) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => {
                warn!(
                    items = again.len(),
                    retries = retry - 1,
                    "batch write gave up"
                );
                report.failed.extend(again.into_iter().map(|(key, _)| key));
                break;
            }
        }
        pending = again;
    }
    report.written = total - report.failed.len();
    report
}

#[cfg(feature = "test-util")]
pub mod memory;

fn dedup_last_wins(items: Vec<(String, Item)>) -> Vec<(String, Item)> {
    let mut position: HashMap<String, usize> = HashMap::with_capacity(items.len());
    let mut unique: Vec<(String, Item)> = Vec::with_capacity(items.len());
    for (key, item) in items {
        match position.get(&key) {
            Some(&i) => unique[i].1 = item,
            None => {
                position.insert(key.clone(), unique.len());
                unique.push((key, item));
            }
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::store::memory::{Behaviour, MemoryTable};
    use crate::table;

    fn item(key: &str, version: &str) -> (String, Item) {
        let item = Item::from([
            (
                table::PARTITION_KEY.to_owned(),
                AttributeValue::S(key.to_owned()),
            ),
            ("version".to_owned(), AttributeValue::S(version.to_owned())),
        ]);
        (key.to_owned(), item)
    }

    fn items(n: usize) -> Vec<(String, Item)> {
        (0..n).map(|i| item(&format!("k{i}"), "1")).collect()
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(300)
    }

    #[tokio::test(start_paused = true)]
    async fn items_go_in_chunks_of_25() {
        let table = MemoryTable::new(vec![Behaviour::Accept]);
        let report = write_all(&table, items(60), &Backoff::default(), far()).await;
        let sizes: Vec<_> = table.calls().iter().map(Vec::len).collect();
        assert_eq!(sizes, [25, 25, 10]);
        assert_eq!(
            report,
            WriteReport {
                written: 60,
                failed: vec![],
                calls: 3
            }
        );
        assert_eq!(table.items().len(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_to_write_makes_no_call() {
        let table = MemoryTable::new(vec![Behaviour::Accept]);
        let report = write_all(&table, Vec::new(), &Backoff::default(), far()).await;
        assert_eq!(report, WriteReport::default());
    }

    #[tokio::test(start_paused = true)]
    async fn unprocessed_items_are_retried_after_a_backoff_until_written() {
        let table = MemoryTable::new(vec![
            Behaviour::LeaveUnprocessed(3),
            Behaviour::LeaveUnprocessed(1),
            Behaviour::Accept,
        ]);
        let start = Instant::now();
        let report = write_all(&table, items(10), &Backoff::default(), far()).await;
        assert_eq!(report.failed, Vec::<String>::new());
        assert_eq!(report.written, 10);
        assert_eq!(
            table.calls(),
            [
                (0..10).map(|i| format!("k{i}")).collect::<Vec<_>>(),
                vec!["k0".to_owned(), "k1".to_owned(), "k2".to_owned()],
                vec!["k0".to_owned()],
            ]
        );
        // Two waits of at most 50 ms and 100 ms (virtual time: the test does not sleep).
        assert!(Instant::now() - start <= Duration::from_millis(150));
        assert_eq!(table.items().len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_when_they_run_out_and_report_the_failed_keys() {
        let table = MemoryTable::new(vec![Behaviour::LeaveUnprocessed(2)]);
        let backoff = Backoff {
            max_retries: 3,
            ..Backoff::default()
        };
        let report = write_all(&table, items(5), &backoff, far()).await;
        assert_eq!(report.failed, ["k0", "k1"]);
        assert_eq!(report.written, 3);
        assert_eq!(report.calls, 4, "one attempt and three retries");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_hangs_is_abandoned_before_the_deadline() {
        let table = MemoryTable::new(vec![Behaviour::Stall(Duration::from_secs(3600))]);
        let backoff = Backoff::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let report = write_all(&table, items(30), &backoff, deadline).await;
        assert!(
            Instant::now() <= backoff.cutoff(deadline),
            "{:?} past the cutoff",
            Instant::now() - backoff.cutoff(deadline)
        );
        assert_eq!(report.failed.len(), 30);
        assert_eq!(report.calls, 1, "the first call took all the time");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_before_the_deadline() {
        let table = MemoryTable::new(vec![Behaviour::Fail { retryable: true }]);
        let backoff = Backoff {
            max_retries: 1000,
            ..Backoff::default()
        };
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let report = write_all(&table, items(30), &backoff, deadline).await;
        assert_eq!(report.failed.len(), 30);
        assert_eq!(report.written, 0);
        assert!(report.calls > 4, "{} calls", report.calls);
        let end = Instant::now();
        assert!(
            end <= deadline - backoff.reserve,
            "stopped {:?} after the start",
            end - start
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_chunk_is_sent_without_time_left() {
        let table = MemoryTable::new(vec![Behaviour::Accept]);
        let deadline = Instant::now() + Duration::from_millis(500);
        let report = write_all(&table, items(30), &Backoff::default(), deadline).await;
        assert_eq!(report.calls, 0);
        assert_eq!(report.failed.len(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_chunk_fails_at_once_and_the_others_are_still_written() {
        let table = MemoryTable::new(vec![
            Behaviour::Fail { retryable: false },
            Behaviour::Accept,
        ]);
        let report = write_all(&table, items(30), &Backoff::default(), far()).await;
        assert_eq!(
            report.failed,
            (0..25).map(|i| format!("k{i}")).collect::<Vec<_>>()
        );
        assert_eq!(report.written, 5);
        assert_eq!(report.calls, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_written_once_with_its_last_item() {
        let table = MemoryTable::new(vec![Behaviour::Accept]);
        let batch = vec![item("a", "1"), item("b", "1"), item("a", "2")];
        let report = write_all(&table, batch, &Backoff::default(), far()).await;
        assert_eq!(report.written, 2);
        let stored = table.items();
        assert_eq!(
            stored.get("a").and_then(|i| i.get("version")),
            Some(&AttributeValue::S("2".to_owned()))
        );
    }
}
