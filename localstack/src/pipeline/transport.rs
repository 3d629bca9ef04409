//! The local environment speaks plain HTTP to the emulator. A bucket policy statement that denies
//! requests made without TLS (`"Bool": {"aws:SecureTransport": "false"}`, as our template puts on
//! the archive bucket) therefore denies everything the local Firehose writes, where on AWS its
//! TLS requests pass; moto 5.2.5 enforces such a statement on every object request (it even
//! treats an unmet condition as a deny). So before the pipeline writes to a bucket, those
//! statements are lifted from its policy, each one logged.

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::Value;
use tracing::warn;

use super::PipelineError;

/// `policy` without the statements that deny requests made without TLS, and a name for each
/// statement lifted (its `Sid`, else its position); `None` when there is none. The policy left
/// is `None` when no statement remains.
pub(crate) fn without_transport_denials(policy: &Value) -> Option<(Option<Value>, Vec<String>)> {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => return None,
    };
    let mut kept = Vec::new();
    let mut lifted = Vec::new();
    for (position, statement) in statements.into_iter().enumerate() {
        if denies_plain_http(statement) {
            lifted.push(
                statement["Sid"]
                    .as_str()
                    .map_or_else(|| format!("statement {position}"), str::to_owned),
            );
        } else {
            kept.push(statement.clone());
        }
    }
    if lifted.is_empty() {
        return None;
    }
    let rest = (!kept.is_empty()).then(|| {
        let mut rest = policy.clone();
        rest["Statement"] = Value::Array(kept);
        rest
    });
    Some((rest, lifted))
}

fn denies_plain_http(statement: &Value) -> bool {
    let is_false = |v: &Value| v == "false" || v == &Value::Bool(false);
    statement["Effect"] == "Deny"
        && match &statement["Condition"]["Bool"]["aws:SecureTransport"] {
            Value::Array(values) => values.iter().any(is_false),
            value => is_false(value),
        }
}

/// Lifts the statements of `bucket`'s policy that deny plain HTTP; see the module.
pub(crate) async fn lift_transport_denials(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<(), PipelineError> {
    let error = |operation: &'static str| {
        move |source: Box<dyn std::error::Error + Send + Sync + 'static>| {
            PipelineError::BucketPolicy {
                bucket: bucket.to_owned(),
                operation,
                source,
            }
        }
    };
    let policy = match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(output) => output.policy().unwrap_or_default().to_owned(),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => return Ok(()),
        Err(e) => return Err(error("GetBucketPolicy")(Box::new(e))),
    };
    let policy: Value = serde_json::from_str(&policy)
        .map_err(|e| error("reading the bucket policy")(Box::new(e)))?;
    let Some((rest, lifted)) = without_transport_denials(&policy) else {
        return Ok(());
    };
    match rest {
        Some(rest) => {
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(rest.to_string())
                .send()
                .await
                .map_err(|e| error("PutBucketPolicy")(Box::new(e)))?;
        }
        None => {
            s3.delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| error("DeleteBucketPolicy")(Box::new(e)))?;
        }
    }
    for statement in lifted {
        warn!(
            bucket,
            %statement,
            "bucket policy statement lifted: it denies requests without TLS, and the local environment speaks plain HTTP to the emulator"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deny_plain_http(sid: Option<&str>, value: Value) -> Value {
        let mut statement = json!({
            "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:*"],
            "Resource": ["arn:aws:s3:::archive", "arn:aws:s3:::archive/*"],
            "Condition": {"Bool": {"aws:SecureTransport": value}}
        });
        if let Some(sid) = sid {
            statement["Sid"] = json!(sid);
        }
        statement
    }

    #[test]
    fn a_policy_of_only_the_tls_denial_goes_away() {
        let policy = json!({"Version": "2012-10-17",
                            "Statement": [deny_plain_http(Some("DenyInsecureTransport"), json!("false"))]});
        assert_eq!(
            without_transport_denials(&policy),
            Some((None, vec!["DenyInsecureTransport".to_owned()]))
        );
    }

    #[test]
    fn other_statements_stay() {
        let allow = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
                           "Action": "s3:GetObject", "Resource": "arn:aws:s3:::archive/*"});
        let deny_other = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                                "Resource": "arn:aws:s3:::archive/*"});
        let policy = json!({"Version": "2012-10-17", "Statement": [
            allow.clone(), deny_plain_http(None, json!(false)), deny_other.clone(),
            deny_plain_http(None, json!(["false"]))
        ]});
        let (rest, lifted) = without_transport_denials(&policy).expect("two lifted");
        assert_eq!(
            rest,
            Some(json!({"Version": "2012-10-17", "Statement": [allow, deny_other]}))
        );
        assert_eq!(lifted, ["statement 1", "statement 3"]);
    }

    #[test]
    fn a_policy_without_the_tls_denial_is_left_alone() {
        let requiring_tls_to_allow = json!({"Statement": {
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}}});
        assert_eq!(without_transport_denials(&requiring_tls_to_allow), None);
        assert_eq!(without_transport_denials(&json!({})), None);
    }
}
