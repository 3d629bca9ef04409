//! One batch from a shard, through the function: retries, bisection and partial batch
//! responses as the Lambda documentation describes them for Kinesis.
//!
//! - A function error (an error response, a crash, a timeout) with `BisectBatchOnFunctionError`
//!   splits a batch of more than one record in two halves, processed in order, each with the
//!   full retry quota: "splitting batches doesn't consume the retry quota". A single record, or
//!   a batch without bisection, is retried.
//! - With `ReportBatchItemFailures`, the records before the lowest reported sequence number are
//!   done and the rest is retried ("the batch is bisected at the returned sequence number and
//!   Lambda retries only the remaining records"); a malformed response fails the whole batch.
//! - Each retry counts against `MaximumRetryAttempts`; once exhausted, the remaining records are
//!   discarded (and described to the on-failure destination). Without a maximum, they are
//!   retried until the mapping stops (on AWS, until they expire).
//! - An invocation that never reached the function (the function is stopped or cannot start)
//!   is retried with backoff without counting, as Lambda does for throttling.

use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::event::event;
use super::response::{self, Reported};
use crate::lambda::{Invoke, InvokeError};
use crate::retry::{Backoff, sleep_or_stop};

/// How failures are handled: the mapping's settings that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Policy {
    pub(super) bisect: bool,
    pub(super) maximum_retries: Option<u32>,
    pub(super) report_batch_item_failures: bool,
}

/// Records given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Discard {
    /// Their positions in the batch.
    pub(super) range: Range<usize>,
    /// How many times this part of the batch was invoked.
    pub(super) invoke_count: u32,
    /// Whether the last invocation was a function error (else item failures were reported).
    pub(super) function_error: bool,
    /// When they were given up on.
    pub(super) at: DateTime<Utc>,
}

/// The mapping stopped before the batch was through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stopped;

/// What one invocation said about its records.
enum Outcome {
    Succeeded,
    /// Records from this position on failed; the ones before succeeded.
    FailedFrom(usize),
    FunctionError,
    Unavailable(InvokeError),
}

/// Part of the batch still to go through the function.
struct Pending {
    range: Range<usize>,
    invokes: u32,
    retries: u32,
}

/// Runs the batch whose event records are `events` (with their `sequence_numbers`) through
/// `function`; returns the parts discarded, in stream order.
pub(super) async fn process<I: Invoke>(
    function: &I,
    events: &[Value],
    sequence_numbers: &[&str],
    policy: Policy,
    stop: &mut watch::Receiver<bool>,
) -> Result<Vec<Discard>, Stopped> {
    let mut discards = Vec::new();
    let mut stack = vec![Pending {
        range: 0..events.len(),
        invokes: 0,
        retries: 0,
    }];
    let mut unavailable = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    while let Some(mut pending) = stack.pop() {
        let mut retry_delay = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            if *stop.borrow() {
                return Err(Stopped);
            }
            let range = pending.range.clone();
            let result = function.invoke(event(&events[range.clone()])).await;
            let outcome = match result {
                Ok(_) if !policy.report_batch_item_failures => Outcome::Succeeded,
                Ok(answer) => match response::read(&answer, &sequence_numbers[range.clone()]) {
                    Reported::AllSucceeded => Outcome::Succeeded,
                    Reported::FailedFrom(position) => Outcome::FailedFrom(position),
                    Reported::Malformed => Outcome::FailedFrom(0),
                },
                Err(InvokeError::Function { .. }) => Outcome::FunctionError,
                Err(error) => Outcome::Unavailable(error),
            };
            let function_error = match outcome {
                Outcome::Succeeded => break,
                Outcome::Unavailable(error) => {
                    warn!(%error, records = range.len(), "the function cannot be invoked, retrying");
                    if sleep_or_stop(unavailable.next_delay(), stop).await {
                        return Err(Stopped);
                    }
                    continue;
                }
                Outcome::FailedFrom(position) => {
                    pending.range.start += position;
                    false
                }
                Outcome::FunctionError if policy.bisect && range.len() > 1 => {
                    let middle = range.start + range.len() / 2;
                    debug!(records = range.len(), "function error, bisecting the batch");
                    for half in [middle..range.end, range.start..middle] {
                        stack.push(Pending {
                            range: half,
                            invokes: 0,
                            retries: 0,
                        });
                    }
                    break;
                }
                Outcome::FunctionError => true,
            };
            unavailable.reset();
            pending.invokes += 1;
            if policy
                .maximum_retries
                .is_some_and(|max| pending.retries >= max)
            {
                discards.push(Discard {
                    range: pending.range.clone(),
                    invoke_count: pending.invokes,
                    function_error,
                    at: Utc::now(),
                });
                break;
            }
            pending.retries += 1;
            debug!(
                records = pending.range.len(),
                retry = pending.retries,
                "retrying the batch"
            );
            if sleep_or_stop(retry_delay.next_delay(), stop).await {
                return Err(Stopped);
            }
        }
    }
    Ok(discards)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::json;

    use super::*;

    /// A function whose answer to each batch comes from `script`, given the batch's data; every
    /// batch it was invoked with is recorded.
    struct Scripted<S> {
        script: S,
        calls: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl<S> Invoke for Scripted<S>
    where
        S: Fn(&[String]) -> Result<Value, InvokeError> + Send + Sync,
    {
        async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
            let data: Vec<String> = payload["Records"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            self.calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(data.clone());
            (self.script)(&data)
        }
    }

    struct Run {
        discards: Vec<(Vec<String>, u32, bool)>,
        calls: Vec<Vec<String>>,
    }

    /// Processes records `a`, `b`, ... (sequence numbers 1, 2, ...) through `script`.
    async fn run<S>(count: usize, policy: Policy, script: S) -> Run
    where
        S: Fn(&[String]) -> Result<Value, InvokeError> + Send + Sync,
    {
        let ids: Vec<String> = (0..count)
            .map(|i| char::from(b'a' + u8::try_from(i).expect("few records")).to_string())
            .collect();
        let sequence_numbers: Vec<String> = (1..=count).map(|i| i.to_string()).collect();
        let sequence_numbers: Vec<&str> = sequence_numbers.iter().map(String::as_str).collect();
        let events: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let function = Scripted {
            script,
            calls: calls.clone(),
        };
        let (_stop_tx, mut stop) = watch::channel(false);
        let discards = process(&function, &events, &sequence_numbers, policy, &mut stop)
            .await
            .expect("not stopped");
        let calls = calls.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Run {
            discards: discards
                .into_iter()
                .map(|d| (ids[d.range].to_vec(), d.invoke_count, d.function_error))
                .collect(),
            calls,
        }
    }

    fn fails_on(bad: &'static str) -> impl Fn(&[String]) -> Result<Value, InvokeError> {
        move |data| {
            if data.iter().any(|d| d == bad) {
                Err(InvokeError::function("Poison", bad))
            } else {
                Ok(Value::Null)
            }
        }
    }

    fn strings(batches: &[&[&str]]) -> Vec<Vec<String>> {
        batches
            .iter()
            .map(|b| b.iter().map(|s| (*s).to_owned()).collect())
            .collect()
    }

    const TEMPLATE: Policy = Policy {
        bisect: true,
        maximum_retries: Some(3),
        report_batch_item_failures: true,
    };

    #[tokio::test(start_paused = true)]
    async fn a_successful_batch_is_invoked_once() {
        let run = run(3, TEMPLATE, |_| Ok(json!({"batchItemFailures": []}))).await;
        assert_eq!(run.calls, strings(&[&["a", "b", "c"]]));
        assert!(run.discards.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bisection_isolates_the_poison_record_which_is_retried_then_discarded() {
        let run = run(4, TEMPLATE, fails_on("c")).await;
        assert_eq!(
            run.calls,
            strings(&[
                &["a", "b", "c", "d"],
                &["a", "b"],
                &["c", "d"],
                &["c"],
                &["c"],
                &["c"],
                &["c"],
                &["d"],
            ])
        );
        assert_eq!(run.discards, [(vec!["c".to_owned()], 4, true)]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_bisection_the_whole_batch_is_retried_then_discarded() {
        let policy = Policy {
            bisect: false,
            maximum_retries: Some(2),
            report_batch_item_failures: false,
        };
        let run = run(3, policy, fails_on("b")).await;
        assert_eq!(
            run.calls,
            strings(&[&["a", "b", "c"], &["a", "b", "c"], &["a", "b", "c"]])
        );
        assert_eq!(
            run.discards,
            [(
                vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
                3,
                true
            )]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn item_failures_checkpoint_at_the_lowest_and_retry_the_rest() {
        // b fails until its third attempt; c is reported too the first time.
        let attempts = Mutex::new(0);
        let run = run(4, TEMPLATE, move |data| {
            let mut attempts = attempts.lock().unwrap_or_else(PoisonError::into_inner);
            *attempts += 1;
            Ok(match *attempts {
                1 => {
                    json!({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]})
                }
                2 => json!({"batchItemFailures": [{"itemIdentifier": "2"}]}),
                _ => {
                    assert_eq!(data[0], "b");
                    json!({"batchItemFailures": []})
                }
            })
        })
        .await;
        assert_eq!(
            run.calls,
            strings(&[&["a", "b", "c", "d"], &["b", "c", "d"], &["b", "c", "d"]])
        );
        assert!(run.discards.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn persistent_item_failures_discard_the_rest_of_the_batch_without_a_function_error() {
        let run = run(3, TEMPLATE, |_| {
            Ok(json!({"batchItemFailures": [{"itemIdentifier": "2"}]}))
        })
        .await;
        assert_eq!(run.calls.len(), 4);
        assert_eq!(run.calls[1], ["b", "c"]);
        assert_eq!(
            run.discards,
            [(vec!["b".to_owned(), "c".to_owned()], 4, false)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_report_fails_the_whole_batch() {
        let policy = Policy {
            maximum_retries: Some(0),
            ..TEMPLATE
        };
        let run = run(2, policy, |_| {
            Ok(json!({"batchItemFailures": [{"itemIdentifier": ""}]}))
        })
        .await;
        assert_eq!(run.calls, strings(&[&["a", "b"]]));
        assert_eq!(
            run.discards,
            [(vec!["a".to_owned(), "b".to_owned()], 1, false)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reports_are_ignored_without_report_batch_item_failures() {
        let policy = Policy {
            report_batch_item_failures: false,
            ..TEMPLATE
        };
        let run = run(2, policy, |_| {
            Ok(json!({"batchItemFailures": [{"itemIdentifier": "1"}]}))
        })
        .await;
        assert_eq!(run.calls.len(), 1);
        assert!(run.discards.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unavailable_function_is_retried_without_counting() {
        let attempts = Mutex::new(0);
        let policy = Policy {
            maximum_retries: Some(0),
            ..TEMPLATE
        };
        let run = run(1, policy, move |_| {
            let mut attempts = attempts.lock().unwrap_or_else(PoisonError::into_inner);
            *attempts += 1;
            if *attempts < 4 {
                Err(InvokeError::Stopped {
                    function: "processor".to_owned(),
                })
            } else {
                Ok(Value::Null)
            }
        })
        .await;
        assert_eq!(run.calls.len(), 4);
        assert!(run.discards.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_endless_retries() {
        let events = [json!({"id": "a"})];
        let function = |_| async { Err(InvokeError::function("Poison", "always")) };
        let policy = Policy {
            maximum_retries: None,
            ..TEMPLATE
        };
        let (stop_tx, mut stop) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            stop_tx.send_replace(true);
        });
        let result = process(&function, &events, &["1"], policy, &mut stop).await;
        assert_eq!(result, Err(Stopped));
        stopper.await.expect("the stopper finishes");
    }
}
