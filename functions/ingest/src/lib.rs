//! The IOps Dashboard ingest function: `POST /metrics` behind API Gateway (REST, proxy).
//!
//! It checks every event against the shared contract ([`event_contract`]) at the edge, refuses
//! a request with any malformed event (400, with the verdicts), and sends the valid ones either
//! to the events stream with `PutRecords` (`USE_KINESIS=true`) or, on the path from before the
//! stream, straight to the metrics table with the same items the stream processor writes
//! (`USE_KINESIS=false`). See [`handler`] for every answer it gives.
//!
//! Every refused request is reported the way the stream processor reports malformed records:
//! one alert on the malformed-events topic (at most one per interval from an execution
//! environment, [`limiter`]), the malformed-rate metrics, and, for forensics, its body kept in
//! S3 ([`refused`]).
//!
//! The handler ([`Ingest`]) depends on narrow traits, [`KinesisSink`], [`EventStore`],
//! [`RefusedStore`], [`AlertPublisher`] and [`MetricsSink`], implemented over the AWS SDK and
//! standard output for Lambda and by in-memory fakes in the tests.
//!
//! [`KinesisSink`]: kinesis::KinesisSink
//! [`EventStore`]: event_contract::store::EventStore
//! [`RefusedStore`]: refused::RefusedStore
//! [`AlertPublisher`]: event_contract::alert::AlertPublisher
//! [`MetricsSink`]: event_contract::emf::MetricsSink

pub mod config;
pub mod handler;
pub mod kinesis;
pub mod limiter;
pub mod refused;

pub use handler::{Incoming, Ingest, Reason, Reply, Reporters, Sink};

/// Every AWS API action ingest calls (`service:Action`, as IAM names them) on the path
/// `use_kinesis` picks, through the SDK clients here and in [`event_contract`]: the stack's
/// policy must allow exactly these. A test reads the sources and fails when a call is added
/// without being listed, or listed without being made.
pub fn aws_calls(use_kinesis: bool) -> Vec<&'static str> {
    let sink = if use_kinesis {
        "kinesis:PutRecords"
    } else {
        "dynamodb:BatchWriteItem"
    };
    vec![sink, "s3:PutObject", "sns:Publish"]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::aws_calls;

    #[test]
    fn each_path_calls_its_sink_and_reports_refusals() {
        assert_eq!(
            aws_calls(true),
            ["kinesis:PutRecords", "s3:PutObject", "sns:Publish"]
        );
        assert_eq!(
            aws_calls(false),
            ["dynamodb:BatchWriteItem", "s3:PutObject", "sns:Publish"]
        );
    }

    #[test]
    fn the_aws_calls_listed_are_the_calls_the_code_makes() {
        let called =
            event_contract::aws_calls::called_by_crate(Path::new(env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_else(|e| panic!("cannot read the sources: {e}"));
        let listed: BTreeSet<String> = [true, false]
            .into_iter()
            .flat_map(aws_calls)
            .map(str::to_owned)
            .collect();
        assert_eq!(
            called, listed,
            "aws_calls() against the SDK calls in the sources"
        );
    }
}
