//! The processor's settings, read once from the environment the stack sets.

use event_contract::env;

/// What the processor needs to know about the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The metrics table ([`env::DYNAMODB_TABLE_NAME`]).
    pub table_name: String,
    /// The malformed-events topic ([`env::MALFORMED_TOPIC_ARN`]).
    pub topic_arn: String,
}

/// A setting the stack should have provided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is unset or empty.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Ok(Config {
            table_name: required(env::DYNAMODB_TABLE_NAME)?,
            topic_arn: required(env::MALFORMED_TOPIC_ARN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn reads_the_variables_the_stack_sets() {
        let vars = HashMap::from([
            ("DYNAMODB_TABLE_NAME", "metrics"),
            (
                "MALFORMED_TOPIC_ARN",
                "arn:aws:sns:us-east-2:123456789012:iops-dashboard-malformed-events",
            ),
        ]);
        let config = Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()));
        assert_eq!(
            config,
            Ok(Config {
                table_name: "metrics".to_owned(),
                topic_arn: "arn:aws:sns:us-east-2:123456789012:iops-dashboard-malformed-events"
                    .to_owned(),
            })
        );
    }

    #[test]
    fn a_missing_or_empty_variable_is_named() {
        let only_table = |name: &str| (name == "DYNAMODB_TABLE_NAME").then(|| "metrics".to_owned());
        assert_eq!(
            Config::from_lookup(only_table),
            Err(ConfigError::Missing("MALFORMED_TOPIC_ARN"))
        );
        assert_eq!(
            Config::from_lookup(|_| Some(String::new())),
            Err(ConfigError::Missing("DYNAMODB_TABLE_NAME"))
        );
    }
}
