//! The REST API's Lambda proxy event (payload format 1.0), as API Gateway builds it from a
//! request.

use std::collections::HashMap;
use std::net::IpAddr;

use aws_lambda_events::event::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyRequestContext};
use aws_lambda_events::query_map::QueryMap;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The request as it reached the stage.
#[derive(Debug, Clone, Copy)]
pub(super) struct Incoming<'a> {
    pub(super) method: &'a Method,
    /// The path below the stage, e.g. `/metrics`.
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: &'a [u8],
    pub(super) source_ip: IpAddr,
}

/// Who the API is and what the request matched.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context<'a> {
    pub(super) api_id: &'a str,
    pub(super) account_id: &'a str,
    pub(super) stage: &'a str,
    pub(super) resource: &'a str,
    pub(super) path_parameters: &'a HashMap<String, String>,
    pub(super) request_id: &'a str,
    pub(super) now: DateTime<Utc>,
    pub(super) caller: Caller<'a>,
}

/// Who the gateway found the caller to be: `requestContext.identity`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Caller<'a> {
    /// The `x-api-key` of a method that requires one, and the key's id.
    pub(super) api_key: Option<(&'a str, &'a str)>,
    /// The access key ID of a signed request to an `AWS_IAM` method, and its account.
    pub(super) access_key: Option<(&'a str, &'a str)>,
}

/// The proxy event: `headers` hold the last value of each header, `queryStringParameters` the
/// first of each parameter (as in the documentation's example), the multi-value maps all of
/// them; a body that is not UTF-8 is base64-encoded; absent parts are null.
pub(super) fn proxy_event(incoming: &Incoming<'_>, context: &Context<'_>) -> Value {
    let mut single = HeaderMap::new();
    let mut multi = HeaderMap::new();
    for (name, value) in incoming.headers {
        // The event carries strings: a header that is not UTF-8 is carried lossily.
        let value = HeaderValue::from_str(&String::from_utf8_lossy(value.as_bytes()))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        single.insert(name, value.clone());
        multi.append(name, value);
    }
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in form_urlencoded::parse(incoming.query.unwrap_or_default().as_bytes()) {
        query
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    let (body, is_base64_encoded) = match std::str::from_utf8(incoming.body) {
        _ if incoming.body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(STANDARD.encode(incoming.body)), true),
    };

    let mut request_context = ApiGatewayProxyRequestContext::default();
    request_context.account_id = Some(context.account_id.to_owned());
    request_context.apiid = Some(context.api_id.to_owned());
    request_context.resource_id = Some(resource_id(context.resource));
    request_context.stage = Some(context.stage.to_owned());
    request_context.request_id = Some(context.request_id.to_owned());
    request_context.resource_path = Some(context.resource.to_owned());
    request_context.path = Some(format!("/{}{}", context.stage, incoming.path));
    request_context.http_method = incoming.method.clone();
    request_context.protocol = Some("HTTP/1.1".to_owned());
    let host = incoming
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    request_context.domain_name = Some(host.to_owned());
    request_context.domain_prefix =
        Some(host.split(['.', ':']).next().unwrap_or_default().to_owned());
    request_context.request_time = Some(context.now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
    request_context.request_time_epoch = context.now.timestamp_millis();
    request_context.identity.source_ip = Some(incoming.source_ip.to_string());
    if let Some((value, id)) = context.caller.api_key {
        request_context.identity.api_key = Some(value.to_owned());
        request_context.identity.api_key_id = Some(id.to_owned());
    }
    if let Some((access_key, account)) = context.caller.access_key {
        // Without IAM there is no user or role ID to give: the access key ID stands for both.
        request_context.identity.access_key = Some(access_key.to_owned());
        request_context.identity.caller = Some(access_key.to_owned());
        request_context.identity.user = Some(access_key.to_owned());
        request_context.identity.account_id = Some(account.to_owned());
    }
    request_context.identity.user_agent = incoming
        .headers
        .get(header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);

    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(context.resource.to_owned());
    event.path = Some(incoming.path.to_owned());
    event.http_method = incoming.method.clone();
    event.headers = single;
    event.multi_value_headers = multi;
    event.query_string_parameters = QueryMap::from(query.clone());
    event.multi_value_query_string_parameters = QueryMap::from(query);
    event.path_parameters.clone_from(context.path_parameters);
    event.request_context = request_context;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        // API Gateway sends null, not an empty map, for what the request does not have.
        for key in [
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
        ] {
            if object
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
            {
                object.insert(key.to_owned(), Value::Null);
            }
        }
        object.entry("body").or_insert(Value::Null);
    }
    value
}

/// A stable id for a resource, as API Gateway gives each resource one.
pub(super) fn resource_id(resource: &str) -> String {
    let hash = resource.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{:06x}", hash & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use aws_lambda_events::event::apigw::ApiGatewayProxyRequest;
    use serde_json::json;

    use super::*;

    fn event(method: &Method, query: Option<&str>, body: &[u8]) -> Value {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.append("x-multi", HeaderValue::from_static("one"));
        headers.append("x-multi", HeaderValue::from_static("two"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8.0"));
        let incoming = Incoming {
            method,
            path: "/metrics",
            query,
            headers: &headers,
            body,
            source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let parameters = HashMap::new();
        let context = Context {
            api_id: "local",
            account_id: "123456789012",
            stage: "prod",
            resource: "/metrics",
            path_parameters: &parameters,
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            now: DateTime::from_timestamp_millis(1_772_860_141_250).expect("an instant"),
            caller: Caller::default(),
        };
        proxy_event(&incoming, &context)
    }

    #[test]
    fn the_event_carries_the_request_as_api_gateway_does() {
        let event = event(&Method::POST, Some("a=1&a=2&b=x%20y"), b"{\"v\":1}");
        assert_eq!(event["resource"], "/metrics");
        assert_eq!(event["path"], "/metrics");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["headers"]["x-multi"], "two");
        assert_eq!(event["multiValueHeaders"]["x-multi"], json!(["one", "two"]));
        assert_eq!(
            event["queryStringParameters"],
            json!({"a": "1", "b": "x y"})
        );
        assert_eq!(
            event["multiValueQueryStringParameters"],
            json!({"a": ["1", "2"], "b": ["x y"]})
        );
        assert_eq!(event["pathParameters"], Value::Null);
        assert_eq!(event["stageVariables"], Value::Null);
        assert_eq!(event["body"], "{\"v\":1}");
        assert_eq!(event["isBase64Encoded"], false);
        let context = &event["requestContext"];
        assert_eq!(context["stage"], "prod");
        assert_eq!(context["requestId"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
        assert_eq!(context["resourcePath"], "/metrics");
        assert_eq!(context["path"], "/prod/metrics");
        assert_eq!(context["httpMethod"], "POST");
        assert_eq!(context["apiId"], "local");
        assert_eq!(context["accountId"], "123456789012");
        assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(context["identity"]["userAgent"], "curl/8.0");
        assert_eq!(context["requestTime"], "07/Mar/2026:05:09:01 +0000");
        assert_eq!(context["requestTimeEpoch"], 1_772_860_141_250_i64);
        let typed: ApiGatewayProxyRequest =
            serde_json::from_value(event).expect("the crate reads it back");
        assert_eq!(typed.request_context.stage.as_deref(), Some("prod"));
    }

    #[test]
    fn no_body_is_null_and_binary_is_base64() {
        let empty = event(&Method::GET, None, b"");
        assert_eq!(empty["body"], Value::Null);
        assert_eq!(empty["queryStringParameters"], Value::Null);
        let binary = event(&Method::POST, None, &[0, 159, 146, 150]);
        assert_eq!(binary["body"], "AJ+Slg==");
        assert_eq!(binary["isBase64Encoded"], true);
    }
}
