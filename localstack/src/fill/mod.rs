//! What the backend's CloudFormation did not create, created from the same template through the
//! service APIs, so the template stays the one source of truth.
//!
//! Nothing here knows which backend ran: each resource or property we can fill is looked up in
//! its service first, and filled in only when the service says it is not there. A resource of a
//! type we cannot fill that the stack does not list is an error, not a silent gap.

use std::fmt;

use aws_config::SdkConfig;
use serde_json::{Map, Value};
use tracing::info;

use crate::BoxError;
use crate::props::PropertyError;
use crate::resolve::{DeployedResource, StackContext};

use props::Props;

mod properties;
mod props;
mod resources;

/// The service clients the fill-ins use.
#[derive(Debug, Clone)]
pub struct Clients {
    pub apigateway: aws_sdk_apigateway::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub kms: aws_sdk_kms::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            apigateway: aws_sdk_apigateway::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            firehose: aws_sdk_firehose::Client::new(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            s3: emulator::s3_client(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}

/// One thing filled in: a whole resource, or one property of a resource the backend created.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FillIn {
    pub logical_id: String,
    pub resource_type: String,
    /// The property applied, when the resource itself existed.
    pub property: Option<String>,
}

impl fmt::Display for FillIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.logical_id, self.resource_type)?;
        if let Some(property) = &self.property {
            write!(f, " {property}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(
        "{logical_id} ({resource_type}) was not created by the backend, and there is no fill-in for its type"
    )]
    Unsupported {
        logical_id: String,
        resource_type: String,
    },
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error("{operation} for {logical_id} failed")]
    Api {
        operation: &'static str,
        logical_id: String,
        #[source]
        source: BoxError,
    },
}

/// Types we know how to fill, in the order they are filled (what a later one refers to first).
pub(crate) const FILLABLE: &[&str] = &[
    "AWS::Logs::LogStream",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::Subscription",
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::CloudWatch::Alarm",
    "AWS::KinesisFirehose::DeliveryStream",
];

/// The properties of a delivery stream's `ExtendedS3DestinationConfiguration` the fill-in
/// creates it with (and the local pipeline reads); any other is refused rather than dropped.
pub(crate) const EXTENDED_S3_DESTINATION_PROPERTIES: &[&str] = &[
    "BucketARN",
    "RoleARN",
    "Prefix",
    "ErrorOutputPrefix",
    "BufferingHints",
    "CompressionFormat",
    "CloudWatchLoggingOptions",
    "ProcessingConfiguration",
];

/// Fills in what the backend did not create from `template` (the template JSON), updating the
/// physical IDs in `context`. Returns what was filled in.
pub async fn fill_in(
    clients: &Clients,
    template: &Value,
    context: &mut StackContext,
) -> Result<Vec<FillIn>, FillError> {
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let type_of = |r: &Value| r["Type"].as_str().unwrap_or_default().to_owned();

    for (logical_id, resource) in &resources {
        let resource_type = type_of(resource);
        if !context.resources.contains_key(logical_id)
            && !FILLABLE.contains(&resource_type.as_str())
        {
            return Err(FillError::Unsupported {
                logical_id: logical_id.clone(),
                resource_type,
            });
        }
    }

    discover_deployments(clients, &resources, context).await?;

    let mut filled = Vec::new();
    for fillable in FILLABLE {
        for (logical_id, resource) in &resources {
            if type_of(resource) != *fillable {
                continue;
            }
            let props = Props::resolve(logical_id, fillable, resource, context)?;
            let filler = Filler {
                clients,
                context,
                props: &props,
            };
            let (physical_id, was_filled) = match *fillable {
                "AWS::Logs::LogStream" => filler.log_stream().await?,
                "AWS::S3::BucketPolicy" => filler.bucket_policy().await?,
                "AWS::SNS::TopicPolicy" => filler.topic_policy().await?,
                "AWS::SQS::QueuePolicy" => filler.queue_policy().await?,
                "AWS::SNS::Subscription" => filler.subscription().await?,
                "AWS::ApiGateway::Account" => filler.account().await?,
                "AWS::ApiGateway::Stage" => filler.stage().await?,
                "AWS::ApiGateway::ApiKey" => filler.api_key().await?,
                "AWS::ApiGateway::UsagePlan" => filler.usage_plan().await?,
                "AWS::ApiGateway::UsagePlanKey" => filler.usage_plan_key().await?,
                "AWS::CloudWatch::Alarm" => filler.alarm().await?,
                _ => filler.delivery_stream().await?,
            };
            if was_filled {
                info!(logical_id = %logical_id, r#type = fillable, "filled in");
                filled.push(FillIn {
                    logical_id: logical_id.clone(),
                    resource_type: (*fillable).to_owned(),
                    property: None,
                });
            }
            context.resources.insert(
                logical_id.clone(),
                DeployedResource {
                    resource_type: (*fillable).to_owned(),
                    physical_id: Some(physical_id),
                },
            );
        }
    }

    for (logical_id, resource) in &resources {
        let resource_type = type_of(resource);
        let properties = match resource_type.as_str() {
            "AWS::S3::Bucket"
            | "AWS::Kinesis::Stream"
            | "AWS::DynamoDB::Table"
            | "AWS::KMS::Key" => Props::resolve(logical_id, &resource_type, resource, context)?,
            _ => continue,
        };
        let filler = Filler {
            clients,
            context,
            props: &properties,
        };
        let applied = match resource_type.as_str() {
            "AWS::S3::Bucket" => filler.bucket_properties().await?,
            "AWS::Kinesis::Stream" => filler.stream_properties().await?,
            "AWS::KMS::Key" => filler.key_properties().await?,
            _ => filler.table_properties().await?,
        };
        for property in applied {
            info!(logical_id = %logical_id, r#type = %resource_type, property, "filled in");
            filled.push(FillIn {
                logical_id: logical_id.clone(),
                resource_type: resource_type.clone(),
                property: Some(property.to_owned()),
            });
        }
    }
    Ok(filled)
}

/// A backend may create an `AWS::ApiGateway::Deployment` without reporting its ID (moto does);
/// a stage refers to it, so find it among the API's deployments by its description.
async fn discover_deployments(
    clients: &Clients,
    resources: &Map<String, Value>,
    context: &mut StackContext,
) -> Result<(), FillError> {
    for (logical_id, resource) in resources {
        let missing = context.resources.get(logical_id).is_some_and(|r| {
            r.resource_type == "AWS::ApiGateway::Deployment" && r.physical_id.is_none()
        });
        if !missing {
            continue;
        }
        let props = Props::resolve(logical_id, "AWS::ApiGateway::Deployment", resource, context)?;
        let api = props.required_str("RestApiId")?;
        let description = props.str("Description")?;
        let deployments = clients
            .apigateway
            .get_deployments()
            .rest_api_id(&api)
            .send()
            .await
            .map_err(|e| props.api("GetDeployments", e))?;
        let matching: Vec<&str> = deployments
            .items()
            .iter()
            .filter(|d| description.is_none() || d.description() == description.as_deref())
            .filter_map(|d| d.id())
            .collect();
        if let [id] = matching.as_slice() {
            info!(
                logical_id = %logical_id,
                physical_id = id,
                "physical ID found through the service"
            );
            if let Some(r) = context.resources.get_mut(logical_id) {
                r.physical_id = Some((*id).to_owned());
            }
        }
    }
    Ok(())
}

/// Looks up, and fills in if missing, one resource or its properties.
struct Filler<'a> {
    clients: &'a Clients,
    context: &'a StackContext,
    props: &'a Props,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn fill_ins_say_what_they_filled() {
        let resource = FillIn {
            logical_id: "ArchiveFirehose".into(),
            resource_type: "AWS::KinesisFirehose::DeliveryStream".into(),
            property: None,
        };
        assert_eq!(
            resource.to_string(),
            "ArchiveFirehose (AWS::KinesisFirehose::DeliveryStream)"
        );
        let property = FillIn {
            property: Some("StreamEncryption".into()),
            logical_id: "EventsStream".into(),
            resource_type: "AWS::Kinesis::Stream".into(),
        };
        assert_eq!(
            property.to_string(),
            "EventsStream (AWS::Kinesis::Stream) StreamEncryption"
        );
    }

    #[test]
    fn every_type_the_backend_may_skip_in_our_templates_has_a_fill_in_order() {
        let mut sorted = BTreeMap::new();
        for (i, t) in FILLABLE.iter().enumerate() {
            assert!(sorted.insert(*t, i).is_none(), "{t} listed twice");
        }
        // The delivery stream refers to the log stream; subscriptions and alarms to topics.
        assert!(sorted["AWS::Logs::LogStream"] < sorted["AWS::KinesisFirehose::DeliveryStream"]);
        // A usage plan names the stage; a plan's key refers to the plan and the key.
        assert!(sorted["AWS::ApiGateway::Stage"] < sorted["AWS::ApiGateway::UsagePlan"]);
        assert!(sorted["AWS::ApiGateway::ApiKey"] < sorted["AWS::ApiGateway::UsagePlanKey"]);
        assert!(sorted["AWS::ApiGateway::UsagePlan"] < sorted["AWS::ApiGateway::UsagePlanKey"]);
    }
}
