//! The event source mapping's settings: the properties of its `AWS::Lambda::EventSourceMapping`
//! resource, and their validation into what the mapping runs with.

use std::fmt;

use crate::stream::{StartingPosition, StreamArn};

/// An `AWS::Lambda::EventSourceMapping` from a Kinesis stream, as the template gives it. Build
/// it with [`EventSourceMappingConfig::new`] and set what the template says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceMappingConfig {
    /// `EventSourceArn`: the stream.
    pub event_source_arn: String,
    /// The function's ARN (`FunctionName`, resolved): `functionArn` of the invocation record.
    pub function_arn: String,
    /// The function's execution role ARN: `invokeIdentityArn` of each record of the event.
    pub invoke_identity_arn: String,
    /// `StartingPosition` (with `StartingPositionTimestamp`).
    pub starting_position: StartingPosition,
    /// `BatchSize`, 1 to 10,000. Default 100.
    pub batch_size: u32,
    /// `BisectBatchOnFunctionError`. Default false.
    pub bisect_batch_on_function_error: bool,
    /// `MaximumRetryAttempts`, -1 to 10,000; -1, the default, retries until the record expires.
    pub maximum_retry_attempts: i32,
    /// `FunctionResponseTypes` holds `ReportBatchItemFailures`. Default false.
    pub report_batch_item_failures: bool,
    /// `DestinationConfig.OnFailure.Destination`: an SQS queue ARN.
    pub on_failure_destination: Option<String>,
    /// `ParallelizationFactor`: only 1, the default, runs here.
    pub parallelization_factor: u32,
}

impl EventSourceMappingConfig {
    /// A mapping from stream `event_source_arn` to function `function_arn` (whose role is
    /// `invoke_identity_arn`), with Lambda's defaults for the rest.
    pub fn new(
        event_source_arn: impl Into<String>,
        function_arn: impl Into<String>,
        invoke_identity_arn: impl Into<String>,
        starting_position: StartingPosition,
    ) -> Self {
        EventSourceMappingConfig {
            event_source_arn: event_source_arn.into(),
            function_arn: function_arn.into(),
            invoke_identity_arn: invoke_identity_arn.into(),
            starting_position,
            batch_size: 100,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: -1,
            report_batch_item_failures: false,
            on_failure_destination: None,
            parallelization_factor: 1,
        }
    }

    /// The settings the mapping runs with, or every problem of this configuration.
    pub(super) fn validate(&self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let stream = self
            .event_source_arn
            .parse::<StreamArn>()
            .map_err(|_| problems.push(Problem::EventSourceArn(self.event_source_arn.clone())))
            .ok();
        if !(1..=10_000).contains(&self.batch_size) {
            problems.push(Problem::BatchSize(self.batch_size));
        }
        let maximum_retries = match self.maximum_retry_attempts {
            -1 => None,
            n => match u32::try_from(n) {
                Ok(n) if n <= 10_000 => Some(n),
                _ => {
                    problems.push(Problem::MaximumRetryAttempts(n));
                    None
                }
            },
        };
        if self.parallelization_factor != 1 {
            problems.push(Problem::ParallelizationFactor(self.parallelization_factor));
        }
        let destination =
            self.on_failure_destination
                .as_deref()
                .and_then(|arn| match QueueArn::parse(arn) {
                    Some(queue) => Some(queue),
                    None => {
                        problems.push(Problem::Destination(arn.to_owned()));
                        None
                    }
                });
        match stream {
            Some(stream) if problems.is_empty() => Ok(Settings {
                stream,
                function_arn: self.function_arn.clone(),
                invoke_identity_arn: self.invoke_identity_arn.clone(),
                starting_position: self.starting_position,
                batch_size: self.batch_size,
                bisect: self.bisect_batch_on_function_error,
                maximum_retries,
                report_batch_item_failures: self.report_batch_item_failures,
                destination,
            }),
            _ => Err(ConfigError {
                function_arn: self.function_arn.clone(),
                problems,
            }),
        }
    }
}

/// What the mapping runs with: [`EventSourceMappingConfig`], checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) stream: StreamArn,
    pub(super) function_arn: String,
    pub(super) invoke_identity_arn: String,
    pub(super) starting_position: StartingPosition,
    pub(super) batch_size: u32,
    pub(super) bisect: bool,
    /// `None`: retry until the records expire.
    pub(super) maximum_retries: Option<u32>,
    pub(super) report_batch_item_failures: bool,
    pub(super) destination: Option<QueueArn>,
}

/// An SQS queue's ARN, `arn:<partition>:sqs:<region>:<account>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueueArn {
    pub(super) account_id: String,
    pub(super) name: String,
}

impl QueueArn {
    fn parse(arn: &str) -> Option<QueueArn> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts[..] {
            ["arn", _, "sqs", region, account_id, name]
                if !region.is_empty() && !account_id.is_empty() && !name.is_empty() =>
            {
                Some(QueueArn {
                    account_id: account_id.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// An event source mapping that cannot run, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the event source mapping of {function_arn} is invalid: {}",
    crate::join_problems(problems)
)]
pub struct ConfigError {
    /// The mapping's function.
    pub function_arn: String,
    /// What is wrong, each property once.
    pub problems: Vec<Problem>,
}

/// One property of [`EventSourceMappingConfig`] out of what the mapping takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `EventSourceArn` is not a Kinesis stream ARN.
    EventSourceArn(String),
    /// `BatchSize` is not within 1..=10000.
    BatchSize(u32),
    /// `MaximumRetryAttempts` is not within -1..=10000.
    MaximumRetryAttempts(i32),
    /// `ParallelizationFactor` is not 1.
    ParallelizationFactor(u32),
    /// The on-failure destination is not an SQS queue ARN.
    Destination(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EventSourceArn(arn) => {
                write!(f, "event source {arn:?} is not a Kinesis stream ARN")
            }
            Problem::BatchSize(n) => write!(f, "batch size is {n}, out of range 1..=10000"),
            Problem::MaximumRetryAttempts(n) => {
                write!(f, "maximum retry attempts is {n}, out of range -1..=10000")
            }
            Problem::ParallelizationFactor(n) => write!(
                f,
                "parallelization factor is {n}; the local event source mapping runs one batch per shard at a time (1)"
            ),
            Problem::Destination(arn) => write!(
                f,
                "on-failure destination {arn:?} is not an SQS queue ARN, the only destination supported locally"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EventSourceMappingConfig {
        EventSourceMappingConfig::new(
            "arn:aws:kinesis:us-east-2:123456789012:stream/events",
            "arn:aws:lambda:us-east-2:123456789012:function:processor",
            "arn:aws:iam::123456789012:role/processor",
            StartingPosition::TrimHorizon,
        )
    }

    #[test]
    fn lambdas_defaults_validate() {
        let settings = config().validate().expect("the defaults are valid");
        assert_eq!(settings.batch_size, 100);
        assert_eq!(settings.maximum_retries, None);
        assert!(!settings.bisect && !settings.report_batch_item_failures);
        assert_eq!(settings.destination, None);
        assert_eq!(settings.stream.name(), "events");
    }

    #[test]
    fn the_templates_settings_validate() {
        let settings = EventSourceMappingConfig {
            batch_size: 100,
            bisect_batch_on_function_error: true,
            maximum_retry_attempts: 3,
            report_batch_item_failures: true,
            on_failure_destination: Some("arn:aws:sqs:us-east-2:123456789012:dlq".to_owned()),
            ..config()
        }
        .validate()
        .expect("valid");
        assert_eq!(settings.maximum_retries, Some(3));
        assert_eq!(
            settings.destination,
            Some(QueueArn {
                account_id: "123456789012".to_owned(),
                name: "dlq".to_owned()
            })
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = EventSourceMappingConfig {
            event_source_arn: "events".to_owned(),
            batch_size: 0,
            maximum_retry_attempts: -2,
            parallelization_factor: 2,
            on_failure_destination: Some("arn:aws:sns:us-east-2:123456789012:topic".to_owned()),
            ..config()
        }
        .validate()
        .expect_err("invalid");
        assert_eq!(
            error.problems,
            [
                Problem::EventSourceArn("events".to_owned()),
                Problem::BatchSize(0),
                Problem::MaximumRetryAttempts(-2),
                Problem::ParallelizationFactor(2),
                Problem::Destination("arn:aws:sns:us-east-2:123456789012:topic".to_owned()),
            ]
        );
        assert!(error.to_string().starts_with(
            "the event source mapping of arn:aws:lambda:us-east-2:123456789012:function:processor is invalid: event source \"events\""
        ));
    }

    #[test]
    fn retries_above_the_limit_are_refused() {
        let error = EventSourceMappingConfig {
            maximum_retry_attempts: 10_001,
            batch_size: 10_001,
            ..config()
        }
        .validate()
        .expect_err("invalid");
        assert_eq!(
            error.problems,
            [
                Problem::BatchSize(10_001),
                Problem::MaximumRetryAttempts(10_001)
            ]
        );
    }
}
