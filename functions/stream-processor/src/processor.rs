//! The handler: one batch of Kinesis records in, `batchItemFailures` out.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::Utc;
use event_contract::alert::{
    Alert, AlertPublisher, Location, Malformed, Origin, publish, summarize,
};
use event_contract::backoff::{Backoff, deadline_from};
use event_contract::emf::{Counts, MetricsSink, documents};
use event_contract::item::{IngestPath, Item, ItemMeta, build_item, kinesis_key};
use event_contract::metrics::Component;
use event_contract::sdk::Chain;
use event_contract::store::{EventStore, write_all};
use event_contract::{Checked, Severity, validate_at};
use lambda_runtime::LambdaEvent;
use tokio::time::Instant;
use tracing::{error, info};

/// The shard id used when a record carries no `eventID` to read it from.
pub const UNKNOWN_SHARD: &str = "unknown-shard";

/// What to do with one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Valid (perhaps with warnings): store this item under this key.
    Store {
        /// The item's partition key.
        key: String,
        /// The item.
        item: Item,
    },
    /// Malformed: report it, never store it, never retry it.
    Malformed(Malformed),
}

/// One record, validated and ready.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The verdict's severity, for the metrics.
    pub severity: Option<Severity>,
    /// What to do with it.
    pub outcome: Outcome,
}

/// The per-record work: validates the record's data (already base64-decoded by the event's
/// deserializer) and builds its item, or describes it for the alert. The timestamp window is
/// judged against the record's arrival time, so a replay judges a record as the first pass did.
pub fn prepare(record: &KinesisEventRecord) -> Prepared {
    let data = &record.kinesis.data.0;
    let arrival = record.kinesis.approximate_arrival_timestamp.0;
    let sequence_number = &record.kinesis.sequence_number;
    let shard_id = shard_id(record);
    let Checked { verdict, event } = validate_at(data, arrival);
    let severity = verdict.severity();
    let outcome = match event {
        Some(event) if verdict.is_valid() => {
            let key = kinesis_key(&event, shard_id, sequence_number);
            let item = build_item(
                event,
                &ItemMeta {
                    key: &key,
                    received_at: arrival,
                    path: IngestPath::Kinesis,
                },
            );
            Outcome::Store { key, item }
        }
        event => Outcome::Malformed(Malformed {
            location: Location::Stream {
                shard_id: shard_id.to_owned(),
                sequence_number: sequence_number.clone(),
            },
            event_type: event
                .as_ref()
                .and_then(|e| e.event_type())
                .map(str::to_owned),
            verdict,
            sample: Malformed::sample_of(data),
        }),
    };
    Prepared { severity, outcome }
}

/// The shard of a record, from its `eventID` (`shardId-000000000000:<sequence number>`).
fn shard_id(record: &KinesisEventRecord) -> &str {
    record
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map_or(UNKNOWN_SHARD, |(shard, _)| shard)
}

/// The stream processor, over its three dependencies.
#[derive(Debug)]
pub struct Processor<S, A, M> {
    store: S,
    alerts: A,
    metrics: M,
    backoff: Backoff,
}

impl<S: EventStore, A: AlertPublisher, M: MetricsSink> Processor<S, A, M> {
    /// A processor writing to `store`, alerting through `alerts`, emitting to `metrics`, and
    /// retrying with `backoff`.
    pub fn new(store: S, alerts: A, metrics: M, backoff: Backoff) -> Self {
        Processor {
            store,
            alerts,
            metrics,
            backoff,
        }
    }

    /// The store, the publisher and the sink, to inspect (in tests).
    pub fn dependencies(&self) -> (&S, &A, &M) {
        (&self.store, &self.alerts, &self.metrics)
    }

    /// The Lambda handler: the invocation's deadline bounds every retry.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, Infallible> {
        let deadline = deadline_from(event.context.deadline());
        Ok(self.process(event.payload, deadline).await)
    }

    /// Processes one batch; retries stop in time to answer before `deadline`.
    pub async fn process(&self, event: KinesisEvent, deadline: Instant) -> KinesisEventResponse {
        let records = event.records.len();
        let mut counts = Counts::default();
        let mut writes = Vec::with_capacity(records);
        let mut records_of_key: HashMap<String, Vec<&str>> = HashMap::with_capacity(records);
        let mut malformed = Vec::new();
        for record in &event.records {
            let prepared = prepare(record);
            counts.record(prepared.severity);
            match prepared.outcome {
                Outcome::Store { key, item } => {
                    records_of_key
                        .entry(key.clone())
                        .or_default()
                        .push(&record.kinesis.sequence_number);
                    writes.push((key, item));
                }
                Outcome::Malformed(m) => malformed.push(m),
            }
        }

        // The writes and the alert are independent: neither waits for the other's retries.
        let alert = summarize(
            &malformed,
            &Origin::Batch {
                records_in_batch: records,
            },
        );
        let (report, alerted) = tokio::join!(
            write_all(&self.store, writes, &self.backoff, deadline),
            async {
                match &alert {
                    Some(alert) => self.publish(alert, deadline).await,
                    None => true,
                }
            }
        );
        let failed: HashSet<&str> = report
            .failed
            .iter()
            .filter_map(|key| records_of_key.get(key))
            .flatten()
            .copied()
            .collect();
        let mut response = KinesisEventResponse::default();
        for record in &event.records {
            let sequence_number = record.kinesis.sequence_number.as_str();
            if failed.contains(sequence_number) {
                response.add_failure(sequence_number);
            }
        }

        for document in documents(&counts, Component::StreamProcessor, Utc::now()) {
            self.metrics.emit(&document);
        }
        info!(
            records,
            stored = report.written,
            warnings = counts.warning,
            malformed = counts.malformed(),
            failed = response.batch_item_failures.len(),
            write_calls = report.calls,
            alerted,
            "batch processed"
        );
        response
    }

    /// Publishes the alert, retrying while the backoff and the deadline allow; whether it went.
    /// A lost alert fails no record: the malformed records are counted in the metrics either
    /// way, and retrying the batch would not make them valid.
    async fn publish(&self, alert: &Alert, deadline: Instant) -> bool {
        match publish(&self.alerts, alert, &self.backoff, deadline).await {
            Ok(()) => true,
            Err(e) => {
                error!(severity = %alert.severity, retries = e.retries, error = %Chain(&e), "malformed-events alert not published");
                false
            }
        }
    }
}
