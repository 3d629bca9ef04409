//! The Kinesis event source mapping, run locally: it reads each shard of the stream from the
//! starting position and invokes the function synchronously with batches of records, one batch
//! per shard at a time, in sequence-number order.
//!
//! The event is the one Lambda sends (`Records` of `aws:kinesis:record`, base64 data,
//! `eventID` = `<shardId>:<sequenceNumber>`), up to `BatchSize` records and within the 6 MB
//! invocation limit. Failures are handled as the Lambda documentation describes (see
//! `batch.rs`): `BisectBatchOnFunctionError`, `MaximumRetryAttempts`, `ReportBatchItemFailures`;
//! a discarded batch is described to the on-failure SQS queue by an [`InvocationRecord`], and
//! [`redrive`] passes the records it names through the function again once the fault is fixed.
//!
//! Not implemented: `MaximumRecordAgeInSeconds`, `MaximumBatchingWindowInSeconds`, tumbling
//! windows, filters, `ParallelizationFactor` above 1, SNS destinations, following a resharding.
//! The position in each shard lives in memory only.

mod batch;
mod config;
mod event;
mod mapping;
mod record;
mod redrive;
mod response;

pub use config::{ConfigError, EventSourceMappingConfig, Problem};
pub use mapping::{DEFAULT_POLL_INTERVAL, EventSourceMapping, StartError};
pub use record::{InvocationRecord, KinesisBatchInfo, RequestContext, ResponseContext};
pub use redrive::{RedriveError, Redriven, redrive};

pub use crate::stream::StartingPosition;
