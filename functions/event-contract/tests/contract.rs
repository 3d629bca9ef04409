//! The fixture corpus (`tests/fixtures/events`, verdicts in `tests/fixtures/corpus.json`) against
//! the validator, the JSON Schema against the validator on the same corpus, and the size
//! boundaries too large to keep as files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use event_contract::validate::{ITEM_METADATA_BYTES, MAX_EVENT_BYTES, MAX_ITEM_BYTES};
use event_contract::{JSON_SCHEMA, Severity, Verdict, validate_at};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Corpus {
    #[serde(deserialize_with = "rfc3339")]
    now: DateTime<Utc>,
    fixtures: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
struct Fixture {
    file: String,
    rule: String,
    severity: Option<Severity>,
    paths: Vec<String>,
    #[serde(default = "yes")]
    schema: bool,
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

fn yes() -> bool {
    true
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn corpus() -> Corpus {
    let text = include_str!("fixtures/corpus.json");
    match serde_json::from_str(text) {
        Ok(corpus) => corpus,
        Err(e) => panic!("tests/fixtures/corpus.json does not parse: {e}"),
    }
}

fn read(fixture: &Fixture) -> Vec<u8> {
    let path = fixtures_dir().join("events").join(&fixture.file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn paths(verdict: &Verdict) -> Vec<&str> {
    verdict.problems().iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn every_fixture_gets_its_expected_verdict() {
    let corpus = corpus();
    let mut failures = Vec::new();
    for fixture in &corpus.fixtures {
        let checked = validate_at(&read(fixture), corpus.now);
        let verdict = &checked.verdict;
        if verdict.severity() != fixture.severity || paths(verdict) != fixture.paths {
            failures.push(format!(
                "{} ({}): expected {:?} at {:?}, got {}",
                fixture.file,
                fixture.rule,
                fixture.severity,
                fixture.paths,
                serde_json::to_string(verdict).unwrap_or_default()
            ));
        }
        assert_eq!(
            checked.event.is_none(),
            fixture.severity == Some(Severity::Critical),
            "{}",
            fixture.file
        );
    }
    assert!(
        failures.is_empty(),
        "{} fixtures disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_lists_every_file_and_files_sit_under_their_severity() {
    let corpus = corpus();
    let listed: BTreeSet<_> = corpus.fixtures.iter().map(|f| f.file.clone()).collect();
    assert_eq!(
        listed.len(),
        corpus.fixtures.len(),
        "a fixture is listed twice"
    );

    let mut on_disk = BTreeSet::new();
    let root = fixtures_dir().join("events");
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(relative) = file.path().strip_prefix(&root) {
                on_disk.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    assert_eq!(
        listed, on_disk,
        "tests/fixtures/corpus.json and tests/fixtures/events/ differ"
    );

    for fixture in &corpus.fixtures {
        let folder = fixture.severity.map_or("valid", Severity::as_str);
        assert!(
            fixture.file.starts_with(&format!("{folder}/")),
            "{} is not under {folder}/",
            fixture.file
        );
    }
}

#[test]
fn the_corpus_covers_every_severity_and_both_sides_of_each_boundary() {
    let corpus = corpus();
    let severities: BTreeSet<_> = corpus.fixtures.iter().map(|f| f.severity).collect();
    assert_eq!(
        severities.len(),
        4,
        "clean, warning, error and critical fixtures: {severities:?}"
    );
    // Each boundary has its accepted and its rejected side in the corpus.
    for (accepted, rejected) in [
        (
            "valid/metrics-at-zero.json",
            "error/iops-slightly-negative.json",
        ),
        (
            "valid/error-rate-at-100.json",
            "error/error-rate-above-100.json",
        ),
        (
            "valid/event-id-128-chars.json",
            "error/event-id-129-chars.json",
        ),
        ("valid/event-id-one-char.json", "error/event-id-empty.json"),
        ("valid/session-ended.json", "error/session-id-empty.json"),
        (
            "valid/timestamp-5-minutes-ahead.json",
            "warning/timestamp-in-the-future.json",
        ),
        (
            "valid/timestamp-24-hours-old.json",
            "warning/timestamp-too-old.json",
        ),
        (
            "valid/number-largest-storable.json",
            "error/number-too-large.json",
        ),
        (
            "valid/number-smallest-storable.json",
            "error/number-too-small.json",
        ),
        ("valid/nested-32-levels.json", "error/nested-33-levels.json"),
    ] {
        for file in [accepted, rejected] {
            assert!(
                corpus.fixtures.iter().any(|f| f.file == file),
                "{file} is missing from the corpus"
            );
        }
    }
}

#[test]
fn the_json_schema_agrees_with_the_validator_on_the_corpus() {
    let schema: Value = match serde_json::from_str(JSON_SCHEMA) {
        Ok(schema) => schema,
        Err(e) => panic!("schema/event.schema.json does not parse: {e}"),
    };
    let validator = match jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
    {
        Ok(validator) => validator,
        Err(e) => panic!("schema/event.schema.json is not a valid JSON Schema: {e}"),
    };
    let corpus = corpus();
    let mut compared = 0;
    let mut failures = Vec::new();
    for fixture in corpus.fixtures.iter().filter(|f| f.schema) {
        // Bytes that are not JSON never reach a schema; the validator calls them critical.
        let Ok(instance) = serde_json::from_slice::<Value>(&read(fixture)) else {
            continue;
        };
        compared += 1;
        let schema_valid = validator.is_valid(&instance);
        let rust_valid = fixture.severity.is_none_or(|s| !s.is_malformed());
        if schema_valid != rust_valid {
            let errors: Vec<_> = validator
                .iter_errors(&instance)
                .map(|e| e.to_string())
                .collect();
            failures.push(format!(
                "{}: schema valid={schema_valid} {errors:?}, validator valid={rust_valid}",
                fixture.file
            ));
        }
    }
    assert!(compared >= 60, "only {compared} fixtures compared");
    assert!(
        failures.is_empty(),
        "the schema and the validator disagree:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_schema_names_the_same_six_event_types() {
    let schema: Value = serde_json::from_str(JSON_SCHEMA).unwrap_or_default();
    let names: Vec<_> = event_contract::EventType::ALL
        .iter()
        .map(|t| json!(t.as_str()))
        .collect();
    assert_eq!(
        schema["properties"]["event_type"]["enum"],
        Value::Array(names)
    );
}

fn now() -> DateTime<Utc> {
    corpus().now
}

/// A clean heartbeat whose stored item is `size` bytes by the validator's estimate: metadata
/// reserve, plus `event_type` (10 + 9), `timestamp` (9 + 20), `payload` (7 + 3 + 1 + 1 + n).
fn heartbeat_with_item_size(size: usize) -> Vec<u8> {
    let fixed = ITEM_METADATA_BYTES + (10 + 9) + (9 + 20) + (7 + 3 + 1 + 1);
    let filler = "x".repeat(size - fixed);
    json!({"event_type": "heartbeat", "timestamp": "2024-11-06T11:59:00Z", "payload": {"s": filler}})
        .to_string()
        .into_bytes()
}

#[test]
fn an_item_of_exactly_400_kb_is_storable_and_one_byte_more_is_not() {
    let at_limit = validate_at(&heartbeat_with_item_size(MAX_ITEM_BYTES), now()).verdict;
    assert_eq!(at_limit.severity(), None, "{at_limit:?}");
    let over = validate_at(&heartbeat_with_item_size(MAX_ITEM_BYTES + 1), now()).verdict;
    assert_eq!(over.severity(), Some(Severity::Error));
    assert_eq!(paths(&over), [""]);
    assert!(
        over.problems()[0].message.contains("item limit"),
        "{over:?}"
    );
}

/// A clean heartbeat padded with trailing whitespace (still one JSON value) to `len` bytes.
fn padded_heartbeat(len: usize) -> Vec<u8> {
    let mut bytes =
        br#"{"event_type":"heartbeat","timestamp":"2024-11-06T11:59:00Z","payload":{}}"#.to_vec();
    bytes.resize(len, b' ');
    bytes
}

#[test]
fn an_event_of_exactly_1_mib_is_accepted_and_one_byte_more_is_critical() {
    let at_limit = validate_at(&padded_heartbeat(MAX_EVENT_BYTES), now());
    assert_eq!(at_limit.verdict.severity(), None);
    let over = validate_at(&padded_heartbeat(MAX_EVENT_BYTES + 1), now());
    assert_eq!(over.verdict.severity(), Some(Severity::Critical));
    assert!(
        over.verdict.problems()[0].message.contains("1048577 bytes"),
        "{:?}",
        over.verdict
    );
}
