//! A decoded event: the JSON object as sent, with typed access to the fields the functions use.

use serde_json::{Map, Value};

/// A JSON object that decoded as an event, valid or not: every field as sent.
///
/// The accessors return a field only when it has the contract's type (a non-empty string), so
/// they are safe to use on events the validator rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Event(Map<String, Value>);

impl Event {
    /// Wraps a decoded object; [`crate::validate()`] says whether it keeps the contract.
    pub fn from_map(fields: Map<String, Value>) -> Self {
        Event(fields)
    }

    /// Every field as sent.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Every field as sent, owned.
    pub fn into_fields(self) -> Map<String, Value> {
        self.0
    }

    /// `event_id`, the idempotency key, when it is a non-empty string.
    pub fn event_id(&self) -> Option<&str> {
        non_empty(self.0.get("event_id"))
    }

    /// `event_type` as sent, when it is a non-empty string (known or not).
    pub fn event_type(&self) -> Option<&str> {
        non_empty(self.0.get("event_type"))
    }

    /// `payload.session_id`, when it is a non-empty string.
    pub fn session_id(&self) -> Option<&str> {
        non_empty(self.payload_field("session_id"))
    }

    /// `payload.user_id`, when it is a non-empty string.
    pub fn user_id(&self) -> Option<&str> {
        non_empty(self.payload_field("user_id"))
    }

    fn payload_field(&self, name: &str) -> Option<&Value> {
        self.0.get("payload")?.as_object()?.get(name)
    }
}

fn non_empty(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(value: Value) -> Event {
        Event::from_map(value.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn accessors_read_non_empty_strings_only() {
        let e = event(json!({
            "event_id": "e-1", "event_type": "heartbeat",
            "payload": {"session_id": "s-1", "user_id": "u-1"}
        }));
        assert_eq!(e.event_id(), Some("e-1"));
        assert_eq!(e.event_type(), Some("heartbeat"));
        assert_eq!(e.session_id(), Some("s-1"));
        assert_eq!(e.user_id(), Some("u-1"));

        let odd = event(
            json!({"event_id": "", "event_type": 3, "payload": {"session_id": 7, "user_id": ""}}),
        );
        assert_eq!(odd.event_id(), None);
        assert_eq!(odd.event_type(), None);
        assert_eq!(odd.session_id(), None);
        assert_eq!(odd.user_id(), None);

        let no_payload = event(json!({"payload": "text"}));
        assert_eq!(no_payload.session_id(), None);
    }
}
