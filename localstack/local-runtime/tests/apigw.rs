//! The local API Gateway in front of the crate's test bootstrap, over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_runtime::apigw::{ApiGateway, RestApiConfig, Route};
use local_runtime::lambda::{Function, FunctionConfig};
use serde_json::{Value, json};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_test-bootstrap");

struct Setup {
    api: ApiGateway,
    function: Function,
}

async fn setup(integration_timeout: Duration) -> Setup {
    let function = Function::start(FunctionConfig {
        timeout: Duration::from_secs(10),
        ..FunctionConfig::new("ingest", BOOTSTRAP, "http://127.0.0.1:4566")
    })
    .await
    .expect("the test bootstrap starts");
    let config = RestApiConfig {
        integration_timeout,
        ..RestApiConfig::new("prod", vec![Route::new("POST", "/metrics")])
    };
    let api = ApiGateway::start(config, Arc::new(function.clone()))
        .await
        .expect("the API serves");
    Setup { api, function }
}

impl Setup {
    async fn stop(self) {
        self.api.stop().await;
        self.function.stop().await;
    }
}

async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a request");
    let response = client.request(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    (parts.status, parts.headers, body)
}

fn json_of(body: &Bytes) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test]
async fn a_post_reaches_the_function_as_the_proxy_event_and_its_answer_comes_back() {
    let setup = setup(Duration::from_secs(29)).await;
    let url = format!("{}/metrics?status=202&tag=a&tag=b", setup.api.url());
    let (status, headers, body) = send(
        Method::POST,
        &url,
        &[
            ("content-type", "application/json"),
            ("x-client", "one"),
            ("x-client", "two"),
        ],
        r#"{"event_type":"io"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        headers.get("x-echo").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    let multi: Vec<_> = headers
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    assert_eq!(multi, ["a", "b"]);
    let request_id = headers
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .expect("a request id")
        .to_owned();

    let event = json_of(&body);
    assert_eq!(event["resource"], "/metrics");
    assert_eq!(event["path"], "/metrics");
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["body"], r#"{"event_type":"io"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert_eq!(event["headers"]["x-client"], "two");
    assert_eq!(
        event["multiValueHeaders"]["x-client"],
        json!(["one", "two"])
    );
    assert_eq!(event["queryStringParameters"]["status"], "202");
    assert_eq!(
        event["multiValueQueryStringParameters"]["tag"],
        json!(["a", "b"])
    );
    let context = &event["requestContext"];
    assert_eq!(context["stage"], "prod");
    assert_eq!(context["requestId"], request_id.as_str());
    assert_eq!(context["resourcePath"], "/metrics");
    assert_eq!(context["path"], "/prod/metrics");
    assert_eq!(context["httpMethod"], "POST");
    assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
    setup.stop().await;
}

#[tokio::test]
async fn a_function_error_is_api_gateways_502() {
    let setup = setup(Duration::from_secs(29)).await;
    let url = format!("{}/metrics", setup.api.url());
    let (status, headers, body) = send(
        Method::POST,
        &url,
        &[],
        r#"{"do":"fail","type":"Boom","message":"no"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(json_of(&body), json!({"message": "Internal server error"}));
    assert_eq!(
        headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    // The environment survives a reported error: the next request is answered.
    let (status, _, _) = send(Method::POST, &url, &[], "{}").await;
    assert_eq!(status, StatusCode::OK);
    setup.stop().await;
}

#[tokio::test]
async fn what_the_api_does_not_have_is_a_403() {
    let setup = setup(Duration::from_secs(29)).await;
    let base = setup.api.url();
    for (method, url) in [
        (Method::GET, format!("{base}/metrics")),
        (Method::POST, format!("{base}/other")),
        (Method::POST, format!("{base}/")),
    ] {
        let (status, headers, body) = send(method.clone(), &url, &[], "{}").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {url}");
        assert_eq!(
            json_of(&body),
            json!({"message": "Missing Authentication Token"})
        );
        assert_eq!(
            headers.get("x-amzn-errortype").map(|v| v.as_bytes()),
            Some(&b"MissingAuthenticationTokenException"[..])
        );
    }
    let other_stage = format!("http://{}/dev/metrics", setup.api.addr());
    let (status, _, body) = send(Method::POST, &other_stage, &[], "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&body), json!({"message": "Forbidden"}));
    setup.stop().await;
}

#[tokio::test]
async fn a_base64_answer_is_sent_as_bytes() {
    let setup = setup(Duration::from_secs(29)).await;
    let url = format!("{}/metrics?binary=1", setup.api.url());
    let (status, headers, body) = send(Method::POST, &url, &[], "{}").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], [0, 159, 146, 150]);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/octet-stream"[..])
    );
    setup.stop().await;
}

#[tokio::test]
async fn an_integration_slower_than_the_timeout_is_a_504() {
    let setup = setup(Duration::from_millis(200)).await;
    let url = format!("{}/metrics", setup.api.url());
    let (status, _, body) = send(Method::POST, &url, &[], r#"{"do":"sleep","ms":5000}"#).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        json_of(&body),
        json!({"message": "Endpoint request timed out"})
    );
    setup.stop().await;
}
