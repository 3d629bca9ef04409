//! Ingest's Lambda entry point (`bootstrap` on `provided.al2023`): reads the settings, builds
//! the AWS clients its path needs once, and serves API Gateway requests.

use anyhow::{Context, anyhow};
use aws_config::BehaviorVersion;
use event_contract::alert::SnsPublisher;
use event_contract::backoff::Backoff;
use event_contract::emf::StdoutMetrics;
use event_contract::store::DynamoDbStore;
use ingest::config::{Config, Destination};
use ingest::kinesis::KinesisStream;
use ingest::refused::S3RefusedStore;
use ingest::{Ingest, Reporters, Sink};
use lambda_http::service_fn;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env().context("cannot configure the ingest function")?;
    // Region, credentials and AWS_ENDPOINT_URL come from the environment, as the SDK reads them.
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let sink: Sink<KinesisStream, DynamoDbStore> = match config.destination {
        Destination::Kinesis { stream_name } => Sink::Kinesis(KinesisStream::new(
            aws_sdk_kinesis::Client::new(&aws),
            stream_name,
        )),
        Destination::Direct { table_name } => Sink::Direct(DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            table_name,
        )),
    };
    // An endpoint override is a local emulator, which has no DNS for `bucket.host`: address
    // buckets by path there. In Lambda no override is set and S3 is addressed by host.
    let s3 = aws_sdk_s3::config::Builder::from(&aws)
        .force_path_style(aws.endpoint_url().is_some())
        .build();
    let reporters = Reporters {
        refused: S3RefusedStore::new(aws_sdk_s3::Client::from_conf(s3), config.refused_bucket),
        alerts: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), config.topic_arn),
        metrics: StdoutMetrics,
        alert_interval: config.alert_interval,
    };
    let ingest = Ingest::new(sink, reporters, Backoff::default());
    lambda_http::run(service_fn(|request| ingest.handle(request)))
        .await
        .map_err(|e| anyhow!(e))
}
