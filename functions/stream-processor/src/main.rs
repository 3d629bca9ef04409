//! The stream processor's Lambda entry point (`bootstrap` on `provided.al2023`): reads the
//! settings, builds the AWS clients once, and serves invocations.

use anyhow::{Context, anyhow};
use aws_config::BehaviorVersion;
use event_contract::alert::SnsPublisher;
use event_contract::backoff::Backoff;
use event_contract::emf::StdoutMetrics;
use event_contract::store::DynamoDbStore;
use lambda_runtime::service_fn;
use stream_processor::Processor;
use stream_processor::config::Config;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().context("cannot configure the stream processor")?;
    // Region, credentials and AWS_ENDPOINT_URL come from the environment, as the SDK reads them.
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let processor = Processor::new(
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), config.table_name),
        SnsPublisher::new(aws_sdk_sns::Client::new(&aws), config.topic_arn),
        StdoutMetrics,
        Backoff::default(),
    );
    lambda_runtime::run(service_fn(|event| processor.handle(event)))
        .await
        .map_err(|e| anyhow!(e))
}
