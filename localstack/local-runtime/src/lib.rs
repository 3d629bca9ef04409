//! What the emulator cannot run, run locally with AWS semantics from the AWS documentation:
//!
//! - [`lambda`]: the functions' real `bootstrap` binaries as processes, each against a local
//!   Lambda Runtime API, with the environment Lambda gives them; [`lambda::Invoke`] is how the
//!   other pieces call a function;
//! - [`esm`]: the Kinesis event source mapping (per-shard polling, batching, bisect, retries,
//!   partial batch responses, the on-failure record to SQS);
//! - [`firehose`]: a Firehose delivery stream from a Kinesis stream to S3 (buffering, GZIP,
//!   prefix expressions, Firehose's object names);
//! - [`apigw`]: an API Gateway REST stage on a loopback port, proxying to a function, with
//!   SigV4 (`AWS_IAM`), API keys, usage plans, throttles and the access log.
//!
//! Each piece is built from the properties of its CloudFormation resource, so the wiring can
//! read them from the synthesized template.

pub mod apigw;
pub mod esm;
pub mod firehose;
mod follow;
pub mod lambda;
mod retry;
pub mod stream;

/// Every problem of a configuration, in one line: `a; b; c`.
pub(crate) fn join_problems<T: std::fmt::Display>(problems: &[T]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
