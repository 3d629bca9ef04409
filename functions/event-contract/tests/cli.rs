//! `validate-events` as a user runs it: the built binary, its output and its exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use chrono::{SecondsFormat, Utc};

fn validate_events(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = match Command::new(env!("CARGO_BIN_EXE_validate-events"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("cannot start validate-events: {e}"),
    };
    if let Some(mut input) = child.stdin.take() {
        // The binary may exit before reading everything (a usage error); that is not a failure here.
        let _ = input.write_all(stdin);
    }
    match child.wait_with_output() {
        Ok(output) => output,
        Err(e) => panic!("validate-events did not finish: {e}"),
    }
}

fn stdout(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    if let Err(e) = std::fs::write(&path, contents) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

/// Five lines: clean, warning, error, critical, blank; and what validate-events prints.
fn mixed() -> (String, Vec<String>) {
    let now = now();
    let input = format!(
        "{{\"event_type\":\"heartbeat\",\"timestamp\":\"{now}\",\"payload\":{{}}}}\n\
         {{\"event_type\":\"heartbeat\",\"timestamp\":\"2024-11-06T12:00:00Z\",\"payload\":{{}}}}\r\n\
         {{\"event_type\":\"metrics_reported\",\"timestamp\":\"{now}\",\"payload\":{{}},\"metrics\":{{\"iops\":-1}}}}\n\
         not json\n\
         \n"
    );
    let expected = [
        r#"{"line":1,"valid":true,"severity":null,"errors":[]}"#,
        r#"{"line":2,"valid":true,"severity":"warning","errors":[{"path":"/timestamp","message":"more than 24 hours in the past (the stream's retention)"}]}"#,
        r#"{"line":3,"valid":false,"severity":"error","errors":[{"path":"/metrics/iops","message":"must be at least 0, found -1"}]}"#,
        r#"{"line":4,"valid":false,"severity":"critical","errors":[{"path":"","message":"not JSON: expected ident at line 1 column 2"}]}"#,
        r#"{"line":5,"valid":false,"severity":"critical","errors":[{"path":"","message":"not JSON: EOF while parsing a value at line 1 column 0"}]}"#,
    ];
    (input, expected.map(str::to_owned).to_vec())
}

#[test]
fn prints_one_verdict_per_line_in_order_and_exits_1_when_any_is_invalid() {
    let (input, expected) = mixed();
    let output = validate_events(&[], input.as_bytes());
    assert_eq!(stdout(&output), expected);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn exits_0_when_every_event_is_valid_warnings_included() {
    let (input, _) = mixed();
    let valid: String = input.lines().take(2).map(|l| format!("{l}\n")).collect();
    let output = validate_events(&[], valid.as_bytes());
    assert_eq!(stdout(&output).len(), 2);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn reads_a_file_or_stdin_given_as_a_dash() {
    let (input, expected) = mixed();
    let path = temp_file("mixed.ndjson", input.as_bytes());
    let from_file = validate_events(&[path.to_string_lossy().as_ref()], b"");
    assert_eq!(stdout(&from_file), expected);
    assert_eq!(from_file.status.code(), Some(1));
    let from_dash = validate_events(&["-"], input.as_bytes());
    assert_eq!(stdout(&from_dash), expected);
}

#[test]
fn empty_input_is_all_valid() {
    let output = validate_events(&[], b"");
    assert!(output.stdout.is_empty());
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn an_oversized_line_is_critical_and_the_next_line_still_counts() {
    let mut input = vec![b'x'; 1024 * 1024 + 10];
    input.extend_from_slice(
        format!(
            "\n{{\"event_type\":\"heartbeat\",\"timestamp\":\"{}\",\"payload\":{{}}}}\n",
            now()
        )
        .as_bytes(),
    );
    let output = validate_events(&[], &input);
    let lines = stdout(&output);
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].contains("\"severity\":\"critical\"") && lines[0].contains("1048586 bytes"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        r#"{"line":2,"valid":true,"severity":null,"errors":[]}"#
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_missing_file_is_an_io_error_exit_2() {
    let output = validate_events(&["/nonexistent/events.ndjson"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open /nonexistent/events.ndjson"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["a.ndjson", "b.ndjson"][..], &["--strict"]] {
        let output = validate_events(args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("usage: validate-events [FILE]"),
            "{args:?}"
        );
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    let output = validate_events(&["--help"], b"");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("usage: validate-events [FILE]"));
}
