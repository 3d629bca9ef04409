//! Reading the metrics table back: the exactly-once check and the end-to-end latency.
//!
//! The table's partition key is the event's `event_id` ([`event_contract::table`]), so an
//! event stored twice overwrites itself; "more than once" here means two items carrying one
//! `event_id` (keyed differently). The run's ids share a prefix ([`crate::events::id_prefix`]):
//! a [`Watch`] scans the table for that prefix every `interval` (a `Scan` with
//! `begins_with(event_id, prefix)`, paginated) and notes when it first saw each id.
//!
//! **End-to-end latency** is *accepted → first seen*: from the answer that accepted an event to
//! the first scan that found its item, so it is late by up to one interval plus a scan. The
//! pipeline stores no "stored at" time: the item's `received_at` is when the event reached the
//! stream, to the second, not when it was written. It is measured only when the watch ran during
//! the run ([`Watch::start`] before [`crate::run`]); otherwise the report says so.
//!
//! **Exactly once**: after the run, scans continue until every accepted valid event is seen or
//! `settle` passes, then one more. Then every accepted valid event must be found once, and no
//! other item of the run may be there: not a malformed, refused, throttled, dropped or named-as-
//! failed event, nor an id the run never made. Events whose fate the run could not know (no
//! answer, a 5xx without positions, abandoned in flight) may or may not be there; they are
//! counted apart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use event_contract::table;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::events::id_prefix;
use crate::report::Percentiles;
use crate::run::{EventRef, Run, histogram};

/// How many ids in question a [`Verification`] lists.
pub const MAX_SAMPLES: usize = 20;

/// The table's verdict on a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The table read.
    pub table: String,
    /// Accepted valid events: each must be stored once.
    pub expected: u64,
    /// Of those, found.
    pub found: u64,
    /// Of those, not found.
    pub missing: u64,
    /// Ids found on more than one item.
    pub duplicated: u64,
    /// Items of the run that must not be there (refused, throttled, failed with their
    /// position named, dropped, malformed, or an id the run never made).
    pub unexpected: u64,
    /// Items of events whose fate the run could not know.
    pub uncertain_stored: u64,
    /// Scans made.
    pub polls: u64,
    /// The time between scans, in milliseconds.
    pub poll_interval_ms: u64,
    /// Up to [`MAX_SAMPLES`] ids in question (missing, duplicated or unexpected).
    pub samples: Vec<String>,
    /// Accepted → first seen in the table, when the table was watched during the run.
    pub end_to_end: Option<Percentiles>,
}

impl Verification {
    /// Whether every accepted valid event is stored exactly once and nothing else is.
    pub fn exactly_once(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.unexpected == 0
    }
}

/// How long to wait for the pipeline, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// How long after the run to wait for missing events. Default 60 s.
    pub settle: Duration,
    /// The time between scans. Default 1 s.
    pub interval: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            settle: Duration::from_secs(60),
            interval: Duration::from_secs(1),
        }
    }
}

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot scan table {table}")]
    Scan {
        table: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

#[derive(Debug, Default)]
struct Observed {
    first_seen: HashMap<String, SystemTime>,
    /// Items per `event_id` in the last complete scan.
    items: HashMap<String, u32>,
    polls: u64,
    last_error: Option<VerifyError>,
}

/// A scan of the table for a run's ids every interval, in the background: see the module
/// documentation.
#[derive(Debug)]
pub struct Watch {
    observed: Arc<Mutex<Observed>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    started: SystemTime,
    interval: Duration,
}

impl Watch {
    /// Starts scanning `table` for the ids of a run with `seed`.
    pub fn start(client: Client, table: &str, seed: u64, interval: Duration) -> Watch {
        let observed = Arc::new(Mutex::new(Observed::default()));
        let (stop, mut stopped) = watch::channel(false);
        let prefix = id_prefix(seed);
        let task = {
            let observed = Arc::clone(&observed);
            let table = table.to_owned();
            tokio::spawn(async move {
                loop {
                    match scan(&client, &table, &prefix).await {
                        Ok(items) => {
                            let now = SystemTime::now();
                            let mut o = lock(&observed);
                            let mut counts = HashMap::new();
                            for id in items {
                                o.first_seen.entry(id.clone()).or_insert(now);
                                *counts.entry(id).or_insert(0) += 1;
                            }
                            o.items = counts;
                            o.polls += 1;
                        }
                        Err(error) => {
                            warn!(table = %table, error = %error, "table scan failed");
                            lock(&observed).last_error = Some(error);
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = stopped.changed() => break,
                    }
                }
            })
        };
        Watch {
            observed,
            stop,
            task,
            started: SystemTime::now(),
            interval,
        }
    }

    fn polls(&self) -> u64 {
        lock(&self.observed).polls
    }
}

fn lock(observed: &Mutex<Observed>) -> std::sync::MutexGuard<'_, Observed> {
    observed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `event_id`s of the items of `table` whose `event_id` starts with `prefix`.
async fn scan(client: &Client, table: &str, prefix: &str) -> Result<Vec<String>, VerifyError> {
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(#e, :p)")
            .projection_expression("#k, #e")
            .expression_attribute_names("#e", "event_id")
            .expression_attribute_names("#k", table::PARTITION_KEY)
            .expression_attribute_values(":p", AttributeValue::S(prefix.to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| VerifyError::Scan {
                table: table.to_owned(),
                source: e.into(),
            })?;
        for item in page.items() {
            if let Some(AttributeValue::S(id)) = item.get("event_id") {
                ids.push(id.clone());
            }
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(ids),
        }
    }
}

/// Checks that `table` holds every accepted valid event of `run` exactly once and nothing else
/// of it, scanning until `options.settle` passes; with the `watch` started before the run, it
/// also measures the end-to-end latency.
pub async fn exactly_once(
    run: &Run,
    client: &Client,
    table: &str,
    options: &VerifyOptions,
    watch: Option<Watch>,
) -> Result<Verification, VerifyError> {
    let ledger = &run.ledger;
    let run_started = ledger.started.unwrap_or(SystemTime::UNIX_EPOCH);
    let watch = match watch {
        Some(w) => w,
        None => Watch::start(client.clone(), table, ledger.seed, options.interval),
    };
    let watched_during_run = watch.started <= run_started;
    let expected: Vec<String> = ledger.accepted_ids().collect();
    let settle_until = tokio::time::Instant::now() + options.settle;
    loop {
        let polls = watch.polls();
        let all_seen = {
            let o = lock(&watch.observed);
            polls > 0 && expected.iter().all(|id| o.first_seen.contains_key(id))
        };
        if all_seen || tokio::time::Instant::now() >= settle_until {
            break;
        }
        tokio::time::sleep(watch.interval.min(Duration::from_millis(250))).await;
    }
    // One more complete scan, for what arrives late and must not; scans that keep failing
    // are waited for a few intervals at most.
    let last = watch.polls();
    let until = tokio::time::Instant::now() + watch.interval * 3 + Duration::from_secs(10);
    while watch.polls() <= last && !watch.task.is_finished() && tokio::time::Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = watch.stop.send(true);
    let _ = watch.task.await;
    let observed = Arc::try_unwrap(watch.observed)
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .unwrap_or_else(|shared| std::mem::take(&mut *lock(&shared)));
    if observed.polls == 0 {
        return Err(observed.last_error.unwrap_or_else(|| VerifyError::Scan {
            table: table.to_owned(),
            source: "no scan completed".into(),
        }));
    }

    let mut samples = Vec::new();
    let mut sample = |id: &str| {
        if samples.len() < MAX_SAMPLES {
            samples.push(id.to_owned());
        }
    };
    let mut found = 0;
    let mut end_to_end = histogram();
    for ((_, at), id) in ledger.accepted.iter().zip(&expected) {
        match observed.first_seen.get(id) {
            Some(seen) => {
                found += 1;
                let accepted = run_started + *at;
                let us = seen
                    .duration_since(accepted)
                    .unwrap_or_default()
                    .as_micros();
                end_to_end.saturating_record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
            }
            None => sample(id),
        }
    }
    let uncertain: HashSet<String> = ledger.uncertain.iter().map(|e| ledger.id(*e)).collect();
    let accepted: HashSet<&String> = expected.iter().collect();
    let (mut duplicated, mut unexpected, mut uncertain_stored) = (0, 0, 0);
    let mut ids: Vec<(&String, &u32)> = observed.items.iter().collect();
    ids.sort();
    for (id, &count) in ids {
        if count > 1 {
            duplicated += 1;
            sample(id);
        }
        if accepted.contains(id) {
            continue;
        }
        if uncertain.contains(id) {
            uncertain_stored += 1;
        } else {
            unexpected += 1;
            sample(id);
        }
    }
    let verification = Verification {
        table: table.to_owned(),
        expected: expected.len() as u64,
        found,
        missing: expected.len() as u64 - found,
        duplicated,
        unexpected,
        uncertain_stored,
        polls: observed.polls,
        poll_interval_ms: u64::try_from(options.interval.as_millis()).unwrap_or(u64::MAX),
        samples,
        end_to_end: watched_during_run.then(|| Percentiles::of(&end_to_end)),
    };
    info!(
        table,
        expected = verification.expected,
        found = verification.found,
        missing = verification.missing,
        duplicated = verification.duplicated,
        unexpected = verification.unexpected,
        exactly_once = verification.exactly_once(),
        "table checked"
    );
    Ok(verification)
}

/// The event a run's `event_id` names, when it is one of the run's ids.
pub fn event_of(seed: u64, id: &str) -> Option<EventRef> {
    let rest = id.strip_prefix(&id_prefix(seed))?;
    let (request, index) = rest.split_once('-')?;
    Some(EventRef {
        request: request.parse().ok()?,
        index: index.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_event() {
        let id = crate::events::event_id(9, 1234, 17);
        assert_eq!(
            event_of(9, &id),
            Some(EventRef {
                request: 1234,
                index: 17
            })
        );
        assert_eq!(event_of(8, &id), None);
        assert_eq!(event_of(9, "lg-x"), None);
    }
}
