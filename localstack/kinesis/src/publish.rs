//! Publishing the metrics: every interval (a minute, as Kinesis does), the minutes that ended
//! go to a sink; stopping publishes what is left, the current minute too.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_cloudwatch::config::{BehaviorVersion, Region};
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};

use crate::metrics::{Datum, NAMESPACE, STREAM_NAME_DIMENSION, Unit};

/// A future a sink returns.
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Where the metrics go.
pub trait MetricsSink: Send + Sync + std::fmt::Debug + 'static {
    fn publish(&self, data: Vec<Datum>) -> PublishFuture<'_>;
}

/// CloudWatch's `PutMetricData` at an endpoint (the emulator's), with dummy credentials, in the
/// region of each stream.
#[derive(Debug)]
pub struct CloudWatchSink {
    endpoint: String,
    clients: Mutex<HashMap<String, aws_sdk_cloudwatch::Client>>,
}

impl CloudWatchSink {
    pub fn new(endpoint: impl Into<String>) -> CloudWatchSink {
        CloudWatchSink {
            endpoint: endpoint.into(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_cloudwatch::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .endpoint_url(&self.endpoint)
                    .region(Region::new(region.to_owned()))
                    .credentials_provider(Credentials::new("test", "test", None, None, "metrics"))
                    .build();
                aws_sdk_cloudwatch::Client::from_conf(config)
            })
            .clone()
    }
}

fn datum(d: &Datum) -> MetricDatum {
    let seconds = d
        .minute
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    MetricDatum::builder()
        .metric_name(d.metric)
        .dimensions(
            Dimension::builder()
                .name(STREAM_NAME_DIMENSION)
                .value(&d.stream)
                .build(),
        )
        .timestamp(DateTime::from_secs(i64::try_from(seconds).unwrap_or(0)))
        .unit(match d.unit {
            Unit::Count => StandardUnit::Count,
            Unit::Bytes => StandardUnit::Bytes,
            Unit::Milliseconds => StandardUnit::Milliseconds,
        })
        .statistic_values(
            StatisticSet::builder()
                .sample_count(d.statistics.sample_count)
                .sum(d.statistics.sum)
                .minimum(d.statistics.minimum)
                .maximum(d.statistics.maximum)
                .build(),
        )
        .build()
}

impl MetricsSink for CloudWatchSink {
    fn publish(&self, data: Vec<Datum>) -> PublishFuture<'_> {
        Box::pin(async move {
            let mut by_region: HashMap<String, Vec<MetricDatum>> = HashMap::new();
            for d in &data {
                by_region
                    .entry(d.region.clone())
                    .or_default()
                    .push(datum(d));
            }
            for (region, metrics) in by_region {
                let client = self.client(&region);
                // PutMetricData takes 1,000 data at most.
                for chunk in metrics.chunks(1000) {
                    client
                        .put_metric_data()
                        .namespace(NAMESPACE)
                        .set_metric_data(Some(chunk.to_vec()))
                        .send()
                        .await
                        .map_err(|e| {
                            format!(
                                "PutMetricData to {} ({region}): {}",
                                self.endpoint,
                                DisplayErrorContext(&e)
                            )
                        })?;
                }
            }
            Ok(())
        })
    }
}
