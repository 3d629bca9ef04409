//! The client side of an `AWS_IAM` method: signing a request as a producer's AWS SDK does
//! (SigV4, service `execute-api`), for the tests, tools and load generators that call the local
//! API or a deployed one.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::sigv4::SERVICE;

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{url} is not an http(s) URL with a host")]
    Url { url: String },
    #[error("cannot sign {url}")]
    Sign {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// A producer's credentials and the API's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `x-amz-security-token`, for temporary credentials.
    pub session_token: Option<String>,
    pub region: String,
}

impl Signer {
    /// `headers` and what signing `method url` with `body` at `time` adds: `host` (when not
    /// given), `x-amz-date`, `authorization` and the session token. Every header given is signed.
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, SignError> {
        let host = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .filter(|host| !host.is_empty())
            .ok_or_else(|| SignError::Url {
                url: url.to_owned(),
            })?;
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !all
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            all.push(("host", host));
        }
        let identity = Identity::from(Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "local-runtime",
        ));
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| SignError::Sign {
            url: url.to_owned(),
            source,
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(e.into()))?
            .into();
        let request =
            SignableRequest::new(method, url, all.iter().copied(), SignableBody::Bytes(body))
                .map_err(|e| failed(e.into()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| failed(e.into()))?
            .into_parts();
        Ok(all
            .iter()
            .copied()
            .chain(instructions.headers())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_names_host_and_date_and_is_repeatable() {
        let signer = Signer {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: None,
            region: "us-east-2".into(),
        };
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_730_894_400);
        let url = "http://127.0.0.1:4000/prod/metrics";
        let headers = [("content-type", "application/json")];
        let signed = signer
            .sign("POST", url, &headers, b"{}", at)
            .expect("signs");
        let auth = signed
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20241106/us-east-2/execute-api/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{auth}"
        );
        assert_eq!(
            signed,
            signer
                .sign("POST", url, &headers, b"{}", at)
                .expect("signs")
        );
        assert!(matches!(
            signer.sign("POST", "not a url", &headers, b"", at),
            Err(SignError::Url { .. })
        ));
    }
}
