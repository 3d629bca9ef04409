//! The local Kinesis beside moto, with real clients: a stream moto created is taken over, the
//! AWS CLI pointed at the emulator is throttled as against AWS, and the stream's metrics land in
//! moto's CloudWatch.

use tokio::process::Command;

use aws_sdk_kinesis::config::BehaviorVersion;
use emulator::local_kinesis::ShardLimits;
use emulator::{Emulator, Options};
use serde_json::Value;

/// Runs the pinned AWS CLI with the emulator's environment and nothing else of ours; its JSON.
/// (Awaited, not blocking: the local Kinesis answers on this test's runtime.)
async fn aws(emulator: &Emulator, args: &[&str]) -> Value {
    let cli =
        tokio::task::spawn_blocking(|| emulator::python::AWS_CLI.ensure(&emulator::tools_dir()))
            .await
            .expect("the install does not panic")
            .expect("the AWS CLI installs");
    let output = Command::new(cli)
        .args(args)
        .args(["--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .envs(emulator.client_env(emulator.region()))
        .output()
        .await
        .expect("aws runs");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test]
async fn the_aws_cli_is_throttled_by_the_local_kinesis_on_a_stream_moto_created() {
    // 2 records a second per shard: the CLI starts in about a second, so AWS's 1,000 would
    // refill between its calls; the numbers themselves are checked on a paused clock.
    let emulator = Emulator::moto_with(Options {
        kinesis_limits: ShardLimits {
            write_records_per_second: 2.0,
            ..ShardLimits::AWS
        },
        ..Options::default()
    })
    .await
    .expect("moto starts");
    // Created in moto itself, as its CloudFormation creates the stack's stream.
    let moto_only = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(emulator.endpoint())
            .region(aws_sdk_kinesis::config::Region::new(
                emulator.region().to_owned(),
            ))
            .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
                "test", "test", None, None, "t",
            ))
            .build(),
    );
    moto_only
        .create_stream()
        .stream_name("events")
        .shard_count(1)
        .send()
        .await
        .expect("moto creates the stream");
    let moto_arn = moto_only
        .describe_stream_summary()
        .stream_name("events")
        .send()
        .await
        .expect("moto describes it")
        .stream_description_summary()
        .map(|s| s.stream_arn().to_owned());

    let summary = aws(
        &emulator,
        &[
            "kinesis",
            "describe-stream-summary",
            "--stream-name",
            "events",
        ],
    )
    .await;
    assert_eq!(
        summary["StreamDescriptionSummary"]["StreamARN"].as_str(),
        moto_arn.as_deref(),
        "taken over with moto's ARN"
    );
    let records: Vec<String> = (0..10)
        .map(|i| format!("Data=event-{i},PartitionKey=user-{i}"))
        .collect();
    let mut args = vec![
        "kinesis",
        "put-records",
        "--stream-name",
        "events",
        "--records",
    ];
    args.extend(records.iter().map(String::as_str));
    let put = aws(&emulator, &args).await;
    let failed = put["FailedRecordCount"].as_u64().expect("a count");
    assert!(failed >= 8, "{put}");
    let codes: Vec<&str> = put["Records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["ErrorCode"].as_str())
        .collect();
    assert!(
        codes
            .iter()
            .all(|c| *c == "ProvisionedThroughputExceededException"),
        "{codes:?}"
    );

    emulator.flush_kinesis_metrics().await.expect("published");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (start, end) = ((now - 600).to_string(), (now + 600).to_string());
    let stats = aws(
        &emulator,
        &[
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            "AWS/Kinesis",
            "--metric-name",
            "WriteProvisionedThroughputExceeded",
            "--dimensions",
            "Name=StreamName,Value=events",
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--period",
            "60",
            "--statistics",
            "Sum",
        ],
    )
    .await;
    let refused: f64 = stats["Datapoints"]
        .as_array()
        .expect("datapoints")
        .iter()
        .filter_map(|d| d["Sum"].as_f64())
        .sum();
    assert_eq!(refused, failed as f64, "{stats}");
}
