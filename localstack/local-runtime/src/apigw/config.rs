//! The REST API's settings: its stage and the methods with a Lambda proxy integration, as the
//! template's `AWS::ApiGateway::RestApi`, `Resource`, `Method` and `Stage` give them, with the
//! API keys of the stage's usage plans (`ApiKey`, `UsagePlan`, `UsagePlanKey`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::http::Method;

use crate::lambda::DUMMY_CREDENTIAL;

/// The fewest characters API Gateway takes in an API key's value.
pub const MIN_API_KEY_LENGTH: usize = 20;

/// A REST API stage whose methods proxy to one function. Build it with [`RestApiConfig::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestApiConfig {
    /// The API's id: `requestContext.apiId`. Default `local`.
    pub api_id: String,
    /// `StageName`: the first segment of every path.
    pub stage: String,
    /// The methods with an `AWS_PROXY` integration to the function.
    pub routes: Vec<Route>,
    /// The account owning the API: `requestContext.accountId`. Default `123456789012`.
    pub account_id: String,
    /// The loopback port to serve on; 0, the default, takes a free one.
    pub port: u16,
    /// How long API Gateway waits for the integration before answering 504. Default 29 s.
    pub integration_timeout: Duration,
    /// The stage's region: the region a SigV4 credential scope must name. Default `us-east-1`.
    pub region: String,
    /// The access key IDs `AWS_IAM` methods accept, each with its secret access key. Default: the
    /// local environment's dummy credentials, [`DUMMY_CREDENTIAL`] for both. A request may carry
    /// any session token (`x-amz-security-token`) with a known key.
    pub credentials: BTreeMap<String, String>,
    /// The API keys, each with the usage plan of this stage it is in. Default none.
    pub api_keys: Vec<ApiKey>,
    /// The stage's throttle: `MethodSettings` for `/*/*`, `ThrottlingRateLimit` and
    /// `ThrottlingBurstLimit`. Default `None`: no stage throttle (the account's 10,000 requests
    /// per second are not modelled).
    pub stage_throttle: Option<Throttle>,
    /// `AccessLogSetting.Format`: one line per request, `$context.*` variables substituted.
    /// Default `None`: no access log.
    pub access_log_format: Option<String>,
    /// How long a request body may take to arrive, from the request's headers on; a slower one
    /// is answered 408. Default 30 s.
    pub body_timeout: Duration,
}

/// The region of [`RestApiConfig::new`].
pub const DEFAULT_REGION: &str = "us-east-1";

impl RestApiConfig {
    /// Stage `stage` with `routes`, and the defaults for the rest.
    pub fn new(stage: impl Into<String>, routes: Vec<Route>) -> Self {
        RestApiConfig {
            api_id: "local".to_owned(),
            stage: stage.into(),
            routes,
            account_id: "123456789012".to_owned(),
            port: 0,
            integration_timeout: Duration::from_secs(29),
            region: DEFAULT_REGION.to_owned(),
            credentials: BTreeMap::from([(
                DUMMY_CREDENTIAL.to_owned(),
                DUMMY_CREDENTIAL.to_owned(),
            )]),
            api_keys: Vec::new(),
            stage_throttle: None,
            access_log_format: None,
            body_timeout: Duration::from_secs(30),
        }
    }

    pub(super) fn validate(&self) -> Result<Vec<ParsedRoute>, ConfigError> {
        let mut problems = Vec::new();
        if self.stage.is_empty() || self.stage.contains('/') {
            problems.push(format!("stage {:?} is not a stage name", self.stage));
        }
        let mut routes = Vec::new();
        for route in &self.routes {
            let method = match route.method.as_str() {
                "ANY" => None,
                name => match Method::from_bytes(name.as_bytes()) {
                    Ok(method) if name.chars().all(|c| c.is_ascii_uppercase()) => Some(method),
                    _ => {
                        problems.push(format!("method {name:?} is not an HTTP method or ANY"));
                        continue;
                    }
                },
            };
            if route.authorization == Authorization::AwsIam && self.credentials.is_empty() {
                problems.push(format!(
                    "method {} {} takes AWS_IAM but no credentials are configured",
                    route.method, route.resource
                ));
            }
            match super::route::parse_resource(&route.resource) {
                Some(segments) => routes.push(ParsedRoute {
                    method,
                    resource: route.resource.clone(),
                    segments,
                    authorization: route.authorization,
                    api_key_required: route.api_key_required,
                }),
                None => problems.push(format!(
                    "resource {:?} is not a resource path (/, /a/{{b}}, /{{proxy+}})",
                    route.resource
                )),
            }
        }
        self.validate_the_rest(&mut problems);
        if problems.is_empty() {
            Ok(routes)
        } else {
            Err(ConfigError { problems })
        }
    }

    fn validate_the_rest(&self, problems: &mut Vec<String>) {
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            problems.push(format!("region {:?} is not a region name", self.region));
        }
        for (key, secret) in &self.credentials {
            if key.is_empty() || secret.is_empty() || key.contains('/') {
                problems.push(format!(
                    "credential {key:?} needs a non-empty access key ID without '/' and a secret"
                ));
            }
        }
        let mut ids = BTreeSet::new();
        let mut values = BTreeSet::new();
        for key in &self.api_keys {
            if key.id.is_empty() || !ids.insert(key.id.as_str()) {
                problems.push(format!("API key id {:?} is empty or not unique", key.id));
            }
            if key.value.chars().count() < MIN_API_KEY_LENGTH {
                problems.push(format!(
                    "API key {:?}: its value has {} characters, API Gateway takes {MIN_API_KEY_LENGTH} or more",
                    key.id,
                    key.value.chars().count()
                ));
            } else if !values.insert(key.value.as_str()) {
                problems.push(format!(
                    "API key {:?}: another key has the same value",
                    key.id
                ));
            }
            if let Some(throttle) = key.usage_plan.as_ref().and_then(|p| p.throttle.as_ref()) {
                throttle.validate(&format!("usage plan of API key {:?}", key.id), problems);
            }
        }
        if let Some(throttle) = &self.stage_throttle {
            throttle.validate("stage throttle", problems);
        }
        if let Some(format) = &self.access_log_format
            && !format.contains("$context.requestId")
            && !format.contains("$context.extendedRequestId")
        {
            problems.push(format!(
                "access log format {format:?} has neither $context.requestId nor $context.extendedRequestId, which API Gateway requires"
            ));
        }
        if self.body_timeout.is_zero() {
            problems.push("the body timeout is zero".to_owned());
        }
    }
}

/// One method of the API: `AWS::ApiGateway::Method.HttpMethod` on the resource at `resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `HttpMethod`: `GET`, `POST`, …, or `ANY`.
    pub method: String,
    /// The resource's path from the root, e.g. `/metrics`, `/items/{id}`, `/{proxy+}`.
    pub resource: String,
    /// `AuthorizationType`. Default [`Authorization::None`].
    pub authorization: Authorization,
    /// `ApiKeyRequired`. Default `false`.
    pub api_key_required: bool,
}

impl Route {
    /// `method` on `resource`, open to anyone: no authorization, no API key.
    pub fn new(method: impl Into<String>, resource: impl Into<String>) -> Self {
        Route {
            method: method.into(),
            resource: resource.into(),
            authorization: Authorization::None,
            api_key_required: false,
        }
    }
}

/// A method's `AuthorizationType`, of those that run locally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Authorization {
    /// `NONE`: anyone may call.
    #[default]
    None,
    /// `AWS_IAM`: the request must be signed with Signature Version 4 by a known access key.
    AwsIam,
}

/// An `AuthorizationType` that does not run locally (`CUSTOM`, `COGNITO_USER_POOLS`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authorization type {0:?} does not run locally (NONE and AWS_IAM do)")]
pub struct UnsupportedAuthorization(pub String);

impl FromStr for Authorization {
    type Err = UnsupportedAuthorization;

    /// The template's `AuthorizationType`: `NONE` or `AWS_IAM`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NONE" => Ok(Authorization::None),
            "AWS_IAM" => Ok(Authorization::AwsIam),
            other => Err(UnsupportedAuthorization(other.to_owned())),
        }
    }
}

/// An `AWS::ApiGateway::ApiKey` of the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's id (its physical ID): `identity.apiKeyId`.
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `Value`: what the client sends in `x-api-key`; at least [`MIN_API_KEY_LENGTH`] characters.
    pub value: String,
    /// `Enabled`: a disabled key is refused.
    pub enabled: bool,
    /// The usage plan of this stage the key is in (`UsagePlanKey`); a key in none is refused.
    /// API Gateway lets a key be in at most one plan per stage.
    pub usage_plan: Option<UsagePlan>,
}

/// An `AWS::ApiGateway::UsagePlan` whose `ApiStages` include the stage. Its limits apply to each
/// key on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePlan {
    /// The plan's id.
    pub id: String,
    /// `UsagePlanName`.
    pub name: String,
    /// `Throttle`: `RateLimit` and `BurstLimit` per key. `None`: not throttled by the plan.
    pub throttle: Option<Throttle>,
    /// `Quota`: `Limit` requests per `Period` per key. `None`: no quota.
    pub quota: Option<Quota>,
}

/// A token bucket: `burst_limit` requests at once, refilled at `rate_limit` per second.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Requests per second (`RateLimit`, `ThrottlingRateLimit`); may be fractional.
    pub rate_limit: f64,
    /// The bucket's size (`BurstLimit`, `ThrottlingBurstLimit`); 0 refuses every request.
    pub burst_limit: u32,
}

impl Throttle {
    fn validate(&self, what: &str, problems: &mut Vec<String>) {
        if !self.rate_limit.is_finite() || self.rate_limit < 0.0 {
            problems.push(format!(
                "{what}: rate limit {} is not a number of requests per second",
                self.rate_limit
            ));
        }
    }
}

// Compared bit for bit, so equality is total: validation refuses NaN anyway.
impl PartialEq for Throttle {
    fn eq(&self, other: &Self) -> bool {
        self.rate_limit.total_cmp(&other.rate_limit).is_eq()
            && self.burst_limit == other.burst_limit
    }
}

impl Eq for Throttle {}

/// A usage plan's `Quota`: at most `limit` requests per key in each `period`. Periods start at
/// 00:00 UTC: each day, each Sunday, each first of the month. (`Offset` is not modelled: the
/// API reference and the CloudFormation reference disagree on what it means.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// `Limit`.
    pub limit: u32,
    /// `Period`.
    pub period: QuotaPeriod,
}

/// A quota's `Period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    /// `DAY`.
    Day,
    /// `WEEK`.
    Week,
    /// `MONTH`.
    Month,
}

/// A quota period other than `DAY`, `WEEK` or `MONTH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quota period {0:?} is not DAY, WEEK or MONTH")]
pub struct UnknownQuotaPeriod(pub String);

impl FromStr for QuotaPeriod {
    type Err = UnknownQuotaPeriod;

    /// The template's `Period`: `DAY`, `WEEK` or `MONTH`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "DAY" => Ok(QuotaPeriod::Day),
            "WEEK" => Ok(QuotaPeriod::Week),
            "MONTH" => Ok(QuotaPeriod::Month),
            other => Err(UnknownQuotaPeriod(other.to_owned())),
        }
    }
}

/// A route, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParsedRoute {
    /// `None`: any method.
    pub(super) method: Option<Method>,
    pub(super) resource: String,
    pub(super) segments: Vec<super::route::Segment>,
    pub(super) authorization: Authorization,
    pub(super) api_key_required: bool,
}

/// A REST API configuration that cannot be served, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// What is wrong.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the REST API is invalid: {}", self.problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_api_validates() {
        let config = RestApiConfig::new("prod", vec![Route::new("POST", "/metrics")]);
        let routes = config.validate().expect("valid");
        assert_eq!(routes[0].method, Some(Method::POST));
        assert_eq!(routes[0].resource, "/metrics");
    }

    #[test]
    fn the_templates_facts_read_into_their_types() {
        assert_eq!("AWS_IAM".parse(), Ok(Authorization::AwsIam));
        assert_eq!("NONE".parse(), Ok(Authorization::None));
        assert_eq!(
            "CUSTOM".parse::<Authorization>(),
            Err(UnsupportedAuthorization("CUSTOM".to_owned()))
        );
        assert_eq!("WEEK".parse(), Ok(QuotaPeriod::Week));
        assert!("YEAR".parse::<QuotaPeriod>().is_err());
    }

    #[test]
    fn every_problem_of_the_security_settings_is_reported() {
        let key = |id: &str, value: &str| ApiKey {
            id: id.to_owned(),
            name: id.to_owned(),
            value: value.to_owned(),
            enabled: true,
            usage_plan: Some(UsagePlan {
                id: "p".to_owned(),
                name: "p".to_owned(),
                throttle: Some(Throttle {
                    rate_limit: f64::NAN,
                    burst_limit: 1,
                }),
                quota: None,
            }),
        };
        let config = RestApiConfig {
            region: String::new(),
            credentials: BTreeMap::new(),
            api_keys: vec![
                key("a", "short"),
                key("b", "a-value-of-twenty-chars"),
                key("b", "a-value-of-twenty-chars"),
            ],
            stage_throttle: Some(Throttle {
                rate_limit: -1.0,
                burst_limit: 10,
            }),
            access_log_format: Some("$context.status".to_owned()),
            body_timeout: Duration::ZERO,
            ..RestApiConfig::new(
                "prod",
                vec![Route {
                    authorization: Authorization::AwsIam,
                    ..Route::new("POST", "/metrics")
                }],
            )
        };
        let error = config.validate().expect_err("invalid");
        assert_eq!(
            error.problems,
            [
                "method POST /metrics takes AWS_IAM but no credentials are configured",
                "region \"\" is not a region name",
                "API key \"a\": its value has 5 characters, API Gateway takes 20 or more",
                "usage plan of API key \"a\": rate limit NaN is not a number of requests per second",
                "usage plan of API key \"b\": rate limit NaN is not a number of requests per second",
                "API key id \"b\" is empty or not unique",
                "API key \"b\": another key has the same value",
                "usage plan of API key \"b\": rate limit NaN is not a number of requests per second",
                "stage throttle: rate limit -1 is not a number of requests per second",
                "access log format \"$context.status\" has neither $context.requestId nor $context.extendedRequestId, which API Gateway requires",
                "the body timeout is zero",
            ]
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let config = RestApiConfig::new(
            "a/b",
            vec![
                Route::new("post", "/metrics"),
                Route::new("GET", "metrics"),
                Route::new("ANY", "/{proxy+}"),
            ],
        );
        let error = config.validate().expect_err("invalid");
        assert_eq!(
            error.problems,
            [
                "stage \"a/b\" is not a stage name",
                "method \"post\" is not an HTTP method or ANY",
                "resource \"metrics\" is not a resource path (/, /a/{b}, /{proxy+})",
            ]
        );
    }
}
