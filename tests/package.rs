//! The function code as it ships: `synth package`'s zips, built in release for the Lambda musl
//! targets. Each holds one executable `bootstrap` that provided.al2023 can start (static, or
//! needing no glibc newer than its 2.34) for the function's architecture, under the key the
//! template refers to; the x86_64 ones run here against a local Lambda Runtime API and answer.
//!
//! The first run builds both functions in release for each architecture (minutes).

use std::io::Read;
use std::path::Path;

use constructs::assets::Architecture;
use local_runtime::lambda::{Function, FunctionConfig, Invoke};
use serde_json::{Value, json};
use synth::package::{Linkage, Packaged, Toolchain, check_runnable};

/// The `bootstrap` of a package, checked for its zip entry's name and mode.
fn bootstrap(package: &Packaged) -> Vec<u8> {
    let file = std::fs::File::open(&package.path).expect("the package exists");
    let mut zip = zip::ZipArchive::new(file).expect("a zip");
    assert_eq!(zip.len(), 1, "{}: only bootstrap", package.path.display());
    let mut entry = zip.by_name("bootstrap").expect("a bootstrap entry");
    assert_eq!(
        entry.unix_mode().map(|mode| mode & 0o777),
        Some(0o755),
        "bootstrap is executable"
    );
    let mut binary = Vec::new();
    entry.read_to_end(&mut binary).expect("read bootstrap");
    binary
}

/// Checks what every shipped package must be, and returns the bootstraps by package name.
fn check_shipped(architecture: Architecture, toolchain: Toolchain) -> Vec<(String, Vec<u8>)> {
    let packages = tests::shipped_packages(architecture, toolchain)
        .unwrap_or_else(|e| panic!("packaging: {}", localstack::error_chain(&e)));
    let template = tests::app_for(architecture)
        .core
        .stack
        .synth()
        .expect("a valid core stack")
        .to_value();
    let mut names: Vec<_> = packages.iter().map(|p| p.asset.package.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ingest", "stream-processor"]);

    packages
        .iter()
        .map(|package| {
            let key = &package.asset.key;
            assert!(
                package.path.ends_with(key),
                "{} is written under its key {key}",
                package.path.display()
            );
            let referenced = template["Resources"]
                .as_object()
                .expect("resources")
                .values()
                .any(|r| r["Properties"]["Code"]["S3Key"] == json!(key));
            assert!(referenced, "the template refers to {key}");

            let binary = bootstrap(package);
            let linkage = check_runnable(&package.path, &binary, architecture)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                linkage,
                Linkage::Static,
                "{}: a musl build links statically",
                package.asset.package
            );
            println!(
                "{} {}: {} bytes zipped, {} bytes binary, {linkage:?}",
                package.asset.package,
                architecture.lambda_name(),
                package.bytes,
                binary.len()
            );
            (package.asset.package.clone(), binary)
        })
        .collect()
}

/// Starts `binary` as function `name` with placeholder environment values: the invocations
/// below never reach AWS.
async fn start(dir: &Path, name: &str, binary: &[u8], environment: &[(&str, &str)]) -> Function {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, binary).expect("write bootstrap");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Function::start(FunctionConfig {
        environment: environment
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        timeout: std::time::Duration::from_secs(10),
        // Nothing listens there: an attempt to call AWS would fail the invocation.
        ..FunctionConfig::new(name, &path, "http://127.0.0.1:9")
    })
    .await
    .unwrap_or_else(|e| panic!("start {name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x86_64_packages_are_static_and_answer_as_lambda_functions() {
    let shipped = check_shipped(Architecture::X86_64, Toolchain::Auto);
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = |name: &str| {
        shipped
            .iter()
            .find(|(package, _)| package == name)
            .map(|(_, binary)| binary.as_slice())
            .expect("packaged")
    };

    let ingest = start(
        dir.path(),
        "ingest",
        binary("ingest"),
        &[
            ("KINESIS_STREAM_NAME", "events"),
            ("USE_KINESIS", "true"),
            ("DYNAMODB_TABLE_NAME", "metrics"),
            // Where the refusal below is reported: unreachable here, so the reports fail
            // (logged) and the client's answer is the same.
            (
                "MALFORMED_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:malformed",
            ),
            ("REFUSED_BUCKET_NAME", "refused"),
        ],
    )
    .await;
    let mut request: Value = serde_json::from_str(
        &std::fs::read_to_string(
            iops_dashboard::workspace_root()
                .join("functions/ingest/tests/fixtures/apigw-post-metrics.json"),
        )
        .expect("the API Gateway fixture"),
    )
    .expect("JSON");
    request["body"] = json!(r#"{"event_type": "heartbeat", "payload": {}}"#);
    let response = ingest.invoke(request).await.expect("an answer");
    assert_eq!(response["statusCode"], 400, "{response}");
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("a body")).expect("JSON verdicts");
    assert!(
        body.to_string().contains("/timestamp"),
        "the shipped validator names the missing field: {body}"
    );
    ingest.stop().await;

    let processor = start(
        dir.path(),
        "stream-processor",
        binary("stream-processor"),
        &[
            ("DYNAMODB_TABLE_NAME", "metrics"),
            (
                "MALFORMED_TOPIC_ARN",
                "arn:aws:sns:us-east-2:123456789012:malformed",
            ),
        ],
    )
    .await;
    let response = processor
        .invoke(json!({"Records": []}))
        .await
        .expect("an answer");
    assert_eq!(response, json!({"batchItemFailures": []}));
    processor.stop().await;
}

#[test]
fn arm64_packages_built_with_zig_are_static_aarch64() {
    // zig (from PyPI, into target/tools) is the cross toolchain: no system package needed.
    check_shipped(Architecture::Arm64, Toolchain::Zig);
}
