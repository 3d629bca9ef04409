//! Reading a function's partial batch response (`ReportBatchItemFailures`), by the success and
//! failure conditions of the Lambda documentation.

use serde_json::Value;

use crate::stream::compare_sequence_numbers;

/// What a response with `ReportBatchItemFailures` says about the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reported {
    /// Every record was processed: a null or empty response, or a null or empty
    /// `batchItemFailures`.
    AllSucceeded,
    /// The record at this position (the lowest sequence number reported) and the ones after it
    /// are to be retried; the ones before it are done.
    FailedFrom(usize),
    /// The response cannot be read as a partial batch response (an empty or null
    /// `itemIdentifier`, a bad key name, an identifier not in the batch, another shape): the
    /// whole batch failed.
    Malformed,
}

/// Reads `response` for the batch whose records have `sequence_numbers`, in order.
pub(super) fn read(response: &Value, sequence_numbers: &[&str]) -> Reported {
    let failures = match response {
        Value::Null => return Reported::AllSucceeded,
        Value::Object(object) => match object.get("batchItemFailures") {
            None | Some(Value::Null) => return Reported::AllSucceeded,
            Some(Value::Array(failures)) => failures,
            Some(_) => return Reported::Malformed,
        },
        _ => return Reported::Malformed,
    };
    let mut lowest: Option<&str> = None;
    for failure in failures {
        let Some(identifier) = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
        else {
            return Reported::Malformed;
        };
        if !sequence_numbers.contains(&identifier) {
            return Reported::Malformed;
        }
        if lowest.is_none_or(|low| compare_sequence_numbers(identifier, low).is_lt()) {
            lowest = Some(identifier);
        }
    }
    match lowest.and_then(|low| sequence_numbers.iter().position(|s| *s == low)) {
        Some(position) => Reported::FailedFrom(position),
        None => Reported::AllSucceeded,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BATCH: [&str; 4] = ["7", "9", "10", "12"];

    #[test]
    fn null_or_empty_responses_and_lists_are_complete_successes() {
        for response in [
            json!(null),
            json!({}),
            json!({"batchItemFailures": null}),
            json!({"batchItemFailures": []}),
        ] {
            assert_eq!(
                read(&response, &BATCH),
                Reported::AllSucceeded,
                "{response}"
            );
        }
    }

    #[test]
    fn the_lowest_reported_sequence_number_is_the_checkpoint() {
        let response = json!({"batchItemFailures": [
            {"itemIdentifier": "12"}, {"itemIdentifier": "9"}, {"itemIdentifier": "10"}
        ]});
        assert_eq!(read(&response, &BATCH), Reported::FailedFrom(1));
        let first = json!({"batchItemFailures": [{"itemIdentifier": "7"}]});
        assert_eq!(read(&first, &BATCH), Reported::FailedFrom(0));
    }

    #[test]
    fn unreadable_reports_fail_the_whole_batch() {
        for response in [
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"itemIdentifer": "9"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": "8"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": 9}]}),
            json!({"batchItemFailures": "9"}),
            json!("OK"),
            json!([]),
        ] {
            assert_eq!(read(&response, &BATCH), Reported::Malformed, "{response}");
        }
    }
}
