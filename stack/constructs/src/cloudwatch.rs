//! CloudWatch: metrics, metric math, and alarms that always notify someone.

use std::collections::BTreeMap;
use std::time::Duration;

use cfn::resources::cloudwatch;
use cfn::{Expr, Resource, Value};

use crate::core::{ResourceRef, Scope};
use crate::problem::Problem;
use crate::sns::Topic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    Average,
    Maximum,
    Minimum,
    Sum,
    SampleCount,
}

impl Statistic {
    fn name(self) -> &'static str {
        match self {
            Statistic::Average => "Average",
            Statistic::Maximum => "Maximum",
            Statistic::Minimum => "Minimum",
            Statistic::Sum => "Sum",
            Statistic::SampleCount => "SampleCount",
        }
    }
}

/// A CloudWatch metric with the statistic and period an alarm reads it with.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub namespace: String,
    pub name: String,
    /// Dimension name → value, in order.
    pub dimensions: BTreeMap<String, Expr>,
    pub literal_dimensions: BTreeMap<String, String>,
    pub statistic: Statistic,
    pub period: Duration,
}

impl Metric {
    pub fn new(namespace: &str, name: &str, statistic: Statistic, period: Duration) -> Metric {
        Metric {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: BTreeMap::new(),
            literal_dimensions: BTreeMap::new(),
            statistic,
            period,
        }
    }

    /// The metric with a dimension whose value is an expression (a resource's name).
    pub fn dimension(mut self, name: &str, value: Expr) -> Metric {
        self.dimensions.insert(name.to_owned(), value);
        self
    }

    /// The metric with a dimension whose value is a literal.
    pub fn literal_dimension(mut self, name: &str, value: &str) -> Metric {
        self.literal_dimensions
            .insert(name.to_owned(), value.to_owned());
        self
    }

    fn cfn_dimensions(&self) -> Option<Value<Vec<Value<cloudwatch::alarm::Dimension>>>> {
        let mut dims: Vec<Value<cloudwatch::alarm::Dimension>> = Vec::new();
        let mut all: BTreeMap<&str, Value<String>> = BTreeMap::new();
        for (k, v) in &self.dimensions {
            all.insert(k, v.clone().value());
        }
        for (k, v) in &self.literal_dimensions {
            all.insert(k, v.as_str().into());
        }
        for (k, v) in all {
            dims.push(cloudwatch::alarm::Dimension::new(k, v).into());
        }
        (!dims.is_empty()).then(|| dims.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThanThreshold,
    GreaterThanOrEqualToThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    fn name(self) -> &'static str {
        match self {
            Comparison::GreaterThanThreshold => "GreaterThanThreshold",
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
            Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreatMissingData {
    Breaching,
    #[default]
    NotBreaching,
    Ignore,
    Missing,
}

impl TreatMissingData {
    fn name(self) -> &'static str {
        match self {
            TreatMissingData::Breaching => "breaching",
            TreatMissingData::NotBreaching => "notBreaching",
            TreatMissingData::Ignore => "ignore",
            TreatMissingData::Missing => "missing",
        }
    }
}

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmSource {
    Metric(Metric),
    /// A metric math expression over named metrics (`100 * malformed / processed`).
    Math {
        expression: String,
        label: String,
        metrics: BTreeMap<String, Metric>,
        period: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct AlarmProps {
    pub alarm_name: Option<String>,
    pub description: String,
    pub source: AlarmSource,
    pub comparison: Comparison,
    pub threshold: f64,
    /// At least 1.
    pub evaluation_periods: u32,
    /// Default: all evaluation periods.
    pub datapoints_to_alarm: Option<u32>,
    pub treat_missing_data: TreatMissingData,
    /// Topics told when the alarm fires (and when it recovers). At least one.
    pub actions: Vec<Topic>,
}

#[derive(Debug, Clone)]
pub struct Alarm {
    resource: ResourceRef,
}

/// Periods CloudWatch accepts: 10, 20, 30 or a multiple of 60 seconds.
fn check_period(scope: &Scope, period: Duration) {
    let s = period.as_secs();
    if !(matches!(s, 10 | 20 | 30) || (s >= 60 && s.is_multiple_of(60)))
        || period.subsec_nanos() != 0
    {
        scope.report(Problem::BadDuration {
            property: "period",
            value: s,
            rule: "10, 20, 30 or a multiple of 60",
        });
    }
}

fn is_metric_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Alarm {
    pub fn new(scope: &Scope, id: &str, props: AlarmProps) -> Alarm {
        let scope = scope.child(id);
        if props.actions.is_empty() {
            scope.report(Problem::AlarmWithoutAction);
        }
        if props.evaluation_periods == 0 {
            scope.report(Problem::OutOfRange {
                property: "evaluation periods",
                value: 0,
                min: 1,
                max: i64::MAX,
            });
        }
        if let Some(d) = props.datapoints_to_alarm
            && (d > props.evaluation_periods || d == 0)
        {
            scope.report(Problem::DatapointsExceedPeriods {
                datapoints: d,
                periods: props.evaluation_periods,
            });
        }
        let region = scope.env().region;
        let check_metric = |m: &Metric| {
            check_period(&scope, m.period);
            if m.namespace == "AWS/Billing" && region != "us-east-1" {
                scope.report(Problem::BillingMetricOutsideUsEast1 {
                    metric: m.name.clone(),
                    region: region.clone(),
                });
            }
        };
        let actions: Vec<Value<String>> = props.actions.iter().map(|t| t.arn().value()).collect();
        let mut alarm = cloudwatch::Alarm {
            alarm_name: props.alarm_name.map(Into::into),
            alarm_description: Some(props.description.into()),
            threshold: Some(props.threshold.into()),
            comparison_operator: Some(props.comparison.name().into()),
            evaluation_periods: Some(i64::from(props.evaluation_periods).into()),
            datapoints_to_alarm: props.datapoints_to_alarm.map(|d| i64::from(d).into()),
            treat_missing_data: Some(props.treat_missing_data.name().into()),
            actions_enabled: Some(true.into()),
            alarm_actions: Some(actions.clone().into()),
            ok_actions: Some(actions.into()),
            ..cloudwatch::Alarm::default()
        };
        match &props.source {
            AlarmSource::Metric(m) => {
                check_metric(m);
                alarm.namespace = Some(m.namespace.as_str().into());
                alarm.metric_name = Some(m.name.as_str().into());
                alarm.dimensions = m.cfn_dimensions();
                alarm.statistic = Some(m.statistic.name().into());
                alarm.period = Some((m.period.as_secs() as i64).into());
            }
            AlarmSource::Math {
                expression,
                label,
                metrics,
                period,
            } => {
                check_period(&scope, *period);
                let mut queries: Vec<Value<cloudwatch::alarm::MetricDataQuery>> = Vec::new();
                queries.push(
                    cloudwatch::alarm::MetricDataQuery {
                        expression: Some(expression.as_str().into()),
                        label: Some(label.as_str().into()),
                        return_data: Some(true.into()),
                        period: Some((period.as_secs() as i64).into()),
                        ..cloudwatch::alarm::MetricDataQuery::new("expr")
                    }
                    .into(),
                );
                for (metric_id, m) in metrics {
                    if !is_metric_id(metric_id) {
                        scope.report(Problem::BadMetricId {
                            id: metric_id.clone(),
                        });
                    }
                    check_metric(m);
                    let metric = cloudwatch::alarm::Metric {
                        namespace: Some(m.namespace.as_str().into()),
                        metric_name: Some(m.name.as_str().into()),
                        dimensions: m.cfn_dimensions(),
                    };
                    let stat = cloudwatch::alarm::MetricStat::new(
                        metric,
                        m.period.as_secs() as i64,
                        m.statistic.name(),
                    );
                    queries.push(
                        cloudwatch::alarm::MetricDataQuery {
                            metric_stat: Some(stat.into()),
                            return_data: Some(false.into()),
                            ..cloudwatch::alarm::MetricDataQuery::new(metric_id.as_str())
                        }
                        .into(),
                    );
                }
                alarm.metrics = Some(queries.into());
            }
        }
        Alarm {
            resource: scope.add_resource(Resource::new(&alarm)),
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sns::{Topic, TopicProps};
    use crate::test_support::{stack, stack_in};

    fn props(source: AlarmSource, actions: Vec<Topic>) -> AlarmProps {
        AlarmProps {
            alarm_name: None,
            description: "d".into(),
            source,
            comparison: Comparison::GreaterThanThreshold,
            threshold: 1.0,
            evaluation_periods: 1,
            datapoints_to_alarm: None,
            treat_missing_data: TreatMissingData::NotBreaching,
            actions,
        }
    }

    #[test]
    fn an_alarm_without_action_is_a_problem() {
        let s = stack();
        let m = Metric::new(
            "AWS/Lambda",
            "Errors",
            Statistic::Sum,
            Duration::from_secs(60),
        );
        Alarm::new(&s, "Silent", props(AlarmSource::Metric(m), vec![]));
        let errors = s.synth().expect_err("no action").0;
        assert!(matches!(errors[0].problem, Problem::AlarmWithoutAction));
        assert_eq!(errors[0].path, "Test/Silent");
    }

    #[test]
    fn math_alarms_render_queries_and_check_ids_and_periods() {
        let s = stack();
        let topic = Topic::new(&s, "Alerts", TopicProps::default());
        let m = |name| Metric::new("Custom", name, Statistic::Sum, Duration::from_secs(300));
        let metrics = BTreeMap::from([
            ("bad".to_owned(), m("Malformed")),
            ("Total".to_owned(), m("Processed")),
        ]);
        let source = AlarmSource::Math {
            expression: "100*bad/Total".into(),
            label: "rate".into(),
            metrics,
            period: Duration::from_secs(45),
        };
        Alarm::new(&s, "Rate", props(source, vec![topic]));
        let errors = s.synth().expect_err("bad id and period").0;
        assert!(
            errors
                .iter()
                .any(|e| matches!(&e.problem, Problem::BadMetricId { id } if id == "Total")),
            "{errors:#?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| matches!(e.problem, Problem::BadDuration { value: 45, .. })),
            "{errors:#?}"
        );
    }

    #[test]
    fn billing_metrics_need_us_east_1() {
        for (region, ok) in [("us-east-1", true), ("us-east-2", false)] {
            let s = stack_in(region);
            let topic = Topic::new(&s, "Alerts", TopicProps::default());
            let m = Metric::new(
                "AWS/Billing",
                "EstimatedCharges",
                Statistic::Maximum,
                Duration::from_secs(86400),
            );
            Alarm::new(&s, "Cost", props(AlarmSource::Metric(m), vec![topic]));
            assert_eq!(s.synth().is_ok(), ok, "{region}");
        }
    }
}
