//! The stage's access log lines, written to the log group of its `AccessLogSetting` in the
//! emulator's CloudWatch Logs, as API Gateway does: batched (up to a second or 1,000 lines), in
//! one log stream per run.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Lines waiting are written at least this often.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// The most lines one `PutLogEvents` carries here (the API takes 10,000).
const MAX_BATCH: usize = 1_000;

/// Starts the writer: the sender goes to the gateway, the task ends when every sender is dropped
/// (the gateway stopped), after writing what it holds.
pub(super) fn start(
    logs: aws_sdk_cloudwatchlogs::Client,
    group: String,
    stream: String,
) -> (mpsc::UnboundedSender<String>, JoinHandle<()>) {
    let (sender, mut lines) = mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        if let Err(error) = logs
            .create_log_stream()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .send()
            .await
        {
            warn!(group, stream, error = %crate::error_chain(&error), "access log stream not created: lines go to this process's log only");
        } else {
            info!(group, stream, "access log writing");
        }
        let mut batch: Vec<String> = Vec::new();
        let mut ticker = tokio::time::interval(FLUSH_EVERY);
        loop {
            let (flush, open) = tokio::select! {
                line = lines.recv() => match line {
                    Some(line) => {
                        batch.push(line);
                        (batch.len() >= MAX_BATCH, true)
                    }
                    None => (true, false),
                },
                _ = ticker.tick() => (true, true),
            };
            if flush && !batch.is_empty() {
                put(&logs, &group, &stream, std::mem::take(&mut batch)).await;
            }
            if !open {
                break;
            }
        }
    });
    (sender, task)
}

async fn put(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str, lines: Vec<String>) {
    let now = chrono::Utc::now().timestamp_millis();
    let count = lines.len();
    let events: Vec<InputLogEvent> = lines
        .iter()
        .filter_map(|line| {
            InputLogEvent::builder()
                .timestamp(now)
                .message(line)
                .build()
                .ok()
        })
        .collect();
    if let Err(error) = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
    {
        // The lines are not lost to the reader: each is in this process's log as well.
        warn!(group, stream, lines = count, error = %crate::error_chain(&error), "access log lines not written");
        for line in lines {
            info!(line, "access log");
        }
    }
}
