//! One event, one line: the insignificant whitespace of a JSON text removed, nothing else
//! touched.
//!
//! Ingest puts every event on the stream through [`minify`], so Firehose's archive is JSON Lines
//! (one event per line) whatever layout the client sent: a pretty-printed event would otherwise
//! be twelve lines of the archive.
//!
//! Why not `serde_json::to_vec(&value)`: re-serialising changes what the client sent. A
//! `serde_json::Value` holds objects in sorted order (without the `preserve_order` feature),
//! reprints numbers (`5.20` becomes `5.2`, `1e3` becomes `1000.0`, a 20-digit integer becomes a
//! float), and rewrites escapes (`\u00e9` becomes `é`). The bytes on the stream are the bytes
//! the processor validates, stores and archives; they should be the client's, less the layout.

/// The JSON text `json` without insignificant whitespace: outside strings, every space, tab,
/// carriage return and line feed (the four RFC 8259 allows between tokens) is dropped; strings
/// (their whitespace, escapes and escaped quotes), numbers and field order are kept byte for
/// byte.
///
/// Meant for text that has already been validated as JSON: it does not check the syntax. On
/// valid JSON the result parses to the same value and holds no raw line break (JSON strings
/// cannot hold one unescaped).
pub fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut rest = json;
    // Runs of bytes to keep are copied whole: most of an event is kept, and a slice copy is
    // far cheaper than a push per byte.
    loop {
        // Outside a string: keep up to the next whitespace or quote.
        let Some(at) = rest
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'"'))
        else {
            out.extend_from_slice(rest);
            return out;
        };
        out.extend_from_slice(&rest[..at]);
        if rest[at] != b'"' {
            rest = &rest[at + 1..];
            continue;
        }
        // A string: keep everything to its closing quote, stepping over escapes.
        out.push(b'"');
        rest = &rest[at + 1..];
        loop {
            let Some(at) = rest.iter().position(|&b| b == b'"' || b == b'\\') else {
                out.extend_from_slice(rest);
                return out;
            };
            if rest[at] == b'"' {
                out.extend_from_slice(&rest[..=at]);
                rest = &rest[at + 1..];
                break;
            }
            // A backslash and the byte it escapes (which may be a quote).
            let end = (at + 2).min(rest.len());
            out.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn pretty_printed_json_becomes_one_line() {
        let pretty =
            "{\n  \"event_type\": \"heartbeat\",\n  \"payload\": {\n    \"n\": [1, 2]\n  }\n}\n";
        assert_eq!(
            text(&minify(pretty.as_bytes())),
            r#"{"event_type":"heartbeat","payload":{"n":[1,2]}}"#
        );
    }

    #[test]
    fn crlf_and_tabs_are_dropped_between_tokens() {
        let windows = "{\r\n\t\"a\" :\t1 ,\r\n\t\"b\"\t:\r\n[ true ,\tnull ]\r\n}";
        assert_eq!(
            text(&minify(windows.as_bytes())),
            r#"{"a":1,"b":[true,null]}"#
        );
    }

    #[test]
    fn strings_keep_their_whitespace_escapes_and_escaped_quotes() {
        let json =
            r#"{ "say" : "a \"quoted\"  word,\tthen\\" , "tab\t" : "\\\" x " , "u": "\u00e9 \n" }"#;
        assert_eq!(
            text(&minify(json.as_bytes())),
            r#"{"say":"a \"quoted\"  word,\tthen\\","tab\t":"\\\" x ","u":"\u00e9 \n"}"#
        );
    }

    #[test]
    fn numbers_and_field_order_are_kept_as_written() {
        let json = r#"{ "z": 5.20, "a": 1e3, "m": -0.0, "big": 123456789012345678901234567890 }"#;
        assert_eq!(
            text(&minify(json.as_bytes())),
            r#"{"z":5.20,"a":1e3,"m":-0.0,"big":123456789012345678901234567890}"#
        );
    }

    #[test]
    fn a_string_ending_in_an_escaped_backslash_closes() {
        // `"\\"` is one backslash; the quote after it ends the string, so the space is dropped.
        assert_eq!(text(&minify(br#"[ "\\" , " " ]"#)), r#"["\\"," "]"#);
    }

    #[test]
    fn non_ascii_and_other_bytes_pass_through() {
        let json = "{ \"名前\" : \"é ü\" }";
        assert_eq!(text(&minify(json.as_bytes())), "{\"名前\":\"é ü\"}");
        assert_eq!(minify(b""), b"");
        assert_eq!(minify(b" \r\n\t"), b"");
    }

    /// Any JSON value, with strings drawn to hold whitespace, quotes and backslashes.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[ \t\r\n\"\\\\a-zé/\u{1}-\u{1f}]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[ \"\\\\a-z\t]{0,6}", inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Writes `value` as JSON with whitespace from `gaps` (taken in turn, cycling) between every
    /// two tokens; numbers with the text serde_json gives them.
    fn spaced(value: &Value, gaps: &[&str], out: &mut String, at: &mut usize) {
        let gap = |out: &mut String, at: &mut usize| {
            if !gaps.is_empty() {
                out.push_str(gaps[*at % gaps.len()]);
                *at += 1;
            }
        };
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    gap(out, at);
                    if i > 0 {
                        out.push(',');
                        gap(out, at);
                    }
                    spaced(item, gaps, out, at);
                }
                gap(out, at);
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (name, item)) in fields.iter().enumerate() {
                    gap(out, at);
                    if i > 0 {
                        out.push(',');
                        gap(out, at);
                    }
                    out.push_str(&Value::String(name.clone()).to_string());
                    gap(out, at);
                    out.push(':');
                    gap(out, at);
                    spaced(item, gaps, out, at);
                }
                gap(out, at);
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }

    /// The rule, one byte at a time: what [`minify`] does with slice copies.
    fn reference(json: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut in_string, mut escaped) = (false, false);
        for &byte in json {
            if in_string {
                out.push(byte);
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                }
            } else if byte == b'"' {
                in_string = true;
                out.push(byte);
            } else if !matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
                out.push(byte);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On any bytes at all (JSON or not, cut strings, a final backslash), the same result
        /// as the byte-at-a-time rule.
        #[test]
        fn minify_follows_the_byte_at_a_time_rule(
            bytes in prop::collection::vec(prop::sample::select(b" \t\r\n\"\\ax{}:,\xff".to_vec()), 0..64),
        ) {
            prop_assert_eq!(minify(&bytes), reference(&bytes));
        }

        /// Whatever the layout, the minified text is one line and parses to the same value.
        #[test]
        fn minified_json_parses_to_the_same_value_on_one_line(
            value in json_value(),
            gaps in prop::collection::vec("[ \t\r\n]{0,3}", 0..8),
            pretty in any::<bool>(),
        ) {
            let json = if pretty {
                serde_json::to_string_pretty(&value).unwrap_or_default()
            } else {
                let gaps: Vec<&str> = gaps.iter().map(String::as_str).collect();
                let mut out = String::new();
                spaced(&value, &gaps, &mut out, &mut 0);
                out
            };
            let minified = minify(json.as_bytes());
            let before: Value = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
            let after: Value = serde_json::from_slice(&minified).map_err(|e| TestCaseError::fail(format!("{e}: {}", text(&minified))))?;
            prop_assert_eq!(after, before);
            prop_assert!(!minified.contains(&b'\n'));
            prop_assert!(!minified.contains(&b'\r'));
            // Idempotent: a minified text has nothing left to remove.
            prop_assert_eq!(minify(&minified), minified);
        }
    }
}
