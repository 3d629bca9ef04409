//! The IOps Dashboard stream processor: a Lambda on the events stream.
//!
//! For each batch of Kinesis records it validates every record with the shared contract
//! ([`event_contract`]), writes the valid ones (warnings included) to the metrics table with
//! `BatchWriteItem`, reports the malformed ones in one SNS message, emits the custom metrics the
//! malformed-rate alarm reads, and answers with `batchItemFailures` naming exactly the records
//! whose write failed, so the event source mapping retries, bisects and dead-letters those and
//! nothing else. A malformed record is never among them: retrying cannot fix it.
//!
//! The handler ([`Processor`]) depends on three narrow traits, [`EventStore`], [`AlertPublisher`]
//! and [`MetricsSink`], implemented over the AWS SDK and standard output for Lambda and by
//! in-memory fakes in the tests.
//!
//! The alert and the metrics are the ones ingest sends too, from [`event_contract::alert`] and
//! [`event_contract::emf`]: one shape on the topic, one namespace for the alarm.
//!
//! [`EventStore`]: event_contract::store::EventStore
//! [`AlertPublisher`]: event_contract::alert::AlertPublisher
//! [`MetricsSink`]: event_contract::emf::MetricsSink

pub mod config;
pub mod processor;

pub use processor::{Outcome, Prepared, Processor, prepare};

/// Every AWS API action the processor calls (`service:Action`, as IAM names them), through the
/// SDK clients here and in [`event_contract`]: the stack's policy must allow exactly these. A
/// test reads the sources and fails when a call is added without being listed, or listed
/// without being made.
pub const AWS_CALLS: &[&str] = &["dynamodb:BatchWriteItem", "sns:Publish"];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::AWS_CALLS;

    #[test]
    fn the_aws_calls_listed_are_the_calls_the_code_makes() {
        let called =
            event_contract::aws_calls::called_by_crate(Path::new(env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_else(|e| panic!("cannot read the sources: {e}"));
        let listed: BTreeSet<String> = AWS_CALLS.iter().map(|c| (*c).to_owned()).collect();
        assert_eq!(
            called, listed,
            "AWS_CALLS against the SDK calls in the sources"
        );
    }
}
