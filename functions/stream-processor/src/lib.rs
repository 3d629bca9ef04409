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
//! [`EventStore`]: event_contract::store::EventStore
//! [`AlertPublisher`]: alert::AlertPublisher
//! [`MetricsSink`]: emf::MetricsSink

pub mod alert;
pub mod config;
pub mod emf;
pub mod processor;

pub use processor::{Outcome, Prepared, Processor, prepare};
