//! Turning what the function answered into the HTTP response API Gateway sends, and API
//! Gateway's own error responses.

use aws_lambda_events::encodings::Body as EventBody;
use aws_lambda_events::event::apigw::ApiGatewayProxyResponse;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// API Gateway's own answer to a request it does not pass on, or whose integration failed:
/// what the client gets, and what the access log says (`$context.error.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    /// `x-amzn-ErrorType`.
    pub(super) error_type: &'static str,
    /// The gateway response type: `$context.error.responseType`.
    pub(super) response_type: &'static str,
    /// `{"message": ..}`: `$context.error.message`.
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(
        status: StatusCode,
        error_type: &'static str,
        response_type: &'static str,
        message: &str,
    ) -> Self {
        Refusal {
            status,
            error_type,
            response_type,
            message: message.to_owned(),
        }
    }

    /// The HTTP response.
    pub(super) fn response(&self, request_id: &str) -> Response {
        gateway_error(self.status, self.error_type, &self.message, request_id)
    }
}

/// The proxy response as HTTP: `statusCode`, `headers` and `multiValueHeaders` merged (the
/// multi-value ones win for a name in both), the body base64-decoded when `isBase64Encoded`;
/// `Content-Type: application/json` when the function set none. A response that is not a proxy
/// response is API Gateway's 502.
pub(super) fn from_proxy_response(answer: Value, request_id: &str) -> Result<Response, Refusal> {
    serde_json::from_value::<ApiGatewayProxyResponse>(answer)
        .ok()
        .and_then(|r| to_http(r, request_id))
        .ok_or_else(malformed)
}

fn to_http(proxy: ApiGatewayProxyResponse, request_id: &str) -> Option<Response> {
    let status = u16::try_from(proxy.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())?;
    let body = match proxy.body {
        None | Some(EventBody::Empty) => Vec::new(),
        Some(EventBody::Text(text)) if proxy.is_base64_encoded => STANDARD.decode(text).ok()?,
        Some(EventBody::Text(text)) => text.into_bytes(),
        Some(EventBody::Binary(bytes)) => bytes,
        Some(_) => return None,
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &proxy.headers {
        if !proxy.multi_value_headers.contains_key(name) {
            headers.insert(name, value.clone());
        }
    }
    for (name, value) in &proxy.multi_value_headers {
        headers.append(name, value.clone());
    }
    headers
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
    add_request_id(&mut response, request_id);
    Some(response)
}

/// API Gateway's own answer: `{"message": ..}` with `x-amzn-ErrorType`.
pub(super) fn gateway_error(
    status: StatusCode,
    error_type: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let mut response = Response::new(Body::from(json!({ "message": message }).to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(error_type) {
        headers.insert(HeaderName::from_static("x-amzn-errortype"), value);
    }
    add_request_id(&mut response, request_id);
    response
}

/// A function error, or a response API Gateway cannot read.
pub(super) fn malformed() -> Refusal {
    Refusal::new(
        StatusCode::BAD_GATEWAY,
        "InternalServerErrorException",
        "INTEGRATION_FAILURE",
        "Internal server error",
    )
}

fn add_request_id(response: &mut Response, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), value);
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    fn answered(answer: Value, request_id: &str) -> Response {
        from_proxy_response(answer, request_id)
            .unwrap_or_else(|refusal| refusal.response(request_id))
    }

    async fn parts(response: Response) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body")
            .to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn the_proxy_response_becomes_the_http_response() {
        let answer = json!({
            "statusCode": 202,
            "headers": {"x-one": "1", "x-both": "single"},
            "multiValueHeaders": {"x-both": ["m1", "m2"], "set-cookie": ["a=1", "b=2"]},
            "body": "{\"accepted\":1}",
            "isBase64Encoded": false
        });
        let (status, headers, body) = parts(answered(answer, "req-1")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body, b"{\"accepted\":1}");
        let values = |name: &str| -> Vec<&str> {
            headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(values("x-one"), ["1"]);
        assert_eq!(values("x-both"), ["m1", "m2"]);
        assert_eq!(values("set-cookie"), ["a=1", "b=2"]);
        assert_eq!(values("content-type"), ["application/json"]);
        assert_eq!(values("x-amzn-requestid"), ["req-1"]);
    }

    #[tokio::test]
    async fn a_base64_body_is_decoded() {
        let answer = json!({"statusCode": 200, "body": "AJ+Slg==", "isBase64Encoded": true,
            "headers": {"content-type": "application/octet-stream"}});
        let (status, headers, body) = parts(answered(answer, "r")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, [0, 159, 146, 150]);
        assert!(headers.contains(&(
            "content-type".to_owned(),
            "application/octet-stream".to_owned()
        )));
    }

    #[tokio::test]
    async fn what_is_not_a_proxy_response_is_a_502() {
        for answer in [
            json!("text"),
            json!({"body": "no status"}),
            json!({"statusCode": 99}),
            json!({"statusCode": 200, "body": "%%%", "isBase64Encoded": true}),
        ] {
            let (status, headers, body) = parts(answered(answer.clone(), "r")).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
            assert_eq!(body, br#"{"message":"Internal server error"}"#);
            assert!(headers.contains(&(
                "x-amzn-errortype".to_owned(),
                "InternalServerErrorException".to_owned()
            )));
        }
    }
}
