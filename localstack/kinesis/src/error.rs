//! The service's errors, as Kinesis answers them: HTTP 400 (500 for an internal failure) with
//! `{"__type": "<code>", "message": "<text>"}` and the code in `x-amzn-ErrorType`, which is what
//! the SDKs parse.

use std::fmt;

/// An error code of the Kinesis API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ResourceNotFound,
    ResourceInUse,
    InvalidArgument,
    Validation,
    ProvisionedThroughputExceeded,
    ExpiredIterator,
    LimitExceeded,
    UnknownOperation,
    Serialization,
    Internal,
}

impl ErrorCode {
    /// The code on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::ResourceInUse => "ResourceInUseException",
            ErrorCode::InvalidArgument => "InvalidArgumentException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            ErrorCode::ExpiredIterator => "ExpiredIteratorException",
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::Serialization => "SerializationException",
            ErrorCode::Internal => "InternalFailure",
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::Internal => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An answer that is an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(stream: &str, account: &str) -> ApiError {
        ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("Stream {stream} under account {account} not found."),
        )
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidArgument, message)
    }

    /// AWS's message, e.g. "1 validation error detected: Value '' at 'partitionKey' failed to
    /// satisfy constraint: Member must have length greater than or equal to 1".
    pub(crate) fn validation(value: &str, member: &str, constraint: &str) -> ApiError {
        ApiError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
                 constraint: {constraint}"
            ),
        )
    }
}
