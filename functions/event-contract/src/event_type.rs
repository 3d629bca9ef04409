//! The six event types: the one list the validator, the JSON Schema test and the docs use.

use std::fmt;
use std::str::FromStr;

/// The type of an event, its `event_type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A session began; `payload.session_id` is required.
    SessionStarted,
    /// A session ended; `payload.session_id` is required.
    SessionEnded,
    /// A metrics sample; `metrics` is required.
    MetricsReported,
    /// A client reported an error.
    ErrorReported,
    /// A client raised an alert.
    AlertRaised,
    /// A liveness signal.
    Heartbeat,
}

impl EventType {
    /// Every event type, in the order the contract lists them.
    pub const ALL: [EventType; 6] = [
        EventType::SessionStarted,
        EventType::SessionEnded,
        EventType::MetricsReported,
        EventType::ErrorReported,
        EventType::AlertRaised,
        EventType::Heartbeat,
    ];

    /// The wire name, as in `event_type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::SessionStarted => "session_started",
            EventType::SessionEnded => "session_ended",
            EventType::MetricsReported => "metrics_reported",
            EventType::ErrorReported => "error_reported",
            EventType::AlertRaised => "alert_raised",
            EventType::Heartbeat => "heartbeat",
        }
    }

    /// Whether `payload.session_id` is required.
    pub const fn requires_session_id(self) -> bool {
        matches!(self, EventType::SessionStarted | EventType::SessionEnded)
    }

    /// Whether `metrics` is required.
    pub const fn requires_metrics(self) -> bool {
        matches!(self, EventType::MetricsReported)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `event_type` that is none of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type")]
pub struct UnknownEventType;

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownEventType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
    }

    #[test]
    fn names_are_exact() {
        assert!(matches!(
            "Heartbeat".parse::<EventType>(),
            Err(UnknownEventType)
        ));
        assert!(matches!(
            " heartbeat".parse::<EventType>(),
            Err(UnknownEventType)
        ));
        assert!(matches!("".parse::<EventType>(), Err(UnknownEventType)));
    }

    #[test]
    fn only_session_events_require_a_session_and_only_metrics_reported_requires_metrics() {
        let sessions: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|t| t.requires_session_id())
            .collect();
        assert_eq!(
            sessions,
            [EventType::SessionStarted, EventType::SessionEnded]
        );
        let metrics: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|t| t.requires_metrics())
            .collect();
        assert_eq!(metrics, [EventType::MetricsReported]);
    }
}
