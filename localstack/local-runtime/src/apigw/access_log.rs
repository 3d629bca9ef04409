//! The stage's access log: after each request, the stage's `AccessLogSetting.Format` with its
//! `$context.*` variables substituted, sent as one line to an [`AccessLogSink`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{info, warn};

/// Where access log lines go, one call per request: the caller writes them to the stage's
/// CloudWatch Logs group (`AccessLogSetting.DestinationArn`). Called on the request's task, so
/// it must not block: hand the line on.
pub trait AccessLogSink: Send + Sync + 'static {
    /// One rendered line, without a line break.
    fn write(&self, line: String);
}

/// Lines into an unbounded channel; dropped once the receiver is gone.
impl AccessLogSink for mpsc::UnboundedSender<String> {
    fn write(&self, line: String) {
        let _ = self.send(line);
    }
}

/// Lines into a bounded channel; a line that finds it full is dropped with a warning, so a slow
/// writer never holds a request up.
impl AccessLogSink for mpsc::Sender<String> {
    fn write(&self, line: String) {
        if let Err(TrySendError::Full(_)) = self.try_send(line) {
            warn!("access log line dropped: the sink's channel is full");
        }
    }
}

/// The sink of [`super::ApiGateway::start`]: each line as a `tracing` event.
#[derive(Debug, Clone, Copy)]
pub(super) struct TracingSink;

impl AccessLogSink for TracingSink {
    fn write(&self, line: String) {
        info!(%line, "access log");
    }
}

/// What the access log can say of one request; `None` is written `-`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RequestLog {
    pub(super) request_id: String,
    pub(super) extended_request_id: String,
    pub(super) api_id: String,
    pub(super) account_id: String,
    pub(super) stage: String,
    pub(super) domain_name: Option<String>,
    pub(super) http_method: String,
    /// The full path, with the stage: `/prod/metrics`.
    pub(super) path: String,
    pub(super) protocol: String,
    pub(super) resource_path: Option<String>,
    pub(super) resource_id: Option<String>,
    pub(super) request_time: DateTime<Utc>,
    pub(super) source_ip: String,
    pub(super) user_agent: Option<String>,
    pub(super) api_key: Option<String>,
    pub(super) api_key_id: Option<String>,
    /// The access key ID of a signed request.
    pub(super) caller: Option<String>,
    pub(super) caller_account_id: Option<String>,
    pub(super) status: u16,
    pub(super) response_length: Option<u64>,
    pub(super) response_latency: Duration,
    pub(super) integration_latency: Option<Duration>,
    /// What Lambda answered the invocation: 200 whenever the function ran.
    pub(super) integration_status: Option<u16>,
    /// The proxy response's `statusCode`.
    pub(super) function_status: Option<u16>,
    pub(super) error_message: Option<String>,
    pub(super) error_response_type: Option<&'static str>,
}

impl RequestLog {
    /// The value of `$context.<name>`; `None` for what the request has none of or what this
    /// gateway does not know.
    fn value(&self, name: &str) -> Option<String> {
        let millis = |d: Duration| d.as_millis().to_string();
        let owned = |s: &Option<String>| s.clone();
        Some(match name {
            "requestId" => self.request_id.clone(),
            "extendedRequestId" => self.extended_request_id.clone(),
            "apiId" => self.api_id.clone(),
            "accountId" => self.account_id.clone(),
            "stage" => self.stage.clone(),
            "domainName" => return owned(&self.domain_name),
            "domainPrefix" => {
                return self
                    .domain_name
                    .as_deref()
                    .and_then(|d| d.split(['.', ':']).next())
                    .map(str::to_owned);
            }
            "httpMethod" => self.http_method.clone(),
            "path" => self.path.clone(),
            "protocol" => self.protocol.clone(),
            "resourcePath" => return owned(&self.resource_path),
            "resourceId" => return owned(&self.resource_id),
            "requestTime" => self.request_time.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "requestTimeEpoch" => self.request_time.timestamp_millis().to_string(),
            "identity.sourceIp" => self.source_ip.clone(),
            "identity.userAgent" => return owned(&self.user_agent),
            "identity.apiKey" => return owned(&self.api_key),
            "identity.apiKeyId" => return owned(&self.api_key_id),
            "identity.caller" | "identity.user" | "identity.accessKey" => {
                return owned(&self.caller);
            }
            "identity.accountId" => return owned(&self.caller_account_id),
            "status" => self.status.to_string(),
            "responseLength" => return self.response_length.map(|n| n.to_string()),
            "responseLatency" => millis(self.response_latency),
            "integrationLatency" | "integration.latency" => {
                return self.integration_latency.map(millis);
            }
            "integration.status" => return self.integration_status.map(|s| s.to_string()),
            "integrationStatus" | "integration.integrationStatus" => {
                return self.function_status.map(|s| s.to_string());
            }
            "error.message" => return owned(&self.error_message),
            "error.responseType" => return self.error_response_type.map(str::to_owned),
            _ => return None,
        })
    }
}

/// `format` with each `$context.<name>` replaced by its value, `-` for a variable without one
/// (an unknown variable too, as API Gateway writes it). Values are escaped as JSON string
/// content (`"`, `\` and control characters), so a client's header cannot break a JSON line.
pub(super) fn render(format: &str, log: &RequestLog) -> String {
    const PREFIX: &str = "$context.";
    let mut line = String::with_capacity(format.len() * 2);
    let mut rest = format;
    while let Some(at) = rest.find(PREFIX) {
        line.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(after.len());
        // A trailing dot ends a sentence, not the name.
        let name = after[..end].trim_end_matches('.');
        if name.is_empty() {
            line.push_str(PREFIX);
        } else if name == "error.messageString" {
            // The message in quotes, for a JSON format to take it as a string or null... as `-`.
            match &log.error_message {
                Some(message) => {
                    line.push('"');
                    escape(message, &mut line);
                    line.push('"');
                }
                None => line.push('-'),
            }
        } else {
            match log.value(name).filter(|v| !v.is_empty()) {
                Some(value) => escape(&value, &mut line),
                None => line.push('-'),
            }
        }
        rest = &after[name.len()..];
    }
    line.push_str(rest);
    line
}

fn escape(value: &str, out: &mut String) {
    use fmt::Write;
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The JSON format the AWS documentation suggests, with the identity and latencies.
    const FORMAT: &str = include_str!("../../tests/fixtures/access-log-format.json");

    fn log() -> RequestLog {
        RequestLog {
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".to_owned(),
            extended_request_id: "PyoL5HQ1oAMFhKg=".to_owned(),
            api_id: "a1b2c3".to_owned(),
            account_id: "123456789012".to_owned(),
            stage: "prod".to_owned(),
            domain_name: Some("127.0.0.1:4010".to_owned()),
            http_method: "POST".to_owned(),
            path: "/prod/metrics".to_owned(),
            protocol: "HTTP/1.1".to_owned(),
            resource_path: Some("/metrics".to_owned()),
            resource_id: Some("abc123".to_owned()),
            request_time: DateTime::from_timestamp_millis(1_772_860_141_250).unwrap_or_default(),
            source_ip: "127.0.0.1".to_owned(),
            user_agent: Some("curl/7.88.1 \"quoted\"\\".to_owned()),
            api_key: Some("value-of-the-key-0001".to_owned()),
            api_key_id: Some("key1".to_owned()),
            caller: Some("AKIDEXAMPLE".to_owned()),
            caller_account_id: Some("123456789012".to_owned()),
            status: 202,
            response_length: Some(15),
            response_latency: Duration::from_millis(42),
            integration_latency: Some(Duration::from_millis(37)),
            integration_status: Some(200),
            function_status: Some(202),
            error_message: None,
            error_response_type: None,
        }
    }

    #[test]
    fn a_json_format_renders_as_one_json_line() {
        let line = render(FORMAT.trim(), &log());
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).expect("the line is JSON");
        assert_eq!(
            parsed,
            json!({
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "extendedRequestId": "PyoL5HQ1oAMFhKg=",
                "ip": "127.0.0.1",
                "caller": "AKIDEXAMPLE",
                "user": "AKIDEXAMPLE",
                "apiKeyId": "key1",
                "userAgent": "curl/7.88.1 \"quoted\"\\",
                "requestTime": "07/Mar/2026:05:09:01 +0000",
                "requestTimeEpoch": "1772860141250",
                "httpMethod": "POST",
                "resourcePath": "/metrics",
                "path": "/prod/metrics",
                "status": "202",
                "protocol": "HTTP/1.1",
                "responseLength": "15",
                "responseLatency": "42",
                "integrationLatency": "37",
                "integrationStatus": "200",
                "functionStatus": "202",
                "errorMessage": "-",
                "errorResponseType": "-",
                "authorizerError": "-",
                "stage": "prod",
                "apiId": "a1b2c3"
            })
        );
    }

    #[test]
    fn unknown_and_absent_variables_are_dashes_and_other_text_is_kept() {
        let mut log = log();
        log.error_message = Some("Forbidden".to_owned());
        log.api_key = None;
        assert_eq!(
            render(
                "$context.requestId $context.identity.apiKey $context.no.such.thing \
                 $context.error.messageString. $$context. $context.status",
                &log
            ),
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef - - \"Forbidden\". $$context. 202"
        );
    }
}
