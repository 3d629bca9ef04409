//! Firehose's S3 prefixes: `!{timestamp:<Java DateTimeFormatter pattern>}`,
//! `!{firehose:error-output-type}` and `!{firehose:random-string}` expressions, evaluated as the
//! Firehose documentation's "Custom prefixes for Amazon S3 objects" says.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The expression Firehose appends to a `Prefix` without a timestamp expression, which is also
/// the whole prefix when none is given.
pub const DEFAULT_TIME_PREFIX: &str = "!{timestamp:yyyy/MM/dd/HH/}";

/// A parsed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Prefix {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Timestamp(Vec<Field>),
    ErrorOutputType,
    RandomString,
}

/// One element of a timestamp pattern; the width is the number of pattern letters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Literal(String),
    Year(usize),
    Month(usize),
    Day(usize),
    DayOfYear(usize),
    Hour(usize),
    Minute(usize),
    Second(usize),
}

/// A prefix Firehose would refuse, or one with an expression this runtime does not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// `!{` outside an expression, or an expression without its `}`.
    #[error("{prefix:?}: `!{{` can only open a `!{{namespace:value}}` expression")]
    Unterminated {
        /// The prefix.
        prefix: String,
    },
    /// A namespace or value Firehose does not know, or that runs only with dynamic
    /// partitioning (`partitionKeyFromQuery`, `partitionKeyFromLambda`).
    #[error("{prefix:?}: unsupported expression !{{{expression}}}")]
    Expression {
        /// The prefix.
        prefix: String,
        /// The expression, without `!{` and `}`.
        expression: String,
    },
    /// A timestamp pattern letter other than y, u, M, d, D, H, m, s, or a quote left open.
    #[error("{prefix:?}: unsupported timestamp pattern {pattern:?}")]
    Pattern {
        /// The prefix.
        prefix: String,
        /// The pattern.
        pattern: String,
    },
}

impl Prefix {
    /// Parses `text`.
    pub(super) fn parse(text: &str) -> Result<Prefix, PrefixError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("!{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find('}').ok_or_else(|| PrefixError::Unterminated {
                prefix: text.to_owned(),
            })?;
            let expression = &after[..close];
            if expression.contains("!{") {
                return Err(PrefixError::Unterminated {
                    prefix: text.to_owned(),
                });
            }
            parts.push(parse_expression(text, expression)?);
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Prefix { parts })
    }

    /// Whether it holds any `!{..}` expression.
    pub(super) fn has_expressions(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Literal(_)))
    }

    /// Whether it holds a `!{timestamp:..}` expression.
    pub(super) fn has_timestamp(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Timestamp(_)))
    }

    /// Whether it holds `!{firehose:error-output-type}`.
    pub(super) fn has_error_output_type(&self) -> bool {
        self.parts.contains(&Part::ErrorOutputType)
    }

    /// This prefix followed by `other`.
    pub(super) fn then(mut self, other: Prefix) -> Prefix {
        self.parts.extend(other.parts);
        self
    }

    /// The prefix at `at` (in UTC); `!{firehose:error-output-type}` becomes `error_output_type`.
    pub(super) fn evaluate(&self, at: DateTime<Utc>, error_output_type: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Timestamp(fields) => {
                    for field in fields {
                        write_field(&mut out, field, at);
                    }
                }
                Part::ErrorOutputType => out.push_str(error_output_type),
                Part::RandomString => {
                    out.push_str(&uuid::Uuid::new_v4().simple().to_string()[..11]);
                }
            }
        }
        out
    }
}

fn parse_expression(prefix: &str, expression: &str) -> Result<Part, PrefixError> {
    let unsupported = || PrefixError::Expression {
        prefix: prefix.to_owned(),
        expression: expression.to_owned(),
    };
    let (namespace, value) = expression.split_once(':').ok_or_else(unsupported)?;
    match (namespace, value) {
        ("timestamp", pattern) => {
            parse_pattern(pattern)
                .map(Part::Timestamp)
                .ok_or_else(|| PrefixError::Pattern {
                    prefix: prefix.to_owned(),
                    pattern: pattern.to_owned(),
                })
        }
        ("firehose", "error-output-type") => Ok(Part::ErrorOutputType),
        ("firehose", "random-string") => Ok(Part::RandomString),
        _ => Err(unsupported()),
    }
}

/// The fields of a Java `DateTimeFormatter` pattern: letters are fields, text in single quotes
/// (`''` for a quote) and other characters are literal.
fn parse_pattern(pattern: &str) -> Option<Vec<Field>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('\''), Some('\'')) => {
                        literal.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(other), _) => {
                        literal.push(*other);
                        i += 1;
                    }
                    (None, _) => return None,
                }
            }
            // Two quotes in a row outside a literal are one quote.
            fields.push(Field::Literal(if literal.is_empty() {
                "'".to_owned()
            } else {
                literal
            }));
        } else if c.is_ascii_alphabetic() {
            let width = chars[i..].iter().take_while(|&&d| d == c).count();
            i += width;
            fields.push(match c {
                'y' | 'u' => Field::Year(width),
                'M' if width <= 2 => Field::Month(width),
                'd' if width <= 2 => Field::Day(width),
                'D' if width <= 3 => Field::DayOfYear(width),
                'H' if width <= 2 => Field::Hour(width),
                'm' if width <= 2 => Field::Minute(width),
                's' if width <= 2 => Field::Second(width),
                _ => return None,
            });
        } else {
            fields.push(Field::Literal(c.to_string()));
            i += 1;
        }
    }
    Some(fields)
}

fn write_field(out: &mut String, field: &Field, at: DateTime<Utc>) {
    let (value, width) = match *field {
        Field::Literal(ref text) => {
            out.push_str(text);
            return;
        }
        // Two letters are the year of the century, as in Java.
        Field::Year(2) => (at.year().rem_euclid(100).unsigned_abs(), 2),
        Field::Year(width) => (at.year().unsigned_abs(), width),
        Field::Month(width) => (at.month(), width),
        Field::Day(width) => (at.day(), width),
        Field::DayOfYear(width) => (at.ordinal(), width),
        Field::Hour(width) => (at.hour(), width),
        Field::Minute(width) => (at.minute(), width),
        Field::Second(width) => (at.second(), width),
    };
    // Writing to a String cannot fail.
    let _ = write!(out, "{value:0width$}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("an instant")
            .with_timezone(&Utc)
    }

    fn evaluate(prefix: &str, instant: &str) -> String {
        Prefix::parse(prefix)
            .expect("a valid prefix")
            .evaluate(at(instant), "processing-failed")
    }

    #[test]
    fn the_templates_prefixes_evaluate_in_utc() {
        assert_eq!(
            evaluate(
                "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
                "2026-03-07T05:09:01+02:00"
            ),
            "events/year=2026/month=03/day=07/hour=03/"
        );
        assert_eq!(
            evaluate(
                "errors/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/!{firehose:error-output-type}/",
                "2026-12-31T23:59:59Z"
            ),
            "errors/year=2026/month=12/day=31/processing-failed/"
        );
    }

    #[test]
    fn the_documentations_examples_evaluate_as_documented() {
        assert_eq!(
            evaluate(
                "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
                "2018-07-06T23:00:00Z"
            ),
            "myPrefix/year=2018/month=07/day=06/hour=23/"
        );
        assert_eq!(
            evaluate(
                "myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}",
                "2018-08-27T10:30:00Z"
            ),
            "myFirehoseFailures/processing-failed/2018/anyMonth/27"
        );
        assert_eq!(
            evaluate(DEFAULT_TIME_PREFIX, "2018-08-27T10:30:00Z"),
            "2018/08/27/10/"
        );
    }

    #[test]
    fn quoted_text_is_literal_and_other_fields_pad_to_their_width() {
        assert_eq!(
            evaluate(
                "dt=!{timestamp:yyyy'-'MM'-'dd}/t=!{timestamp:H.m.s DDD yy ''}",
                "2019-02-03T04:05:06Z"
            ),
            "dt=2019-02-03/t=4.5.6 034 19 '"
        );
    }

    #[test]
    fn a_random_string_has_eleven_characters_each_time() {
        let prefix = Prefix::parse("r=!{firehose:random-string}/").expect("valid");
        let first = prefix.evaluate(Utc::now(), "");
        let second = prefix.evaluate(Utc::now(), "");
        assert_eq!(first.len(), "r=/".len() + 11);
        assert_ne!(first, second);
    }

    #[test]
    fn what_firehose_refuses_is_an_error_naming_the_prefix() {
        assert_eq!(
            Prefix::parse("a/!{timestamp:yyyy"),
            Err(PrefixError::Unterminated {
                prefix: "a/!{timestamp:yyyy".to_owned()
            })
        );
        assert!(matches!(
            Prefix::parse("!{partitionKeyFromQuery:customer}/"),
            Err(PrefixError::Expression { expression, .. }) if expression == "partitionKeyFromQuery:customer"
        ));
        assert!(matches!(
            Prefix::parse("!{timestamp:MMMM}"),
            Err(PrefixError::Pattern { pattern, .. }) if pattern == "MMMM"
        ));
        assert!(matches!(
            Prefix::parse("!{timestamp:'open}"),
            Err(PrefixError::Pattern { .. })
        ));
    }

    #[test]
    fn expressions_are_recognised() {
        let prefix =
            Prefix::parse("e/!{timestamp:yyyy}/!{firehose:error-output-type}").expect("valid");
        assert!(
            prefix.has_expressions() && prefix.has_timestamp() && prefix.has_error_output_type()
        );
        let plain = Prefix::parse("plain/").expect("valid");
        assert!(!plain.has_expressions() && !plain.has_timestamp());
    }
}
