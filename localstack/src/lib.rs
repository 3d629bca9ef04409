//! The local AWS environment of the IOps Dashboard: the synthesized stacks deployed to an
//! emulator ([`emulator`]), with what it cannot run run locally ([`local_runtime`]).
//!
//! [`deploy`](deploy()) creates a stack through the emulator's CloudFormation API after putting
//! the function code where the template says ([`code`]), then fills in, from the same template and
//! through the service APIs, whatever the backend did not create ([`fill`]), resolving the
//! template's intrinsic functions against the deployed stack ([`resolve`]).
//!
//! [`pipeline`] then runs, from the same template, what the emulator cannot: the functions, the
//! event source mapping, the delivery stream and the REST API, against the deployed resources.

pub mod code;
pub mod deploy;
pub mod fill;
pub mod pipeline;
mod props;
pub mod resolve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::Value;
use tracing::{info, warn};

pub use code::FunctionCode;
pub use emulator;
pub use fill::FillIn;
pub use local_runtime;
pub use props::PropertyError;
pub use resolve::StackContext;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{operation} on {target} failed")]
    Api {
        operation: &'static str,
        target: String,
        #[source]
        source: BoxError,
    },
    #[error("stack {stack} is not listed by DescribeStacks")]
    StackMissing { stack: String },
    #[error("stack {stack} ended in {status}: {reasons}")]
    StackFailed {
        stack: String,
        status: String,
        reasons: String,
    },
    #[error("stack {stack} was not created within {waited:?}")]
    StackTimeout { stack: String, waited: Duration },
    #[error("stack {stack} is invalid: {problems}")]
    Invalid { stack: String, problems: String },
    #[error("the SDK configuration has no region")]
    NoRegion,
    #[error("function {function}: no code given for s3://{bucket}/{key}")]
    NoCode {
        function: String,
        bucket: String,
        key: String,
    },
    #[error("function {function}: the location of its code cannot be resolved")]
    CodeLocation {
        function: String,
        #[source]
        source: resolve::ResolveError,
    },
    #[error("cannot read {path}")]
    Binary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a scratch folder for the code packages")]
    Scratch {
        #[source]
        source: std::io::Error,
    },
    #[error("function {function}: cannot zip its code")]
    Zip {
        function: String,
        #[source]
        source: synth::package::PackageError,
    },
    #[error("stack {stack}: cannot fill in what the backend did not create")]
    Fill {
        stack: String,
        #[source]
        source: fill::FillError,
    },
    #[error("stack {stack}: output {output} cannot be resolved")]
    Output {
        stack: String,
        output: String,
        #[source]
        source: resolve::ResolveError,
    },
}

/// A stack to deploy.
#[derive(Debug, Clone)]
pub struct StackDeployment<'a> {
    /// Unique among the stacks of the emulator: see [`unique_stack_name`].
    pub stack_name: String,
    /// The template as JSON (`Template::to_value`).
    pub template: &'a Value,
    pub parameters: BTreeMap<String, String>,
    pub code: &'a FunctionCode,
}

/// A deployed stack, with what had to be filled in.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// Name, ID, region, account, parameters and every resource's physical ID.
    pub context: StackContext,
    /// Every output of the template, by key.
    pub outputs: BTreeMap<String, String>,
    /// What the backend did not create and was filled in through the service APIs.
    pub filled: Vec<FillIn>,
    /// Where the function code was put.
    pub code: Vec<code::CodeObject>,
}

impl Deployed {
    pub fn stack_name(&self) -> &str {
        &self.context.stack_name
    }

    /// The physical ID of the resource `logical_id` (what `Ref` gives).
    pub fn physical_id(&self, logical_id: &str) -> Option<&str> {
        self.context.physical_id(logical_id).ok()
    }

    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(String::as_str)
    }
}

/// Deploys a stack: uploads the function code, creates the stack through CloudFormation, fills
/// in what the backend did not create, and completes the outputs it left out.
pub async fn deploy(
    config: &SdkConfig,
    request: StackDeployment<'_>,
) -> Result<Deployed, DeployError> {
    let region = config
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or(DeployError::NoRegion)?;
    let stack = request.stack_name.as_str();
    let before = StackContext::before_deploy(stack, &region, request.parameters.clone());
    let code_objects = code::code_objects(request.template, &before)?;
    code::upload(
        &emulator::s3_client(config),
        &region,
        &code_objects,
        request.code,
    )
    .await?;

    let cloudformation = aws_sdk_cloudformation::Client::new(config);
    let created = deploy::create_stack(
        &cloudformation,
        &region,
        stack,
        request.template,
        &request.parameters,
    )
    .await?;
    let mut context = created.context;
    let filled = fill::fill_in(&fill::Clients::new(config), request.template, &mut context)
        .await
        .map_err(|source| DeployError::Fill {
            stack: stack.to_owned(),
            source,
        })?;

    let mut outputs = created.outputs;
    for (key, output) in request.template["Outputs"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if outputs.contains_key(key) {
            continue;
        }
        let value =
            context
                .resolve_string(&output["Value"])
                .map_err(|source| DeployError::Output {
                    stack: stack.to_owned(),
                    output: key.clone(),
                    source,
                })?;
        info!(stack, output = %key, "output resolved from the template");
        outputs.insert(key.clone(), value);
    }
    info!(
        stack,
        resources = context.resources.len(),
        filled = filled.len(),
        "stack deployed"
    );
    Ok(Deployed {
        context,
        outputs,
        filled,
        code: code_objects,
    })
}

/// A stack name no other caller of this process, or of another process, gets:
/// `<base>-<process id>-<counter>`.
pub fn unique_stack_name(base: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{base}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The e-mail address given to the stacks' `AlertEmail` parameter by default.
pub const DEFAULT_ALERT_EMAIL: &str = "ops@example.com";

/// What the deployed stacks are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StackNames {
    /// [`unique_stack_name`]: tests sharing an emulator (or an endpoint someone else runs).
    #[default]
    Unique,
    /// The stacks' own names (`IOpsDashboard-CoreStack`, ...), as in AWS: what `up` does, in an
    /// emulator of its own, so the spec's commands (`aws cloudformation describe-stacks
    /// --stack-name IOpsDashboard-CoreStack`) answer.
    Real,
}

impl StackNames {
    fn name(self, stack: &str) -> String {
        match self {
            StackNames::Unique => unique_stack_name(stack),
            StackNames::Real => stack.to_owned(),
        }
    }
}

/// How the whole app is deployed.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub alert_email: String,
    pub code: FunctionCode,
    pub stack_names: StackNames,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            alert_email: DEFAULT_ALERT_EMAIL.to_owned(),
            code: FunctionCode::Placeholder,
            stack_names: StackNames::Unique,
        }
    }
}

/// The stacks of the app, deployed.
#[derive(Debug, Clone)]
pub struct AppDeployment {
    pub core: Deployed,
    /// `None` when the backend could not deploy it (the reason is logged).
    pub billing: Option<Deployed>,
}

/// Deploys the app's stacks, each into its own region, named as `options` says. The core stack
/// must deploy; the billing stack is deployed if the backend can, else skipped with a warning.
pub async fn deploy_app(
    emulator: &emulator::Emulator,
    app: &iops_dashboard::App,
    options: &AppOptions,
) -> Result<AppDeployment, DeployError> {
    let core_stack = &app.core.stack;
    let core_name = options.stack_names.name(&core_stack.name());
    let core_template = synthesized(core_stack)?;
    let mut parameters = BTreeMap::from([(
        iops_dashboard::ALERT_EMAIL_PARAMETER.to_owned(),
        options.alert_email.clone(),
    )]);
    if core_template["Parameters"]
        .get(constructs::lambda::ASSETS_BUCKET_PARAMETER)
        .is_some()
    {
        parameters.insert(
            constructs::lambda::ASSETS_BUCKET_PARAMETER.to_owned(),
            core_name
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                + "-assets",
        );
    }
    let core = deploy(
        &emulator.sdk_config_in(&core_stack.env().region),
        StackDeployment {
            stack_name: core_name,
            template: &core_template,
            parameters,
            code: &options.code,
        },
    )
    .await?;

    let billing_stack = &app.billing.stack;
    let billing_template = synthesized(billing_stack)?;
    let billing = deploy(
        &emulator.sdk_config_in(&billing_stack.env().region),
        StackDeployment {
            stack_name: options.stack_names.name(&billing_stack.name()),
            template: &billing_template,
            parameters: BTreeMap::from([(
                iops_dashboard::ALERT_EMAIL_PARAMETER.to_owned(),
                options.alert_email.clone(),
            )]),
            code: &options.code,
        },
    )
    .await;
    let billing = match billing {
        Ok(deployed) => Some(deployed),
        Err(e) => {
            warn!(
                stack = %billing_stack.name(),
                backend = %emulator.backend(),
                error = %error_chain(&e),
                "billing stack skipped: the backend cannot deploy it"
            );
            None
        }
    };
    Ok(AppDeployment { core, billing })
}

fn synthesized(stack: &constructs::Stack) -> Result<Value, DeployError> {
    stack
        .synth()
        .map(|t| t.to_value())
        .map_err(|problems| DeployError::Invalid {
            stack: stack.name(),
            problems: problems.to_string(),
        })
}

/// An error with its causes, `a: b: c`, for a log line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_are_unique_and_valid() {
        let a = unique_stack_name("IOpsDashboard-CoreStack");
        let b = unique_stack_name("IOpsDashboard-CoreStack");
        assert_ne!(a, b);
        assert!(a.starts_with("IOpsDashboard-CoreStack-"));
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
    }

    #[test]
    fn error_chains_name_every_cause() {
        let err = DeployError::CodeLocation {
            function: "Fn".into(),
            source: resolve::ResolveError::UnknownRef {
                name: "AssetsBucketName".into(),
            },
        };
        assert_eq!(
            error_chain(&err),
            "function Fn: the location of its code cannot be resolved: \
             Ref AssetsBucketName: no parameter, pseudo parameter or resource of that name"
        );
    }
}
