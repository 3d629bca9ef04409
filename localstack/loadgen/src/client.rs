//! Sending a request: the [`Transport`] the run drives, and its HTTP implementation.
//!
//! [`Http`] posts each body to the target with hyper-util's pooled client (HTTP/1.1; HTTPS
//! through hyper-rustls, the TLS stack the AWS SDK already builds, with the system's roots),
//! signs it with the local runtime's SigV4 [`Signer`] (service `execute-api`) unless the target
//! takes no authorization, and adds the API key as `x-api-key`.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local_runtime::apigw::{API_KEY_HEADER, Signer};
use serde::Deserialize;

use crate::Error;

/// The largest answer read, in bytes: ingest's 400 lists a verdict per event, 500 at most.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Where the requests go and how they are authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The `POST /metrics` URL, e.g. `http://127.0.0.1:4010/prod/metrics`.
    pub url: String,
    /// Sent as `x-api-key` when set.
    pub api_key: Option<String>,
    /// How requests are signed.
    pub auth: Auth,
}

/// How requests are authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Not signed: a method with `AuthorizationType: NONE`.
    None,
    /// Signed with SigV4 for `execute-api`: a method with `AWS_IAM`.
    SigV4(Signer),
}

/// An HTTP answer, as much of it as the run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The positions ingest's 503 names as not stored (`"failed":[..]`), when it names any.
    pub failed: Option<Vec<usize>>,
}

/// A request that got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting, sending or reading failed.
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The request could not be signed.
    #[error("cannot sign the request")]
    Sign(#[source] local_runtime::apigw::SignError),
}

/// Sends one body of events and brings back the answer: [`Http`], or a fake in tests.
pub trait Transport: Send + Sync + 'static {
    /// Posts `body` (a JSON array of events).
    fn send(&self, body: Bytes) -> impl Future<Output = Result<Answer, TransportError>> + Send;
}

/// The HTTP transport: see the module documentation.
#[derive(Debug, Clone)]
pub struct Http {
    target: Target,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Http {
    /// A client for `target` keeping up to `connections` idle connections.
    pub fn new(target: &Target, connections: usize) -> Result<Http, Error> {
        let uri: http::Uri = target.url.parse().map_err(|_| Error::Url {
            url: target.url.clone(),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Url {
                url: target.url.clone(),
            });
        }
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        // Small requests, sent at once: no Nagle delay on the generator's side.
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(Error::Tls)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Http {
            target: target.clone(),
            client,
        })
    }
}

#[derive(Deserialize)]
struct FailedBody {
    failed: Option<Vec<usize>>,
}

impl Transport for Http {
    async fn send(&self, body: Bytes) -> Result<Answer, TransportError> {
        let url = &self.target.url;
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(key) = &self.target.api_key {
            headers.push((API_KEY_HEADER, key));
        }
        let headers: Vec<(String, String)> = match &self.target.auth {
            Auth::None => headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            Auth::SigV4(signer) => signer
                .sign("POST", url, &headers, &body, SystemTime::now())
                .map_err(TransportError::Sign)?,
        };
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| TransportError::Request {
            url: url.clone(),
            source,
        };
        let mut request = http::Request::post(url.as_str());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| failed(e.into()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| failed(e.into()))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(failed)?
            .to_bytes();
        Ok(Answer {
            status,
            failed: failed_positions(status, &bytes),
        })
    }
}

/// The `failed` positions of a 503's body, when it is ingest's JSON.
pub fn failed_positions(status: u16, body: &[u8]) -> Option<Vec<usize>> {
    if status != 503 {
        return None;
    }
    serde_json::from_slice::<FailedBody>(body).ok()?.failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_503_with_ingests_body_names_failed_positions() {
        let body = br#"{"error":"some events were not stored, send them again","accepted":3,"failed":[1,4]}"#;
        assert_eq!(failed_positions(503, body), Some(vec![1, 4]));
        assert_eq!(failed_positions(500, body), None);
        assert_eq!(
            failed_positions(503, b"{\"message\":\"Service Unavailable\"}"),
            None
        );
        assert_eq!(failed_positions(503, b"<html>"), None);
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        let target = |url: &str| Target {
            url: url.to_owned(),
            api_key: None,
            auth: Auth::None,
        };
        for url in ["ftp://host/metrics", "not a url", "/metrics"] {
            assert!(
                matches!(Http::new(&target(url), 1), Err(Error::Url { .. })),
                "{url}"
            );
        }
    }
}
