//! Signature Version 4 as API Gateway checks it on an `AWS_IAM` method: the `Authorization`
//! header is read, its credential scope checked against the stage's region and `execute-api`,
//! the access key looked up among the configured credentials, `x-amz-date` held within five
//! minutes of now, and the signature recomputed with the SDK's own signer (`aws-sigv4`) over
//! exactly the headers the client named in `SignedHeaders`, the path (double-encoded and
//! normalized, as for every service but S3), the query string and the payload hash, then
//! compared in constant time.
//!
//! Not checked: whether the identity's policies allow `execute-api:Invoke`, and presigned
//! (query string) requests, which are refused with a message saying so.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningParams, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::response::Refusal;

/// The service name of a signature for API Gateway's execute API.
pub const SERVICE: &str = "execute-api";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const AMZ_DATE: &str = "x-amz-date";
const CONTENT_SHA256: &str = "x-amz-content-sha256";
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// How far a request's time may be from the gateway's.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Why a signed request is refused, each with API Gateway's status, error type and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SignatureError {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// A presigned request (`X-Amz-Signature` in the query string).
    #[error(
        "the local API Gateway does not verify presigned (query string) requests: sign the Authorization header"
    )]
    Presigned,
    /// A header that is not `AWS4-HMAC-SHA256 k=v, k=v, ...`.
    #[error(
        "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '{hash}'."
    )]
    NotKeyValue { hash: String },
    /// Parameters or the date are missing.
    #[error("{missing}Authorization={header}")]
    Incomplete { missing: String, header: String },
    /// The credential is not `key/date/region/service/aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request', not '{0}'. ")]
    Terminator(String),
    /// The scope's region is not the stage's.
    #[error("Credential should be scoped to a valid region, not '{0}'. ")]
    Region(String),
    /// The scope's service is not `execute-api`.
    #[error("Credential should be scoped to correct service: '{SERVICE}'. ")]
    Service,
    /// The access key is not one of the credentials.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// `x-amz-date` is not `YYYYMMDDTHHMMSSZ`.
    #[error(
        "Date must be in ISO-8601 'basic format'. Got '{0}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )]
    DateFormat(String),
    /// The scope's date is not the day of `x-amz-date`.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope}' != '{day}', from '{amz_date}'."
    )]
    ScopeDate {
        scope: String,
        day: String,
        amz_date: String,
    },
    /// `x-amz-date` is more than five minutes ago.
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - 5 min.)")]
    Expired {
        signed: String,
        earliest: String,
        now: String,
    },
    /// `x-amz-date` is more than five minutes ahead.
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 5 min.)")]
    NotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    /// `host` is not among the signed headers.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// The signature is not the one the gateway computes.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    Mismatch,
}

impl SignatureError {
    /// API Gateway's answer.
    pub(super) fn refusal(&self) -> Refusal {
        let (error_type, response_type) = match self {
            SignatureError::Missing => (
                "MissingAuthenticationTokenException",
                "MISSING_AUTHENTICATION_TOKEN",
            ),
            SignatureError::Presigned
            | SignatureError::NotKeyValue { .. }
            | SignatureError::Incomplete { .. }
            | SignatureError::Terminator(_)
            | SignatureError::HostNotSigned => {
                ("IncompleteSignatureException", "INVALID_SIGNATURE")
            }
            SignatureError::UnknownKey => ("UnrecognizedClientException", "INVALID_SIGNATURE"),
            _ => ("InvalidSignatureException", "INVALID_SIGNATURE"),
        };
        Refusal {
            status: StatusCode::FORBIDDEN,
            error_type,
            response_type,
            message: self.to_string(),
        }
    }
}

/// A parsed `Authorization` header and `x-amz-date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Signed {
    pub(super) access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    terminator: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
}

/// The `Authorization` header and `x-amz-date` of a request to an `AWS_IAM` method.
pub(super) fn parse(headers: &HeaderMap, query: Option<&str>) -> Result<Signed, SignatureError> {
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        let presigned = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .any(|(name, _)| name == "X-Amz-Signature");
        return Err(if presigned {
            SignatureError::Presigned
        } else {
            SignatureError::Missing
        });
    };
    let text = String::from_utf8_lossy(authorization.as_bytes()).into_owned();
    let not_key_value = || SignatureError::NotKeyValue {
        hash: STANDARD.encode(Sha256::digest(authorization.as_bytes())),
    };
    let Some(parameters) = text
        .strip_prefix(ALGORITHM)
        .and_then(|rest| rest.strip_prefix(' '))
    else {
        return Err(not_key_value());
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for pair in parameters.split(',').map(str::trim) {
        let (name, value) = pair.split_once('=').ok_or_else(not_key_value)?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let amz_date = headers
        .get(AMZ_DATE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let mut missing = String::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if amz_date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(SignatureError::Incomplete {
            missing,
            header: text,
        });
    };
    // AKID/20260304/us-east-1/execute-api/aws4_request; an access key ID has no '/'.
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(SignatureError::Terminator(
            parts.last().copied().unwrap_or_default().to_owned(),
        ));
    };
    Ok(Signed {
        access_key_id: (*access_key_id).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        terminator: (*terminator).to_owned(),
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
        amz_date: amz_date.into_owned(),
    })
}

/// What can be checked before the body has arrived: the scope, the key and the time. The
/// secret access key of the signing key.
pub(super) fn check<'a>(
    signed: &Signed,
    credentials: &'a BTreeMap<String, String>,
    region: &str,
    now: DateTime<Utc>,
) -> Result<&'a str, SignatureError> {
    if signed.terminator != "aws4_request" {
        return Err(SignatureError::Terminator(signed.terminator.clone()));
    }
    if signed.region != region {
        return Err(SignatureError::Region(signed.region.clone()));
    }
    if signed.service != SERVICE {
        return Err(SignatureError::Service);
    }
    let secret = credentials
        .get(&signed.access_key_id)
        .ok_or(SignatureError::UnknownKey)?;
    let time = NaiveDateTime::parse_from_str(&signed.amz_date, AMZ_DATE_FORMAT)
        .map_err(|_| SignatureError::DateFormat(signed.amz_date.clone()))?
        .and_utc();
    let day = time.format("%Y%m%d").to_string();
    if signed.scope_date != day {
        return Err(SignatureError::ScopeDate {
            scope: signed.scope_date.clone(),
            day,
            amz_date: signed.amz_date.clone(),
        });
    }
    let stamp = |t: DateTime<Utc>| t.format(AMZ_DATE_FORMAT).to_string();
    if time < now - MAX_SKEW {
        return Err(SignatureError::Expired {
            signed: signed.amz_date.clone(),
            earliest: stamp(now - MAX_SKEW),
            now: stamp(now),
        });
    }
    if time > now + MAX_SKEW {
        return Err(SignatureError::NotYetCurrent {
            signed: signed.amz_date.clone(),
            latest: stamp(now + MAX_SKEW),
            now: stamp(now),
        });
    }
    if !signed.signed_headers.iter().any(|h| h == "host") {
        return Err(SignatureError::HostNotSigned);
    }
    Ok(secret)
}

/// Whether the payload hash is the client's `x-amz-content-sha256`: then the signature can be
/// checked before the body arrives.
pub(super) fn declared_payload_hash(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_SHA256)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The request as it was signed.
#[derive(Debug, Clone, Copy)]
pub(super) struct SignedRequest<'a> {
    pub(super) method: &'a str,
    /// The request target as received: path and query, still percent-encoded.
    pub(super) path_and_query: &'a str,
    pub(super) headers: &'a HeaderMap,
}

/// The payload the signature covers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Payload<'a> {
    /// `x-amz-content-sha256` (a hex SHA-256, or `UNSIGNED-PAYLOAD`).
    Declared(&'a str),
    /// The body, hashed here.
    Body(&'a [u8]),
}

/// Recomputes the signature of `request` with `secret` and compares it with the client's.
pub(super) fn verify(
    signed: &Signed,
    secret: &str,
    request: &SignedRequest<'_>,
    payload: Payload<'_>,
) -> Result<(), SignatureError> {
    let expected = expected_signature(signed, secret, request, payload)?;
    if bool::from(expected.as_bytes().ct_eq(signed.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Whether a declared `x-amz-content-sha256` is the hash of `body` (`UNSIGNED-PAYLOAD` is).
pub(super) fn payload_matches(declared: &str, body: &[u8]) -> bool {
    if declared == "UNSIGNED-PAYLOAD" {
        return true;
    }
    let actual: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    bool::from(actual.as_bytes().ct_eq(declared.as_bytes()))
}

fn expected_signature(
    signed: &Signed,
    secret: &str,
    request: &SignedRequest<'_>,
    payload: Payload<'_>,
) -> Result<String, SignatureError> {
    // Exactly the headers the client named, with every value each has: the signer adds `host`
    // and `x-amz-date` itself, from the same values, and nothing else with these settings.
    let mut headers = Vec::new();
    for name in &signed.signed_headers {
        for value in request.headers.get_all(name.as_str()) {
            let value = value.to_str().map_err(|_| SignatureError::Mismatch)?;
            headers.push((name.as_str(), value));
        }
    }
    // Signed but not sent (an HTTP/1.0 request may have no Host): the signer would take the
    // host from the URI, which has none here.
    if !headers.iter().any(|(name, _)| *name == "host") {
        return Err(SignatureError::Mismatch);
    }
    let time = NaiveDateTime::parse_from_str(&signed.amz_date, AMZ_DATE_FORMAT)
        .map_err(|_| SignatureError::DateFormat(signed.amz_date.clone()))?
        .and_utc();
    let time = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            u64::try_from(time.timestamp()).map_err(|_| SignatureError::Mismatch)?,
        );
    let body = match payload {
        Payload::Declared(hash) => SignableBody::Precomputed(hash.to_owned()),
        Payload::Body(bytes) => SignableBody::Bytes(bytes),
    };
    let request = SignableRequest::new(
        request.method,
        request.path_and_query,
        headers.into_iter(),
        body,
    )
    .map_err(|_| SignatureError::Mismatch)?;
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    settings.signature_location = SignatureLocation::Headers;
    // The client chose what to sign: `user-agent` and the rest are not left out here.
    settings.excluded_headers = None;
    // A signed `x-amz-security-token` is among the headers above, so the identity has no token
    // and the signer adds none; `Include` keeps the header as signed (`Exclude` would drop it).
    settings.session_token_mode = SessionTokenMode::Include;
    let identity = Identity::from(Credentials::new(
        signed.access_key_id.as_str(),
        secret,
        None,
        None,
        "local API Gateway",
    ));
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(&signed.region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|_| SignatureError::Mismatch)?
        .into();
    let output = sign(request, &params).map_err(|_| SignatureError::Mismatch)?;
    Ok(output.signature().to_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const NOW: &str = "20260304T120000Z";

    fn now() -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(NOW, AMZ_DATE_FORMAT)
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    fn credentials() -> BTreeMap<String, String> {
        BTreeMap::from([("AKIDEXAMPLE".to_owned(), "secret".to_owned())])
    }

    /// A request signed as the SDK signs one, with `extra` headers signed too.
    fn signed_request(
        path_and_query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        region: &str,
        time: &str,
    ) -> HeaderMap {
        signed_with_token(path_and_query, body, extra, region, time, None)
    }

    fn signed_with_token(
        path_and_query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        region: &str,
        time: &str,
        session_token: Option<&str>,
    ) -> HeaderMap {
        let mut headers = vec![("host", "127.0.0.1:8080")];
        headers.extend_from_slice(extra);
        let identity = Identity::from(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            session_token.map(str::to_owned),
            None,
            "test",
        ));
        let time = NaiveDateTime::parse_from_str(time, AMZ_DATE_FORMAT)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_default();
        let params: SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(SystemTime::UNIX_EPOCH + Duration::from_secs(time.unsigned_abs()))
            .settings(SigningSettings::default())
            .build()
            .expect("complete signing parameters")
            .into();
        let request = SignableRequest::new(
            "POST",
            format!("http://127.0.0.1:8080{path_and_query}"),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .expect("a signable request");
        let (instructions, _) = sign(request, &params).expect("signed").into_parts();
        let mut map = HeaderMap::new();
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        map
    }

    fn outcome(
        headers: &HeaderMap,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let signed = parse(headers, path_and_query.split_once('?').map(|(_, q)| q))?;
        let credentials = credentials();
        let secret = check(&signed, &credentials, "eu-west-1", now())?;
        let request = SignedRequest {
            method: "POST",
            path_and_query,
            headers,
        };
        verify(&signed, secret, &request, Payload::Body(body))
    }

    #[test]
    fn what_the_sdk_signs_verifies() {
        let path = "/prod/metrics/a%20b?b=2&a=1&a=0&empty=";
        let headers = signed_request(
            path,
            b"{\"v\":1}",
            &[
                ("content-type", "application/json"),
                ("x-api-key", "k  two  spaces"),
            ],
            "eu-west-1",
            NOW,
        );
        assert_eq!(outcome(&headers, path, b"{\"v\":1}"), Ok(()));
        assert_eq!(
            outcome(&headers, path, b"{\"v\":2}"),
            Err(SignatureError::Mismatch),
            "another body"
        );
        assert_eq!(
            outcome(
                &headers,
                "/prod/metrics/a%20b?b=3&a=1&a=0&empty=",
                b"{\"v\":1}"
            ),
            Err(SignatureError::Mismatch),
            "another query"
        );
        let mut changed = headers.clone();
        changed.insert("x-api-key", HeaderValue::from_static("other"));
        assert_eq!(
            outcome(&changed, path, b"{\"v\":1}"),
            Err(SignatureError::Mismatch),
            "a signed header changed"
        );
        let mut no_host = headers.clone();
        no_host.remove(header::HOST);
        assert_eq!(
            outcome(&no_host, path, b"{\"v\":1}"),
            Err(SignatureError::Mismatch),
            "host signed but not sent"
        );
        let mut added = headers.clone();
        added.insert("x-unsigned", HeaderValue::from_static("anything"));
        assert_eq!(
            outcome(&added, path, b"{\"v\":1}"),
            Ok(()),
            "an unsigned header is not part of the signature"
        );
    }

    #[test]
    fn a_session_token_is_signed_as_a_header() {
        let path = "/prod/metrics";
        let headers =
            signed_with_token(path, b"", &[], "eu-west-1", NOW, Some("any-session-token"));
        assert!(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("x-amz-security-token")),
            "the SDK signs the token"
        );
        assert_eq!(outcome(&headers, path, b""), Ok(()));
        let mut other = headers.clone();
        other.insert(
            "x-amz-security-token",
            HeaderValue::from_static("another-token"),
        );
        assert_eq!(outcome(&other, path, b""), Err(SignatureError::Mismatch));
    }

    #[test]
    fn each_scope_and_time_problem_is_answered_as_api_gateway_does() {
        let path = "/prod/metrics";
        let wrong_region = signed_request(path, b"", &[], "us-east-1", NOW);
        assert_eq!(
            outcome(&wrong_region, path, b""),
            Err(SignatureError::Region("us-east-1".to_owned()))
        );
        let old = signed_request(path, b"", &[], "eu-west-1", "20260304T115459Z");
        let refused = outcome(&old, path, b"").expect_err("expired");
        assert_eq!(
            refused.to_string(),
            "Signature expired: 20260304T115459Z is now earlier than 20260304T115500Z (20260304T120000Z - 5 min.)"
        );
        let in_time = signed_request(path, b"", &[], "eu-west-1", "20260304T115500Z");
        assert_eq!(
            outcome(&in_time, path, b""),
            Ok(()),
            "five minutes is in time"
        );
        let ahead = signed_request(path, b"", &[], "eu-west-1", "20260304T120501Z");
        assert!(matches!(
            outcome(&ahead, path, b""),
            Err(SignatureError::NotYetCurrent { .. })
        ));

        let mut other_service = signed_request(path, b"", &[], "eu-west-1", NOW);
        let header = other_service
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .replace("/execute-api/", "/s3/");
        other_service.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&header).expect("a header"),
        );
        let refused = outcome(&other_service, path, b"").expect_err("another service");
        assert_eq!(refused, SignatureError::Service);
        assert_eq!(refused.refusal().error_type, "InvalidSignatureException");

        let mut unknown = signed_request(path, b"", &[], "eu-west-1", NOW);
        let header = unknown
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .replace("AKIDEXAMPLE", "AKIDUNKNOWN");
        unknown.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&header).expect("a header"),
        );
        let refused = outcome(&unknown, path, b"").expect_err("unknown key");
        assert_eq!(refused.refusal().error_type, "UnrecognizedClientException");
        assert_eq!(
            refused.refusal().message,
            "The security token included in the request is invalid."
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_api_gateways_messages() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse(&headers, None), Err(SignatureError::Missing));
        assert_eq!(
            parse(
                &headers,
                Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab")
            ),
            Err(SignatureError::Presigned)
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def"),
        );
        let refused = parse(&headers, None).expect_err("not SigV4");
        assert_eq!(
            refused.to_string(),
            format!(
                "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '{}'.",
                STANDARD.encode(Sha256::digest(b"Bearer abc.def"))
            )
        );
        assert_eq!(refused.refusal().error_type, "IncompleteSignatureException");

        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260304/eu-west-1/execute-api/aws4_request"),
        );
        assert_eq!(
            parse(&headers, None).expect_err("incomplete").to_string(),
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
             Authorization=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260304/eu-west-1/execute-api/aws4_request"
        );

        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260304/eu-west-1/execute-api/aws4_request, SignedHeaders=x-amz-date, Signature=00"),
        );
        headers.insert(AMZ_DATE, HeaderValue::from_static(NOW));
        let signed = parse(&headers, None).expect("parsed");
        assert_eq!(
            check(&signed, &credentials(), "eu-west-1", now()),
            Err(SignatureError::HostNotSigned)
        );

        headers.insert(AMZ_DATE, HeaderValue::from_static("2026-03-04T12:00:00Z"));
        let signed = parse(&headers, None).expect("parsed");
        assert_eq!(
            check(&signed, &credentials(), "eu-west-1", now()),
            Err(SignatureError::DateFormat(
                "2026-03-04T12:00:00Z".to_owned()
            ))
        );
        headers.insert(AMZ_DATE, HeaderValue::from_static("20260305T120000Z"));
        let signed = parse(&headers, None).expect("parsed");
        assert!(matches!(
            check(&signed, &credentials(), "eu-west-1", now()),
            Err(SignatureError::ScopeDate { .. })
        ));
    }

    proptest::proptest! {
        /// Whatever a client puts in the headers the signature is read from, the answer is a
        /// refusal (or, by chance, a pass), never a panic.
        #[test]
        fn hostile_signature_headers_are_refused_not_crashed_on(
            raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            credential in "[ -~]{0,80}",
            signed_headers in "[ -~]{0,80}",
            signature in "[ -~]{0,70}",
            amz_date in "[ -~]{0,24}",
            host in proptest::option::of("[ -~]{0,30}"),
        ) {
            for authorization in [
                raw.clone(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
                )
                .into_bytes(),
                // Past the scope and time checks, into the signer.
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260304/eu-west-1/execute-api/aws4_request, SignedHeaders=host;{signed_headers}, Signature={signature}"
                )
                .into_bytes(),
            ] {
                let mut headers = HeaderMap::new();
                if let Ok(value) = HeaderValue::from_bytes(&authorization) {
                    headers.insert(header::AUTHORIZATION, value);
                }
                let date = if authorization.starts_with(b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") {
                    NOW
                } else {
                    amz_date.as_str()
                };
                if let Ok(value) = HeaderValue::from_str(date) {
                    headers.insert(AMZ_DATE, value);
                }
                if let Some(Ok(value)) = host.as_deref().map(HeaderValue::from_str) {
                    headers.insert(header::HOST, value);
                }
                let _ = outcome(&headers, "/prod/metrics?a=%ff&b", &raw);
            }
        }
    }

    #[test]
    fn a_declared_payload_hash_must_be_the_bodys() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(payload_matches(empty, b""));
        assert!(!payload_matches(empty, b"x"));
        assert!(payload_matches("UNSIGNED-PAYLOAD", b"anything"));
    }
}
