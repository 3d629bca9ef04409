//! Lambda functions run locally: the function's real `bootstrap` runs as a process against a
//! local [Lambda Runtime API] on a loopback port, with the environment Lambda gives it.
//!
//! As on Lambda:
//! - an execution environment runs one invocation at a time; a [`Function`] has
//!   [`FunctionConfig::concurrency`] of them (the reserved concurrency, or fewer). Invocations
//!   beyond that wait for a free environment, where Lambda would throttle them;
//! - an invocation longer than the function's timeout fails with `Sandbox.Timedout`, and the
//!   environment is killed and started again;
//! - a runtime that exits during an invocation fails it with `Runtime.ExitError`, and the
//!   environment is started again; an error posted to `/runtime/init/error` fails the pending
//!   invocation with the posted error;
//! - requests and responses are limited to 6 MB.
//!
//! What the processes write to stdout and stderr is kept line by line ([`Function::logs`]) and,
//! when configured, appended to a file.
//!
//! [Lambda Runtime API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

mod config;
mod environment;
mod function;
mod logs;
mod runtime_api;

use std::future::Future;

use serde_json::Value;

pub use config::{DUMMY_CREDENTIAL, FunctionConfig, LogFormat, LoggingConfig};
pub use function::{Function, StartError};
pub use logs::{LogLine, LogStream, MAX_LOG_LINES};

/// The largest request and response of a synchronous invocation, in bytes (6 MB).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Calls a function synchronously (`RequestResponse`): what the event source mapping and API
/// Gateway need of a function. [`Function`] runs the real one; any
/// `Fn(Value) -> impl Future<Output = Result<Value, InvokeError>>` is one too, for tests and
/// fault injection.
pub trait Invoke: Send + Sync {
    /// Invokes the function with `payload`; its response, or why there is none.
    fn invoke(&self, payload: Value) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

impl<F, Fut> Invoke for F
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, InvokeError>> + Send,
{
    fn invoke(&self, payload: Value) -> impl Future<Output = Result<Value, InvokeError>> + Send {
        self(payload)
    }
}

/// An invocation without a response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The function failed: it reported an error (`/invocation/{id}/error`), its runtime exited
    /// (`Runtime.ExitError`), it timed out (`Sandbox.Timedout`), its initialization failed, or
    /// its response was too large (`Function.ResponseSizeTooLarge`). Lambda answers these with
    /// status 200 and `X-Amz-Function-Error: Unhandled`.
    #[error("the function failed with {error_type}: {error_message}")]
    Function {
        /// `errorType`, e.g. `Sandbox.Timedout`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
    /// The payload is over [`MAX_PAYLOAD_BYTES`] (Lambda's `RequestTooLargeException`).
    #[error(
        "the payload is {bytes} bytes, more than the {limit} bytes of a synchronous invocation"
    )]
    RequestTooLarge {
        /// The payload's size.
        bytes: usize,
        /// [`MAX_PAYLOAD_BYTES`].
        limit: usize,
    },
    /// The function was stopped ([`Function::stop`]) before it answered.
    #[error("function {function} is stopped")]
    Stopped {
        /// The function's name.
        function: String,
    },
    /// No execution environment could be started for the invocation.
    #[error("no execution environment could be started")]
    Environment(#[source] StartError),
}

impl InvokeError {
    /// A function error with this type and message.
    pub fn function(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        InvokeError::Function {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }
}
