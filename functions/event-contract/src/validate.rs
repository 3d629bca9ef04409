//! The validator: every rule of the contract, in one pass over one event.
//!
//! Severities:
//! - `critical`: the bytes are larger than a Kinesis record, are not JSON, or are not an object.
//! - `error`: a field rule is broken (missing field, wrong type, unknown event type, a metric
//!   out of range, a bad timestamp, a bad `event_id`), or the event could not be stored as a
//!   metrics-table item (too large, nested too deep, an empty field name, a number DynamoDB
//!   cannot hold). The storage rules make "valid" imply "storable": an event the table would
//!   refuse must not reach a `BatchWriteItem`, where it would fail the other 24 items with it.
//! - `warning`: valid but suspicious: the timestamp is more than 5 minutes in the future or
//!   more than 24 hours (the stream's retention) in the past.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use serde_json::{Map, Value};

use crate::event::Event;
use crate::event_type::EventType;
use crate::table;
use crate::verdict::{Severity, Verdict};

/// The largest event, in bytes: a Kinesis record's data.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// The longest `event_id`, in characters.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// How far in the future a timestamp may be before it is a warning.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);
/// How far in the past a timestamp may be before it is a warning: the stream's retention.
pub const MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// The upper bound of `metrics.errorRate`, a percentage.
pub const MAX_ERROR_RATE: f64 = 100.0;

/// DynamoDB's item size limit, in bytes.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Bytes of an item kept for the attributes the functions add ([`table::RESERVED_ATTRIBUTES`]):
/// the key (an `event_id` of 128 four-byte characters at most), the arrival time, the path.
pub const ITEM_METADATA_BYTES: usize = 1024;
/// The deepest nesting DynamoDB stores, counting the event object as level 1.
pub const MAX_DEPTH: usize = 32;
/// The smallest non-zero magnitude DynamoDB stores.
pub const MIN_NUMBER_MAGNITUDE: f64 = 1e-130;
/// Numbers must be smaller than this in magnitude: DynamoDB's largest is 9.99…9e125, and any
/// double that prints as `1e126` or more would be refused.
pub const MAX_NUMBER_MAGNITUDE: f64 = 1e126;

/// The result of validating raw bytes: the verdict, and the event when the bytes decoded as a
/// JSON object (valid or not), so callers parse once.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Every problem found.
    pub verdict: Verdict,
    /// The decoded object; `None` when the verdict is critical.
    pub event: Option<Event>,
}

/// Validates one event against the contract, with the timestamp window around the current time.
pub fn validate(bytes: &[u8]) -> Checked {
    validate_at(bytes, Utc::now())
}

/// Validates one event against the contract, with the timestamp window around `now`.
pub fn validate_at(bytes: &[u8], now: DateTime<Utc>) -> Checked {
    if bytes.len() > MAX_EVENT_BYTES {
        return Checked {
            verdict: oversized(bytes.len()),
            event: None,
        };
    }
    let fields = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => return critical(format!("expected a JSON object, found {}", kind(&other))),
        Err(e) => return critical(format!("not JSON: {e}")),
    };
    let mut verdict = Verdict::default();
    check_fields(&fields, now, &mut verdict);
    check_storable(&fields, &mut verdict);
    Checked {
        verdict,
        event: Some(Event::from_map(fields)),
    }
}

/// The verdict on an event of `len` bytes, more than [`MAX_EVENT_BYTES`]: for callers that
/// stop reading an oversized event instead of holding it.
pub fn oversized(len: usize) -> Verdict {
    let message =
        format!("event is {len} bytes, more than a Kinesis record holds ({MAX_EVENT_BYTES})");
    Verdict::single(Severity::Critical, "", message)
}

fn critical(message: String) -> Checked {
    Checked {
        verdict: Verdict::single(Severity::Critical, "", message),
        event: None,
    }
}

fn check_fields(fields: &Map<String, Value>, now: DateTime<Utc>, verdict: &mut Verdict) {
    let event_type = check_event_type(fields.get("event_type"), verdict);
    check_timestamp(fields.get("timestamp"), now, verdict);

    match fields.get("payload") {
        None => verdict.push(Severity::Error, "/payload", "required"),
        Some(Value::Object(payload)) => {
            if let Some(t) = event_type.filter(|t| t.requires_session_id()) {
                let path = "/payload/session_id";
                match payload.get("session_id") {
                    None => verdict.push(Severity::Error, path, format!("required for {t} events")),
                    Some(Value::String(s)) if s.is_empty() => {
                        verdict.push(Severity::Error, path, "must not be empty");
                    }
                    Some(Value::String(_)) => {}
                    Some(other) => verdict.push(Severity::Error, path, must_be("a string", other)),
                }
            }
        }
        Some(other) => verdict.push(Severity::Error, "/payload", must_be("an object", other)),
    }

    match fields.get("metrics") {
        None => {
            if let Some(t) = event_type.filter(|t| t.requires_metrics()) {
                verdict.push(
                    Severity::Error,
                    "/metrics",
                    format!("required for {t} events"),
                );
            }
        }
        Some(Value::Object(metrics)) => {
            check_metric(metrics, "iops", None, verdict);
            check_metric(metrics, "latency", None, verdict);
            check_metric(metrics, "errorRate", Some(MAX_ERROR_RATE), verdict);
        }
        Some(other) => verdict.push(Severity::Error, "/metrics", must_be("an object", other)),
    }

    match fields.get("event_id") {
        None => {}
        Some(Value::String(id)) => {
            let chars = id.chars().count();
            if chars == 0 {
                verdict.push(Severity::Error, "/event_id", "must not be empty");
            } else if chars > MAX_EVENT_ID_CHARS {
                let message = format!("is {chars} characters, more than {MAX_EVENT_ID_CHARS}");
                verdict.push(Severity::Error, "/event_id", message);
            }
        }
        Some(other) => verdict.push(Severity::Error, "/event_id", must_be("a string", other)),
    }
}

fn check_event_type(value: Option<&Value>, verdict: &mut Verdict) -> Option<EventType> {
    let path = "/event_type";
    match value {
        None => verdict.push(Severity::Error, path, "required"),
        Some(Value::String(s)) => match s.parse() {
            Ok(t) => return Some(t),
            Err(_) => {
                let expected: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                let message = format!(
                    "unknown event type {} (expected one of {})",
                    quote(s),
                    expected.join(", ")
                );
                verdict.push(Severity::Error, path, message);
            }
        },
        Some(other) => verdict.push(Severity::Error, path, must_be("a string", other)),
    }
    None
}

fn check_timestamp(value: Option<&Value>, now: DateTime<Utc>, verdict: &mut Verdict) {
    let path = "/timestamp";
    let text = match value {
        None => return verdict.push(Severity::Error, path, "required"),
        Some(Value::String(text)) => text,
        Some(other) => return verdict.push(Severity::Error, path, must_be("a string", other)),
    };
    let Some(at) = parse_rfc3339(text) else {
        return verdict.push(
            Severity::Error,
            path,
            format!("not an RFC 3339 timestamp: {}", quote(text)),
        );
    };
    if at > now + MAX_CLOCK_SKEW {
        verdict.push(Severity::Warning, path, "more than 5 minutes in the future");
    } else if at < now - MAX_AGE {
        verdict.push(
            Severity::Warning,
            path,
            "more than 24 hours in the past (the stream's retention)",
        );
    }
}

/// Parses an RFC 3339 `date-time` as JSON Schema's `date-time` format reads it: `T` (or `t`)
/// between date and time, where chrono alone would also take a space; second 60 only at the
/// end of a UTC day (a leap second), where chrono takes it at any minute.
fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    let leap_second = at.nanosecond() >= 1_000_000_000;
    (!leap_second || (at.hour() == 23 && at.minute() == 59)).then_some(at)
}

fn check_metric(metrics: &Map<String, Value>, name: &str, max: Option<f64>, verdict: &mut Verdict) {
    let Some(value) = metrics.get(name) else {
        return;
    };
    let path = format!("/metrics/{name}");
    let Some(n) = value.as_f64() else {
        return verdict.push(Severity::Error, path, must_be("a number", value));
    };
    match max {
        Some(max) if !(0.0..=max).contains(&n) => {
            verdict.push(
                Severity::Error,
                path,
                format!("must be between 0 and {max}, found {value}"),
            );
        }
        None if n < 0.0 => verdict.push(
            Severity::Error,
            path,
            format!("must be at least 0, found {value}"),
        ),
        _ => {}
    }
}

/// The storage rules: the event as a metrics-table item must fit DynamoDB's limits.
fn check_storable(fields: &Map<String, Value>, verdict: &mut Verdict) {
    let mut walk = Walk {
        path: Vec::with_capacity(8),
        verdict,
    };
    let mut size = ITEM_METADATA_BYTES;
    for (name, value) in fields {
        walk.path.push(Segment::Key(name));
        walk.check_name(name);
        let value_size = walk.value(value, 2);
        walk.path.pop();
        // The functions replace the reserved attributes: checked like any field, not counted.
        if !table::RESERVED_ATTRIBUTES.contains(&name.as_str()) {
            size += name.len() + value_size;
        }
    }
    if size > MAX_ITEM_BYTES {
        let message = format!(
            "stored item would be about {size} bytes, more than DynamoDB's item limit ({MAX_ITEM_BYTES})"
        );
        verdict.push(Severity::Error, "", message);
    }
}

/// One step of a JSON pointer.
#[derive(Debug, Clone, Copy)]
enum Segment<'v> {
    Key(&'v str),
    Index(usize),
}

/// A walk over an event's values that tracks where it is, as pointer segments it renders only
/// for a problem: valid events, the common case, never pay for a pointer.
struct Walk<'v, 'r> {
    path: Vec<Segment<'v>>,
    verdict: &'r mut Verdict,
}

impl<'v> Walk<'v, '_> {
    /// The current position as a JSON pointer (RFC 6901: `~` as `~0`, `/` as `~1`).
    fn pointer(&self) -> String {
        let mut pointer = String::new();
        for segment in &self.path {
            pointer.push('/');
            match segment {
                Segment::Key(key) => {
                    for c in key.chars() {
                        match c {
                            '~' => pointer.push_str("~0"),
                            '/' => pointer.push_str("~1"),
                            c => pointer.push(c),
                        }
                    }
                }
                Segment::Index(i) => pointer.push_str(&i.to_string()),
            }
        }
        pointer
    }

    fn problem(&mut self, message: String) {
        let pointer = self.pointer();
        self.verdict.push(Severity::Error, pointer, message);
    }

    fn check_name(&mut self, name: &str) {
        if name.is_empty() {
            self.problem("field name must not be empty".to_owned());
        }
    }

    /// Checks `value` (at nesting `depth`) and returns an upper bound of its size in
    /// DynamoDB, by the rules of the developer guide's item size section.
    fn value(&mut self, value: &'v Value, depth: usize) -> usize {
        match value {
            Value::Null | Value::Bool(_) => 1,
            Value::String(s) => s.len(),
            Value::Number(n) => {
                let magnitude = n.as_f64().map_or(0.0, f64::abs);
                if magnitude != 0.0
                    && !(MIN_NUMBER_MAGNITUDE..MAX_NUMBER_MAGNITUDE).contains(&magnitude)
                {
                    self.problem(format!(
                        "number {n} is out of the range the metrics table stores (1e-130 to 1e126)"
                    ));
                }
                // Up to 38 significant digits in 21 bytes; a bound is all the limit check needs.
                21
            }
            Value::Array(items) => {
                self.check_depth(depth);
                let mut size = 3;
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Segment::Index(i));
                    size += 1 + self.value(item, depth + 1);
                    self.path.pop();
                }
                size
            }
            Value::Object(fields) => {
                self.check_depth(depth);
                let mut size = 3;
                for (name, item) in fields {
                    self.path.push(Segment::Key(name));
                    self.check_name(name);
                    size += 1 + name.len() + self.value(item, depth + 1);
                    self.path.pop();
                }
                size
            }
        }
    }

    fn check_depth(&mut self, depth: usize) {
        if depth == MAX_DEPTH + 1 {
            self.problem(format!(
                "nested more than {MAX_DEPTH} levels deep, more than DynamoDB stores"
            ));
        }
    }
}

fn must_be(expected: &str, found: &Value) -> String {
    format!("must be {expected}, found {}", kind(found))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A string as a JSON literal, cut to a readable length: messages show bad values, not payloads.
fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 64;
    match s.char_indices().nth(MAX_CHARS) {
        None => Value::from(s).to_string(),
        Some((end, _)) => format!("{}…", Value::from(&s[..end])),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-11-06T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn check(value: Value) -> Verdict {
        validate_at(value.to_string().as_bytes(), now()).verdict
    }

    fn paths(verdict: &Verdict) -> Vec<&str> {
        verdict.problems().iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn a_minimal_heartbeat_is_clean_and_keeps_its_fields() {
        let checked = validate_at(
            br#"{"event_type":"heartbeat","timestamp":"2024-11-06T12:00:00Z","payload":{},"x":1}"#,
            now(),
        );
        assert_eq!(checked.verdict, Verdict::default());
        let event = checked.event.map(Event::into_fields).unwrap_or_default();
        assert_eq!(event.get("x"), Some(&json!(1)));
    }

    #[test]
    fn every_problem_is_listed_not_just_the_first() {
        let verdict =
            check(json!({"event_type": "nope", "timestamp": 3, "payload": [], "event_id": ""}));
        assert_eq!(
            paths(&verdict),
            ["/event_type", "/timestamp", "/payload", "/event_id"]
        );
        assert_eq!(verdict.severity(), Some(Severity::Error));
    }

    #[test]
    fn messages_quote_bad_values_but_cut_long_ones() {
        let verdict = check(
            json!({"event_type": "x".repeat(1000), "timestamp": "2024-11-06T12:00:00Z", "payload": {}}),
        );
        let message = &verdict.problems()[0].message;
        assert!(
            message.starts_with("unknown event type \"xxxx"),
            "{message}"
        );
        assert!(message.len() < 250, "{}", message.len());
    }

    #[test]
    fn a_critical_verdict_has_no_event() {
        let checked = validate_at(b"[1,2]", now());
        assert!(checked.event.is_none());
        assert_eq!(
            checked.verdict.problems()[0].message,
            "expected a JSON object, found array"
        );
    }

    #[test]
    fn size_is_checked_before_parsing() {
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        let checked = validate_at(&big, now());
        assert_eq!(checked.verdict.severity(), Some(Severity::Critical));
        assert!(
            checked.verdict.problems()[0]
                .message
                .contains("more than a Kinesis record holds")
        );
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        let verdict = check(json!({
            "event_type": "heartbeat", "timestamp": "2024-11-06T12:00:00Z",
            "payload": {"a/b~c": {"": 1}}
        }));
        assert_eq!(paths(&verdict), ["/payload/a~1b~0c/"]);
    }

    #[test]
    fn reserved_attributes_do_not_count_towards_the_item_size() {
        let filler = "x".repeat(MAX_ITEM_BYTES - 2000);
        let base =
            json!({"event_type": "heartbeat", "timestamp": "2024-11-06T12:00:00Z", "payload": {}});
        let mut reserved = base.clone();
        reserved["pk"] = json!(filler);
        reserved["received_at"] = json!(filler);
        assert!(check(reserved).is_valid());
        let mut extra = base;
        extra["note"] = json!(filler);
        extra["note2"] = json!(filler);
        assert!(check(extra).is_malformed());
    }
}
