//! Policy gates: rules every synthesized template must pass, checked in-process over the template
//! JSON (so they apply to any template, ours or not) before `synth` writes anything.
//!
//! The rules ([`RULES`], each with its summary) cover encryption at rest, TLS-only and non-public
//! buckets, least-privilege IAM (no wildcard actions, no wildcard resources where an action can be
//! scoped), function log retention, failure destinations on asynchronous paths, alarm actions,
//! and the public edge: API methods that require authorization, API stages that write access
//! logs, a reserved concurrency cap on every function an API invokes, and key policies that grant
//! a service principal only under a source condition (no confused deputy). References are
//! followed as CloudFormation resolves them — `Ref`, `Fn::GetAtt`, and the `${Id}` /
//! `${Id.Attribute}` of an `Fn::Sub`, also inside `Fn::Join` — so a rule sees that an integration
//! URI names a function however the template spells it.
//!
//! Each rule has an id ([`RuleId`]), and each finding names the resource (logical ID and, for our
//! stacks, its construct path) and what is wrong. A rule may be suppressed on one resource with a
//! reason, in the resource's metadata — constructs do it with `Scope::suppress`:
//!
//! ```json
//! "Metadata": { "Suppressions": [ { "Rule": "IAM_NO_WILDCARD_RESOURCE", "Reason": "..." } ] }
//! ```
//!
//! A suppression is listed in every report, next to the finding it silences; one without a reason
//! of at least [`MIN_REASON_CHARS`] characters, or naming no rule, is itself a finding.

mod document;
mod rules;
mod template;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use rules::{RULES, Rule};
pub use template::{SUPPRESSIONS_METADATA_KEY, Suppression};

/// The shortest reason a suppression may give.
pub const MIN_REASON_CHARS: usize = 10;

/// The rules, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleId {
    /// Streams, buckets, queues, topics and tables are encrypted at rest.
    EncryptionAtRest,
    /// Every bucket's policy denies requests without TLS.
    S3TlsOnly,
    /// Every bucket blocks all public access.
    S3BlockPublicAccess,
    /// No `Allow` statement grants `*` or `service:*` actions, or uses `NotAction`.
    IamNoWildcardAction,
    /// No `Allow` statement of an identity policy grants on `*`, unless none of its actions can
    /// be scoped to a resource.
    IamNoWildcardResource,
    /// Every Lambda function logs to a log group with a retention.
    LambdaLogRetention,
    /// Every asynchronous path (stream event source mappings, asynchronous invocations, SNS
    /// deliveries to queues and functions) has a failure destination.
    AsyncFailureDestination,
    /// Every alarm has an action.
    AlarmHasAction,
    /// Every API Gateway method and route requires authorization, except CORS preflight
    /// (`OPTIONS`) methods and methods that require an API key.
    ApiMethodAuthorization,
    /// Every API Gateway stage (declared, or created by a deployment) writes access logs.
    ApiStageAccessLogging,
    /// Every Lambda function an API Gateway invokes has reserved concurrency, so a flood through
    /// the API cannot take the account's whole concurrency.
    LambdaPublicApiConcurrency,
    /// Every `Allow` of a key policy to a service principal is conditioned on the source
    /// (account, ARN, organization, or the calling service): no confused deputy.
    KmsServiceSourceCondition,
    /// A suppression names a rule and gives its reason.
    ValidSuppression,
}

impl RuleId {
    pub const ALL: [RuleId; 13] = [
        RuleId::EncryptionAtRest,
        RuleId::S3TlsOnly,
        RuleId::S3BlockPublicAccess,
        RuleId::IamNoWildcardAction,
        RuleId::IamNoWildcardResource,
        RuleId::LambdaLogRetention,
        RuleId::AsyncFailureDestination,
        RuleId::AlarmHasAction,
        RuleId::ApiMethodAuthorization,
        RuleId::ApiStageAccessLogging,
        RuleId::LambdaPublicApiConcurrency,
        RuleId::KmsServiceSourceCondition,
        RuleId::ValidSuppression,
    ];

    /// `ENCRYPTION_AT_REST`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::EncryptionAtRest => "ENCRYPTION_AT_REST",
            RuleId::S3TlsOnly => "S3_TLS_ONLY",
            RuleId::S3BlockPublicAccess => "S3_BLOCK_PUBLIC_ACCESS",
            RuleId::IamNoWildcardAction => "IAM_NO_WILDCARD_ACTION",
            RuleId::IamNoWildcardResource => "IAM_NO_WILDCARD_RESOURCE",
            RuleId::LambdaLogRetention => "LAMBDA_LOG_RETENTION",
            RuleId::AsyncFailureDestination => "ASYNC_FAILURE_DESTINATION",
            RuleId::AlarmHasAction => "ALARM_HAS_ACTION",
            RuleId::ApiMethodAuthorization => "API_METHOD_AUTHORIZATION",
            RuleId::ApiStageAccessLogging => "API_STAGE_ACCESS_LOGGING",
            RuleId::LambdaPublicApiConcurrency => "LAMBDA_PUBLIC_API_CONCURRENCY",
            RuleId::KmsServiceSourceCondition => "KMS_SERVICE_SOURCE_CONDITION",
            RuleId::ValidSuppression => "VALID_SUPPRESSION",
        }
    }

    /// The rule named `id`, if there is one.
    pub fn parse(id: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|rule| rule.as_str() == id)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource breaking one rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    /// The resource's logical ID.
    pub resource: String,
    /// Its construct path, when the template records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
    /// The reason it is accepted, when a suppression covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.resource)?;
        if let Some(path) = &self.path {
            write!(f, " ({path})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(reason) = &self.suppressed {
            write!(f, " — suppressed: {reason}")?;
        }
        Ok(())
    }
}

/// Everything the rules found in one template, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings no suppression covers: each one fails the gate.
    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_none())
    }

    /// The findings accepted by a reasoned suppression.
    pub fn suppressed(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_some())
    }

    /// Whether the template passes.
    pub fn passes(&self) -> bool {
        self.violations().next().is_none()
    }
}

/// Runs every rule over `template` (a CloudFormation template as JSON).
pub fn check(template: &Value) -> Report {
    let template = template::Template::new(template);
    let mut findings = Vec::new();
    for rule in RULES {
        for violation in (rule.check)(&template) {
            let suppressed = template
                .suppressions(&violation.resource)
                .find(|s| s.rule == rule.id.as_str() && s.reason_is_valid())
                .map(|s| s.reason.clone());
            findings.push(Finding {
                rule: rule.id,
                path: template.construct_path(&violation.resource),
                resource: violation.resource,
                message: violation.message,
                suppressed,
            });
        }
    }
    findings.extend(template.invalid_suppressions());
    findings.sort();
    Report { findings }
}
