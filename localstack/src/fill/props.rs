//! How a fill-in names a failed service call about a resource, and how a service says that
//! something is not there.

use aws_sdk_s3::error::ProvideErrorMetadata;

use super::FillError;
pub(super) use crate::props::Props;

impl Props {
    pub(super) fn api<E>(&self, operation: &'static str, source: E) -> FillError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        FillError::Api {
            operation,
            logical_id: self.logical_id.clone(),
            source: Box::new(source),
        }
    }
}

/// The service's answer to a lookup: `None` when its error code says the thing is not there.
pub(super) fn found<T, E>(
    props: &Props,
    operation: &'static str,
    result: Result<T, E>,
    absent: &[&str],
) -> Result<Option<T>, FillError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.code().is_some_and(|code| absent.contains(&code)) => Ok(None),
        Err(e) => Err(props.api(operation, e)),
    }
}

/// Two policy documents say the same (whatever their formatting).
pub(super) fn same_document(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_compare_by_content() {
        assert!(same_document(
            r#"{"a": [1, 2], "b": "x"}"#,
            r#"{"b":"x","a":[1,2]}"#
        ));
        assert!(!same_document(r#"{"a": [1, 2]}"#, r#"{"a": [2, 1]}"#));
    }
}
