//! The stage, served on a loopback port.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::access_log::{AccessLogSink, RequestLog, TracingSink, render};
use super::config::{ApiKey, Authorization, ConfigError, ParsedRoute, RestApiConfig};
use super::event::{Caller, Context, Incoming, proxy_event, resource_id};
use super::response::{Refusal, from_proxy_response, gateway_error, malformed};
use super::route::{Match, find};
use super::sigv4::{self, Payload, SignedRequest};
use super::throttle::{Limits, Refused};
use crate::lambda::{Invoke, InvokeError};

/// The largest request body API Gateway takes: 10 MB.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The header a client sends its API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Why the API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The port cannot be bound.
    #[error("cannot serve the REST API on 127.0.0.1:{port}")]
    Bind {
        /// The port asked for (0: any).
        port: u16,
        /// What the socket said.
        #[source]
        source: io::Error,
    },
}

/// A REST API stage on a loopback port: `http://127.0.0.1:<port>/<stage>/<resource>`, each
/// request checked as API Gateway checks it, turned into the Lambda proxy event for the function
/// and its answer into the response. In API Gateway's order: the method (403 `Missing
/// Authentication Token` for a path or method the API does not have, 403 `Forbidden` for another
/// stage); the SigV4 signature of an `AWS_IAM` method (403); the API key of a method that
/// requires one (403 `Forbidden`); the stage's throttle, then the key's usage plan's throttle and
/// quota (429); the body (413 over 10 MB, 408 slower than the body timeout); the integration (502
/// for a function error or a malformed answer, 504 after the integration timeout).
#[derive(Debug)]
pub struct ApiGateway {
    addr: SocketAddr,
    stage: String,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

struct Api<I> {
    config: RestApiConfig,
    routes: Vec<ParsedRoute>,
    function: Arc<I>,
    limits: Limits,
    access_log: Box<dyn AccessLogSink>,
}

impl ApiGateway {
    /// Serves the stage of `config`, its methods integrated with `function`; access log lines,
    /// when `config` has a format, go to `tracing` (info, field `line`).
    pub async fn start<I: Invoke + 'static>(
        config: RestApiConfig,
        function: Arc<I>,
    ) -> Result<ApiGateway, StartError> {
        Self::start_with_access_log(config, function, TracingSink).await
    }

    /// Serves the stage of `config`, its methods integrated with `function`, and writes an
    /// access log line for each request to `access_log` when `config` has a format.
    pub async fn start_with_access_log<I: Invoke + 'static>(
        config: RestApiConfig,
        function: Arc<I>,
        access_log: impl AccessLogSink,
    ) -> Result<ApiGateway, StartError> {
        let routes = config.validate()?;
        let bind = |source| StartError::Bind {
            port: config.port,
            source,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let stage = config.stage.clone();
        let api = Arc::new(Api {
            limits: Limits::new(&config, Instant::now()),
            config,
            routes,
            function,
            access_log: Box::new(access_log),
        });
        let app = Router::new().fallback(handle::<I>).with_state(api);
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = shutdown_rx.await;
            })
            .await;
            if let Err(error) = served {
                warn!(%error, %addr, "the REST API stopped serving");
            }
        });
        info!(url = %format!("http://{addr}/{stage}"), "REST API serving");
        Ok(ApiGateway {
            addr,
            stage,
            shutdown,
            server,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The stage's base URL, e.g. `http://127.0.0.1:41234/prod`; a resource's URL is this
    /// followed by its path.
    pub fn url(&self) -> String {
        format!("http://{}/{}", self.addr, self.stage)
    }

    /// Stops accepting requests and waits for those in flight.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
    }
}

async fn handle<I: Invoke>(
    State(api): State<Arc<Api<I>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let now = Utc::now();
    let id = uuid::Uuid::new_v4();
    let request_id = id.to_string();
    let (parts, body) = request.into_parts();
    let Some(below_stage) = stage_path(parts.uri.path(), &api.config.stage) else {
        // Another stage's request: not this stage's to log.
        return gateway_error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "Forbidden",
            &request_id,
        );
    };
    let text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    };
    let mut log = RequestLog {
        request_id: request_id.clone(),
        // API Gateway's are 16 characters of base64.
        extended_request_id: STANDARD.encode(&id.as_bytes()[..11]),
        api_id: api.config.api_id.clone(),
        account_id: api.config.account_id.clone(),
        stage: api.config.stage.clone(),
        domain_name: text(header::HOST),
        http_method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        protocol: format!("{:?}", parts.version),
        request_time: now,
        source_ip: peer.ip().to_string(),
        user_agent: text(header::USER_AGENT),
        ..RequestLog::default()
    };
    let request = Checked {
        parts: &parts,
        below_stage,
        peer,
        now,
        deadline: started + api.config.body_timeout,
        request_id: &request_id,
    };
    let response = match serve(&api, &request, body, &mut log).await {
        Ok(response) => response,
        Err(refusal) => {
            debug!(
                %request_id,
                status = refusal.status.as_u16(),
                error_type = refusal.error_type,
                "the gateway answered itself"
            );
            log.error_message = Some(refusal.message.clone());
            log.error_response_type = Some(refusal.response_type);
            refusal.response(&request_id)
        }
    };
    if let Some(format) = &api.config.access_log_format {
        log.status = response.status().as_u16();
        log.response_length = HttpBody::size_hint(response.body()).exact();
        log.response_latency = started.elapsed();
        api.access_log.write(render(format, &log));
    }
    response
}

/// A request below this stage, and when it came.
struct Checked<'a> {
    parts: &'a Parts,
    /// The path below the stage, e.g. `/metrics`.
    below_stage: &'a str,
    peer: SocketAddr,
    now: DateTime<Utc>,
    /// When the body must have arrived.
    deadline: Instant,
    request_id: &'a str,
}

/// A body read already (for the signature) or still to read.
enum Pending {
    Unread(Body),
    Read(Bytes),
}

impl Pending {
    /// The body, read on first use.
    async fn bytes(&mut self, deadline: Instant) -> Result<Bytes, Refusal> {
        match std::mem::replace(self, Pending::Read(Bytes::new())) {
            Pending::Unread(body) => {
                let bytes = read_body(body, deadline).await?;
                *self = Pending::Read(bytes.clone());
                Ok(bytes)
            }
            Pending::Read(bytes) => {
                *self = Pending::Read(bytes.clone());
                Ok(bytes)
            }
        }
    }
}

/// The checks in API Gateway's order, then the integration.
async fn serve<I: Invoke>(
    api: &Api<I>,
    request: &Checked<'_>,
    body: Body,
    log: &mut RequestLog,
) -> Result<Response, Refusal> {
    let parts = request.parts;
    let (route, path_parameters) = match find(&api.routes, &parts.method, request.below_stage) {
        Match::Route(route, parameters) => (route, parameters),
        Match::None => return Err(sigv4::SignatureError::Missing.refusal()),
    };
    log.resource_path = Some(route.resource.clone());
    log.resource_id = Some(resource_id(&route.resource));

    let mut body = Pending::Unread(body);
    let mut declared_hash = None;
    let mut access_key = None;
    if route.authorization == Authorization::AwsIam {
        let signed = sigv4::parse(&parts.headers, parts.uri.query()).map_err(|e| e.refusal())?;
        let config = &api.config;
        let secret = sigv4::check(&signed, &config.credentials, &config.region, request.now)
            .map_err(|e| e.refusal())?;
        let signed_request = SignedRequest {
            method: parts.method.as_str(),
            path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
            headers: &parts.headers,
        };
        let verified = match sigv4::declared_payload_hash(&parts.headers) {
            Some(hash) => {
                let verified =
                    sigv4::verify(&signed, secret, &signed_request, Payload::Declared(&hash));
                declared_hash = Some(hash);
                verified
            }
            None => {
                let bytes = body.bytes(request.deadline).await?;
                sigv4::verify(&signed, secret, &signed_request, Payload::Body(&bytes))
            }
        };
        verified.map_err(|e| e.refusal())?;
        log.caller = Some(signed.access_key_id.clone());
        log.caller_account_id = Some(config.account_id.clone());
        access_key = Some(signed.access_key_id);
    }

    let key = if route.api_key_required {
        let key = api_key(&api.config.api_keys, &parts.headers)?;
        log.api_key = Some(key.value.clone());
        log.api_key_id = Some(key.id.clone());
        Some(key)
    } else {
        None
    };

    api.limits
        .admit(key, Instant::now(), request.now)
        .map_err(|refused| match refused {
            Refused::Throttled => Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "THROTTLED",
                "Too Many Requests",
            ),
            Refused::QuotaExceeded => Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "QUOTA_EXCEEDED",
                "Limit Exceeded",
            ),
        })?;

    let body = body.bytes(request.deadline).await?;
    if let Some(hash) = &declared_hash
        && !sigv4::payload_matches(hash, &body)
    {
        return Err(sigv4::SignatureError::Mismatch.refusal());
    }

    let incoming = Incoming {
        method: &parts.method,
        path: request.below_stage,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
        source_ip: request.peer.ip(),
    };
    let context = Context {
        api_id: &api.config.api_id,
        account_id: &api.config.account_id,
        stage: &api.config.stage,
        resource: &route.resource,
        path_parameters: &path_parameters,
        request_id: request.request_id,
        now: request.now,
        caller: Caller {
            api_key: key.map(|k| (k.value.as_str(), k.id.as_str())),
            access_key: access_key
                .as_deref()
                .map(|k| (k, api.config.account_id.as_str())),
        },
    };
    let event = proxy_event(&incoming, &context);
    let invoked_at = Instant::now();
    let invoked =
        tokio::time::timeout(api.config.integration_timeout, api.function.invoke(event)).await;
    log.integration_latency = Some(invoked_at.elapsed());
    let request_id = request.request_id;
    match invoked {
        Ok(Ok(answer)) => {
            log.integration_status = Some(200);
            let response = from_proxy_response(answer, request_id)?;
            log.function_status = Some(response.status().as_u16());
            Ok(response)
        }
        Ok(Err(InvokeError::Function { error_type, .. })) => {
            log.integration_status = Some(200);
            warn!(%request_id, %error_type, "the function failed: 502");
            Err(malformed())
        }
        Ok(Err(error)) => {
            warn!(%request_id, %error, "the function cannot be invoked: 500");
            Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                "DEFAULT_5XX",
                "Internal server error",
            ))
        }
        Err(_) => Err(Refusal::new(
            StatusCode::GATEWAY_TIMEOUT,
            "IntegrationTimeoutException",
            "INTEGRATION_TIMEOUT",
            "Endpoint request timed out",
        )),
    }
}

/// The key in `x-api-key`, if it is known, enabled and in a usage plan of this stage; API
/// Gateway's 403 `Forbidden` otherwise, whichever it is.
fn api_key<'a>(keys: &'a [ApiKey], headers: &axum::http::HeaderMap) -> Result<&'a ApiKey, Refusal> {
    let forbidden = || {
        Refusal::new(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "INVALID_API_KEY",
            "Forbidden",
        )
    };
    let value = headers
        .get(API_KEY_HEADER)
        .ok_or_else(forbidden)?
        .as_bytes();
    keys.iter()
        .find(|k| k.value.as_bytes() == value)
        .filter(|k| k.enabled && k.usage_plan.is_some())
        .ok_or_else(forbidden)
}

/// The body, within 10 MB and by `deadline`: 413 or 408 otherwise, and 400 for a body that
/// broke off (the client will not read it).
async fn read_body(body: Body, deadline: Instant) -> Result<Bytes, Refusal> {
    let collected =
        tokio::time::timeout_at(deadline, Limited::new(body, MAX_REQUEST_BYTES).collect());
    match collected.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLongException",
            "REQUEST_TOO_LARGE",
            "Request Too Long",
        )),
        Ok(Err(error)) => {
            debug!(%error, "the request body broke off");
            Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                "DEFAULT_4XX",
                "Bad Request",
            ))
        }
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            "DEFAULT_4XX",
            "Request Timeout",
        )),
    }
}

/// The path below `/<stage>`, e.g. `/metrics`; `None` for another stage.
fn stage_path<'a>(path: &'a str, stage: &str) -> Option<&'a str> {
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    match rest {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_is_the_first_segment() {
        assert_eq!(stage_path("/prod/metrics", "prod"), Some("/metrics"));
        assert_eq!(stage_path("/prod", "prod"), Some("/"));
        assert_eq!(stage_path("/production/metrics", "prod"), None);
        assert_eq!(stage_path("/metrics", "prod"), None);
    }
}
