//! The handler: `POST /metrics` with one event or an array of up to 500.
//!
//! Answers, in the order checked:
//! - 405 for another method than POST, with `Allow: POST`;
//! - 415 unless the content type is `application/json` (parameters such as `charset` allowed);
//! - 413 for a body over [`MAX_BODY_BYTES`], or an array of more than [`MAX_EVENTS`] events;
//! - 400 when the body is not JSON, is an empty array, or holds any `error` or `critical`
//!   event: `{"error":..,"verdicts":[{"index":N,"valid":..,"severity":..,"errors":[..]},..]}`
//!   with one verdict per event (`index` null when the body as a whole is not JSON), and
//!   nothing is stored: a request is accepted whole or not at all;
//! - 202 `{"accepted":N}` once every event is on the stream (or in the table);
//! - 503 `{"error":..,"accepted":N,"failed":[positions]}` when some events could not be stored
//!   after retries: the client may resend those.
//!
//! Client input never causes a 5xx nor a panic.

use std::convert::Infallible;
use std::time::Duration;

use chrono::{DateTime, Utc};
use event_contract::backoff::{Backoff, deadline_from};
use event_contract::item::{IngestPath, ItemMeta, build_item, direct_key};
use event_contract::store::{EventStore, write_all};
use event_contract::validate::MAX_EVENT_BYTES;
use event_contract::{Checked, Event, Severity, Verdict, validate_at};
use lambda_http::http::header::{ALLOW, CONTENT_TYPE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::info;

use crate::kinesis::{KinesisSink, OutRecord, partition_key, put_all};

/// The largest body accepted, in bytes: one `PutRecords` request, and under Lambda's 6 MB
/// invocation payload.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// The most events in one request: one `PutRecords` request.
pub const MAX_EVENTS: usize = 500;
/// The time budget when the invocation carries no deadline: under API Gateway's 29 s.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(25);

/// Where valid events go.
#[derive(Debug)]
pub enum Sink<K, S> {
    /// The events stream (`USE_KINESIS=true`).
    Kinesis(K),
    /// The metrics table (`USE_KINESIS=false`).
    Direct(S),
}

/// The parts of a request the handler reads.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// The `Content-Type` header, when present and readable.
    pub content_type: Option<&'a str>,
    /// The body, base64-decoded where API Gateway encoded it.
    pub body: &'a [u8],
    /// API Gateway's request id: the key of direct-path items without an `event_id`.
    pub request_id: &'a str,
}

/// The answer, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// Events in the request (0 when it was refused before splitting).
    pub events: usize,
    /// Events stored.
    pub accepted: usize,
}

impl Reply {
    fn new(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body,
            events: 0,
            accepted: 0,
        }
    }

    fn error(status: StatusCode, message: &str) -> Self {
        Reply::new(status, json!({"error": message}))
    }

    /// The API Gateway proxy response: JSON, with `Allow` on a 405.
    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(Body::Text(self.body.to_string()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// A verdict with its event's position in the request.
#[derive(Debug, Serialize)]
struct Indexed<'a> {
    index: Option<usize>,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// The ingest function, over its sink.
#[derive(Debug)]
pub struct Ingest<K, S> {
    sink: Sink<K, S>,
    backoff: Backoff,
}

impl<K: KinesisSink, S: EventStore> Ingest<K, S> {
    /// Ingest sending valid events to `sink`, retrying with `backoff`.
    pub fn new(sink: Sink<K, S>, backoff: Backoff) -> Self {
        Ingest { sink, backoff }
    }

    /// The sink, to inspect (in tests).
    pub fn sink(&self) -> &Sink<K, S> {
        &self.sink
    }

    /// The Lambda handler: reads the request and its contexts, answers, and logs the outcome.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        let lambda = request.lambda_context_ref();
        let api_request_id = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(context)) => context.request_id.as_deref(),
            _ => None,
        };
        let request_id = api_request_id
            .or(lambda.map(|c| c.request_id.as_str()))
            .filter(|id| !id.is_empty())
            .unwrap_or("unknown");
        let deadline = match lambda.filter(|c| c.deadline > 0) {
            Some(context) => deadline_from(context.deadline()),
            None => Instant::now() + DEFAULT_BUDGET,
        };
        let incoming = Incoming {
            method: request.method(),
            content_type: request
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            body: request.body().as_ref(),
            request_id,
        };
        let reply = self.ingest(incoming, deadline, Utc::now()).await;
        info!(
            request_id,
            status = reply.status.as_u16(),
            events = reply.events,
            accepted = reply.accepted,
            bytes = incoming.body.len(),
            latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request handled"
        );
        Ok(reply.into_response())
    }

    /// Answers one request; `now` is the time warnings are judged against, `deadline` bounds
    /// the retries.
    pub async fn ingest(
        &self,
        incoming: Incoming<'_>,
        deadline: Instant,
        now: DateTime<Utc>,
    ) -> Reply {
        if incoming.method != Method::POST {
            return Reply::error(StatusCode::METHOD_NOT_ALLOWED, "only POST is allowed");
        }
        if !is_json(incoming.content_type) {
            return Reply::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json",
            );
        }
        if incoming.body.len() > MAX_BODY_BYTES {
            let body = json!({"error": "body too large", "limit_bytes": MAX_BODY_BYTES, "bytes": incoming.body.len()});
            return Reply::new(StatusCode::PAYLOAD_TOO_LARGE, body);
        }
        let events = match split(incoming.body) {
            Ok(events) => events,
            Err(verdict) => {
                let verdicts = [Indexed {
                    index: None,
                    verdict: &verdict,
                }];
                return Reply::new(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid events", "verdicts": verdicts}),
                );
            }
        };
        if events.is_empty() {
            return Reply::new(
                StatusCode::BAD_REQUEST,
                json!({"error": "no events", "verdicts": []}),
            );
        }
        if events.len() > MAX_EVENTS {
            let body =
                json!({"error": "too many events", "limit": MAX_EVENTS, "count": events.len()});
            return Reply {
                events: events.len(),
                ..Reply::new(StatusCode::PAYLOAD_TOO_LARGE, body)
            };
        }

        let mut checked: Vec<Checked> =
            events.iter().map(|bytes| validate_at(bytes, now)).collect();
        let records = match &self.sink {
            Sink::Kinesis(_) => to_records(&events, &mut checked),
            Sink::Direct(_) => Vec::new(),
        };
        if checked.iter().any(|c| c.verdict.is_malformed()) {
            let verdicts: Vec<_> = checked
                .iter()
                .enumerate()
                .map(|(i, c)| Indexed {
                    index: Some(i),
                    verdict: &c.verdict,
                })
                .collect();
            let body = json!({"error": "invalid events", "verdicts": verdicts});
            return Reply {
                events: events.len(),
                ..Reply::new(StatusCode::BAD_REQUEST, body)
            };
        }

        let failed = match &self.sink {
            Sink::Kinesis(sink) => {
                // Every event is valid here, so every event has its record, at its position.
                let records: Vec<OutRecord> = records.into_iter().flatten().collect();
                put_all(sink, &records, &self.backoff, deadline)
                    .await
                    .failed
            }
            Sink::Direct(store) => {
                let items: Vec<_> = checked
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, c)| Some((i, c.event?)))
                    .map(|(i, event)| {
                        let key = direct_key(&event, incoming.request_id, i);
                        let meta = ItemMeta {
                            key: &key,
                            received_at: now,
                            path: IngestPath::Direct,
                        };
                        let item = build_item(event, &meta);
                        (key, item)
                    })
                    .collect();
                let keys: Vec<String> = items.iter().map(|(key, _)| key.clone()).collect();
                let report = write_all(store, items, &self.backoff, deadline).await;
                // A key names every event that carried it (an event_id sent twice).
                (0..keys.len())
                    .filter(|&i| report.failed.contains(&keys[i]))
                    .collect::<Vec<_>>()
            }
        };
        let accepted = events.len() - failed.len();
        if failed.is_empty() {
            Reply {
                events: events.len(),
                accepted,
                ..Reply::new(StatusCode::ACCEPTED, json!({"accepted": accepted}))
            }
        } else {
            let body = json!({"error": "some events were not stored, send them again", "accepted": accepted, "failed": failed});
            Reply {
                events: events.len(),
                accepted,
                ..Reply::new(StatusCode::SERVICE_UNAVAILABLE, body)
            }
        }
    }
}

/// Whether the media type is `application/json`, whatever its parameters and case.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// The events of a body: the elements of a JSON array, each as sent, or the body as one event.
/// A body that starts like an array but is not one is refused as a whole.
fn split(body: &[u8]) -> Result<Vec<&[u8]>, Verdict> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return Ok(vec![body]);
    }
    match serde_json::from_slice::<Vec<&RawValue>>(body) {
        Ok(elements) => Ok(elements.into_iter().map(|e| e.get().as_bytes()).collect()),
        Err(e) => Err(Verdict::single(
            Severity::Critical,
            "",
            format!("not a JSON array of events: {e}"),
        )),
    }
}

/// The records of the valid events (`None` for the others). The event is sent as the client
/// wrote it; if that and its partition key pass a Kinesis record's 1 MiB, it is sent compacted,
/// and if even that does not fit, the event's verdict becomes critical.
fn to_records(events: &[&[u8]], checked: &mut [Checked]) -> Vec<Option<OutRecord>> {
    events
        .iter()
        .zip(checked.iter_mut())
        .map(|(bytes, c)| {
            let event: &Event = c.event.as_ref().filter(|_| c.verdict.is_valid())?;
            let partition_key = partition_key(event.session_id(), event.user_id());
            let data = if bytes.len() + partition_key.len() <= MAX_EVENT_BYTES {
                bytes.to_vec()
            } else {
                serde_json::to_vec(event.fields()).unwrap_or_default()
            };
            if data.len() + partition_key.len() > MAX_EVENT_BYTES {
                let message = format!(
                    "event and partition key are {} bytes, more than a Kinesis record holds ({MAX_EVENT_BYTES})",
                    data.len() + partition_key.len()
                );
                c.verdict.push(Severity::Critical, "", message);
                return None;
            }
            Some(OutRecord { data, partition_key })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognised_with_parameters_and_any_case() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some(" application/json ;charset=UTF-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/jsonx")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
        assert!(!is_json(None));
    }

    #[test]
    fn a_body_is_one_event_unless_it_is_an_array() {
        assert_eq!(
            split(br#" {"a":1} "#).ok(),
            Some(vec![&br#" {"a":1} "#[..]])
        );
        assert_eq!(split(b"not json").ok(), Some(vec![&b"not json"[..]]));
        assert_eq!(split(b"").ok(), Some(vec![&b""[..]]));
        let elements = split(b" [ {\"a\": 1} , 2,\"x\" ]").ok().unwrap_or_default();
        assert_eq!(elements, [&b"{\"a\": 1}"[..], b"2", b"\"x\""]);
        assert_eq!(split(b"[]").ok(), Some(vec![]));
        let verdict = split(b"[{}").err().unwrap_or_default();
        assert_eq!(verdict.severity(), Some(Severity::Critical));
    }

    #[test]
    fn an_event_near_1_mib_is_compacted_to_fit_with_its_key() {
        let event = |padding: usize| {
            let mut bytes = br#"{"event_type":"heartbeat","timestamp":"2024-11-06T12:00:00Z","payload":{"session_id":"s-1"}}"#.to_vec();
            bytes.resize(bytes.len() + padding, b' ');
            bytes
        };
        let now = DateTime::parse_from_rfc3339("2024-11-06T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let small = event(10);
        let near = event(MAX_EVENT_BYTES);
        let near = &near[..MAX_EVENT_BYTES];
        let events = [&small[..], near];
        let mut checked: Vec<_> = events.iter().map(|b| validate_at(b, now)).collect();
        let records = to_records(&events, &mut checked);
        assert_eq!(
            records[0].as_ref().map(|r| r.data.len()),
            Some(small.len()),
            "sent as written"
        );
        let compacted = records[1]
            .as_ref()
            .map(|r| r.data.clone())
            .unwrap_or_default();
        assert!(compacted.len() < 200, "{}", compacted.len());
        assert_eq!(
            records[1].as_ref().map(|r| r.partition_key.as_str()),
            Some("s-1")
        );
        assert!(checked.iter().all(|c| c.verdict.is_valid()));
    }
}
