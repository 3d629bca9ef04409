//! Newline-delimited events in, one verdict per line out: the work of `validate-events`.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::validate::{MAX_EVENT_BYTES, oversized, validate_at};
use crate::verdict::Verdict;

/// One output line: `{"line":N,"valid":..,"severity":..,"errors":[..]}`.
#[derive(Debug, Serialize)]
struct Line<'a> {
    line: u64,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// Reads newline-delimited events from `input` (a trailing `\r` is dropped, a blank line is
/// an event that is not JSON) and writes one JSON verdict per input line to `output`, in order.
/// Returns whether every event was valid (warnings allowed).
///
/// A line longer than an event may be is skipped through, never held in memory.
pub fn validate_lines<R: BufRead, W: Write>(
    mut input: R,
    mut output: W,
    now: DateTime<Utc>,
) -> io::Result<bool> {
    let mut all_valid = true;
    let mut buf = Vec::new();
    let mut line = 0;
    while let Some(len) = read_line(&mut input, &mut buf, MAX_EVENT_BYTES)? {
        line += 1;
        let verdict = if len > MAX_EVENT_BYTES {
            oversized(len)
        } else {
            validate_at(&buf, now).verdict
        };
        all_valid &= verdict.is_valid();
        serde_json::to_writer(
            &mut output,
            &Line {
                line,
                verdict: &verdict,
            },
        )?;
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(all_valid)
}

/// Reads one line into `buf` without its `\n` or `\r\n`, keeping at most `limit + 1` bytes,
/// and returns the line's full length; `None` at the end of the input.
fn read_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut len = 0;
    let mut any = false;
    let mut last = None;
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let keep = (limit + 1).saturating_sub(buf.len()).min(part.len());
        buf.extend_from_slice(&part[..keep]);
        len += part.len();
        last = part.last().copied().or(last);
        let consumed = part.len() + usize::from(done);
        input.consume(consumed);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if last == Some(b'\r') {
        len -= 1;
        buf.truncate(len);
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    fn lines(input: &[u8], capacity: usize) -> Vec<(Vec<u8>, usize)> {
        let mut reader = BufReader::with_capacity(capacity, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Ok(Some(len)) = read_line(&mut reader, &mut buf, 8) {
            out.push((buf.clone(), len));
        }
        out
    }

    #[test]
    fn lines_split_on_newline_and_drop_carriage_returns() {
        let got = lines(b"ab\r\n\ncd", 3);
        assert_eq!(
            got,
            [(b"ab".to_vec(), 2), (Vec::new(), 0), (b"cd".to_vec(), 2)]
        );
    }

    #[test]
    fn a_long_line_ending_in_crlf_counts_without_the_carriage_return() {
        let mut input = vec![b'x'; 20];
        input.extend_from_slice(b"\r\n");
        assert_eq!(lines(&input, 7)[0].1, 20);
    }

    #[test]
    fn a_final_newline_does_not_make_an_extra_line() {
        assert_eq!(lines(b"ab\n", 64).len(), 1);
        assert!(lines(b"", 64).is_empty());
    }

    #[test]
    fn long_lines_keep_only_what_the_limit_needs_but_count_everything() {
        let long = [b'x'; 100];
        let mut input = long.to_vec();
        input.extend_from_slice(b"\nok\n");
        let got = lines(&input, 7);
        assert_eq!(got[0].1, 100);
        assert_eq!(got[0].0.len(), 9);
        assert_eq!(got[1], (b"ok".to_vec(), 2));
    }
}
