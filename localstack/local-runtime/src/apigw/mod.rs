//! API Gateway, run locally: a REST API stage on a loopback port whose methods have a Lambda
//! proxy integration (`AWS_PROXY`) with one function. A request becomes the proxy event
//! (payload format 1.0: `resource`, `path`, `httpMethod`, `headers`/`multiValueHeaders`,
//! query parameters, `pathParameters`, `body`, `isBase64Encoded`, `requestContext` with the
//! stage, request id, resource path, source IP and the caller's identity), the function is
//! invoked through [`crate::lambda::Invoke`], and its proxy response becomes the HTTP response.
//!
//! Checked as API Gateway checks them, in its order: the method; the SigV4 signature of an
//! `AWS_IAM` method against the configured credentials; the API key of a method that requires
//! one (known, enabled, in a usage plan of the stage); the stage's throttle, then the key's usage
//! plan's throttle and quota; the body's size (10 MB) and how long it takes to arrive. Each
//! request, refusals included, can be written to an access log in the stage's format.
//!
//! Not implemented: IAM policy evaluation (a valid signature by a known key is enough: whether
//! the identity may `execute-api:Invoke` is not asked), presigned (query string) SigV4 requests
//! (refused, saying so), Lambda and Cognito authorizers, per-method throttles (`MethodSettings`
//! other than `/*/*`, usage plans' per-method throttles), quota offsets, the account-level
//! throttle, request validation, binary media types (a body that is not UTF-8 is always
//! base64-encoded), stage variables, non-proxy integrations, CORS. Header names reach the
//! function in lower case.

mod access_log;
mod config;
mod event;
mod response;
mod route;
mod server;
mod signer;
mod sigv4;
mod throttle;

pub use access_log::AccessLogSink;
pub use config::{
    ApiKey, Authorization, ConfigError, DEFAULT_REGION, MIN_API_KEY_LENGTH, Quota, QuotaPeriod,
    RestApiConfig, Route, Throttle, UnknownQuotaPeriod, UnsupportedAuthorization, UsagePlan,
};
pub use server::{API_KEY_HEADER, ApiGateway, MAX_REQUEST_BYTES, StartError};
pub use signer::{SignError, Signer};
pub use sigv4::SERVICE;
