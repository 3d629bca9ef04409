//! The output of a function's processes, kept line by line as CloudWatch Logs would.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tracing::warn;

/// The most lines kept in memory per function; the oldest go first. The log file, when there
/// is one, keeps them all.
pub const MAX_LOG_LINES: usize = 10_000;

/// One line a function wrote, or one Lambda wrote about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Where it came from.
    pub stream: LogStream,
    /// The line, without its line ending; invalid UTF-8 replaced.
    pub text: String,
}

/// Where a [`LogLine`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
    /// Lambda itself, e.g. `Task timed out after 3.00 seconds`.
    Platform,
}

/// The lines of one function, shared by its environments.
#[derive(Debug, Clone)]
pub(super) struct Logs {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    lines: VecDeque<LogLine>,
    file: Option<File>,
}

impl Logs {
    /// Logs kept in memory and, when `file` is given, appended to it.
    pub(super) fn new(file: Option<&Path>) -> io::Result<Logs> {
        let file = file
            .map(|path| OpenOptions::new().create(true).append(true).open(path))
            .transpose()?;
        Ok(Logs {
            inner: Arc::new(Mutex::new(Inner {
                lines: VecDeque::new(),
                file,
            })),
        })
    }

    /// Keeps one line.
    pub(super) fn push(&self, stream: LogStream, text: String) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = &mut inner.file
            && let Err(error) = writeln!(file, "{text}")
        {
            warn!(%error, "cannot append to the function log file");
        }
        if inner.lines.len() == MAX_LOG_LINES {
            inner.lines.pop_front();
        }
        inner.lines.push_back(LogLine { stream, text });
    }

    /// The lines kept, oldest first.
    pub(super) fn lines(&self) -> Vec<LogLine> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.lines.iter().cloned().collect()
    }

    /// Reads `output` line by line into the logs until it ends.
    pub(super) fn capture(
        &self,
        output: impl AsyncRead + Unpin + Send + 'static,
        stream: LogStream,
    ) {
        let logs = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(output);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\n', '\r']).to_owned();
                        logs.push(stream, text);
                    }
                    Err(error) => {
                        warn!(%error, ?stream, "cannot read the function output");
                        break;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_is_split_into_lines_and_written_to_the_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("function.log");
        let logs = Logs::new(Some(&path)).expect("the log file opens");
        let (mut writer, reader) = tokio::io::duplex(64);
        logs.capture(reader, LogStream::Stderr);
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"one\r\ntwo\n\xffthree")
            .await
            .expect("the pipe takes the output");
        drop(writer);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while logs.lines().len() < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let texts: Vec<_> = logs.lines().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["one", "two", "\u{fffd}three"]);
        assert!(logs.lines().iter().all(|l| l.stream == LogStream::Stderr));
        let file = std::fs::read_to_string(&path).expect("the log file is readable");
        assert_eq!(file, "one\ntwo\n\u{fffd}three\n");
    }

    #[test]
    fn only_the_newest_lines_are_kept_in_memory() {
        let logs = Logs::new(None).expect("no file to open");
        for i in 0..MAX_LOG_LINES + 2 {
            logs.push(LogStream::Stdout, i.to_string());
        }
        let lines = logs.lines();
        assert_eq!(lines.len(), MAX_LOG_LINES);
        assert_eq!(lines[0].text, "2");
    }
}
