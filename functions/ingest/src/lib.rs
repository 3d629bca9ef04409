//! The IOps Dashboard ingest function: `POST /metrics` behind API Gateway (REST, proxy).
//!
//! It checks every event against the shared contract ([`event_contract`]) at the edge, refuses
//! a request with any malformed event (400, with the verdicts), and sends the valid ones either
//! to the events stream with `PutRecords` (`USE_KINESIS=true`) or, on the path from before the
//! stream, straight to the metrics table with the same items the stream processor writes
//! (`USE_KINESIS=false`). See [`handler`] for every answer it gives.
//!
//! The handler ([`Ingest`]) depends on two narrow traits, [`KinesisSink`] and
//! [`EventStore`], implemented over the AWS SDK for Lambda and by in-memory fakes in the tests.
//!
//! [`KinesisSink`]: kinesis::KinesisSink
//! [`EventStore`]: event_contract::store::EventStore

pub mod config;
pub mod handler;
pub mod kinesis;

pub use handler::{Incoming, Ingest, Reply, Sink};
