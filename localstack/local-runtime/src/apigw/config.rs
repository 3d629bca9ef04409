//! The REST API's settings: its stage and the methods with a Lambda proxy integration, as the
//! template's `AWS::ApiGateway::RestApi`, `Resource`, `Method` and `Stage` give them.

use std::fmt;
use std::time::Duration;

use axum::http::Method;

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
}

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
            match super::route::parse_resource(&route.resource) {
                Some(segments) => routes.push(ParsedRoute {
                    method,
                    resource: route.resource.clone(),
                    segments,
                }),
                None => problems.push(format!(
                    "resource {:?} is not a resource path (/, /a/{{b}}, /{{proxy+}})",
                    route.resource
                )),
            }
        }
        if problems.is_empty() {
            Ok(routes)
        } else {
            Err(ConfigError { problems })
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
}

impl Route {
    /// `method` on `resource`.
    pub fn new(method: impl Into<String>, resource: impl Into<String>) -> Self {
        Route {
            method: method.into(),
            resource: resource.into(),
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
