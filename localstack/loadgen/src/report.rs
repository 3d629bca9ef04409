//! The report of a run: counts, latency percentiles, the per-second series, and the table's
//! verdict when it was read; as JSON (stable field names, for tools) and Markdown (for people).
//!
//! Every request and every event ends in exactly one of the outcomes of [`Counts`], so
//! `offered = accepted + refused + throttled + failed + dropped + abandoned` for both. Latencies
//! are whole microseconds, measured from each request's *scheduled* send time (see
//! [`crate::run`]); the JSON holds no floating-point number, so it round-trips exactly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::verify::Verification;

/// What became of the requests, or of the events, of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Scheduled and reached by the generator before the deadline.
    pub offered: u64,
    /// Stored, as ingest said (202, or the accepted part of a 503 and its resends).
    pub accepted: u64,
    /// Answered 4xx other than 429 (ingest's 400 with verdicts, 403 of a bad key, …): not
    /// resent.
    pub refused: u64,
    /// Answered 429 (API Gateway's throttle): not resent.
    pub throttled: u64,
    /// Answered 5xx (after resends, for a 503 that named its failed positions), or no answer:
    /// a connection error or the request timeout.
    pub failed: u64,
    /// Never sent: the generator's queue was full when they were due.
    pub dropped: u64,
    /// Still waiting, queued, in flight or between resends at the deadline.
    pub abandoned: u64,
}

impl Counts {
    /// The sum of the outcomes: equals `offered` once the run is over.
    pub fn settled(&self) -> u64 {
        self.accepted + self.refused + self.throttled + self.failed + self.dropped + self.abandoned
    }
}

/// Resends of the positions a 503 named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resent {
    /// Requests sent again (one per resend attempt).
    pub requests: u64,
    /// Events in them.
    pub events: u64,
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Requests measured.
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: u64,
}

impl Percentiles {
    /// The percentiles of `histogram` (zeros when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            mean_us: histogram.mean().round() as u64,
        }
    }
}

/// The two latency distributions of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Requests whose every event was accepted: from the scheduled send time to the answer
    /// that completed them (queueing and resends included).
    pub accepted: Percentiles,
    /// Every request that got an HTTP answer, whatever its status: from the scheduled send
    /// time to its first answer.
    pub answered: Percentiles,
}

/// One second of the run, counted from its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the start.
    pub second: u64,
    /// Requests scheduled in this second.
    pub offered_requests: u64,
    /// Their events.
    pub offered_events: u64,
    /// Events accepted by an answer in this second.
    pub accepted_events: u64,
    /// Requests refused (4xx) by an answer in this second.
    pub refused_requests: u64,
    /// Requests throttled (429) by an answer in this second.
    pub throttled_requests: u64,
    /// Requests failed in this second.
    pub failed_requests: u64,
    /// Requests scheduled in this second and answered (any status), to their first answer.
    pub answered_requests: u64,
    /// Their median latency.
    pub p50_us: u64,
    /// Their 99th percentile.
    pub p99_us: u64,
}

/// The settings of a run, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The target URL.
    pub target: String,
    /// The schedule, in requests per second, in the `--schedule` syntax.
    pub schedule: String,
    /// Events per request: `N` or `MIN..MAX`.
    pub events_per_request: String,
    /// The share of requests carrying a malformed event, as given (`0.05`).
    pub malformed_share: String,
    /// The partition-key pool: `users × sessions, choice`.
    pub pool: String,
    /// The seed of the events.
    pub seed: u64,
    /// The largest number of requests in flight.
    pub max_in_flight: u64,
    /// The largest number of requests waiting for a connection.
    pub max_queued: u64,
    /// The hard deadline, from the start, in milliseconds.
    pub deadline_ms: u64,
    /// Resend attempts for a 503's failed positions.
    pub resend_attempts: u32,
}

/// The report of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// How the run was set up.
    pub settings: Settings,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// From the start to the last answer (or the deadline), in milliseconds.
    pub duration_ms: u64,
    /// Requests the schedule plans.
    pub planned_requests: u64,
    /// Requests, by outcome.
    pub requests: Counts,
    /// Events, by outcome.
    pub events: Counts,
    /// Malformed events among the offered: at most one a request, which ingest refuses whole.
    pub malformed_events: u64,
    /// Resends of the positions 503s named.
    pub resent: Resent,
    /// Every HTTP answer by status (resends included), and `error` for no answer.
    pub responses: BTreeMap<String, u64>,
    /// Requests that got no answer (connection errors, timeouts): part of `failed`.
    pub transport_errors: u64,
    /// Latency from the scheduled send time.
    pub latency: Latency,
    /// The latest the generator sent a request after its scheduled time, in microseconds: a
    /// large value means this machine could not keep the schedule (the latencies still count
    /// from the scheduled time).
    pub max_send_lag_us: u64,
    /// Offered requests per second over the schedule's length, in thousandths.
    pub offered_rps_milli: u64,
    /// Events accepted per second over the run's length, in thousandths.
    pub accepted_events_per_s_milli: u64,
    /// The run, second by second.
    pub seconds: Vec<Second>,
    /// What the table holds, when it was read ([`crate::verify::exactly_once`]).
    pub verification: Option<Verification>,
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data: serializes")
    }

    /// A report read back from [`Report::to_json`].
    pub fn from_json(json: &str) -> Result<Report, Error> {
        serde_json::from_str(json).map_err(Error::ReportJson)
    }

    /// Writes `report.json`, `report.md` and `chart.svg` into `dir`, creating it.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| Error::Write { path, source })
        };
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })?;
        write("report.json", self.to_json())?;
        write("report.md", self.markdown())?;
        write("chart.svg", crate::chart::svg(self))
    }

    /// The report as Markdown tables.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let s = &self.settings;
        let _ = writeln!(md, "# Load test: {}\n", s.target);
        let _ = writeln!(md, "| setting | value |\n|---|---|");
        let rows = [
            ("schedule (requests/s)", s.schedule.clone()),
            ("events per request", s.events_per_request.clone()),
            ("malformed share (of requests)", s.malformed_share.clone()),
            ("partition keys", s.pool.clone()),
            ("seed", s.seed.to_string()),
            (
                "max in flight / queued",
                format!("{} / {}", s.max_in_flight, s.max_queued),
            ),
            ("deadline", format!("{} s", ms(s.deadline_ms))),
            ("resend attempts", s.resend_attempts.to_string()),
            ("started", self.started_at.clone()),
            ("duration", format!("{} s", ms(self.duration_ms))),
            ("planned requests", self.planned_requests.to_string()),
            (
                "offered requests/s",
                format!("{:.1}", self.offered_rps_milli as f64 / 1000.0),
            ),
            (
                "accepted events/s",
                format!("{:.1}", self.accepted_events_per_s_milli as f64 / 1000.0),
            ),
            (
                "generator's largest send lag",
                format!("{} ms", ms(self.max_send_lag_us)),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(md, "| {name} | {value} |");
        }

        let _ = writeln!(md, "\n## Outcomes\n");
        let _ = writeln!(
            md,
            "| | offered | accepted | refused (4xx) | throttled (429) | failed (5xx, no answer) | dropped by the generator | abandoned at the deadline |\n|---|---|---|---|---|---|---|---|"
        );
        for (name, c) in [("requests", &self.requests), ("events", &self.events)] {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                c.offered, c.accepted, c.refused, c.throttled, c.failed, c.dropped, c.abandoned
            );
        }
        let _ = writeln!(
            md,
            "\nMalformed events offered: {}. Resent (the positions 503s named): {} requests, {} events. No answer (connection error, timeout): {} requests.",
            self.malformed_events, self.resent.requests, self.resent.events, self.transport_errors
        );
        let _ = writeln!(md, "\n| answer | count |\n|---|---|");
        for (status, n) in &self.responses {
            let _ = writeln!(md, "| {status} | {n} |");
        }

        let _ = writeln!(md, "\n## Latency from the scheduled send time (ms)\n");
        let _ = writeln!(
            md,
            "| requests | count | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|---|"
        );
        for (name, p) in [
            (
                "accepted (to the answer that completed them, resends included)",
                &self.latency.accepted,
            ),
            (
                "answered (to the first answer, any status)",
                &self.latency.answered,
            ),
        ] {
            let _ = writeln!(md, "| {name} | {} | {} |", p.count, percentile_cells(p));
        }

        if let Some(v) = &self.verification {
            let _ = writeln!(md, "\n## The table ({})\n", v.table);
            let _ = writeln!(
                md,
                "Exactly once: **{}**.\n\n| check | count |\n|---|---|",
                if v.exactly_once() { "yes" } else { "no" }
            );
            for (name, n) in [
                ("accepted valid events expected", v.expected),
                ("found", v.found),
                ("missing", v.missing),
                ("stored more than once", v.duplicated),
                ("stored though refused, throttled or failed", v.unexpected),
                (
                    "stored, fate unknown (abandoned or no answer)",
                    v.uncertain_stored,
                ),
                ("polls", v.polls),
            ] {
                let _ = writeln!(md, "| {name} | {n} |");
            }
            if !v.samples.is_empty() {
                let _ = writeln!(
                    md,
                    "\nSome of the ids in question: {}",
                    v.samples.join(", ")
                );
            }
            match &v.end_to_end {
                Some(p) => {
                    let _ = writeln!(
                        md,
                        "\nEnd to end, accepted → item first seen in the table (ms; measured by polling every {} ms, so up to that much late):\n\n| count | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|\n| {} | {} |",
                        v.poll_interval_ms,
                        p.count,
                        percentile_cells(p)
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "\nEnd to end: not measured (the table was first read after the run)."
                    );
                }
            }
        }

        let _ = writeln!(md, "\n## Per second\n");
        let _ = writeln!(
            md,
            "| s | offered requests | offered events | accepted events | refused | throttled | failed | answered | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for s in &self.seconds {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.second,
                s.offered_requests,
                s.offered_events,
                s.accepted_events,
                s.refused_requests,
                s.throttled_requests,
                s.failed_requests,
                s.answered_requests,
                ms(s.p50_us),
                ms(s.p99_us)
            );
        }
        md
    }
}

fn percentile_cells(p: &Percentiles) -> String {
    [p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us, p.mean_us]
        .map(ms)
        .join(" | ")
}

/// Microseconds as milliseconds (or milliseconds as seconds) with three decimals.
fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_the_histograms_precision() {
        let mut h = crate::run::histogram();
        // 1..=1000 ms, each once: p50 500 ms, p90 900 ms, p99 990 ms, p99.9 999 ms.
        for ms in 1..=1000u64 {
            h.record(ms * 1000).expect("in range");
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        for (got, want) in [
            (p.p50_us, 500_000),
            (p.p90_us, 900_000),
            (p.p99_us, 990_000),
            (p.p999_us, 999_000),
            (p.max_us, 1_000_000),
            (p.mean_us, 500_500),
        ] {
            // Three significant digits: within 0.1%.
            let error = (got as f64 - want as f64).abs() / want as f64;
            assert!(error <= 0.001, "{got} vs {want}");
        }
        assert_eq!(
            Percentiles::of(&crate::run::histogram()),
            Percentiles::default()
        );
    }

    #[test]
    fn milliseconds_print_with_three_decimals() {
        assert_eq!(ms(1_234_567), "1234.567");
        assert_eq!(ms(5), "0.005");
    }
}
