//! What the functions need to know about AWS SDK errors: which are worth retrying, and how to
//! log one with its causes.

use std::error::Error;
use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Service error codes that a later attempt may not get: throttling and server faults, for
/// the three services the functions call (DynamoDB, Kinesis, SNS).
const RETRYABLE_CODES: [&str; 11] = [
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "Throttling",
    "Throttled",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "KMSThrottlingException",
    "LimitExceededException",
];

/// Whether a failed SDK call may succeed if made again: timeouts, connection failures,
/// unreadable responses, throttling and 5xx answers. A request the service refused as invalid,
/// or one the SDK could not build, will fail the same way again.
pub fn is_retryable<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    }
}

/// Displays an error and its sources, `outer: cause: root cause`, for a log field.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;

    fn service_error(code: &str) -> SdkError<BatchWriteItemError, ()> {
        let err = BatchWriteItemError::generic(ErrorMetadata::builder().code(code).build());
        SdkError::service_error(err, ())
    }

    #[test]
    fn throttling_and_server_faults_are_retried() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "InternalServerError",
        ] {
            assert!(is_retryable(&service_error(code)), "{code}");
        }
        assert!(is_retryable(
            &SdkError::<BatchWriteItemError, ()>::timeout_error("slow")
        ));
    }

    #[test]
    fn refused_requests_are_not_retried() {
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
        ] {
            assert!(!is_retryable(&service_error(code)), "{code}");
        }
        assert!(!is_retryable(
            &SdkError::<BatchWriteItemError, ()>::construction_failure("bad input")
        ));
    }

    #[test]
    fn a_chain_shows_every_cause() {
        let err = Outer(std::io::Error::other("root"));
        assert_eq!(Chain(&err).to_string(), "outer: root");
    }
}
