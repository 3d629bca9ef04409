//! Ingest's settings, read once from the environment the stack sets.

use std::time::Duration;

use event_contract::env;

/// Everything ingest reads from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where valid events go.
    pub destination: Destination,
    /// The malformed-events topic refusals are reported to ([`env::MALFORMED_TOPIC_ARN`]).
    pub topic_arn: String,
    /// The bucket refused bodies are kept in ([`env::REFUSED_BUCKET_NAME`]).
    pub refused_bucket: String,
    /// The shortest time between two alerts from one execution environment
    /// ([`env::ALERT_INTERVAL_SECONDS`], default [`env::DEFAULT_ALERT_INTERVAL_SECONDS`]).
    pub alert_interval: Duration,
}

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

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable name to its value). The topic and the
    /// bucket are required whichever the path: every refusal is reported and kept.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let destination = Destination::from_lookup(&lookup)?;
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let topic_arn = required(env::MALFORMED_TOPIC_ARN)?;
        let refused_bucket = required(env::REFUSED_BUCKET_NAME)?;
        let alert_interval = match lookup(env::ALERT_INTERVAL_SECONDS).filter(|v| !v.is_empty()) {
            None => Duration::from_secs(env::DEFAULT_ALERT_INTERVAL_SECONDS),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: env::ALERT_INTERVAL_SECONDS,
                        value,
                        expected: "a whole number of seconds, at least 1",
                    });
                }
            },
        };
        Ok(Config {
            destination,
            topic_arn,
            refused_bucket,
            alert_interval,
        })
    }
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

    const STACK: [(&str, &str); 4] = [
        ("USE_KINESIS", "true"),
        ("KINESIS_STREAM_NAME", "events"),
        (
            "MALFORMED_TOPIC_ARN",
            "arn:aws:sns:us-east-2:123456789012:iops-dashboard-malformed-events",
        ),
        ("REFUSED_BUCKET_NAME", "iops-dashboard-archive-123456789012"),
    ];

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<_, _> = vars.iter().copied().collect();
        Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn the_topic_and_the_bucket_are_read_and_the_interval_defaults_to_a_minute() {
        assert_eq!(
            config(&STACK),
            Ok(Config {
                destination: Destination::Kinesis {
                    stream_name: "events".to_owned()
                },
                topic_arn: "arn:aws:sns:us-east-2:123456789012:iops-dashboard-malformed-events"
                    .to_owned(),
                refused_bucket: "iops-dashboard-archive-123456789012".to_owned(),
                alert_interval: Duration::from_secs(60),
            })
        );
        let mut vars = STACK.to_vec();
        vars.push(("ALERT_INTERVAL_SECONDS", " 300 "));
        assert_eq!(
            config(&vars).map(|c| c.alert_interval),
            Ok(Duration::from_secs(300))
        );
    }

    #[test]
    fn ingest_refuses_to_start_without_the_topic_or_the_bucket() {
        for missing in ["MALFORMED_TOPIC_ARN", "REFUSED_BUCKET_NAME"] {
            let vars: Vec<_> = STACK
                .iter()
                .copied()
                .filter(|(n, _)| *n != missing)
                .collect();
            assert_eq!(config(&vars), Err(ConfigError::Missing(missing)));
            let empty: Vec<_> = STACK
                .iter()
                .map(|&(n, v)| (n, if n == missing { "" } else { v }))
                .collect();
            assert_eq!(config(&empty), Err(ConfigError::Missing(missing)));
        }
        // The direct path needs them too.
        let direct = [
            ("USE_KINESIS", "false"),
            ("DYNAMODB_TABLE_NAME", "metrics"),
            ("MALFORMED_TOPIC_ARN", "arn"),
        ];
        assert_eq!(
            config(&direct),
            Err(ConfigError::Missing("REFUSED_BUCKET_NAME"))
        );
    }

    #[test]
    fn an_alert_interval_that_is_not_a_positive_whole_number_is_named() {
        for bad in ["0", "-5", "1.5", "a minute"] {
            let mut vars = STACK.to_vec();
            vars.push(("ALERT_INTERVAL_SECONDS", bad));
            assert!(
                matches!(
                    config(&vars),
                    Err(ConfigError::Invalid { name: "ALERT_INTERVAL_SECONDS", ref value, .. }) if value == bad
                ),
                "{bad}"
            );
        }
        assert_eq!(
            ConfigError::Missing("REFUSED_BUCKET_NAME").to_string(),
            "environment variable REFUSED_BUCKET_NAME is not set"
        );
    }
}
