//! What constructs find wrong with their props, reported with the construct's path.

use std::fmt;

/// One problem in a construct tree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("{property} is {value}, out of range {min}..={max}")]
    OutOfRange {
        property: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("{property} is {value} seconds, which must be {rule}")]
    BadDuration {
        property: &'static str,
        value: u64,
        rule: &'static str,
    },
    #[error("retention of {hours} h is out of range 24..=8760 h for a Kinesis stream")]
    StreamRetentionOutOfRange { hours: u64 },
    #[error("logical ID `{logical_id}` is already taken by {other_path}")]
    DuplicateLogicalId {
        logical_id: String,
        other_path: String,
    },
    #[error("the construct path gives an empty logical ID (ids need letters or digits)")]
    EmptyLogicalId,
    #[error(
        "the suppression of {rule} needs a reason of at least {min} characters, got {reason:?}",
        min = cfn_policy::MIN_REASON_CHARS
    )]
    SuppressionWithoutReason {
        rule: cfn_policy::RuleId,
        reason: String,
    },
    #[error("output `{name}` is defined twice")]
    DuplicateOutput { name: String },
    #[error(
        "stack name `{name}` is invalid: a letter, then letters, digits and hyphens, at most 128"
    )]
    InvalidStackName { name: String },
    #[error("IAM statement allows the wildcard action `{action}`; list the actions it needs")]
    WildcardAction { action: String },
    #[error("alarm has no action: it would change state and tell nobody")]
    AlarmWithoutAction,
    #[error(
        "alarm `{metric}` reads the billing metric, which exists only in us-east-1, but the stack deploys to {region}"
    )]
    BillingMetricOutsideUsEast1 { metric: String, region: String },
    #[error(
        "metric math id `{id}` is invalid: it must start with a lowercase letter and hold only letters, digits and underscores"
    )]
    BadMetricId { id: String },
    #[error("datapoints to alarm ({datapoints}) exceeds evaluation periods ({periods})")]
    DatapointsExceedPeriods { datapoints: u32, periods: u32 },
    #[error("lifecycle rule `{rule}`: {reason}")]
    BadLifecycleRule { rule: String, reason: String },
    #[error("S3 prefix `{prefix}`: {reason}")]
    BadS3Prefix { prefix: String, reason: String },
    #[error(
        "the API requires API keys but has no usage plan, so no key can call it: add one with `add_usage_plan`"
    )]
    ApiKeysWithoutUsagePlan,
    #[error(
        "the API's methods need no authorization and no API key: anyone with the URL can call them; use Authorization::Iam or require API keys"
    )]
    OpenApi,
    #[error("function code: {0}")]
    Asset(#[from] crate::assets::AssetError),
    #[error(transparent)]
    Template(cfn::TemplateProblem),
}

/// A problem and the construct path it belongs to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ValidationError {
    pub path: String,
    pub problem: Problem,
}

/// Every problem a stack has; synthesis returns them all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{}:", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Checks that `value` is within `min..=max`, reporting `property` otherwise.
pub(crate) fn check_range(
    scope: &crate::Scope,
    property: &'static str,
    value: i64,
    min: i64,
    max: i64,
) {
    if !(min..=max).contains(&value) {
        scope.report(Problem::OutOfRange {
            property,
            value,
            min,
            max,
        });
    }
}
