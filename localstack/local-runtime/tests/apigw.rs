//! The local API Gateway in front of the crate's test bootstrap, or of a function written as a
//! closure, over real HTTP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_runtime::apigw::{
    ApiGateway, ApiKey, Authorization, MAX_REQUEST_BYTES, Quota, QuotaPeriod, RestApiConfig, Route,
    Throttle, UsagePlan,
};
use local_runtime::lambda::{Function, FunctionConfig, InvokeError};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

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
    send_bytes(method, url, headers, body.as_bytes().to_vec()).await
}

async fn send_bytes(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
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

// ---- AWS_IAM, API keys, throttling, bodies and the access log, in front of a closure ----

const REGION: &str = "eu-west-1";
const ACCESS_KEY: &str = "AKIDLOCALEXAMPLE";
const SECRET: &str = "local-secret-access-key";
const KEY_VALUE: &str = "client-one-key-0123456789";
const DISABLED_VALUE: &str = "disabled-key-0123456789";
const PLANLESS_VALUE: &str = "no-plan-key-0123456789";
const ACCESS_LOG_FORMAT: &str = include_str!("fixtures/access-log-format.json");

fn plan(throttle: Option<Throttle>, quota: Option<Quota>) -> UsagePlan {
    UsagePlan {
        id: "plan1".to_owned(),
        name: "clients".to_owned(),
        throttle,
        quota,
    }
}

fn key(id: &str, value: &str, enabled: bool, plan: Option<UsagePlan>) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        name: format!("{id}-name"),
        value: value.to_owned(),
        enabled,
        usage_plan: plan,
    }
}

/// `POST /metrics` as the deployed API has it (AWS_IAM and an API key), `POST /keyed` with a
/// key only, `POST /open` with neither.
fn secured(keys_plan: UsagePlan) -> RestApiConfig {
    RestApiConfig {
        region: REGION.to_owned(),
        credentials: BTreeMap::from([(ACCESS_KEY.to_owned(), SECRET.to_owned())]),
        api_keys: vec![
            key("key1", KEY_VALUE, true, Some(keys_plan.clone())),
            key("key2", DISABLED_VALUE, false, Some(keys_plan)),
            key("key3", PLANLESS_VALUE, true, None),
        ],
        access_log_format: Some(ACCESS_LOG_FORMAT.trim().to_owned()),
        ..RestApiConfig::new(
            "prod",
            vec![
                Route {
                    authorization: Authorization::AwsIam,
                    api_key_required: true,
                    ..Route::new("POST", "/metrics")
                },
                Route {
                    api_key_required: true,
                    ..Route::new("POST", "/keyed")
                },
                Route::new("POST", "/open"),
            ],
        )
    }
}

/// A gateway in front of a function that answers 200 with what it was given: the identity, the
/// body (up to 1 KiB) and its length; and how many times it ran, and the access log.
struct Closure {
    api: ApiGateway,
    invocations: Arc<AtomicUsize>,
    access_log: mpsc::UnboundedReceiver<String>,
}

async fn closure(config: RestApiConfig) -> Closure {
    let invocations = Arc::new(AtomicUsize::new(0));
    let counted = invocations.clone();
    let function = move |event: Value| {
        counted.fetch_add(1, Ordering::SeqCst);
        let body = event["body"].as_str().unwrap_or_default();
        let summary = json!({
            "identity": event["requestContext"]["identity"],
            "isBase64Encoded": event["isBase64Encoded"],
            "bodyLength": body.len(),
            "body": if body.len() <= 1024 { Value::from(body) } else { Value::Null },
        });
        std::future::ready(Ok::<_, InvokeError>(
            json!({"statusCode": 200, "body": summary.to_string()}),
        ))
    };
    let (sink, access_log) = mpsc::unbounded_channel();
    let api = ApiGateway::start_with_access_log(config, Arc::new(function), sink)
        .await
        .expect("the API serves");
    Closure {
        api,
        invocations,
        access_log,
    }
}

impl Closure {
    fn url(&self, resource: &str) -> String {
        format!("{}{resource}", self.api.url())
    }

    fn invocations(&self) -> usize {
        self.invocations.load(Ordering::SeqCst)
    }

    /// The access log lines written so far, parsed.
    fn logged(&mut self) -> Vec<Value> {
        let mut lines = Vec::new();
        while let Ok(line) = self.access_log.try_recv() {
            lines.push(serde_json::from_str(&line).expect("an access log line is JSON"));
        }
        lines
    }
}

/// How a test client signs: the SDK's signer with its default settings.
struct Signer<'a> {
    access_key: &'a str,
    secret: &'a str,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
    session_token: Option<&'a str>,
}

impl Default for Signer<'_> {
    fn default() -> Self {
        Signer {
            access_key: ACCESS_KEY,
            secret: SECRET,
            region: REGION,
            service: "execute-api",
            time: SystemTime::now(),
            session_token: None,
        }
    }
}

impl Signer<'_> {
    /// `headers` with what signing `POST url` adds: `x-amz-date`, `authorization`, the token.
    fn sign(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<(String, String)> {
        let identity = Identity::from(Credentials::new(
            self.access_key,
            self.secret,
            self.session_token.map(str::to_owned),
            None,
            "test",
        ));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(SigningSettings::default())
            .build()
            .expect("complete signing parameters")
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .expect("a signable request");
        let (instructions, _) = sign(request, &params).expect("signed").into_parts();
        headers
            .iter()
            .copied()
            .chain(instructions.headers())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }
}

async fn send_signed(
    signer: &Signer<'_>,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let signed = signer.sign(url, headers, body.as_bytes());
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    send(Method::POST, url, &signed, body).await
}

fn error_type(headers: &HeaderMap) -> &str {
    headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn open_plan() -> UsagePlan {
    plan(
        Some(Throttle {
            rate_limit: 1000.0,
            burst_limit: 1000,
        }),
        None,
    )
}

#[tokio::test]
async fn a_request_signed_as_the_sdk_signs_it_reaches_the_function_with_its_identity() {
    let mut gateway = closure(secured(open_plan())).await;
    let url = gateway.url("/metrics");
    let headers = [
        ("content-type", "application/json"),
        ("x-api-key", KEY_VALUE),
    ];
    let (status, _, body) = send_signed(&Signer::default(), &url, &headers, r#"{"v":1}"#).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer = json_of(&body);
    assert_eq!(answer["body"], r#"{"v":1}"#);
    let identity = &answer["identity"];
    assert_eq!(identity["accessKey"], ACCESS_KEY);
    assert_eq!(identity["caller"], ACCESS_KEY);
    assert_eq!(identity["user"], ACCESS_KEY);
    assert_eq!(identity["accountId"], "123456789012");
    assert_eq!(identity["apiKey"], KEY_VALUE);
    assert_eq!(identity["apiKeyId"], "key1");

    let token = Signer {
        session_token: Some("a-session-token"),
        ..Signer::default()
    };
    let (status, _, _) = send_signed(&token, &url, &headers, "{}").await;
    assert_eq!(status, StatusCode::OK, "a session token with a known key");
    assert_eq!(gateway.invocations(), 2);
    assert_eq!(gateway.logged().len(), 2);
    gateway.api.stop().await;
}

#[tokio::test]
async fn a_request_signed_by_curl_is_accepted() {
    let Ok(version) = tokio::process::Command::new("curl")
        .arg("--version")
        .output()
        .await
    else {
        println!("skipped: no curl on PATH to sign with --aws-sigv4");
        return;
    };
    println!(
        "{}",
        String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or_default()
    );
    let gateway = closure(secured(open_plan())).await;
    let output = tokio::process::Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--noproxy",
            "*",
            "--max-time",
            "10",
        ])
        .args(["--aws-sigv4", &format!("aws:amz:{REGION}:execute-api")])
        .args(["--user", &format!("{ACCESS_KEY}:{SECRET}")])
        .args(["-H", &format!("x-api-key: {KEY_VALUE}")])
        .args(["-H", "content-type: application/json"])
        .args(["--data-binary", r#"{"event_type":"io"}"#])
        .args(["--write-out", "\n%{http_code}"])
        .arg(gateway.url("/metrics"))
        .output()
        .await
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or_default();
    assert_eq!(
        status,
        "200",
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(body).expect("the function's answer");
    assert_eq!(answer["body"], r#"{"event_type":"io"}"#);
    assert_eq!(answer["identity"]["accessKey"], ACCESS_KEY);
    assert_eq!(gateway.invocations(), 1);
    gateway.api.stop().await;
}

#[tokio::test]
async fn each_signature_failure_is_answered_as_api_gateway_does() {
    let mut gateway = closure(secured(open_plan())).await;
    let url = gateway.url("/metrics");
    let key = [("x-api-key", KEY_VALUE)];
    let refused = |status: StatusCode, headers: &HeaderMap, body: &Bytes| {
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{}",
            String::from_utf8_lossy(body)
        );
        (
            error_type(headers).to_owned(),
            json_of(body)["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };

    let (status, headers, body) = send(Method::POST, &url, &key, "{}").await;
    assert_eq!(
        refused(status, &headers, &body),
        (
            "MissingAuthenticationTokenException".to_owned(),
            "Missing Authentication Token".to_owned()
        )
    );

    let unknown = Signer {
        access_key: "AKIDUNKNOWN",
        ..Signer::default()
    };
    let (status, headers, body) = send_signed(&unknown, &url, &key, "{}").await;
    assert_eq!(
        refused(status, &headers, &body),
        (
            "UnrecognizedClientException".to_owned(),
            "The security token included in the request is invalid.".to_owned()
        )
    );

    let other_region = Signer {
        region: "us-west-2",
        ..Signer::default()
    };
    let (status, headers, body) = send_signed(&other_region, &url, &key, "{}").await;
    assert_eq!(
        refused(status, &headers, &body),
        (
            "InvalidSignatureException".to_owned(),
            "Credential should be scoped to a valid region, not 'us-west-2'. ".to_owned()
        )
    );

    let other_service = Signer {
        service: "lambda",
        ..Signer::default()
    };
    let (status, headers, body) = send_signed(&other_service, &url, &key, "{}").await;
    assert_eq!(
        refused(status, &headers, &body),
        (
            "InvalidSignatureException".to_owned(),
            "Credential should be scoped to correct service: 'execute-api'. ".to_owned()
        )
    );

    let late = Signer {
        time: SystemTime::now() - Duration::from_secs(6 * 60),
        ..Signer::default()
    };
    let (status, headers, body) = send_signed(&late, &url, &key, "{}").await;
    let (kind, message) = refused(status, &headers, &body);
    assert_eq!(kind, "InvalidSignatureException");
    assert!(
        message.starts_with("Signature expired: ") && message.ends_with(" - 5 min.)"),
        "{message}"
    );

    let wrong_secret = Signer {
        secret: "not-the-secret",
        ..Signer::default()
    };
    let (status, headers, body) = send_signed(&wrong_secret, &url, &key, "{}").await;
    assert_eq!(
        refused(status, &headers, &body),
        (
            "InvalidSignatureException".to_owned(),
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details."
                .to_owned()
        )
    );

    // Signed, then changed on the way: the body, and a signed header.
    let signed = Signer::default().sign(&url, &key, b"{}");
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (status, headers, body) = send(Method::POST, &url, &signed, "{\"tampered\":1}").await;
    assert_eq!(
        refused(status, &headers, &body).0,
        "InvalidSignatureException"
    );
    let without_date: Vec<(&str, &str)> = signed
        .iter()
        .copied()
        .filter(|(n, _)| *n != "x-amz-date")
        .collect();
    let (status, headers, body) = send(Method::POST, &url, &without_date, "{}").await;
    let (kind, message) = refused(status, &headers, &body);
    assert_eq!(kind, "IncompleteSignatureException");
    assert!(
        message.starts_with(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 "
        ),
        "{message}"
    );

    let (status, headers, body) = send(
        Method::POST,
        &url,
        &[
            ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9"),
            ("x-api-key", KEY_VALUE),
        ],
        "{}",
    )
    .await;
    let (kind, message) = refused(status, &headers, &body);
    assert_eq!(kind, "IncompleteSignatureException");
    assert!(
        message.starts_with("Invalid key=value pair (missing equal-sign) in Authorization header")
    );

    let presigned = format!("{url}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00");
    let (status, headers, body) = send(Method::POST, &presigned, &key, "{}").await;
    let (kind, message) = refused(status, &headers, &body);
    assert_eq!(kind, "IncompleteSignatureException");
    assert!(message.contains("presigned"), "{message}");

    assert_eq!(
        gateway.invocations(),
        0,
        "no refused request reaches the function"
    );
    let logged = gateway.logged();
    assert_eq!(logged.len(), 10, "each refusal is logged");
    assert!(
        logged
            .iter()
            .all(|l| l["status"] == "403" && l["integrationLatency"] == "-")
    );
    assert_eq!(
        logged[0]["errorResponseType"],
        "MISSING_AUTHENTICATION_TOKEN"
    );
    assert_eq!(logged[1]["errorResponseType"], "INVALID_SIGNATURE");
    gateway.api.stop().await;
}

#[tokio::test]
async fn a_missing_unknown_disabled_or_planless_key_is_forbidden() {
    let gateway = closure(secured(open_plan())).await;
    let url = gateway.url("/keyed");
    for headers in [
        vec![],
        vec![("x-api-key", "not-a-key-of-this-stage-0000")],
        vec![("x-api-key", DISABLED_VALUE)],
        vec![("x-api-key", PLANLESS_VALUE)],
    ] {
        let (status, response_headers, body) = send(Method::POST, &url, &headers, "{}").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(json_of(&body), json!({"message": "Forbidden"}));
        assert_eq!(error_type(&response_headers), "ForbiddenException");
    }
    // A signed request with a bad key is refused for the key, after its signature passed.
    let metrics = gateway.url("/metrics");
    let (status, headers, _) = send_signed(
        &Signer::default(),
        &metrics,
        &[("x-api-key", DISABLED_VALUE)],
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_type(&headers), "ForbiddenException");
    assert_eq!(gateway.invocations(), 0);
    let (status, _, _) = send(Method::POST, &url, &[("x-api-key", KEY_VALUE)], "{}").await;
    assert_eq!(status, StatusCode::OK);
    gateway.api.stop().await;
}

/// A rate so slow no token comes back during a test.
const GLACIAL: f64 = 0.001;

#[tokio::test]
async fn over_the_stage_throttle_or_the_keys_is_429_and_over_the_quota_is_limit_exceeded() {
    let stage = closure(RestApiConfig {
        stage_throttle: Some(Throttle {
            rate_limit: GLACIAL,
            burst_limit: 2,
        }),
        ..secured(open_plan())
    })
    .await;
    let open = stage.url("/open");
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (status, headers, body) = send(Method::POST, &open, &[], "{}").await;
        assert_eq!(status, expected);
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(json_of(&body), json!({"message": "Too Many Requests"}));
            assert_eq!(error_type(&headers), "TooManyRequestsException");
        }
    }
    stage.api.stop().await;

    let keyed = closure(secured(plan(
        Some(Throttle {
            rate_limit: GLACIAL,
            burst_limit: 1,
        }),
        None,
    )))
    .await;
    let url = keyed.url("/keyed");
    let key = [("x-api-key", KEY_VALUE)];
    assert_eq!(send(Method::POST, &url, &key, "{}").await.0, StatusCode::OK);
    let (status, headers, _) = send(Method::POST, &url, &key, "{}").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_type(&headers), "TooManyRequestsException");
    let (status, _, _) = send(Method::POST, &keyed.url("/open"), &[], "{}").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a method without a key is not the key's"
    );
    keyed.api.stop().await;

    let quota = closure(secured(plan(
        None,
        Some(Quota {
            limit: 2,
            period: QuotaPeriod::Day,
        }),
    )))
    .await;
    let url = quota.url("/keyed");
    for _ in 0..2 {
        assert_eq!(send(Method::POST, &url, &key, "{}").await.0, StatusCode::OK);
    }
    let (status, headers, body) = send(Method::POST, &url, &key, "{}").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_of(&body), json!({"message": "Limit Exceeded"}));
    assert_eq!(error_type(&headers), "LimitExceededException");
    assert_eq!(quota.invocations(), 2);
    quota.api.stop().await;
}

#[tokio::test]
async fn a_body_of_10_mb_is_taken_and_one_byte_more_is_413() {
    let gateway = closure(secured(open_plan())).await;
    let url = gateway.url("/open");
    let (status, _, body) =
        send_bytes(Method::POST, &url, &[], vec![b'a'; MAX_REQUEST_BYTES]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body)["bodyLength"], MAX_REQUEST_BYTES);
    let (status, headers, body) =
        send_bytes(Method::POST, &url, &[], vec![b'a'; MAX_REQUEST_BYTES + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_of(&body), json!({"message": "Request Too Long"}));
    assert_eq!(error_type(&headers), "RequestTooLongException");
    assert_eq!(gateway.invocations(), 1);
    gateway.api.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_utf8_reaches_the_function_base64_encoded() {
    let gateway = closure(secured(open_plan())).await;
    let bytes = vec![0xff, 0xfe, 0x00, 0x41];
    let (status, _, body) =
        send_bytes(Method::POST, &gateway.url("/open"), &[], bytes.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let answer = json_of(&body);
    assert_eq!(answer["isBase64Encoded"], true);
    assert_eq!(answer["body"], STANDARD.encode(&bytes));
    gateway.api.stop().await;
}

/// Sends `POST path` with `Content-Length: declared` by hand, `chunks` of the body `pause`
/// apart, then reads the answer (empty if the connection closed without one).
async fn trickle(
    addr: SocketAddr,
    path: &str,
    declared: usize,
    chunks: &[&[u8]],
    pause: Duration,
) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connected");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        // The gateway may have answered and closed already.
        if stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_slower_than_the_body_timeout_is_408_and_one_in_time_is_taken() {
    let gateway = closure(RestApiConfig {
        body_timeout: Duration::from_millis(500),
        ..secured(open_plan())
    })
    .await;
    let path = "/prod/open";
    let addr = gateway.api.addr();
    let in_time = trickle(
        addr,
        path,
        6,
        &[b"{\"a\"", b":", b"1}"],
        Duration::from_millis(50),
    )
    .await;
    assert!(in_time.starts_with("HTTP/1.1 200"), "{in_time}");
    let too_slow = trickle(
        addr,
        path,
        6,
        &[b"{\"a\"", b":1}"],
        Duration::from_millis(1500),
    )
    .await;
    assert!(too_slow.starts_with("HTTP/1.1 408"), "{too_slow}");
    assert!(
        too_slow.ends_with(r#"{"message":"Request Timeout"}"#),
        "{too_slow}"
    );
    assert_eq!(gateway.invocations(), 1);
    gateway.api.stop().await;
}

#[tokio::test]
async fn an_aborted_upload_invokes_nothing_and_the_gateway_keeps_serving() {
    let mut gateway = closure(secured(open_plan())).await;
    let addr = gateway.api.addr();
    {
        let mut stream = TcpStream::connect(addr).await.expect("connected");
        let head =
            format!("POST /prod/open HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 1000\r\n\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .expect("the head is sent");
        stream
            .write_all(&[b'a'; 100])
            .await
            .expect("part of the body");
        stream.shutdown().await.expect("closed mid-body");
    }
    // The gateway logs the broken-off request once it has given up on it.
    let line = tokio::time::timeout(Duration::from_secs(5), gateway.access_log.recv())
        .await
        .expect("the aborted request is logged")
        .expect("a line");
    let line: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(line["status"], "400");
    assert_eq!(line["integrationLatency"], "-");
    assert_eq!(gateway.invocations(), 0);
    let (status, _, _) = send(Method::POST, &gateway.url("/open"), &[], "{}").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gateway.invocations(), 1);
    gateway.api.stop().await;
}

#[tokio::test]
async fn each_request_and_each_refusal_is_one_json_access_log_line() {
    let mut gateway = closure(secured(open_plan())).await;
    let url = gateway.url("/metrics");
    let (status, headers, _) = send_signed(
        &Signer::default(),
        &url,
        &[("x-api-key", KEY_VALUE), ("user-agent", "agent \"quoted\"")],
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let request_id = headers
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, _, _) = send(Method::POST, &gateway.url("/keyed"), &[], "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(Method::GET, &gateway.url("/nothing"), &[], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let lines = gateway.logged();
    assert_eq!(lines.len(), 3);
    let accepted = &lines[0];
    assert_eq!(accepted["requestId"], request_id.as_str());
    assert_eq!(accepted["status"], "200");
    assert_eq!(accepted["caller"], ACCESS_KEY);
    assert_eq!(accepted["apiKeyId"], "key1");
    assert_eq!(accepted["userAgent"], "agent \"quoted\"");
    assert_eq!(accepted["httpMethod"], "POST");
    assert_eq!(accepted["resourcePath"], "/metrics");
    assert_eq!(accepted["path"], "/prod/metrics");
    assert_eq!(accepted["ip"], "127.0.0.1");
    assert_eq!(accepted["integrationStatus"], "200");
    assert_eq!(accepted["functionStatus"], "200");
    assert_eq!(accepted["errorMessage"], "-");
    for number in [
        "integrationLatency",
        "responseLatency",
        "responseLength",
        "requestTimeEpoch",
    ] {
        let text = accepted[number].as_str().unwrap_or_default();
        assert!(text.parse::<u64>().is_ok(), "{number}: {text:?}");
    }
    let forbidden = &lines[1];
    assert_eq!(forbidden["status"], "403");
    assert_eq!(forbidden["errorMessage"], "Forbidden");
    assert_eq!(forbidden["errorResponseType"], "INVALID_API_KEY");
    assert_eq!(forbidden["caller"], "-");
    assert_eq!(forbidden["responseLength"], "23");
    let missing = &lines[2];
    assert_eq!(missing["resourcePath"], "-");
    assert_eq!(missing["errorMessage"], "Missing Authentication Token");
    gateway.api.stop().await;
}

#[tokio::test]
async fn a_signed_request_without_its_host_header_is_refused_not_crashed_on() {
    let gateway = closure(secured(open_plan())).await;
    let addr = gateway.api.addr();
    let url = gateway.url("/metrics");
    let signed = Signer::default().sign(&url, &[("x-api-key", KEY_VALUE)], b"{}");
    let mut request = "POST /prod/metrics HTTP/1.0\r\ncontent-length: 2\r\n".to_owned();
    for (name, value) in &signed {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n{}");
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.expect("connected");
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.0 403"), "{answer}");
        assert!(answer.contains("InvalidSignatureException"), "{answer}");
    }
    assert_eq!(gateway.invocations(), 0);
    gateway.api.stop().await;
}
