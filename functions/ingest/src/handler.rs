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
//!
//! One UTF-8 byte-order mark at the start of the body is skipped before the body is split into
//! events (RFC 8259 lets a parser ignore it); the refused body kept in S3 still has it.
//!
//! Each event goes on the stream minified ([`event_contract::minify()`]): one line, so the
//! archive is JSON Lines whatever layout the client sent. The direct path stores items, which
//! have no layout.
//!
//! Every refusal (405, 413, 415, 400) is reported before the answer, within [`REPORT_BUDGET`]:
//! - the body, when not empty, is kept in S3 under [`event_contract::refused::key`];
//! - one alert on the malformed-events topic, the shape the stream processor sends
//!   ([`event_contract::alert`]), unless the environment's [`AlertLimiter`] holds it back into
//!   the next alert's `suppressed` count;
//! - the custom metrics ([`event_contract::emf`], component `ingest`): every event of the
//!   request in `ProcessedEvents`, its malformed ones in `MalformedEvents`; a request refused
//!   before it could be split into events (405, 415, 413, a body that starts like an array but
//!   is not one, an empty array) counts as one event, malformed and critical.
//!
//! The S3 put and the alert run concurrently; a failure of either is logged and never changes
//! the answer. On the direct path, the events ingest stores are counted in the metrics too;
//! events put on the stream are not: the stream processor counts those.

use std::convert::Infallible;
use std::time::Duration;

use chrono::{DateTime, Utc};
use event_contract::alert::{
    AlertPublisher, Location, Malformed, Origin, RefusedRequest, publish, summarize,
};
use event_contract::backoff::{Backoff, deadline_from};
use event_contract::emf::{Counts, MetricsSink, documents};
use event_contract::item::{IngestPath, ItemMeta, build_item, direct_key};
use event_contract::metrics::Component;
use event_contract::sdk::Chain;
use event_contract::store::{EventStore, write_all};
use event_contract::validate::MAX_EVENT_BYTES;
use event_contract::{Checked, Event, Severity, Verdict, minify, refused, validate_at};
use lambda_http::http::header::{ALLOW, CONTENT_TYPE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::kinesis::{KinesisSink, OutRecord, partition_key, put_all};
use crate::limiter::{Admission, AlertLimiter};
use crate::refused::{DEFAULT_CONTENT_TYPE, RefusedObject, RefusedStore, RefusedStoreError};

/// The largest body accepted, in bytes: one `PutRecords` request, and under Lambda's 6 MB
/// invocation payload.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// The most events in one request: one `PutRecords` request.
pub const MAX_EVENTS: usize = 500;
/// The time budget when the invocation carries no deadline: under API Gateway's 29 s.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(25);
/// How long reporting a refusal (the S3 put and the alert, side by side) may hold up the
/// answer; less when the invocation's deadline is nearer.
pub const REPORT_BUDGET: Duration = Duration::from_secs(2);
/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where valid events go.
#[derive(Debug)]
pub enum Sink<K, S> {
    /// The events stream (`USE_KINESIS=true`).
    Kinesis(K),
    /// The metrics table (`USE_KINESIS=false`).
    Direct(S),
}

/// Where refusals are reported: the bucket refused bodies are kept in, the malformed-events
/// topic, the metrics, and the shortest time between two alerts.
#[derive(Debug)]
pub struct Reporters<R, A, M> {
    /// The refused bodies' bucket.
    pub refused: R,
    /// The malformed-events topic.
    pub alerts: A,
    /// Where EMF documents go.
    pub metrics: M,
    /// At most one alert per this long from this execution environment.
    pub alert_interval: Duration,
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
    /// API Gateway's request id: the key of direct-path items without an `event_id`, and of
    /// the refused body in S3.
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

/// Why a request was refused: the `reason` of its alert and of its S3 object's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// 405: another method than POST.
    MethodNotAllowed,
    /// 415: not `application/json`.
    UnsupportedMediaType,
    /// 413: a body over [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// 413: an array of more than [`MAX_EVENTS`] events.
    TooManyEvents,
    /// 400: a body that starts like an array but is not one.
    NotAnArray,
    /// 400: an empty array.
    NoEvents,
    /// 400: some event is malformed.
    InvalidEvents,
}

impl Reason {
    /// A few words, lowercase.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::MethodNotAllowed => "method not allowed",
            Reason::UnsupportedMediaType => "unsupported media type",
            Reason::BodyTooLarge => "body too large",
            Reason::TooManyEvents => "too many events",
            Reason::NotAnArray => "not a JSON array",
            Reason::NoEvents => "no events",
            Reason::InvalidEvents => "invalid events",
        }
    }
}

/// A verdict with its event's position in the request.
#[derive(Debug, Serialize)]
struct Indexed<'a> {
    index: Option<usize>,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// A refused request: the answer, and what its report says.
#[derive(Debug)]
struct Refusal {
    reply: Reply,
    reason: Reason,
    /// The malformed events, or the request as a whole (index `None`).
    malformed: Vec<Malformed>,
    /// The events seen, by severity, for the metrics.
    counts: Counts,
}

impl Refusal {
    /// A request refused before it could be split into events (or with none to split into):
    /// one event, malformed, with this critical problem.
    fn whole(reply: Reply, reason: Reason, verdict: Verdict, incoming: &Incoming<'_>) -> Self {
        let mut counts = Counts::default();
        counts.record(verdict.severity());
        Refusal {
            reply,
            reason,
            malformed: vec![Malformed {
                location: Location::Request {
                    request_id: incoming.request_id.to_owned(),
                    index: None,
                },
                event_type: None,
                verdict,
                sample: Malformed::sample_of(strip_bom(incoming.body)),
            }],
            counts,
        }
    }
}

/// What became of a request.
#[derive(Debug)]
enum Decision {
    /// Accepted (202), or not all stored (503): `stored` are the events the direct path
    /// stored, for the metrics.
    Answered { reply: Reply, stored: Counts },
    /// Refused: reported, then answered.
    Refused(Refusal),
}

/// The ingest function, over its sink and its reporters.
#[derive(Debug)]
pub struct Ingest<K, S, R, A, M> {
    sink: Sink<K, S>,
    refused: R,
    alerts: A,
    metrics: M,
    limiter: AlertLimiter,
    backoff: Backoff,
}

impl<K, S, R, A, M> Ingest<K, S, R, A, M>
where
    K: KinesisSink,
    S: EventStore,
    R: RefusedStore,
    A: AlertPublisher,
    M: MetricsSink,
{
    /// Ingest sending valid events to `sink`, reporting refusals to `reporters`, retrying with
    /// `backoff`.
    pub fn new(sink: Sink<K, S>, reporters: Reporters<R, A, M>, backoff: Backoff) -> Self {
        Ingest {
            sink,
            refused: reporters.refused,
            alerts: reporters.alerts,
            metrics: reporters.metrics,
            limiter: AlertLimiter::new(reporters.alert_interval),
            backoff,
        }
    }

    /// The sink, to inspect (in tests).
    pub fn sink(&self) -> &Sink<K, S> {
        &self.sink
    }

    /// The refused bodies' store, the topic and the metrics sink, to inspect (in tests).
    pub fn reporters(&self) -> (&R, &A, &M) {
        (&self.refused, &self.alerts, &self.metrics)
    }

    /// The alert limiter, to inspect (in tests).
    pub fn limiter(&self) -> &AlertLimiter {
        &self.limiter
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

    /// Answers one request, reporting it first when it is refused; `now` is when it was
    /// received (the time warnings are judged against, and the hour of a refused body's key),
    /// `deadline` bounds the retries.
    pub async fn ingest(
        &self,
        incoming: Incoming<'_>,
        deadline: Instant,
        now: DateTime<Utc>,
    ) -> Reply {
        match self.decide(incoming, deadline, now).await {
            Decision::Answered { reply, stored } => {
                if stored.processed > 0 {
                    self.emit(&stored, now);
                }
                reply
            }
            Decision::Refused(refusal) => {
                self.report(&incoming, &refusal, deadline, now).await;
                refusal.reply
            }
        }
    }

    async fn decide(
        &self,
        incoming: Incoming<'_>,
        deadline: Instant,
        now: DateTime<Utc>,
    ) -> Decision {
        if incoming.method != Method::POST {
            let reply = Reply::error(StatusCode::METHOD_NOT_ALLOWED, "only POST is allowed");
            let problem = format!(
                "method {} is not allowed, only POST",
                quote(incoming.method.as_str())
            );
            return refuse_whole(reply, Reason::MethodNotAllowed, problem, &incoming);
        }
        if !is_json(incoming.content_type) {
            let reply = Reply::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json",
            );
            let problem = match incoming.content_type {
                Some(ct) => format!("content type {} is not application/json", quote(ct)),
                None => "no content type, expected application/json".to_owned(),
            };
            return refuse_whole(reply, Reason::UnsupportedMediaType, problem, &incoming);
        }
        if incoming.body.len() > MAX_BODY_BYTES {
            let body = json!({"error": "body too large", "limit_bytes": MAX_BODY_BYTES, "bytes": incoming.body.len()});
            let problem = format!(
                "body is {} bytes, more than {MAX_BODY_BYTES}",
                incoming.body.len()
            );
            let reply = Reply::new(StatusCode::PAYLOAD_TOO_LARGE, body);
            return refuse_whole(reply, Reason::BodyTooLarge, problem, &incoming);
        }
        let body = strip_bom(incoming.body);
        let events = match split(body) {
            Ok(events) => events,
            Err(verdict) => {
                let verdicts = [Indexed {
                    index: None,
                    verdict: &verdict,
                }];
                let reply = Reply::new(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid events", "verdicts": verdicts}),
                );
                return Decision::Refused(Refusal::whole(
                    reply,
                    Reason::NotAnArray,
                    verdict,
                    &incoming,
                ));
            }
        };
        if events.is_empty() {
            let reply = Reply::new(
                StatusCode::BAD_REQUEST,
                json!({"error": "no events", "verdicts": []}),
            );
            let problem = "an empty array holds no events".to_owned();
            return refuse_whole(reply, Reason::NoEvents, problem, &incoming);
        }
        if events.len() > MAX_EVENTS {
            let body =
                json!({"error": "too many events", "limit": MAX_EVENTS, "count": events.len()});
            let reply = Reply {
                events: events.len(),
                ..Reply::new(StatusCode::PAYLOAD_TOO_LARGE, body)
            };
            let problem = format!("{} events, more than {MAX_EVENTS}", events.len());
            return refuse_whole(reply, Reason::TooManyEvents, problem, &incoming);
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
            let reply = Reply {
                events: events.len(),
                ..Reply::new(StatusCode::BAD_REQUEST, body)
            };
            let mut counts = Counts::default();
            let mut malformed = Vec::new();
            for (i, (c, bytes)) in checked.into_iter().zip(&events).enumerate() {
                counts.record(c.verdict.severity());
                if c.verdict.is_malformed() {
                    malformed.push(Malformed {
                        location: Location::Request {
                            request_id: incoming.request_id.to_owned(),
                            index: Some(i),
                        },
                        event_type: c
                            .event
                            .as_ref()
                            .and_then(Event::event_type)
                            .map(str::to_owned),
                        verdict: c.verdict,
                        sample: Malformed::sample_of(bytes),
                    });
                }
            }
            return Decision::Refused(Refusal {
                reply,
                reason: Reason::InvalidEvents,
                malformed,
                counts,
            });
        }

        let severities: Vec<Option<Severity>> =
            checked.iter().map(|c| c.verdict.severity()).collect();
        let (failed, direct) = match &self.sink {
            Sink::Kinesis(sink) => {
                // Every event is valid here, so every event has its record, at its position.
                let records: Vec<OutRecord> = records.into_iter().flatten().collect();
                let report = put_all(sink, &records, &self.backoff, deadline).await;
                (report.failed, false)
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
                let failed = (0..keys.len())
                    .filter(|&i| report.failed.contains(&keys[i]))
                    .collect::<Vec<_>>();
                (failed, true)
            }
        };
        // The stream processor counts what goes on the stream; ingest counts what it stores.
        let mut stored = Counts::default();
        if direct {
            for (i, severity) in severities.iter().enumerate() {
                if !failed.contains(&i) {
                    stored.record(*severity);
                }
            }
        }
        let accepted = events.len() - failed.len();
        let reply = if failed.is_empty() {
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
        };
        Decision::Answered { reply, stored }
    }

    fn emit(&self, counts: &Counts, now: DateTime<Utc>) {
        for document in documents(counts, Component::Ingest, now) {
            self.metrics.emit(&document);
        }
    }

    /// Reports a refusal: the metrics at once, then the S3 put and the alert side by side,
    /// both done or abandoned within [`REPORT_BUDGET`] (and before the backoff's cutoff of
    /// `deadline`). Failures are logged; the answer does not depend on them.
    async fn report(
        &self,
        incoming: &Incoming<'_>,
        refusal: &Refusal,
        deadline: Instant,
        now: DateTime<Utc>,
    ) {
        let request_id = incoming.request_id;
        let status = refusal.reply.status.as_u16();
        let malformed = refusal.counts.malformed();
        self.emit(&refusal.counts, now);
        let key = (!incoming.body.is_empty()).then(|| refused::key(now, request_id));
        let s3_key = key.as_deref().unwrap_or_default();
        let until = self
            .backoff
            .cutoff(deadline)
            .min(Instant::now() + REPORT_BUDGET);

        let keep = async {
            let key = key.as_deref()?;
            let object = RefusedObject {
                key,
                body: incoming.body,
                content_type: incoming.content_type.unwrap_or(DEFAULT_CONTENT_TYPE),
                request_id,
                status,
                reason: refusal.reason.as_str(),
                events: refusal.reply.events,
                malformed,
            };
            let put = tokio::time::timeout_at(until, self.refused.put(&object)).await;
            Some(put.unwrap_or_else(|_| {
                Err(RefusedStoreError::new("no answer within the report budget"))
            }))
        };
        let alert = async {
            let suppressed = match self.limiter.admit(malformed, now) {
                Admission::Send { suppressed } => suppressed,
                Admission::Hold => {
                    warn!(
                        request_id,
                        s3_key,
                        status,
                        malformed,
                        "refusal not alerted: within the alert interval, counted into the next alert"
                    );
                    return None;
                }
            };
            let origin = Origin::Request(RefusedRequest {
                request_id: request_id.to_owned(),
                status,
                reason: refusal.reason.as_str().to_owned(),
                events_in_request: refusal.reply.events,
                s3_key: key.clone(),
                suppressed,
            });
            let alert = summarize(&refusal.malformed, &origin)?;
            let published = publish(&self.alerts, &alert, &self.backoff, until).await;
            Some(published.map_err(|e| (e, suppressed)))
        };
        let (kept, alerted) = tokio::join!(keep, alert);

        if let Some(Err(e)) = &kept {
            error!(request_id, s3_key, error = %Chain(e), "refused body not kept");
        }
        if let Some(Err((e, carried))) = &alerted {
            error!(
                request_id,
                s3_key,
                retries = e.retries,
                error = %Chain(e),
                "refusal alert not published, counted into the next alert"
            );
            self.limiter.requeue(*carried, malformed, now);
        }
        info!(
            request_id,
            status,
            reason = refusal.reason.as_str(),
            malformed,
            s3_key,
            kept = matches!(kept, Some(Ok(()))),
            alerted = matches!(alerted, Some(Ok(()))),
            "refusal reported"
        );
    }
}

/// A request refused as a whole with this problem.
fn refuse_whole(
    reply: Reply,
    reason: Reason,
    problem: String,
    incoming: &Incoming<'_>,
) -> Decision {
    let verdict = Verdict::single(Severity::Critical, "", problem);
    Decision::Refused(Refusal::whole(reply, reason, verdict, incoming))
}

/// A client-supplied value in a message: quoted, cut to 64 characters.
fn quote(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((end, _)) => format!("{:?}…", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// Whether the media type is `application/json`, whatever its parameters and case.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// The body without one leading UTF-8 byte-order mark: RFC 8259 (section 8.1) lets a parser
/// ignore it, and serde_json would refuse it.
fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(BOM).unwrap_or(body)
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

/// The records of the valid events (`None` for the others): each event minified to one line
/// ([`minify`]); if that and its partition key pass a Kinesis record's 1 MiB, the event's
/// verdict becomes critical.
fn to_records(events: &[&[u8]], checked: &mut [Checked]) -> Vec<Option<OutRecord>> {
    events
        .iter()
        .zip(checked.iter_mut())
        .map(|(bytes, c)| {
            let event: &Event = c.event.as_ref().filter(|_| c.verdict.is_valid())?;
            let partition_key = partition_key(event.session_id(), event.user_id());
            let data = minify(bytes);
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
    fn one_leading_byte_order_mark_is_skipped() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBF{}"), b"{}");
        assert_eq!(strip_bom(b"\xEF\xBB\xBF\xEF\xBB\xBF[]"), b"\xEF\xBB\xBF[]");
        assert_eq!(strip_bom(b" \xEF\xBB\xBF{}"), b" \xEF\xBB\xBF{}");
        assert_eq!(strip_bom(b"\xEF\xBB"), b"\xEF\xBB");
        assert_eq!(
            split(strip_bom(b"\xEF\xBB\xBF [1, 2]")).ok(),
            Some(vec![&b"1"[..], b"2"])
        );
    }

    #[test]
    fn client_values_in_messages_are_quoted_and_cut() {
        assert_eq!(quote("text/plain"), "\"text/plain\"");
        let long = quote(&"é".repeat(100));
        assert_eq!(long.chars().filter(|&c| c == 'é').count(), 64);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn every_event_is_put_minified_and_one_that_does_not_fit_with_its_key_is_critical() {
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
        // 1 MiB with no whitespace stays 1 MiB minified: with its key it does not fit. Escapes
        // keep it valid (a small item): `\u0001` is six bytes of JSON, one of the item.
        let mut full = br#"{"event_type":"heartbeat","timestamp":"2024-11-06T12:00:00Z","payload":{"session_id":"s-1"},"pad":""#.to_vec();
        while full.len() + 6 + 2 <= MAX_EVENT_BYTES {
            full.extend_from_slice(br"\u0001");
        }
        full.resize(MAX_EVENT_BYTES - 2, b'x');
        full.extend_from_slice(b"\"}");
        let events = [&small[..], near, &full[..]];
        let mut checked: Vec<_> = events.iter().map(|b| validate_at(b, now)).collect();
        assert!(checked.iter().all(|c| c.verdict.is_valid()));
        let records = to_records(&events, &mut checked);
        assert_eq!(
            records[0].as_ref().map(|r| r.data.len()),
            Some(small.len() - 10),
            "minified"
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
        assert!(checked[..2].iter().all(|c| c.verdict.is_valid()));
        assert_eq!(records[2], None);
        assert_eq!(checked[2].verdict.severity(), Some(Severity::Critical));
    }
}
