//! Ingest's settings, read once from the environment the stack sets.

use event_contract::env;

/// Where ingest sends valid events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `USE_KINESIS=true`: the events stream.
    Kinesis {
        /// [`env::KINESIS_STREAM_NAME`].
        stream_name: String,
    },
    /// `USE_KINESIS=false`: straight to the metrics table, the path before Kinesis.
    Direct {
        /// [`env::DYNAMODB_TABLE_NAME`].
        table_name: String,
    },
}

/// A setting the stack should have provided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is unset or empty.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// The variable holds something else than it may.
    #[error("environment variable {name} is {value:?}, expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
}

impl Destination {
    /// Reads the destination from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Destination::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the destination through `lookup` (a variable name to its value). Only the
    /// variable of the chosen path is required.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let flag = required(env::USE_KINESIS)?;
        if flag.trim().eq_ignore_ascii_case("true") {
            Ok(Destination::Kinesis {
                stream_name: required(env::KINESIS_STREAM_NAME)?,
            })
        } else if flag.trim().eq_ignore_ascii_case("false") {
            Ok(Destination::Direct {
                table_name: required(env::DYNAMODB_TABLE_NAME)?,
            })
        } else {
            Err(ConfigError::Invalid {
                name: env::USE_KINESIS,
                value: flag,
                expected: "true or false",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Destination, ConfigError> {
        let vars: HashMap<_, _> = vars.iter().copied().collect();
        Destination::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn the_flag_picks_the_path_and_its_variable() {
        let all = [
            ("USE_KINESIS", "true"),
            ("KINESIS_STREAM_NAME", "events"),
            ("DYNAMODB_TABLE_NAME", "metrics"),
        ];
        assert_eq!(
            read(&all),
            Ok(Destination::Kinesis {
                stream_name: "events".to_owned()
            })
        );
        let direct = [("USE_KINESIS", "FALSE"), ("DYNAMODB_TABLE_NAME", "metrics")];
        assert_eq!(
            read(&direct),
            Ok(Destination::Direct {
                table_name: "metrics".to_owned()
            })
        );
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        assert_eq!(read(&[]), Err(ConfigError::Missing("USE_KINESIS")));
        assert_eq!(
            read(&[("USE_KINESIS", "true")]),
            Err(ConfigError::Missing("KINESIS_STREAM_NAME"))
        );
        assert_eq!(
            read(&[("USE_KINESIS", "false")]),
            Err(ConfigError::Missing("DYNAMODB_TABLE_NAME"))
        );
        assert!(matches!(
            read(&[("USE_KINESIS", "yes")]),
            Err(ConfigError::Invalid {
                name: "USE_KINESIS",
                ..
            })
        ));
    }
}
