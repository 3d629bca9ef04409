//! The functions' custom metrics in CloudWatch Embedded Metric Format: log lines that
//! CloudWatch Logs turns into `ProcessedEvents` and `MalformedEvents`, in the namespace and with
//! the names [`crate::metrics`] defines for the stack's alarm too.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::Severity;
use crate::metrics::{
    COMPONENT_DIMENSION, Component, MALFORMED_EVENTS, NAMESPACE, PROCESSED_EVENTS,
    SEVERITY_DIMENSION, UNIT,
};

/// Where EMF documents go: standard output in Lambda, a buffer in tests.
pub trait MetricsSink: Send + Sync {
    /// Writes one EMF document as one log line.
    fn emit(&self, document: &str);
}

/// Writes EMF documents to standard output, one per line, where Lambda sends them to
/// CloudWatch Logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutMetrics;

impl MetricsSink for StdoutMetrics {
    fn emit(&self, document: &str) {
        let mut out = std::io::stdout().lock();
        // With standard output gone there is nowhere left to report the failure to.
        let _ = writeln!(out, "{document}");
    }
}

/// How many events (records of a batch, or events of a refused request) got each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every record (the alarm's denominator).
    pub processed: u64,
    /// Records with no problem.
    pub clean: u64,
    /// Valid records with a warning.
    pub warning: u64,
    /// Records with an `error` verdict.
    pub error: u64,
    /// Records with a `critical` verdict.
    pub critical: u64,
}

impl Counts {
    /// Counts one record with this verdict severity.
    pub fn record(&mut self, severity: Option<Severity>) {
        self.processed += 1;
        match severity {
            None => self.clean += 1,
            Some(Severity::Warning) => self.warning += 1,
            Some(Severity::Error) => self.error += 1,
            Some(Severity::Critical) => self.critical += 1,
        }
    }

    /// Records that are malformed: `error` and `critical` (the alarm's numerator).
    pub fn malformed(&self) -> u64 {
        self.error + self.critical
    }

    /// The records of one severity.
    pub fn of(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Warning => self.warning,
            Severity::Error => self.error,
            Severity::Critical => self.critical,
        }
    }
}

/// The EMF documents for one emission by `component`: first the totals, under two directives
/// of the same document: with no dimension (what the malformed-rate alarm reads) and with the
/// `Component` dimension (who counted them); then one document per severity with the
/// `Severity` dimension, carrying `ProcessedEvents` and, for `error` and `critical`,
/// `MalformedEvents`. Zeros are emitted too, so every series has a point for every emission.
pub fn documents(counts: &Counts, component: Component, at: DateTime<Utc>) -> Vec<String> {
    let timestamp = at.timestamp_millis();
    let metric = |name: &str| json!({"Name": name, "Unit": UNIT});
    let totals = || json!([metric(PROCESSED_EVENTS), metric(MALFORMED_EVENTS)]);
    let mut docs = Vec::with_capacity(1 + Severity::ALL.len());
    docs.push(json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[]],
                    "Metrics": totals(),
                },
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[COMPONENT_DIMENSION]],
                    "Metrics": totals(),
                },
            ],
        },
        COMPONENT_DIMENSION: component.as_str(),
        PROCESSED_EVENTS: counts.processed,
        MALFORMED_EVENTS: counts.malformed(),
    }));
    for severity in Severity::ALL {
        let n = counts.of(severity);
        let mut metrics = vec![metric(PROCESSED_EVENTS)];
        let mut doc = json!({
            SEVERITY_DIMENSION: severity.as_str(),
            PROCESSED_EVENTS: n,
        });
        if severity.is_malformed() {
            metrics.push(metric(MALFORMED_EVENTS));
            doc[MALFORMED_EVENTS] = json!(n);
        }
        doc["_aws"] = json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[SEVERITY_DIMENSION]],
                "Metrics": Value::Array(metrics),
            }],
        });
        docs.push(doc);
    }
    docs.iter().map(Value::to_string).collect()
}

/// An in-memory metrics sink for the functions' tests and benchmarks.
#[cfg(feature = "test-util")]
pub mod memory {
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use serde_json::Value;

    use super::MetricsSink;

    /// Keeps every document emitted, in order.
    #[derive(Debug, Default)]
    pub struct MemoryMetrics(Mutex<Vec<String>>);

    impl MemoryMetrics {
        /// Every document so far, parsed (`null` for one that is not JSON).
        pub fn documents(&self) -> Vec<Value> {
            lock(&self.0)
                .iter()
                .map(|d| serde_json::from_str(d).unwrap_or_default())
                .collect()
        }

        /// The sum of `metric` over the no-dimension documents (the alarm's series).
        pub fn total(&self, metric: &str) -> u64 {
            self.documents()
                .iter()
                .filter(|d| {
                    d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == serde_json::json!([[]])
                })
                .filter_map(|d| d[metric].as_u64())
                .sum()
        }
    }

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    impl MetricsSink for MemoryMetrics {
        fn emit(&self, document: &str) {
            lock(&self.0).push(document.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(counts: &Counts) -> Vec<Value> {
        let at = DateTime::from_timestamp_millis(1_730_894_400_000).unwrap_or_default();
        documents(counts, Component::StreamProcessor, at)
            .iter()
            .map(|d| serde_json::from_str(d).unwrap_or_default())
            .collect()
    }

    #[test]
    fn counts_sort_each_record_by_severity() {
        let mut counts = Counts::default();
        for s in [
            None,
            None,
            Some(Severity::Warning),
            Some(Severity::Error),
            Some(Severity::Critical),
            Some(Severity::Error),
        ] {
            counts.record(s);
        }
        assert_eq!(
            counts,
            Counts {
                processed: 6,
                clean: 2,
                warning: 1,
                error: 2,
                critical: 1
            }
        );
        assert_eq!(counts.malformed(), 3);
    }

    #[test]
    fn the_totals_carry_no_dimension_and_use_the_stack_names() {
        let counts = Counts {
            processed: 10,
            clean: 6,
            warning: 1,
            error: 2,
            critical: 1,
        };
        let docs = parsed(&counts);
        assert_eq!(docs.len(), 4);
        let totals = &docs[0];
        assert_eq!(totals["_aws"]["Timestamp"], json!(1_730_894_400_000_i64));
        let directive = &totals["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], json!("IOpsDashboard/Events"));
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "ProcessedEvents", "Unit": "Count"}, {"Name": "MalformedEvents", "Unit": "Count"}])
        );
        assert_eq!(totals["ProcessedEvents"], json!(10));
        assert_eq!(totals["MalformedEvents"], json!(3));
    }

    #[test]
    fn the_totals_are_also_a_series_per_component() {
        let counts = Counts {
            processed: 2,
            critical: 2,
            ..Counts::default()
        };
        for (component, name) in [
            (Component::Ingest, "ingest"),
            (Component::StreamProcessor, "stream-processor"),
        ] {
            let at = DateTime::from_timestamp_millis(0).unwrap_or_default();
            let docs: Vec<Value> = documents(&counts, component, at)
                .iter()
                .map(|d| serde_json::from_str(d).unwrap_or_default())
                .collect();
            let totals = &docs[0];
            let by_component = &totals["_aws"]["CloudWatchMetrics"][1];
            assert_eq!(by_component["Namespace"], json!("IOpsDashboard/Events"));
            assert_eq!(by_component["Dimensions"], json!([["Component"]]));
            assert_eq!(
                by_component["Metrics"],
                totals["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            );
            assert_eq!(totals["Component"], json!(name));
            assert_eq!(totals["ProcessedEvents"], json!(2));
            assert_eq!(totals["MalformedEvents"], json!(2));
            // The severity series stay without the component: one point per severity.
            assert!(docs[1..].iter().all(|d| d.get("Component").is_none()));
        }
    }

    #[test]
    fn each_severity_has_its_own_series() {
        let counts = Counts {
            processed: 10,
            clean: 6,
            warning: 1,
            error: 2,
            critical: 1,
        };
        let docs = parsed(&counts);
        for (doc, (severity, n, malformed)) in docs[1..].iter().zip([
            ("warning", 1, false),
            ("error", 2, true),
            ("critical", 1, true),
        ]) {
            assert_eq!(doc["Severity"], json!(severity));
            assert_eq!(
                doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["Severity"]])
            );
            assert_eq!(doc["ProcessedEvents"], json!(n));
            assert_eq!(
                doc.get("MalformedEvents").is_some(),
                malformed,
                "{severity}"
            );
            if malformed {
                assert_eq!(doc["MalformedEvents"], json!(n));
            }
            // Every metric a directive names is a member of the document, as EMF requires.
            for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = m["Name"].as_str().unwrap_or_default();
                assert!(
                    doc.get(name).is_some(),
                    "{name} missing from the {severity} document"
                );
            }
        }
    }
}
