//! The HTTP side: the Kinesis JSON 1.1 protocol (`POST /`, `X-Amz-Target:
//! Kinesis_20131202.<Operation>`, `application/x-amz-json-1.1`) on a loopback port. The region
//! is the one the request was signed for (its `Authorization` credential scope); the signature
//! itself is not checked, as the emulators do not check it.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tracing::debug;

use crate::error::{ApiError, ErrorCode};
use crate::service::Kinesis;

/// The target prefix of every operation.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// The largest request body: a 5 MiB `PutRecords` in base64, with room for the JSON.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub(crate) fn router(service: Arc<Kinesis>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

/// The region of the request's SigV4 credential scope, `Credential=<key>/<date>/<region>/...`.
pub(crate) fn signed_region(headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let region = scope.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_owned())
}

async fn handle(State(service): State<Arc<Kinesis>>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = if content_type.starts_with("application/x-amz-cbor") {
        Err(ApiError::new(
            ErrorCode::Serialization,
            "the local Kinesis speaks JSON 1.1, not CBOR: set AWS_CBOR_DISABLE=true for the \
             Java SDK or the KCL",
        ))
    } else {
        match target.strip_prefix(TARGET_PREFIX) {
            Some(operation) => {
                let region =
                    signed_region(&headers).unwrap_or_else(|| service.default_region().to_owned());
                let answer = service.call(&region, operation, &body).await;
                if let Err(error) = &answer {
                    debug!(operation, %region, code = %error.code, message = %error.message, "refused");
                }
                answer
            }
            None => Err(ApiError::new(
                ErrorCode::UnknownOperation,
                format!("X-Amz-Target {target:?} is not a Kinesis_20131202 operation"),
            )),
        }
    };
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(error) => (
            StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST),
            serde_json::json!({ "__type": error.code.as_str(), "message": error.message }),
        ),
    };
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(JSON_CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if status != StatusCode::OK
        && let Some(code) = body.get("__type").and_then(|c| c.as_str())
        && let Ok(code) = HeaderValue::from_str(code)
    {
        headers.insert("x-amzn-errortype", code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/kinesis/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(signed_region(&headers).as_deref(), Some("us-east-1"));
        assert_eq!(signed_region(&HeaderMap::new()), None);
    }
}
