//! API Gateway, run locally: a REST API stage on a loopback port whose methods have a Lambda
//! proxy integration (`AWS_PROXY`) with one function. A request becomes the proxy event
//! (payload format 1.0: `resource`, `path`, `httpMethod`, `headers`/`multiValueHeaders`,
//! query parameters, `pathParameters`, `body`, `isBase64Encoded`, `requestContext` with the
//! stage, request id, resource path and source IP), the function is invoked through
//! [`crate::lambda::Invoke`], and its proxy response becomes the HTTP response.
//!
//! Not implemented: authorizers, API keys and usage plans, throttling, request validation,
//! binary media types (a body that is not UTF-8 is always base64-encoded), stage variables,
//! non-proxy integrations, CORS. Header names reach the function in lower case.

mod config;
mod event;
mod response;
mod route;
mod server;

pub use config::{ConfigError, RestApiConfig, Route};
pub use server::{ApiGateway, MAX_REQUEST_BYTES, StartError};
