//! A tiny Lambda function for this crate's tests, built with `lambda_runtime` like the real ones.
//! What it does depends on the payload's `do`:
//!
//! - `{"do": "echo", "value": V}` → `V`; any payload without `do` → the payload itself;
//! - `{"do": "fail", "type": T, "message": M}` → a function error `T: M`;
//! - `{"do": "sleep", "ms": N, "then": P}` → sleeps, then acts on `P` (or answers `null`);
//! - `{"do": "panic", "message": M}` → panics (the runtime reports it as an error);
//! - `{"do": "exit", "code": N}` → the process exits, a crash;
//! - `{"do": "env", "names": [..]}` → `{"NAME": value or null, ..}`;
//! - `{"do": "context"}` → the invocation's request id, deadline, function ARN, trace id, and the
//!   process id;
//! - `{"do": "log", "stdout": S, "stderr": E}` → writes the lines, answers `null`;
//! - `{"do": "big", "bytes": N}` → a string of `N` bytes.
//!
//! An API Gateway proxy event (one with `httpMethod`) gets a proxy response: status from the
//! `status` query parameter (default 200), the event it received as the JSON body, a header and
//! a multi-value header; with `binary=1` the body is bytes, base64-encoded. When the event's body
//! is a JSON object with `do`, that action runs first and its error fails the invocation.
//!
//! With `TEST_BOOTSTRAP_INIT_ERROR` set, it posts that message to `/runtime/init/error` and exits
//! before taking any invocation.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[derive(Debug)]
struct Failure {
    error_type: String,
    message: String,
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Diagnostic {
        Diagnostic {
            error_type: failure.error_type,
            error_message: failure.message,
        }
    }
}

fn text(payload: &Value, key: &str) -> String {
    payload
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn act(payload: Value, context: &lambda_runtime::Context) -> Result<Value, Failure> {
    let Some(action) = payload.get("do").and_then(Value::as_str) else {
        return Ok(payload);
    };
    match action {
        "echo" => Ok(payload.get("value").cloned().unwrap_or(Value::Null)),
        "fail" => Err(Failure {
            error_type: text(&payload, "type"),
            message: text(&payload, "message"),
        }),
        "sleep" => {
            let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            match payload.get("then") {
                Some(then) => Box::pin(act(then.clone(), context)).await,
                None => Ok(Value::Null),
            }
        }
        "panic" => panic!("{}", text(&payload, "message")),
        "exit" => {
            let code = payload.get("code").and_then(Value::as_i64).unwrap_or(1);
            std::process::exit(i32::try_from(code).unwrap_or(1));
        }
        "env" => {
            let names = payload.get("names").and_then(Value::as_array);
            let values = names
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| (name.to_owned(), std::env::var(name).ok().into()));
            Ok(Value::Object(values.collect()))
        }
        "context" => Ok(json!({
            "request_id": context.request_id,
            "deadline_ms": context.deadline,
            "invoked_function_arn": context.invoked_function_arn,
            "trace_id": context.xray_trace_id,
            "pid": std::process::id(),
        })),
        "log" => {
            println!("{}", text(&payload, "stdout"));
            eprintln!("{}", text(&payload, "stderr"));
            Ok(Value::Null)
        }
        "big" => {
            let bytes = payload.get("bytes").and_then(Value::as_u64).unwrap_or(0);
            Ok(Value::String(
                "x".repeat(usize::try_from(bytes).unwrap_or(0)),
            ))
        }
        other => Err(Failure {
            error_type: "UnknownAction".to_owned(),
            message: other.to_owned(),
        }),
    }
}

async fn proxy(event: Value, context: &lambda_runtime::Context) -> Result<Value, Failure> {
    let body: Option<Value> = event
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok());
    if let Some(body) = body.filter(|b| b.get("do").is_some()) {
        act(body, context).await?;
    }
    let query = event.get("queryStringParameters");
    let param = |name: &str| query.and_then(|q| q.get(name)).and_then(Value::as_str);
    let status: u16 = param("status").and_then(|s| s.parse().ok()).unwrap_or(200);
    if param("binary") == Some("1") {
        return Ok(json!({
            "statusCode": status,
            "headers": {"content-type": "application/octet-stream"},
            "body": "AJ+Slg==",
            "isBase64Encoded": true,
        }));
    }
    Ok(json!({
        "statusCode": status,
        "headers": {"content-type": "application/json", "x-echo": "yes"},
        "multiValueHeaders": {"x-multi": ["a", "b"]},
        "body": event.to_string(),
        "isBase64Encoded": false,
    }))
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Failure> {
    let (payload, context) = event.into_parts();
    if payload.get("httpMethod").is_some() {
        proxy(payload, &context).await
    } else {
        act(payload, &context).await
    }
}

/// Posts `message` to `/runtime/init/error` with a bare HTTP/1.1 request.
fn post_init_error(message: &str) -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    let body = json!({"errorType": "Runtime.TestInitError", "errorMessage": message}).to_string();
    let mut stream = TcpStream::connect(&api)?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    if let Ok(message) = std::env::var("TEST_BOOTSTRAP_INIT_ERROR") {
        post_init_error(&message)?;
        std::process::exit(3);
    }
    lambda_runtime::run(service_fn(handle)).await
}
