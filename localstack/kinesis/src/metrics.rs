//! The stream-level metrics Kinesis publishes under `AWS/Kinesis` with the `StreamName`
//! dimension, counted per minute as CloudWatch stores them: `IncomingRecords`, `IncomingBytes`,
//! `WriteProvisionedThroughputExceeded` (records refused by a write limit),
//! `ReadProvisionedThroughputExceeded` (`GetRecords` calls refused), `GetRecords.Records`,
//! `GetRecords.Bytes` and `GetRecords.IteratorAgeMilliseconds` (the age of the last record a
//! call returned; 0 for a call at the tip).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::clock::epoch_millis;

/// The namespace.
pub const NAMESPACE: &str = "AWS/Kinesis";
/// The dimension.
pub const STREAM_NAME_DIMENSION: &str = "StreamName";

/// What CloudWatch stores of a metric in a minute: a statistic set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statistics {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

impl Statistics {
    fn one(value: f64) -> Statistics {
        Statistics {
            sample_count: 1.0,
            sum: value,
            minimum: value,
            maximum: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.sample_count += 1.0;
        self.sum += value;
        self.minimum = self.minimum.min(value);
        self.maximum = self.maximum.max(value);
    }
}

/// A metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

/// One metric of one stream in one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub region: String,
    pub stream: String,
    pub metric: &'static str,
    pub unit: Unit,
    /// The minute's start.
    pub minute: SystemTime,
    pub statistics: Statistics,
}

/// A minute, a region, a stream, a metric.
type MinuteKey = (u64, String, String, &'static str);

/// The metrics of the streams, per minute, waiting to be published.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    minutes: Mutex<BTreeMap<MinuteKey, (Unit, Statistics)>>,
}

/// The metric names.
pub mod names {
    pub const INCOMING_RECORDS: &str = "IncomingRecords";
    pub const INCOMING_BYTES: &str = "IncomingBytes";
    pub const WRITE_EXCEEDED: &str = "WriteProvisionedThroughputExceeded";
    pub const READ_EXCEEDED: &str = "ReadProvisionedThroughputExceeded";
    pub const GET_RECORDS_RECORDS: &str = "GetRecords.Records";
    pub const GET_RECORDS_BYTES: &str = "GetRecords.Bytes";
    pub const ITERATOR_AGE: &str = "GetRecords.IteratorAgeMilliseconds";
}

fn minute_of(at: SystemTime) -> u64 {
    epoch_millis(at) / 60_000
}

impl Recorder {
    pub(crate) fn record(
        &self,
        at: SystemTime,
        region: &str,
        stream: &str,
        metric: &'static str,
        unit: Unit,
        value: f64,
    ) {
        let key = (minute_of(at), region.to_owned(), stream.to_owned(), metric);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes
            .entry(key)
            .and_modify(|(_, s)| s.add(value))
            .or_insert((unit, Statistics::one(value)));
    }

    /// Takes the minutes that ended before `now`, or all of them with `everything`.
    pub(crate) fn drain(&self, now: SystemTime, everything: bool) -> Vec<Datum> {
        let current = minute_of(now);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let keep = if everything {
            BTreeMap::new()
        } else {
            minutes.split_off(&(current, String::new(), String::new(), ""))
        };
        let done = std::mem::replace(&mut *minutes, keep);
        done.into_iter()
            .map(
                |((minute, region, stream, metric), (unit, statistics))| Datum {
                    region,
                    stream,
                    metric,
                    unit,
                    minute: std::time::UNIX_EPOCH + std::time::Duration::from_secs(minute * 60),
                    statistics,
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn values_of_a_minute_form_one_statistic_set_and_only_ended_minutes_drain() {
        let recorder = Recorder::default();
        let minute = UNIX_EPOCH + Duration::from_secs(29_410_560 * 60);
        for (offset, value) in [(1, 3.0), (20, 5.0), (59, 1.0)] {
            recorder.record(
                minute + Duration::from_secs(offset),
                "us-east-2",
                "s",
                names::INCOMING_RECORDS,
                Unit::Count,
                value,
            );
        }
        recorder.record(
            minute + Duration::from_secs(61),
            "us-east-2",
            "s",
            names::INCOMING_RECORDS,
            Unit::Count,
            7.0,
        );
        let drained = recorder.drain(minute + Duration::from_secs(70), false);
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].minute, minute);
        assert_eq!(
            drained[0].statistics,
            Statistics {
                sample_count: 3.0,
                sum: 9.0,
                minimum: 1.0,
                maximum: 5.0
            }
        );
        let rest = recorder.drain(minute + Duration::from_secs(70), true);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].statistics.sum, 7.0);
        assert!(recorder.drain(minute, true).is_empty());
    }
}
