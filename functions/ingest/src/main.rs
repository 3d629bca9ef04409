//! Ingest's Lambda entry point (`bootstrap` on `provided.al2023`): reads the settings, builds
//! the one AWS client its path needs, and serves API Gateway requests.

use anyhow::{Context, anyhow};
use aws_config::BehaviorVersion;
use event_contract::backoff::Backoff;
use event_contract::store::DynamoDbStore;
use ingest::config::Destination;
use ingest::kinesis::KinesisStream;
use ingest::{Ingest, Sink};
use lambda_http::service_fn;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    lambda_http::tracing::init_default_subscriber();
    let destination = Destination::from_env().context("cannot configure the ingest function")?;
    // Region, credentials and AWS_ENDPOINT_URL come from the environment, as the SDK reads them.
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let sink: Sink<KinesisStream, DynamoDbStore> = match destination {
        Destination::Kinesis { stream_name } => Sink::Kinesis(KinesisStream::new(
            aws_sdk_kinesis::Client::new(&aws),
            stream_name,
        )),
        Destination::Direct { table_name } => Sink::Direct(DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            table_name,
        )),
    };
    let ingest = Ingest::new(sink, Backoff::default());
    lambda_http::run(service_fn(|request| ingest.handle(request)))
        .await
        .map_err(|e| anyhow!(e))
}
