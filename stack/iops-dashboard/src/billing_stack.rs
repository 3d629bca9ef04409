//! `IOpsDashboard-BillingStack`: the monthly cost alarm. Billing metrics exist only in
//! us-east-1, and an alarm can only notify a topic in its own region, so this stack has its
//! own topic there.

use std::time::Duration;

use constructs::cloudwatch::{
    Alarm, AlarmProps, AlarmSource, Comparison, Metric, Statistic, TreatMissingData,
};
use constructs::{Environment, Stack, StackProps};

use crate::config::Config;
use crate::shared::{alarm_topic, email_parameter, output};

pub const BILLING_STACK_NAME: &str = "IOpsDashboard-BillingStack";

#[derive(Debug, Clone)]
pub struct BillingStack {
    pub stack: Stack,
}

impl BillingStack {
    pub fn new(config: &Config) -> BillingStack {
        let b = &config.billing;
        let stack = Stack::new(
            BILLING_STACK_NAME,
            StackProps {
                env: Environment {
                    account: config.account.clone(),
                    region: b.region.clone(),
                },
                description: Some(
                    "IOps Dashboard monthly cost alarm (billing metrics live in us-east-1)".into(),
                ),
                workspace_root: None,
            },
        );
        let email = email_parameter(&stack, "Where the cost alarm is e-mailed");
        let topic = alarm_topic(
            &stack,
            "BillingAlertsTopic",
            &b.topic_name,
            "IOps Dashboard billing alerts",
            email,
        );
        let charges = Metric::new(
            "AWS/Billing",
            "EstimatedCharges",
            Statistic::Maximum,
            Duration::from_secs(86_400),
        )
        .literal_dimension("Currency", "USD");
        Alarm::new(
            &stack,
            "MonthlyCostAlarm",
            AlarmProps {
                alarm_name: Some(b.alarm_name.clone()),
                description: format!(
                    "Alert when monthly cost exceeds ${}",
                    b.monthly_threshold_usd
                ),
                source: AlarmSource::Metric(charges),
                comparison: Comparison::GreaterThanThreshold,
                threshold: b.monthly_threshold_usd,
                evaluation_periods: 1,
                datapoints_to_alarm: None,
                treat_missing_data: TreatMissingData::NotBreaching,
                actions: vec![topic.clone()],
            },
        );
        output(
            &stack,
            "BillingAlertsTopicArn",
            "SNS topic the cost alarm notifies",
            topic.arn(),
        );
        BillingStack { stack }
    }
}
