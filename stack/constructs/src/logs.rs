//! CloudWatch Logs: log groups that always have a retention.

use cfn::resources::logs;
use cfn::{Expr, Policy, Resource};

use crate::core::{ResourceRef, Scope};
use crate::iam::{Grantee, actions};

/// The retention periods CloudWatch Logs accepts, so an invalid one cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetentionDays {
    OneDay,
    ThreeDays,
    FiveDays,
    OneWeek,
    TwoWeeks,
    #[default]
    OneMonth,
    TwoMonths,
    ThreeMonths,
    SixMonths,
    OneYear,
    ThirteenMonths,
    EighteenMonths,
    TwoYears,
    FiveYears,
    TenYears,
}

impl RetentionDays {
    pub fn days(self) -> i64 {
        match self {
            RetentionDays::OneDay => 1,
            RetentionDays::ThreeDays => 3,
            RetentionDays::FiveDays => 5,
            RetentionDays::OneWeek => 7,
            RetentionDays::TwoWeeks => 14,
            RetentionDays::OneMonth => 30,
            RetentionDays::TwoMonths => 60,
            RetentionDays::ThreeMonths => 90,
            RetentionDays::SixMonths => 180,
            RetentionDays::OneYear => 365,
            RetentionDays::ThirteenMonths => 400,
            RetentionDays::EighteenMonths => 545,
            RetentionDays::TwoYears => 731,
            RetentionDays::FiveYears => 1827,
            RetentionDays::TenYears => 3653,
        }
    }
}

/// What a writer of a log group calls (Lambda's runtime, for a function's logs).
pub const WRITE_ACTIONS: &[&str] = &["CreateLogStream", "PutLogEvents"];

#[derive(Debug, Clone, Default)]
pub struct LogGroupProps {
    /// Default: a name CloudFormation generates. An expression allows names other services
    /// choose, e.g. `API-Gateway-Execution-Logs_${Api}/prod`.
    pub log_group_name: Option<cfn::Value<String>>,
    /// Default: one month.
    pub retention: RetentionDays,
    /// Default: retained, as logs are evidence.
    pub removal_policy: Option<Policy>,
}

#[derive(Debug, Clone)]
pub struct LogGroup {
    resource: ResourceRef,
}

impl LogGroup {
    pub fn new(scope: &Scope, id: &str, props: LogGroupProps) -> LogGroup {
        let scope = scope.child(id);
        let group = logs::LogGroup {
            log_group_name: props.log_group_name,
            retention_in_days: Some(props.retention.days().into()),
            ..logs::LogGroup::default()
        };
        let resource = Resource::new(&group)
            .with_removal_policy(props.removal_policy.unwrap_or(Policy::Retain));
        LogGroup {
            resource: scope.add_resource(resource),
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The log group's name (`Ref`).
    pub fn name(&self) -> Expr {
        self.resource.r#ref()
    }

    /// The log group's ARN (`arn:...:log-group:NAME:*`, which covers its streams).
    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Lets the grantee write log events to this group, and nothing else.
    pub fn grant_write(&self, grantee: &dyn Grantee) {
        grantee.grant(actions("logs", WRITE_ACTIONS), vec![self.arn().json()]);
    }
}
