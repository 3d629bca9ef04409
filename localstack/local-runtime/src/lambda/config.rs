//! A function's settings, as its `AWS::Lambda::Function` resource gives them, and the
//! environment Lambda builds from them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// What the process of a function runs with. Build it with [`FunctionConfig::new`] and set
/// what the template says, e.g. `FunctionConfig { timeout, memory_mb, ..FunctionConfig::new(..) }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// `FunctionName`.
    pub name: String,
    /// The `bootstrap` executable of the function's code package.
    pub bootstrap: PathBuf,
    /// `Environment.Variables`, resolved.
    pub environment: BTreeMap<String, String>,
    /// `MemorySize` in MB. Default 128, as Lambda's. Only reported to the function.
    pub memory_mb: u32,
    /// `Timeout`. Default 3 s, as Lambda's.
    pub timeout: Duration,
    /// `LoggingConfig`.
    pub logging: LoggingConfig,
    /// The region the function runs in: `AWS_REGION`. Default `us-east-1`.
    pub region: String,
    /// The account the function belongs to, for its ARN. Default `123456789012` (moto's).
    pub account_id: String,
    /// The emulator's endpoint, given to the function as `AWS_ENDPOINT_URL` so its SDK clients
    /// never reach AWS.
    pub endpoint_url: String,
    /// Endpoints of single services, given as `AWS_ENDPOINT_URL_<SERVICE>` (the SDKs' and the
    /// CLI's service-specific endpoint setting): `KINESIS` → the local Kinesis. Default none.
    pub service_endpoints: BTreeMap<String, String>,
    /// How many execution environments run at once: `ReservedConcurrentExecutions`, or fewer
    /// to spare the machine. Default 1.
    pub concurrency: NonZeroUsize,
    /// A file the processes' output is appended to, besides [`super::Function::logs`].
    pub log_file: Option<PathBuf>,
}

impl FunctionConfig {
    /// Function `name` running `bootstrap` against the emulator at `endpoint_url`, with Lambda's
    /// defaults for the rest.
    pub fn new(
        name: impl Into<String>,
        bootstrap: impl Into<PathBuf>,
        endpoint_url: impl Into<String>,
    ) -> Self {
        FunctionConfig {
            name: name.into(),
            bootstrap: bootstrap.into(),
            environment: BTreeMap::new(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            logging: LoggingConfig::default(),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            endpoint_url: endpoint_url.into(),
            service_endpoints: BTreeMap::new(),
            concurrency: NonZeroUsize::MIN,
            log_file: None,
        }
    }

    /// The function's ARN, as the runtime sees it in `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.name
        )
    }

    /// The process environment: the template's variables, then what Lambda sets (which wins, as
    /// Lambda reserves those names), then the emulator's endpoint and dummy credentials.
    pub(super) fn process_environment(
        &self,
        runtime_api: SocketAddr,
        log_stream: &str,
    ) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        let log_group = self
            .logging
            .log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}", self.name));
        let task_root = self
            .bootstrap
            .parent()
            .map(|dir| dir.display().to_string())
            .unwrap_or_default();
        let lambda = [
            ("_HANDLER", "bootstrap".to_owned()),
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", log_group),
            ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned()),
            (
                "AWS_LAMBDA_LOG_FORMAT",
                self.logging.format.as_str().to_owned(),
            ),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("LAMBDA_TASK_ROOT", task_root.clone()),
            ("LAMBDA_RUNTIME_DIR", task_root),
            ("TZ", ":UTC".to_owned()),
            ("LANG", "en_US.UTF-8".to_owned()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint_url.clone()),
            ("AWS_ACCESS_KEY_ID", DUMMY_CREDENTIAL.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", DUMMY_CREDENTIAL.to_owned()),
            ("AWS_SESSION_TOKEN", DUMMY_CREDENTIAL.to_owned()),
        ];
        env.extend(lambda.map(|(name, value)| (name.to_owned(), value)));
        env.extend(
            self.service_endpoints
                .iter()
                .map(|(service, url)| (format!("AWS_ENDPOINT_URL_{service}"), url.clone())),
        );
        // Lambda applies the level only to the JSON format.
        match (&self.logging.format, &self.logging.application_log_level) {
            (LogFormat::Json, Some(level)) => {
                env.insert("AWS_LAMBDA_LOG_LEVEL".to_owned(), level.clone());
            }
            _ => {
                env.remove("AWS_LAMBDA_LOG_LEVEL");
            }
        }
        env
    }
}

/// The access key, secret and session token the functions get: LocalStack's convention, which
/// moto accepts too. No real credential ever reaches a function.
pub const DUMMY_CREDENTIAL: &str = "test";

/// `LoggingConfig` of the function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `LogFormat`. Default `Text`.
    pub format: LogFormat,
    /// `ApplicationLogLevel` (`TRACE` … `FATAL`), applied with the JSON format only, as
    /// `AWS_LAMBDA_LOG_LEVEL`.
    pub application_log_level: Option<String>,
    /// `LogGroup`. Default `/aws/lambda/<name>`.
    pub log_group: Option<String>,
}

/// `LoggingConfig.LogFormat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `Text`.
    #[default]
    Text,
    /// `JSON`.
    Json,
}

impl LogFormat {
    /// The value Lambda puts in `AWS_LAMBDA_LOG_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "Text",
            LogFormat::Json => "JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FunctionConfig {
        FunctionConfig {
            environment: BTreeMap::from([
                ("TABLE".to_owned(), "metrics".to_owned()),
                ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
            ]),
            memory_mb: 512,
            region: "us-east-2".to_owned(),
            logging: LoggingConfig {
                format: LogFormat::Json,
                application_log_level: Some("INFO".to_owned()),
                log_group: Some("processor-logs".to_owned()),
            },
            ..FunctionConfig::new(
                "processor",
                "/code/processor/bootstrap",
                "http://127.0.0.1:5000",
            )
        }
    }

    #[test]
    fn the_environment_holds_the_templates_variables_and_what_lambda_sets() {
        let addr: SocketAddr = ([127, 0, 0, 1], 9001).into();
        let env = config().process_environment(addr, "2026/01/01/[$LATEST]abc");
        let get = |name: &str| env.get(name).map(String::as_str);
        assert_eq!(get("TABLE"), Some("metrics"));
        assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), Some("127.0.0.1:9001"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("processor"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("512"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), Some("$LATEST"));
        assert_eq!(get("AWS_LAMBDA_LOG_FORMAT"), Some("JSON"));
        assert_eq!(get("AWS_LAMBDA_LOG_LEVEL"), Some("INFO"));
        assert_eq!(get("AWS_LAMBDA_LOG_GROUP_NAME"), Some("processor-logs"));
        assert_eq!(
            get("AWS_LAMBDA_LOG_STREAM_NAME"),
            Some("2026/01/01/[$LATEST]abc")
        );
        assert_eq!(get("LAMBDA_TASK_ROOT"), Some("/code/processor"));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:5000"));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("test"));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some("test"));
        // Lambda's own names win over the template's.
        assert_eq!(get("AWS_REGION"), Some("us-east-2"));
    }

    #[test]
    fn the_log_level_is_only_set_with_the_json_format() {
        let text = FunctionConfig {
            logging: LoggingConfig {
                format: LogFormat::Text,
                application_log_level: Some("DEBUG".to_owned()),
                log_group: None,
            },
            ..config()
        };
        let env = text.process_environment(([127, 0, 0, 1], 1).into(), "s");
        assert_eq!(
            env.get("AWS_LAMBDA_LOG_FORMAT").map(String::as_str),
            Some("Text")
        );
        assert!(!env.contains_key("AWS_LAMBDA_LOG_LEVEL"));
        assert_eq!(
            env.get("AWS_LAMBDA_LOG_GROUP_NAME").map(String::as_str),
            Some("/aws/lambda/processor")
        );
    }

    #[test]
    fn the_arn_names_region_account_and_function() {
        assert_eq!(
            config().arn(),
            "arn:aws:lambda:us-east-2:123456789012:function:processor"
        );
    }
}
