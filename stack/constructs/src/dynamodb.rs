//! DynamoDB: tables encrypted with KMS, with point-in-time recovery, retained by default.

use std::time::Duration;

use cfn::resources::dynamodb;
use cfn::{Expr, Policy, Resource, Value};

use crate::cloudwatch::{Metric, Statistic};
use crate::core::{ResourceRef, Scope};
use crate::iam::{Action, Grantee};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Number,
    Binary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub attribute_type: AttributeType,
}

impl Attribute {
    pub fn string(name: &str) -> Attribute {
        Attribute {
            name: name.to_owned(),
            attribute_type: AttributeType::String,
        }
    }

    fn type_code(&self) -> &'static str {
        match self.attribute_type {
            AttributeType::String => "S",
            AttributeType::Number => "N",
            AttributeType::Binary => "B",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BillingMode {
    #[default]
    PayPerRequest,
}

#[derive(Debug, Clone)]
pub struct TableProps {
    /// Default: a name CloudFormation generates.
    pub table_name: Option<String>,
    pub partition_key: Attribute,
    pub sort_key: Option<Attribute>,
    pub billing_mode: BillingMode,
    /// An attribute holding an expiry time (epoch seconds).
    pub time_to_live_attribute: Option<String>,
    /// Default: on.
    pub point_in_time_recovery: bool,
    /// Default: retained.
    pub removal_policy: Policy,
}

impl TableProps {
    pub fn new(partition_key: Attribute) -> TableProps {
        TableProps {
            table_name: None,
            partition_key,
            sort_key: None,
            billing_mode: BillingMode::PayPerRequest,
            time_to_live_attribute: None,
            point_in_time_recovery: true,
            removal_policy: Policy::Retain,
        }
    }
}

/// A data-plane call on a table that a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableAction {
    BatchGetItem,
    BatchWriteItem,
    ConditionCheckItem,
    DeleteItem,
    DescribeTable,
    GetItem,
    PutItem,
    Query,
    Scan,
    UpdateItem,
}

impl TableAction {
    /// CDK's `grantWriteData`.
    pub const WRITE_DATA: &[TableAction] = &[
        TableAction::BatchWriteItem,
        TableAction::ConditionCheckItem,
        TableAction::DeleteItem,
        TableAction::DescribeTable,
        TableAction::PutItem,
        TableAction::UpdateItem,
    ];

    /// The IAM action.
    pub fn action(self) -> Action {
        let name = match self {
            TableAction::BatchGetItem => "BatchGetItem",
            TableAction::BatchWriteItem => "BatchWriteItem",
            TableAction::ConditionCheckItem => "ConditionCheckItem",
            TableAction::DeleteItem => "DeleteItem",
            TableAction::DescribeTable => "DescribeTable",
            TableAction::GetItem => "GetItem",
            TableAction::PutItem => "PutItem",
            TableAction::Query => "Query",
            TableAction::Scan => "Scan",
            TableAction::UpdateItem => "UpdateItem",
        };
        Action::new("dynamodb", name)
    }
}

/// A table with server-side encryption under the AWS managed KMS key (`alias/aws/dynamodb`).
#[derive(Debug, Clone)]
pub struct Table {
    resource: ResourceRef,
}

impl Table {
    pub fn new(scope: &Scope, id: &str, props: TableProps) -> Table {
        let scope = scope.child(id);
        let mut keys = vec![&props.partition_key];
        keys.extend(props.sort_key.as_ref());
        let definitions: Vec<Value<dynamodb::table::AttributeDefinition>> = keys
            .iter()
            .map(|a| {
                dynamodb::table::AttributeDefinition::new(a.name.as_str(), a.type_code()).into()
            })
            .collect();
        let schema: Vec<Value<dynamodb::table::KeySchema>> = keys
            .iter()
            .zip(["HASH", "RANGE"])
            .map(|(a, kind)| dynamodb::table::KeySchema::new(a.name.as_str(), kind).into())
            .collect();
        let table = dynamodb::Table {
            table_name: props.table_name.map(Into::into),
            attribute_definitions: Some(definitions.into()),
            billing_mode: Some(match props.billing_mode {
                BillingMode::PayPerRequest => "PAY_PER_REQUEST".into(),
            }),
            sse_specification: Some(
                dynamodb::table::SseSpecification {
                    sse_type: Some("KMS".into()),
                    ..dynamodb::table::SseSpecification::new(true)
                }
                .into(),
            ),
            point_in_time_recovery_specification: Some(
                dynamodb::table::PointInTimeRecoverySpecification {
                    point_in_time_recovery_enabled: Some(props.point_in_time_recovery.into()),
                    ..Default::default()
                }
                .into(),
            ),
            time_to_live_specification: props.time_to_live_attribute.as_deref().map(|a| {
                dynamodb::table::TimeToLiveSpecification {
                    attribute_name: Some(a.into()),
                    ..dynamodb::table::TimeToLiveSpecification::new(true)
                }
                .into()
            }),
            ..dynamodb::Table::new(schema)
        };
        Table {
            resource: scope
                .add_resource(Resource::new(&table).with_removal_policy(props.removal_policy)),
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The table name (`Ref`).
    pub fn name(&self) -> Expr {
        self.resource.r#ref()
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Lets the grantee write items, single and batch, as CDK's `grantWriteData` does. A
    /// function whose code makes fewer calls is better served by [`Table::grant`].
    pub fn grant_write_data(&self, grantee: &dyn Grantee) {
        self.grant(grantee, TableAction::WRITE_DATA);
    }

    /// Lets the grantee make exactly these calls on this table.
    pub fn grant(&self, grantee: &dyn Grantee, actions: &[TableAction]) {
        grantee.grant(
            actions.iter().map(|a| a.action()).collect(),
            vec![self.arn().json()],
        );
    }

    /// A metric of this table in `AWS/DynamoDB`.
    pub fn metric(&self, name: &str, statistic: Statistic, period: Duration) -> Metric {
        Metric::new("AWS/DynamoDB", name, statistic, period).dimension("TableName", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stack;

    #[test]
    fn tables_are_encrypted_recoverable_and_retained() {
        let s = stack();
        Table::new(
            &s,
            "Metrics",
            TableProps {
                sort_key: Some(Attribute::string("sk")),
                ..TableProps::new(Attribute::string("pk"))
            },
        );
        let t = s.synth().expect("valid");
        let table = &t.resources["Metrics"];
        assert_eq!(table.properties["SSESpecification"]["SSEEnabled"], true);
        assert_eq!(
            table.properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        assert_eq!(
            table.properties["KeySchema"][1],
            serde_json::json!({"AttributeName": "sk", "KeyType": "RANGE"})
        );
        assert_eq!(table.deletion_policy, Some(Policy::Retain));
    }

    #[test]
    fn a_grant_allows_exactly_the_actions_named() {
        let s = stack();
        let table = Table::new(&s, "Metrics", TableProps::new(Attribute::string("pk")));
        let role = crate::iam::Role::new(
            &s,
            "Writer",
            crate::iam::RoleProps {
                assumed_by: crate::iam::Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        table.grant(&role, &[TableAction::BatchWriteItem]);
        let t = s.synth().expect("valid");
        assert_eq!(
            t.resources["WriterDefaultPolicy"].properties["PolicyDocument"]["Statement"][0]["Action"],
            serde_json::json!(["dynamodb:BatchWriteItem"])
        );
    }
}
