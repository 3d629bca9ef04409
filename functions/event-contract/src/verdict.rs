//! What the validator says about one event: every problem, and one severity.

use std::fmt;

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::metrics;

/// How bad an event is. Ordered: `Warning < Error < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Valid but suspicious (a timestamp outside the accepted window); still stored.
    Warning,
    /// Breaks a rule of the contract: a missing field, a wrong type, a value out of range.
    Error,
    /// Not JSON, not an object, or larger than a Kinesis record.
    Critical,
}

impl Severity {
    /// Every severity, mildest first.
    pub const ALL: [Severity; 3] = [Severity::Warning, Severity::Error, Severity::Critical];

    /// The wire name, also the value of the metrics' `Severity` dimension.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => metrics::SEVERITY_WARNING,
            Severity::Error => metrics::SEVERITY_ERROR,
            Severity::Critical => metrics::SEVERITY_CRITICAL,
        }
    }

    /// Whether an event of this severity is malformed: rejected, reported and not stored.
    pub const fn is_malformed(self) -> bool {
        matches!(self, Severity::Error | Severity::Critical)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with an event: where (a JSON pointer, `""` for the whole event) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// How bad this problem is on its own; the verdict's severity is the worst of these.
    #[serde(skip)]
    pub severity: Severity,
    /// A JSON pointer (RFC 6901) to the offending value, `""` for the event itself.
    pub path: String,
    /// What is wrong, in lowercase, showing the bad value where it is short.
    pub message: String,
}

/// The verdict on one event: every problem found (up to [`Verdict::MAX_PROBLEMS`]) and the
/// worst severity among them, `None` for a clean event.
///
/// Serializes as `{"valid":bool,"severity":null|"warning"|"error"|"critical","errors":[..]}`,
/// the shape `validate-events` prints and ingest answers with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    problems: Vec<Problem>,
    omitted: usize,
    worst: Option<Severity>,
}

impl Verdict {
    /// The most problems a verdict lists; it still counts the rest and takes their severity
    /// into account. Keeps a verdict small whatever the input.
    pub const MAX_PROBLEMS: usize = 20;
    /// Paths longer than this (in bytes) are cut and end in `…`.
    pub const MAX_PATH_BYTES: usize = 256;

    /// A verdict with one problem.
    pub fn single(severity: Severity, path: impl Into<String>, message: impl Into<String>) -> Self {
        let mut verdict = Verdict::default();
        verdict.push(severity, path, message);
        verdict
    }

    /// Records a problem.
    pub fn push(
        &mut self,
        severity: Severity,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.worst = self.worst.max(Some(severity));
        if self.problems.len() < Self::MAX_PROBLEMS {
            let mut path = path.into();
            truncate_with_ellipsis(&mut path, Self::MAX_PATH_BYTES);
            self.problems.push(Problem {
                severity,
                path,
                message: message.into(),
            });
        } else {
            self.omitted += 1;
        }
    }

    /// The worst severity of any problem, `None` when there is none.
    pub fn severity(&self) -> Option<Severity> {
        self.worst
    }

    /// Whether the event is accepted (no problem, or only warnings).
    pub fn is_valid(&self) -> bool {
        !self.is_malformed()
    }

    /// Whether the event is malformed (an `error` or `critical` problem).
    pub fn is_malformed(&self) -> bool {
        self.worst.is_some_and(Severity::is_malformed)
    }

    /// The problems listed, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// How many problems were found beyond [`Verdict::MAX_PROBLEMS`].
    pub fn omitted(&self) -> usize {
        self.omitted
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The `errors` list: the problems, then one line saying how many were left out.
        struct Errors<'a>(&'a Verdict);
        impl Serialize for Errors<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let extra = usize::from(self.0.omitted > 0);
                let mut seq = serializer.serialize_seq(Some(self.0.problems.len() + extra))?;
                for problem in &self.0.problems {
                    seq.serialize_element(problem)?;
                }
                if self.0.omitted > 0 {
                    let message = format!("{} more problems not listed", self.0.omitted);
                    seq.serialize_element(&Problem {
                        severity: self.0.worst.unwrap_or(Severity::Warning),
                        path: String::new(),
                        message,
                    })?;
                }
                seq.end()
            }
        }

        let mut s = serializer.serialize_struct("Verdict", 3)?;
        s.serialize_field("valid", &self.is_valid())?;
        s.serialize_field("severity", &self.worst)?;
        s.serialize_field("errors", &Errors(self))?;
        s.end()
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, ending it in `…` when cut.
pub(crate) fn truncate_with_ellipsis(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push(ellipsis);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn severities_are_ordered_and_named_like_the_metric_dimension() {
        assert!(Severity::Warning < Severity::Error && Severity::Error < Severity::Critical);
        assert_eq!(Severity::Critical.as_str(), metrics::SEVERITY_CRITICAL);
        assert_eq!(
            serde_json::to_value(Severity::Warning).ok(),
            Some(json!("warning"))
        );
        assert!(!Severity::Warning.is_malformed() && Severity::Error.is_malformed());
    }

    #[test]
    fn a_clean_verdict_is_valid_with_no_severity() {
        let verdict = Verdict::default();
        assert!(verdict.is_valid());
        assert_eq!(
            serde_json::to_value(&verdict).ok(),
            Some(json!({"valid": true, "severity": null, "errors": []}))
        );
    }

    #[test]
    fn the_worst_problem_decides_and_warnings_alone_stay_valid() {
        let mut verdict = Verdict::single(Severity::Warning, "/timestamp", "in the future");
        assert!(verdict.is_valid());
        assert_eq!(verdict.severity(), Some(Severity::Warning));
        verdict.push(Severity::Error, "/payload", "required");
        assert!(verdict.is_malformed());
        assert_eq!(
            serde_json::to_value(&verdict).ok(),
            Some(json!({"valid": false, "severity": "error", "errors": [
                {"path": "/timestamp", "message": "in the future"},
                {"path": "/payload", "message": "required"},
            ]}))
        );
    }

    #[test]
    fn problems_past_the_limit_are_counted_and_still_weigh() {
        let mut verdict = Verdict::default();
        for i in 0..Verdict::MAX_PROBLEMS + 5 {
            verdict.push(Severity::Warning, format!("/{i}"), "odd");
        }
        verdict.push(Severity::Critical, "", "worst");
        assert_eq!(verdict.problems().len(), Verdict::MAX_PROBLEMS);
        assert_eq!(verdict.omitted(), 6);
        assert_eq!(verdict.severity(), Some(Severity::Critical));
        let value = serde_json::to_value(&verdict).unwrap_or_default();
        let errors = value["errors"].as_array().cloned().unwrap_or_default();
        assert_eq!(errors.len(), Verdict::MAX_PROBLEMS + 1);
        assert_eq!(
            errors.last(),
            Some(&json!({"path": "", "message": "6 more problems not listed"}))
        );
    }

    #[test]
    fn long_paths_are_cut_on_a_character_boundary() {
        let long = format!("/{}", "é".repeat(300));
        let verdict = Verdict::single(Severity::Error, long, "bad");
        let path = &verdict.problems()[0].path;
        assert!(path.len() <= Verdict::MAX_PATH_BYTES, "{}", path.len());
        assert!(path.ends_with('…'));
        assert!(path.starts_with("/éé"));
    }
}
