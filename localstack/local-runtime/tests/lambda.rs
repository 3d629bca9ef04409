//! The local Lambda runtime, with the crate's test bootstrap as the function.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use local_runtime::lambda::{
    Function, FunctionConfig, Invoke, InvokeError, LogFormat, LogStream, LoggingConfig,
    MAX_PAYLOAD_BYTES, StartError,
};
use serde_json::{Value, json};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_test-bootstrap");

fn config(name: &str) -> FunctionConfig {
    FunctionConfig::new(name, BOOTSTRAP, "http://127.0.0.1:4566")
}

async fn start(config: FunctionConfig) -> Function {
    Function::start(config)
        .await
        .expect("the test bootstrap starts")
}

async fn pid(function: &Function) -> u64 {
    let context = function
        .invoke(json!({"do": "context"}))
        .await
        .expect("the context is answered");
    context["pid"].as_u64().expect("a pid")
}

fn function_error(result: Result<Value, InvokeError>) -> (String, String) {
    match result {
        Err(InvokeError::Function {
            error_type,
            error_message,
        }) => (error_type, error_message),
        other => panic!("expected a function error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invocation_gets_the_response_and_the_context_lambda_gives() {
    let function = start(FunctionConfig {
        timeout: Duration::from_secs(30),
        ..config("echo")
    })
    .await;
    let echoed = function.invoke(json!({"a": [1, "two"]})).await;
    assert_eq!(echoed.expect("an echo"), json!({"a": [1, "two"]}));

    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let context = function
        .invoke(json!({"do": "context"}))
        .await
        .expect("a context");
    let request_id = context["request_id"].as_str().expect("a request id");
    assert_eq!(
        uuid::Uuid::parse_str(request_id).map(|u| u.get_version_num()),
        Ok(4)
    );
    assert_eq!(
        context["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:echo"
    );
    let deadline = context["deadline_ms"].as_u64().expect("a deadline");
    let expected = u64::try_from((before + Duration::from_secs(30)).as_millis()).expect("ms fit");
    assert!(
        deadline >= expected && deadline < expected + 10_000,
        "deadline {deadline}"
    );
    let trace = context["trace_id"].as_str().expect("a trace id");
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent="),
        "{trace}"
    );
    function.stop().await;
}

#[tokio::test]
async fn the_process_gets_the_templates_variables_and_lambdas_not_the_callers() {
    let function = start(FunctionConfig {
        environment: BTreeMap::from([("TABLE".to_owned(), "metrics".to_owned())]),
        memory_mb: 512,
        region: "us-east-2".to_owned(),
        logging: LoggingConfig {
            format: LogFormat::Json,
            application_log_level: Some("WARN".to_owned()),
            log_group: None,
        },
        ..config("env")
    })
    .await;
    let names = [
        "TABLE",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_REGION",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_LEVEL",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "HOME",
        "CARGO",
    ];
    let env = function
        .invoke(json!({"do": "env", "names": names}))
        .await
        .expect("the environment is answered");
    assert_eq!(env["TABLE"], "metrics");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "env");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(env["AWS_REGION"], "us-east-2");
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    assert_eq!(env["AWS_LAMBDA_LOG_LEVEL"], "WARN");
    assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:4566");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "test");
    // Nothing of the test process leaks in: no real credentials, profile or home.
    assert_eq!(env["HOME"], Value::Null);
    assert_eq!(env["CARGO"], Value::Null);
    function.stop().await;
}

#[tokio::test]
async fn a_reported_error_or_a_panic_fails_the_invocation_and_keeps_the_environment() {
    let function = start(config("errors")).await;
    let before = pid(&function).await;
    let failed = function
        .invoke(json!({"do": "fail", "type": "WriteFailed", "message": "table is gone"}))
        .await;
    assert_eq!(
        function_error(failed),
        ("WriteFailed".to_owned(), "table is gone".to_owned())
    );
    let panicked = function
        .invoke(json!({"do": "panic", "message": "boom"}))
        .await;
    let (_, message) = function_error(panicked);
    assert!(message.contains("boom"), "{message}");
    assert_eq!(pid(&function).await, before);
    function.stop().await;
}

#[tokio::test]
async fn a_timeout_kills_the_process_reports_task_timed_out_and_starts_a_new_one() {
    let function = start(FunctionConfig {
        timeout: Duration::from_millis(500),
        ..config("slow")
    })
    .await;
    let before = pid(&function).await;
    let slow = function.invoke(json!({"do": "sleep", "ms": 60_000})).await;
    let (error_type, message) = function_error(slow);
    assert_eq!(error_type, "Sandbox.Timedout");
    assert!(
        message.ends_with("Error: Task timed out after 0.50 seconds"),
        "{message}"
    );
    assert!(
        function
            .logs()
            .iter()
            .any(|l| l.stream == LogStream::Platform
                && l.text.ends_with("Task timed out after 0.50 seconds"))
    );
    let after = pid(&function).await;
    assert_ne!(after, before);
    assert!(!std::path::Path::new(&format!("/proc/{before}")).exists());
    function.stop().await;
}

#[tokio::test]
async fn a_crash_is_an_exit_error_and_the_environment_starts_again() {
    let function = start(config("crash")).await;
    let before = pid(&function).await;
    let crashed = function.invoke(json!({"do": "exit", "code": 7})).await;
    let (error_type, message) = function_error(crashed);
    assert_eq!(error_type, "Runtime.ExitError");
    assert!(
        message.ends_with("Runtime exited with error: exit status 7"),
        "{message}"
    );
    assert_ne!(pid(&function).await, before);
    function.stop().await;
}

#[tokio::test]
async fn an_init_error_fails_the_invocation_with_the_posted_error() {
    let function = start(FunctionConfig {
        environment: BTreeMap::from([(
            "TEST_BOOTSTRAP_INIT_ERROR".to_owned(),
            "no table name".to_owned(),
        )]),
        ..config("init")
    })
    .await;
    let failed = function.invoke(json!({"do": "echo", "value": 1})).await;
    assert_eq!(
        function_error(failed),
        (
            "Runtime.TestInitError".to_owned(),
            "no table name".to_owned()
        )
    );
    function.stop().await;
}

#[tokio::test]
async fn stdout_and_stderr_are_kept_and_written_to_the_log_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("logs").join("function.log");
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("the log folder");
    let function = start(FunctionConfig {
        log_file: Some(path.clone()),
        ..config("logs")
    })
    .await;
    function
        .invoke(json!({"do": "log", "stdout": "to stdout", "stderr": "to stderr"}))
        .await
        .expect("the lines are written");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let has = |stream, text: &str| {
        function
            .logs()
            .iter()
            .any(|l| l.stream == stream && l.text == text)
    };
    while !(has(LogStream::Stdout, "to stdout") && has(LogStream::Stderr, "to stderr")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "logs: {:?}",
            function.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let file = std::fs::read_to_string(&path).expect("the log file");
    assert!(
        file.contains("to stdout\n") && file.contains("to stderr\n"),
        "{file}"
    );
    function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_run_invocations_side_by_side_one_at_a_time_each() {
    let sleep_then_pid = json!({"do": "sleep", "ms": 300, "then": {"do": "context"}});
    let two = start(FunctionConfig {
        concurrency: NonZeroUsize::new(2).expect("two"),
        ..config("two")
    })
    .await;
    let (a, b) = tokio::join!(
        two.invoke(sleep_then_pid.clone()),
        two.invoke(sleep_then_pid.clone())
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_ne!(
        a["pid"], b["pid"],
        "two environments served the two invocations"
    );
    two.stop().await;

    let one = start(config("one")).await;
    let (a, b) = tokio::join!(
        one.invoke(sleep_then_pid.clone()),
        one.invoke(sleep_then_pid)
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a["pid"], b["pid"], "one environment served both, in turn");
    one.stop().await;
}

#[tokio::test]
async fn payloads_over_six_megabytes_are_refused_both_ways() {
    let function = start(config("big")).await;
    let huge = json!({"data": "x".repeat(MAX_PAYLOAD_BYTES)});
    assert!(matches!(
        function.invoke(huge).await,
        Err(InvokeError::RequestTooLarge {
            limit: MAX_PAYLOAD_BYTES,
            ..
        })
    ));
    let too_big = function
        .invoke(json!({"do": "big", "bytes": MAX_PAYLOAD_BYTES}))
        .await;
    assert_eq!(function_error(too_big).0, "Function.ResponseSizeTooLarge");
    let fits = function.invoke(json!({"do": "big", "bytes": 1024})).await;
    assert_eq!(
        fits.expect("a small response").as_str().map(str::len),
        Some(1024)
    );
    function.stop().await;
}

#[tokio::test]
async fn a_stopped_function_kills_its_processes_and_refuses_invocations() {
    let function = start(config("stopped")).await;
    let running = pid(&function).await;
    function.stop().await;
    assert!(!std::path::Path::new(&format!("/proc/{running}")).exists());
    assert!(matches!(
        function.invoke(json!({})).await,
        Err(InvokeError::Stopped { function }) if function == "stopped"
    ));
}

#[tokio::test]
async fn a_missing_bootstrap_is_a_start_error_naming_it() {
    let missing = FunctionConfig::new("missing", "/nonexistent/bootstrap", "http://127.0.0.1:1");
    let error = Function::start(missing)
        .await
        .expect_err("nothing to start");
    assert!(matches!(&error, StartError::Spawn { function, .. } if function == "missing"));
    assert_eq!(
        error.to_string(),
        "function missing: cannot start /nonexistent/bootstrap"
    );
}

#[tokio::test]
async fn a_closure_is_an_invoke_too() {
    let double = |payload: Value| async move {
        let n = payload
            .as_i64()
            .ok_or_else(|| InvokeError::function("NotANumber", "need a number"))?;
        Ok(json!(n * 2))
    };
    assert_eq!(double.invoke(json!(21)).await.expect("doubled"), json!(42));
    assert!(matches!(
        double.invoke(json!("x")).await,
        Err(InvokeError::Function { .. })
    ));
}
