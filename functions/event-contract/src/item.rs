//! The metrics-table item: one function builds it, for the stream processor and for ingest's
//! direct path alike, so both store the same shape.
//!
//! An item is every field of the event as sent (objects as maps, arrays as lists, numbers as
//! numbers), plus [`table::PARTITION_KEY`] (the idempotency key), [`table::RECEIVED_AT`] and
//! [`table::INGEST_PATH`], which replace event fields of the same name.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::event::Event;
use crate::table;

/// A metrics-table item.
pub type Item = HashMap<String, AttributeValue>;

/// Which function stored an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestPath {
    /// The stream processor, from a Kinesis record.
    Kinesis,
    /// Ingest, straight to the table (`USE_KINESIS=false`).
    Direct,
}

impl IngestPath {
    /// The value of [`table::INGEST_PATH`].
    pub const fn as_str(self) -> &'static str {
        match self {
            IngestPath::Kinesis => table::INGEST_PATH_KINESIS,
            IngestPath::Direct => table::INGEST_PATH_DIRECT,
        }
    }
}

/// What the function adds to an event to make it an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMeta<'a> {
    /// The partition key: from [`kinesis_key`] or [`direct_key`].
    pub key: &'a str,
    /// When the pipeline received the event; stored to the second.
    pub received_at: DateTime<Utc>,
    /// Which function stores it.
    pub path: IngestPath,
}

/// The key of an event read from Kinesis: its `event_id`, else `<shardId>#<sequenceNumber>`,
/// so a replayed record overwrites itself.
pub fn kinesis_key(event: &Event, shard_id: &str, sequence_number: &str) -> String {
    match event.event_id() {
        Some(id) => id.to_owned(),
        None => format!("{shard_id}#{sequence_number}"),
    }
}

/// The key of an event ingest stores directly: its `event_id`, else
/// `<API Gateway request id>#<position in the request>`, so the same request stored twice
/// overwrites itself.
pub fn direct_key(event: &Event, request_id: &str, index: usize) -> String {
    match event.event_id() {
        Some(id) => id.to_owned(),
        None => format!("{request_id}#{index}"),
    }
}

/// Builds the item for a valid event.
pub fn build_item(event: Event, meta: &ItemMeta<'_>) -> Item {
    let fields = event.into_fields();
    let mut item = Item::with_capacity(fields.len() + table::RESERVED_ATTRIBUTES.len());
    for (name, value) in fields {
        item.insert(name, attribute(value));
    }
    item.insert(
        table::PARTITION_KEY.to_owned(),
        AttributeValue::S(meta.key.to_owned()),
    );
    // Whole seconds: aws_lambda_events 1.2 misreads the fraction of a Kinesis arrival time
    // (`.98` becomes 98 ms), while its whole seconds are right.
    let received_at = meta.received_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    item.insert(
        table::RECEIVED_AT.to_owned(),
        AttributeValue::S(received_at),
    );
    item.insert(
        table::INGEST_PATH.to_owned(),
        AttributeValue::S(meta.path.as_str().to_owned()),
    );
    item
}

/// The partition key of an item, when it has one.
pub fn item_key(item: &Item) -> Option<&str> {
    item.get(table::PARTITION_KEY)?
        .as_s()
        .ok()
        .map(String::as_str)
}

/// A JSON value as a DynamoDB attribute.
pub fn attribute(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(items) => AttributeValue::L(items.into_iter().map(attribute).collect()),
        Value::Object(fields) => {
            AttributeValue::M(fields.into_iter().map(|(k, v)| (k, attribute(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(value: Value) -> Event {
        Event::from_map(value.as_object().cloned().unwrap_or_default())
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_730_894_400_123).unwrap_or_default()
    }

    #[test]
    fn keys_prefer_the_event_id() {
        let with_id = event(json!({"event_id": "e-1"}));
        let without = event(json!({"event_id": ""}));
        assert_eq!(kinesis_key(&with_id, "shardId-000000000001", "4954"), "e-1");
        assert_eq!(
            kinesis_key(&without, "shardId-000000000001", "4954"),
            "shardId-000000000001#4954"
        );
        assert_eq!(direct_key(&with_id, "req-9", 3), "e-1");
        assert_eq!(direct_key(&without, "req-9", 3), "req-9#3");
    }

    #[test]
    fn an_item_holds_every_field_as_sent_plus_the_metadata() {
        let e = event(json!({
            "event_type": "session_started",
            "timestamp": "2024-11-06T12:00:00Z",
            "payload": {"session_id": "s-1", "tags": ["a", 2, null, true], "n": 1.5},
            "metrics": {"iops": 50000, "latency": 5.2, "errorRate": 0.1},
            "pk": "client value", "extra": -7
        }));
        let item = build_item(
            e,
            &ItemMeta {
                key: "s#1",
                received_at: at(),
                path: IngestPath::Kinesis,
            },
        );
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: &str| AttributeValue::N(v.to_owned());
        assert_eq!(item.get("pk"), Some(&s("s#1")));
        assert_eq!(item.get("received_at"), Some(&s("2024-11-06T12:00:00Z")));
        assert_eq!(item.get("ingest_path"), Some(&s("kinesis")));
        assert_eq!(item.get("event_type"), Some(&s("session_started")));
        assert_eq!(item.get("timestamp"), Some(&s("2024-11-06T12:00:00Z")));
        assert_eq!(item.get("extra"), Some(&n("-7")));
        let payload = AttributeValue::M(HashMap::from([
            ("session_id".to_owned(), s("s-1")),
            (
                "tags".to_owned(),
                AttributeValue::L(vec![
                    s("a"),
                    n("2"),
                    AttributeValue::Null(true),
                    AttributeValue::Bool(true),
                ]),
            ),
            ("n".to_owned(), n("1.5")),
        ]));
        assert_eq!(item.get("payload"), Some(&payload));
        let metrics = AttributeValue::M(HashMap::from([
            ("iops".to_owned(), n("50000")),
            ("latency".to_owned(), n("5.2")),
            ("errorRate".to_owned(), n("0.1")),
        ]));
        assert_eq!(item.get("metrics"), Some(&metrics));
        assert_eq!(item.len(), 8);
        assert_eq!(item_key(&item), Some("s#1"));
    }

    #[test]
    fn the_direct_path_is_marked() {
        let item = build_item(
            event(json!({})),
            &ItemMeta {
                key: "k",
                received_at: at(),
                path: IngestPath::Direct,
            },
        );
        assert_eq!(
            item.get("ingest_path"),
            Some(&AttributeValue::S("direct".to_owned()))
        );
    }
}
