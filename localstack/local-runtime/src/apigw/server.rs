//! The stage, served on a loopback port.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::config::{ConfigError, ParsedRoute, RestApiConfig};
use super::event::{Context, Incoming, proxy_event};
use super::response::{from_proxy_response, gateway_error, malformed};
use super::route::{Match, find};
use crate::lambda::{Invoke, InvokeError};

/// The largest request body API Gateway takes: 10 MB.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

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
/// request turned into the Lambda proxy event for the function and its answer into the
/// response, with API Gateway's errors: 403 `Missing Authentication Token` for a path or method
/// the API does not have, 403 `Forbidden` for another stage, 502 for a function error or a
/// malformed answer, 504 after the integration timeout, 413 over 10 MB.
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
}

impl ApiGateway {
    /// Serves the stage of `config`, its methods integrated with `function`.
    pub async fn start<I: Invoke + 'static>(
        config: RestApiConfig,
        function: Arc<I>,
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
            config,
            routes,
            function,
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
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some(below_stage) = stage_path(path, &api.config.stage) else {
        return gateway_error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "Forbidden",
            &request_id,
        );
    };
    let (route, path_parameters) = match find(&api.routes, &parts.method, below_stage) {
        Match::Route(route, parameters) => (route, parameters),
        Match::None => {
            return gateway_error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
                &request_id,
            );
        }
    };
    let Ok(body) = to_bytes(Body::new(body), MAX_REQUEST_BYTES).await else {
        return gateway_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLongException",
            "Request Too Long",
            &request_id,
        );
    };
    let incoming = Incoming {
        method: &parts.method,
        path: below_stage,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip(),
    };
    let context = Context {
        api_id: &api.config.api_id,
        account_id: &api.config.account_id,
        stage: &api.config.stage,
        resource: &route.resource,
        path_parameters: &path_parameters,
        request_id: &request_id,
        now: Utc::now(),
    };
    let event = proxy_event(&incoming, &context);
    let invoked =
        tokio::time::timeout(api.config.integration_timeout, api.function.invoke(event)).await;
    match invoked {
        Ok(Ok(answer)) => from_proxy_response(answer, &request_id),
        Ok(Err(InvokeError::Function { error_type, .. })) => {
            warn!(%request_id, %error_type, "the function failed: 502");
            malformed(&request_id)
        }
        Ok(Err(error)) => {
            warn!(%request_id, %error, "the function cannot be invoked: 500");
            gateway_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                "Internal server error",
                &request_id,
            )
        }
        Err(_) => gateway_error(
            StatusCode::GATEWAY_TIMEOUT,
            "IntegrationTimeoutException",
            "Endpoint request timed out",
            &request_id,
        ),
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
