//! The validator's fuzz target, as a property test: no input makes it panic, and every verdict
//! is self-consistent. Three generators: raw bytes, JSON shaped like events (the contract's
//! field names with values of any type), and valid events with bytes cut or flipped.

use chrono::{DateTime, Utc};
use event_contract::{Severity, validate_at};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_730_894_400, 0).unwrap_or_default()
}

/// Checks the invariants every verdict keeps, whatever the input.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let checked = validate_at(bytes, now());
    let verdict = &checked.verdict;
    prop_assert_eq!(
        verdict.severity().is_none(),
        verdict.problems().is_empty() && verdict.omitted() == 0
    );
    let worst = verdict.problems().iter().map(|p| p.severity).max();
    prop_assert!(worst <= verdict.severity());
    prop_assert_eq!(
        checked.event.is_none(),
        verdict.severity() == Some(Severity::Critical)
    );
    prop_assert!(verdict.problems().len() <= event_contract::Verdict::MAX_PROBLEMS);
    let json = serde_json::to_value(verdict).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&json["valid"], &json!(verdict.is_valid()));
    // The same bytes always get the same verdict.
    prop_assert_eq!(&validate_at(bytes, now()).verdict, verdict);
    Ok(())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("event_type".to_owned()),
        Just("timestamp".to_owned()),
        Just("payload".to_owned()),
        Just("metrics".to_owned()),
        Just("event_id".to_owned()),
        Just("session_id".to_owned()),
        Just("iops".to_owned()),
        Just("latency".to_owned()),
        Just("errorRate".to_owned()),
        Just("pk".to_owned()),
        Just(String::new()),
        Just("a/b~c".to_owned()),
        ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("heartbeat"),
            Just("session_started"),
            Just("metrics_reported"),
            Just("2024-11-06T12:00:00Z"),
            Just("2024-11-06T11:59:60+23:59"),
            Just("9999-12-31T23:59:60Z"),
            Just(""),
        ]
        .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(40, 256, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn event_like() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), value()), 0..8)
        .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()))
}

fn valid_event() -> Vec<u8> {
    json!({
        "event_type": "session_started", "timestamp": "2024-11-06T12:00:00Z", "event_id": "e-1",
        "payload": {"session_id": "s", "nested": [1, {"a": null}]},
        "metrics": {"iops": 1, "latency": 2.5, "errorRate": 3}
    })
    .to_string()
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn raw_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn event_shaped_json_never_panics(event in event_like()) {
        check(event.to_string().as_bytes())?;
    }

    #[test]
    fn deep_json_never_panics(depth in 0usize..300, open in prop_oneof![Just("["), Just("{\"a\":")]) {
        let close = if open == "[" { "]" } else { "}" };
        let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        check(text.as_bytes())?;
    }

    #[test]
    fn damaged_valid_events_never_panic(
        cut in 0usize..200,
        flips in prop::collection::vec((0usize..200, any::<u8>()), 0..4),
    ) {
        let mut bytes = valid_event();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut.min(bytes.len()));
        check(&bytes)?;
    }
}
