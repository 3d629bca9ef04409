//! The Lambda Runtime API of one execution environment, served on a loopback port: the runtime
//! takes invocations from `/invocation/next` and posts their outcome back.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

use super::MAX_PAYLOAD_BYTES;

/// One invocation handed to the runtime.
#[derive(Debug)]
pub(super) struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub(super) request_id: String,
    /// The event, as JSON.
    pub(super) payload: Bytes,
    /// Told when the runtime has taken the invocation: its timeout starts then.
    pub(super) dispatched: oneshot::Sender<Instant>,
    /// Told what the runtime posted back.
    pub(super) outcome: oneshot::Sender<Outcome>,
}

/// What the runtime posted for an invocation.
#[derive(Debug)]
pub(super) enum Outcome {
    /// `/invocation/{id}/response`.
    Response(Bytes),
    /// `/invocation/{id}/error`, or a response over the size limit.
    Error(ErrorBody),
}

/// The body of `/error` and `/init/error`: `{"errorType": .., "errorMessage": ..}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) error_type: String,
    #[serde(default)]
    pub(super) error_message: String,
}

/// The runtime API of one environment; stops serving when dropped.
#[derive(Debug)]
pub(super) struct RuntimeApi {
    addr: SocketAddr,
    invocations: mpsc::Sender<Invocation>,
    /// Told when the runtime posts `/runtime/init/error`.
    pub(super) init_error: oneshot::Receiver<ErrorBody>,
    _state: Arc<ApiState>,
    server: JoinHandle<()>,
}

#[derive(Debug)]
struct ApiState {
    function_arn: String,
    timeout: Duration,
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    current: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    init_error: Mutex<Option<oneshot::Sender<ErrorBody>>>,
}

impl RuntimeApi {
    /// Serves the API of an environment of function `function_arn` on a free loopback port.
    pub(super) async fn serve(function_arn: String, timeout: Duration) -> io::Result<RuntimeApi> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (invocations, next) = mpsc::channel(1);
        let (init_error_tx, init_error) = oneshot::channel();
        let state = Arc::new(ApiState {
            function_arn,
            timeout,
            next: tokio::sync::Mutex::new(next),
            current: Mutex::new(None),
            init_error: Mutex::new(Some(init_error_tx)),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error_posted))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                warn!(%error, %addr, "the runtime API stopped serving");
            }
        });
        Ok(RuntimeApi {
            addr,
            invocations,
            init_error,
            _state: state,
            server,
        })
    }

    /// Where the runtime finds the API: `AWS_LAMBDA_RUNTIME_API`.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues an invocation for the runtime's next `/invocation/next`. Fails only when the
    /// server is gone.
    pub(super) async fn offer(&self, invocation: Invocation) -> Result<(), Invocation> {
        self.invocations.send(invocation).await.map_err(|e| e.0)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next_invocation(State(state): State<Arc<ApiState>>) -> Response {
    let invocation = state.next.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.ShuttingDown",
            "the execution environment is shutting down",
        );
    };
    let deadline = SystemTime::now() + state.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut headers = HeaderMap::new();
    let values = [
        (
            "lambda-runtime-aws-request-id",
            invocation.request_id.clone(),
        ),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            state.function_arn.clone(),
        ),
        ("lambda-runtime-trace-id", trace_id()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *state.current.lock().unwrap_or_else(PoisonError::into_inner) =
        Some((invocation.request_id, invocation.outcome));
    // The driver may have given up on the invocation meanwhile; the runtime still runs it.
    let _ = invocation.dispatched.send(Instant::now());
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn invocation_response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let Some(outcome) = state.take_current(&id) else {
        return unknown_request(&id);
    };
    match to_bytes(body, MAX_PAYLOAD_BYTES).await {
        Ok(bytes) => {
            let _ = outcome.send(Outcome::Response(bytes));
            accepted()
        }
        Err(_) => {
            let _ = outcome.send(Outcome::Error(ErrorBody {
                error_type: "Function.ResponseSizeTooLarge".to_owned(),
                error_message: format!(
                    "Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
                ),
            }));
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "the response is larger than a synchronous invocation may return",
            )
        }
    }
}

async fn invocation_error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(outcome) = state.take_current(&id) else {
        return unknown_request(&id);
    };
    let _ = outcome.send(Outcome::Error(read_error(&headers, body).await));
    accepted()
}

async fn init_error_posted(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let error = read_error(&headers, body).await;
    let sender = state
        .init_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(sender) = sender {
        let _ = sender.send(error);
    }
    accepted()
}

impl ApiState {
    /// The outcome channel of invocation `id`, if it is the one in flight.
    fn take_current(&self, id: &str) -> Option<oneshot::Sender<Outcome>> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match current.take() {
            Some((current_id, outcome)) if current_id == id => Some(outcome),
            other => {
                *current = other;
                None
            }
        }
    }
}

/// The posted error; the type from the `Lambda-Runtime-Function-Error-Type` header when the body
/// has none, as Lambda does.
async fn read_error(headers: &HeaderMap, body: Body) -> ErrorBody {
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled");
    let mut error = match to_bytes(body, MAX_PAYLOAD_BYTES).await {
        Ok(bytes) => serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
            error_message: String::from_utf8_lossy(&bytes).into_owned(),
            ..ErrorBody::default()
        }),
        Err(_) => ErrorBody::default(),
    };
    if error.error_type.is_empty() {
        header_type.clone_into(&mut error.error_type);
    }
    error
}

fn accepted() -> Response {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn unknown_request(id: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("no invocation {id} is in flight"),
    )
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"errorType": error_type, "errorMessage": message}),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An X-Ray trace header as Lambda passes it: `Root=1-<time>-<24 hex>;Parent=<16 hex>;Sampled=0`.
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &random[..24],
        &random[16..]
    )
}
