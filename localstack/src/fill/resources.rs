//! Whole resources the backend did not create: each looked up in its service, created from the
//! template's properties when it is not there.

use std::collections::HashMap;

use super::props::{Props, found, same_document};
use super::{FillError, Filler};

/// A physical ID, and whether it had to be filled in.
type Outcome = Result<(String, bool), FillError>;

/// A create call that answered without the new thing's id.
fn no_id(what: &str) -> std::io::Error {
    std::io::Error::other(format!("the service created {what} but answered no id"))
}

impl Filler<'_> {
    pub(super) async fn log_stream(&self) -> Outcome {
        let p = self.props;
        p.only(&["LogGroupName", "LogStreamName"])?;
        let group = p.required_str("LogGroupName")?;
        let name = p
            .str("LogStreamName")?
            .unwrap_or_else(|| p.generated_name(self.context));
        let logs = &self.clients.logs;
        let streams = logs
            .describe_log_streams()
            .log_group_name(&group)
            .log_stream_name_prefix(&name)
            .send()
            .await
            .map_err(|e| p.api("DescribeLogStreams", e))?;
        if streams
            .log_streams()
            .iter()
            .any(|s| s.log_stream_name() == Some(&name))
        {
            return Ok((name, false));
        }
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name(&name)
            .send()
            .await
            .map_err(|e| p.api("CreateLogStream", e))?;
        Ok((name, true))
    }

    pub(super) async fn bucket_policy(&self) -> Outcome {
        let p = self.props;
        p.only(&["Bucket", "PolicyDocument"])?;
        let bucket = p.required_str("Bucket")?;
        let document = p.document("PolicyDocument")?;
        let s3 = &self.clients.s3;
        let current = found(
            p,
            "GetBucketPolicy",
            s3.get_bucket_policy().bucket(&bucket).send().await,
            &["NoSuchBucketPolicy"],
        )?;
        if current
            .and_then(|c| c.policy)
            .is_some_and(|c| same_document(&c, &document))
        {
            return Ok((bucket, false));
        }
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(document)
            .send()
            .await
            .map_err(|e| p.api("PutBucketPolicy", e))?;
        Ok((bucket, true))
    }

    pub(super) async fn topic_policy(&self) -> Outcome {
        let p = self.props;
        p.only(&["PolicyDocument", "Topics"])?;
        let document = p.document("PolicyDocument")?;
        let topics = p.strings("Topics")?.unwrap_or_default();
        let sns = &self.clients.sns;
        let mut filled = false;
        for topic in &topics {
            let attributes = sns
                .get_topic_attributes()
                .topic_arn(topic)
                .send()
                .await
                .map_err(|e| p.api("GetTopicAttributes", e))?;
            let current = attributes.attributes().and_then(|a| a.get("Policy"));
            if current.is_some_and(|c| same_document(c, &document)) {
                continue;
            }
            sns.set_topic_attributes()
                .topic_arn(topic)
                .attribute_name("Policy")
                .attribute_value(&document)
                .send()
                .await
                .map_err(|e| p.api("SetTopicAttributes", e))?;
            filled = true;
        }
        Ok((p.generated_name(self.context), filled))
    }

    pub(super) async fn queue_policy(&self) -> Outcome {
        use aws_sdk_sqs::types::QueueAttributeName;
        let p = self.props;
        p.only(&["PolicyDocument", "Queues"])?;
        let document = p.document("PolicyDocument")?;
        let queues = p.strings("Queues")?.unwrap_or_default();
        let sqs = &self.clients.sqs;
        let mut filled = false;
        for queue in &queues {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(queue)
                .attribute_names(QueueAttributeName::Policy)
                .send()
                .await
                .map_err(|e| p.api("GetQueueAttributes", e))?;
            let current = attributes
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::Policy));
            if current.is_some_and(|c| same_document(c, &document)) {
                continue;
            }
            sqs.set_queue_attributes()
                .queue_url(queue)
                .attributes(QueueAttributeName::Policy, &document)
                .send()
                .await
                .map_err(|e| p.api("SetQueueAttributes", e))?;
            filled = true;
        }
        Ok((p.generated_name(self.context), filled))
    }

    pub(super) async fn subscription(&self) -> Outcome {
        let p = self.props;
        p.only(&[
            "TopicArn",
            "Protocol",
            "Endpoint",
            "RawMessageDelivery",
            "FilterPolicy",
            "FilterPolicyScope",
        ])?;
        let topic = p.required_str("TopicArn")?;
        let protocol = p.required_str("Protocol")?;
        let endpoint = p.str("Endpoint")?;
        let sns = &self.clients.sns;
        let mut pages = sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| p.api("ListSubscriptionsByTopic", e))?;
            let existing = page.subscriptions().iter().find(|s| {
                s.protocol() == Some(protocol.as_str()) && s.endpoint() == endpoint.as_deref()
            });
            if let Some(arn) = existing.and_then(|s| s.subscription_arn()) {
                return Ok((arn.to_owned(), false));
            }
        }
        let mut attributes = HashMap::new();
        if let Some(raw) = p.bool("RawMessageDelivery")? {
            attributes.insert("RawMessageDelivery".to_owned(), raw.to_string());
        }
        if p.map.contains_key("FilterPolicy") {
            attributes.insert("FilterPolicy".to_owned(), p.document("FilterPolicy")?);
        }
        if let Some(scope) = p.str("FilterPolicyScope")? {
            attributes.insert("FilterPolicyScope".to_owned(), scope);
        }
        let subscribed = sns
            .subscribe()
            .topic_arn(&topic)
            .protocol(&protocol)
            .set_endpoint(endpoint)
            .set_attributes((!attributes.is_empty()).then_some(attributes))
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| p.api("Subscribe", e))?;
        let arn = subscribed
            .subscription_arn()
            .map(str::to_owned)
            .unwrap_or_else(|| p.generated_name(self.context));
        Ok((arn, true))
    }

    pub(super) async fn stage(&self) -> Outcome {
        use aws_sdk_apigateway::types::{Op, PatchOperation};
        let p = self.props;
        p.only(&[
            "RestApiId",
            "StageName",
            "DeploymentId",
            "Description",
            "Variables",
            "MethodSettings",
            "TracingEnabled",
            "AccessLogSetting",
        ])?;
        let api = p.required_str("RestApiId")?;
        let stage = p.required_str("StageName")?;
        let apigateway = &self.clients.apigateway;
        let current = found(
            p,
            "GetStage",
            apigateway
                .get_stage()
                .rest_api_id(&api)
                .stage_name(&stage)
                .send()
                .await,
            &["NotFoundException"],
        )?;
        if current.is_some() {
            return Ok((stage, false));
        }
        let variables = match p.child("Variables")? {
            Some(vars) => Some(
                vars.map
                    .keys()
                    .map(|k| Ok((k.clone(), vars.required_str(k)?)))
                    .collect::<Result<HashMap<_, _>, FillError>>()?,
            ),
            None => None,
        };
        apigateway
            .create_stage()
            .rest_api_id(&api)
            .stage_name(&stage)
            .deployment_id(p.required_str("DeploymentId")?)
            .set_description(p.str("Description")?)
            .set_variables(variables)
            .set_tracing_enabled(p.bool("TracingEnabled")?)
            .send()
            .await
            .map_err(|e| p.api("CreateStage", e))?;

        // Method settings are patched onto the stage: /{resource path}/{method}/{setting}.
        let mut patches = Vec::new();
        for setting in p.children("MethodSettings")? {
            setting.only(&[
                "HttpMethod",
                "ResourcePath",
                "MetricsEnabled",
                "ThrottlingBurstLimit",
                "ThrottlingRateLimit",
                "LoggingLevel",
                "DataTraceEnabled",
                "CachingEnabled",
                "CacheTtlInSeconds",
                "CacheDataEncrypted",
            ])?;
            let resource_path = setting
                .str("ResourcePath")?
                .unwrap_or_else(|| "/*".to_owned());
            let method = setting.str("HttpMethod")?.unwrap_or_else(|| "*".to_owned());
            for (property, path) in [
                ("MetricsEnabled", "metrics/enabled"),
                ("ThrottlingBurstLimit", "throttling/burstLimit"),
                ("ThrottlingRateLimit", "throttling/rateLimit"),
                ("LoggingLevel", "logging/loglevel"),
                ("DataTraceEnabled", "logging/dataTrace"),
                ("CachingEnabled", "caching/enabled"),
                ("CacheTtlInSeconds", "caching/ttlInSeconds"),
                ("CacheDataEncrypted", "caching/dataEncrypted"),
            ] {
                if let Some(value) = setting.str(property)? {
                    patches.push(
                        PatchOperation::builder()
                            .op(Op::Replace)
                            .path(format!("{resource_path}/{method}/{path}"))
                            .value(value)
                            .build(),
                    );
                }
            }
        }
        if let Some(access_log) = p.child("AccessLogSetting")? {
            access_log.only(&["DestinationArn", "Format"])?;
            for (property, path) in [
                ("DestinationArn", "/accessLogSettings/destinationArn"),
                ("Format", "/accessLogSettings/format"),
            ] {
                if let Some(value) = access_log.str(property)? {
                    patches.push(
                        PatchOperation::builder()
                            .op(Op::Replace)
                            .path(path)
                            .value(value)
                            .build(),
                    );
                }
            }
        }
        if !patches.is_empty() {
            apigateway
                .update_stage()
                .rest_api_id(&api)
                .stage_name(&stage)
                .set_patch_operations(Some(patches))
                .send()
                .await
                .map_err(|e| p.api("UpdateStage", e))?;
        }
        Ok((stage, true))
    }

    /// An API key, found by name; created with a value the service generates, as the template
    /// gives none.
    pub(super) async fn api_key(&self) -> Outcome {
        let p = self.props;
        p.only(&["Name", "Description", "Enabled"])?;
        let name = p.required_str("Name")?;
        let apigateway = &self.clients.apigateway;
        let keys = apigateway
            .get_api_keys()
            .name_query(&name)
            .send()
            .await
            .map_err(|e| p.api("GetApiKeys", e))?;
        if let Some(id) = keys
            .items()
            .iter()
            .find(|k| k.name() == Some(name.as_str()))
            .and_then(|k| k.id())
        {
            return Ok((id.to_owned(), false));
        }
        let created = apigateway
            .create_api_key()
            .name(&name)
            .set_description(p.str("Description")?)
            .enabled(p.bool("Enabled")?.unwrap_or(false))
            .send()
            .await
            .map_err(|e| p.api("CreateApiKey", e))?;
        let id = created
            .id()
            .ok_or_else(|| p.api("CreateApiKey", no_id("an API key")))?;
        Ok((id.to_owned(), true))
    }

    /// A usage plan of the template's stages, found by name.
    pub(super) async fn usage_plan(&self) -> Outcome {
        use aws_sdk_apigateway::types::{
            ApiStage, QuotaPeriodType, QuotaSettings, ThrottleSettings,
        };
        let p = self.props;
        p.only(&[
            "UsagePlanName",
            "Description",
            "ApiStages",
            "Throttle",
            "Quota",
        ])?;
        let name = p.required_str("UsagePlanName")?;
        let apigateway = &self.clients.apigateway;
        let plans = apigateway
            .get_usage_plans()
            .send()
            .await
            .map_err(|e| p.api("GetUsagePlans", e))?;
        if let Some(id) = plans
            .items()
            .iter()
            .find(|plan| plan.name() == Some(name.as_str()))
            .and_then(|plan| plan.id())
        {
            return Ok((id.to_owned(), false));
        }
        let mut stages = Vec::new();
        for stage in p.children("ApiStages")? {
            stage.only(&["ApiId", "Stage"])?;
            stages.push(
                ApiStage::builder()
                    .api_id(stage.required_str("ApiId")?)
                    .stage(stage.required_str("Stage")?)
                    .build(),
            );
        }
        let throttle = match p.child("Throttle")? {
            Some(t) => {
                t.only(&["RateLimit", "BurstLimit"])?;
                Some(
                    ThrottleSettings::builder()
                        .set_rate_limit(t.f64("RateLimit")?)
                        .set_burst_limit(t.i32("BurstLimit")?)
                        .build(),
                )
            }
            None => None,
        };
        let quota = match p.child("Quota")? {
            Some(q) => {
                q.only(&["Limit", "Period", "Offset"])?;
                Some(
                    QuotaSettings::builder()
                        .set_limit(q.i32("Limit")?)
                        .set_offset(q.i32("Offset")?)
                        .set_period(
                            q.str("Period")?
                                .map(|period| QuotaPeriodType::from(period.as_str())),
                        )
                        .build(),
                )
            }
            None => None,
        };
        let created = apigateway
            .create_usage_plan()
            .name(&name)
            .set_description(p.str("Description")?)
            .set_api_stages(Some(stages))
            .set_throttle(throttle)
            .set_quota(quota)
            .send()
            .await
            .map_err(|e| p.api("CreateUsagePlan", e))?;
        let id = created
            .id()
            .ok_or_else(|| p.api("CreateUsagePlan", no_id("a usage plan")))?;
        Ok((id.to_owned(), true))
    }

    /// A key's membership of a usage plan; its physical ID is the key's.
    pub(super) async fn usage_plan_key(&self) -> Outcome {
        let p = self.props;
        p.only(&["KeyId", "KeyType", "UsagePlanId"])?;
        let key = p.required_str("KeyId")?;
        let plan = p.required_str("UsagePlanId")?;
        let apigateway = &self.clients.apigateway;
        let current = found(
            p,
            "GetUsagePlanKey",
            apigateway
                .get_usage_plan_key()
                .usage_plan_id(&plan)
                .key_id(&key)
                .send()
                .await,
            &["NotFoundException"],
        )?;
        if current.is_some() {
            return Ok((key, false));
        }
        apigateway
            .create_usage_plan_key()
            .usage_plan_id(&plan)
            .key_id(&key)
            .key_type(p.required_str("KeyType")?)
            .send()
            .await
            .map_err(|e| p.api("CreateUsagePlanKey", e))?;
        Ok((key, true))
    }

    /// The region's API Gateway account settings: the CloudWatch role, set when it differs.
    pub(super) async fn account(&self) -> Outcome {
        use aws_sdk_apigateway::types::{Op, PatchOperation};
        let p = self.props;
        p.only(&["CloudWatchRoleArn"])?;
        let role = p.required_str("CloudWatchRoleArn")?;
        let apigateway = &self.clients.apigateway;
        let account = apigateway
            .get_account()
            .send()
            .await
            .map_err(|e| p.api("GetAccount", e))?;
        // The settings have no id of their own: CloudFormation's physical ID is the region's.
        let physical_id = format!("{}-apigateway-account", self.context.region);
        if account.cloudwatch_role_arn() == Some(role.as_str()) {
            return Ok((physical_id, false));
        }
        apigateway
            .update_account()
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/cloudwatchRoleArn")
                    .value(&role)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| p.api("UpdateAccount", e))?;
        Ok((physical_id, true))
    }

    pub(super) async fn alarm(&self) -> Outcome {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, StandardUnit, Statistic};
        let p = self.props;
        p.only(&[
            "AlarmName",
            "AlarmDescription",
            "ActionsEnabled",
            "AlarmActions",
            "OKActions",
            "InsufficientDataActions",
            "ComparisonOperator",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "MetricName",
            "Namespace",
            "Dimensions",
            "Period",
            "Statistic",
            "ExtendedStatistic",
            "Threshold",
            "ThresholdMetricId",
            "TreatMissingData",
            "Unit",
            "EvaluateLowSampleCountPercentile",
            "Metrics",
        ])?;
        let name = p
            .str("AlarmName")?
            .unwrap_or_else(|| p.generated_name(self.context));
        let cloudwatch = &self.clients.cloudwatch;
        let existing = cloudwatch
            .describe_alarms()
            .alarm_names(&name)
            .send()
            .await
            .map_err(|e| p.api("DescribeAlarms", e))?;
        if !existing.metric_alarms().is_empty() {
            return Ok((name, false));
        }
        let metrics = p
            .children("Metrics")?
            .iter()
            .map(metric_data_query)
            .collect::<Result<Vec<_>, _>>()?;
        cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .set_alarm_description(p.str("AlarmDescription")?)
            .set_actions_enabled(p.bool("ActionsEnabled")?)
            .set_alarm_actions(p.strings("AlarmActions")?)
            .set_ok_actions(p.strings("OKActions")?)
            .set_insufficient_data_actions(p.strings("InsufficientDataActions")?)
            .set_comparison_operator(
                p.str("ComparisonOperator")?
                    .map(|s| ComparisonOperator::from(s.as_str())),
            )
            .set_evaluation_periods(p.i32("EvaluationPeriods")?)
            .set_datapoints_to_alarm(p.i32("DatapointsToAlarm")?)
            .set_metric_name(p.str("MetricName")?)
            .set_namespace(p.str("Namespace")?)
            .set_dimensions(dimensions(p)?)
            .set_period(p.i32("Period")?)
            .set_statistic(p.str("Statistic")?.map(|s| Statistic::from(s.as_str())))
            .set_extended_statistic(p.str("ExtendedStatistic")?)
            .set_threshold(p.f64("Threshold")?)
            .set_threshold_metric_id(p.str("ThresholdMetricId")?)
            .set_treat_missing_data(p.str("TreatMissingData")?)
            .set_unit(p.str("Unit")?.map(|s| StandardUnit::from(s.as_str())))
            .set_evaluate_low_sample_count_percentile(p.str("EvaluateLowSampleCountPercentile")?)
            .set_metrics((!metrics.is_empty()).then_some(metrics))
            .send()
            .await
            .map_err(|e| p.api("PutMetricAlarm", e))?;
        Ok((name, true))
    }

    pub(super) async fn delivery_stream(&self) -> Outcome {
        use aws_sdk_firehose::types::{
            BufferingHints, CloudWatchLoggingOptions, CompressionFormat, DeliveryStreamType,
            ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration,
            ProcessingConfiguration, Processor, ProcessorParameter, ProcessorParameterName,
            ProcessorType,
        };
        let p = self.props;
        p.only(&[
            "DeliveryStreamName",
            "DeliveryStreamType",
            "KinesisStreamSourceConfiguration",
            "ExtendedS3DestinationConfiguration",
        ])?;
        let name = p
            .str("DeliveryStreamName")?
            .unwrap_or_else(|| p.generated_name(self.context));
        let firehose = &self.clients.firehose;
        let current = found(
            p,
            "DescribeDeliveryStream",
            firehose
                .describe_delivery_stream()
                .delivery_stream_name(&name)
                .send()
                .await,
            &["ResourceNotFoundException"],
        )?;
        if current.is_some() {
            return Ok((name, false));
        }
        let source = match p.child("KinesisStreamSourceConfiguration")? {
            Some(s) => {
                s.only(&["KinesisStreamARN", "RoleARN"])?;
                Some(
                    KinesisStreamSourceConfiguration::builder()
                        .kinesis_stream_arn(s.required_str("KinesisStreamARN")?)
                        .role_arn(s.required_str("RoleARN")?)
                        .build()
                        .map_err(|e| p.api("building KinesisStreamSourceConfiguration", e))?,
                )
            }
            None => None,
        };
        let destination = match p.child("ExtendedS3DestinationConfiguration")? {
            Some(d) => {
                d.only(super::EXTENDED_S3_DESTINATION_PROPERTIES)?;
                let processing = match d.child("ProcessingConfiguration")? {
                    Some(c) => {
                        c.only(&["Enabled", "Processors"])?;
                        let processors = c
                            .children("Processors")?
                            .iter()
                            .map(|processor| {
                                processor.only(&["Type", "Parameters"])?;
                                let parameters = processor
                                    .children("Parameters")?
                                    .iter()
                                    .map(|parameter| {
                                        parameter.only(&["ParameterName", "ParameterValue"])?;
                                        ProcessorParameter::builder()
                                            .parameter_name(ProcessorParameterName::from(
                                                parameter.required_str("ParameterName")?.as_str(),
                                            ))
                                            .parameter_value(
                                                parameter.required_str("ParameterValue")?,
                                            )
                                            .build()
                                            .map_err(|e| p.api("building ProcessorParameter", e))
                                    })
                                    .collect::<Result<Vec<_>, _>>()?;
                                Processor::builder()
                                    .r#type(ProcessorType::from(
                                        processor.required_str("Type")?.as_str(),
                                    ))
                                    .set_parameters(Some(parameters))
                                    .build()
                                    .map_err(|e| p.api("building Processor", e))
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        Some(
                            ProcessingConfiguration::builder()
                                .set_enabled(c.bool("Enabled")?)
                                .set_processors(Some(processors))
                                .build(),
                        )
                    }
                    None => None,
                };
                let buffering = match d.child("BufferingHints")? {
                    Some(b) => {
                        b.only(&["IntervalInSeconds", "SizeInMBs"])?;
                        Some(
                            BufferingHints::builder()
                                .set_interval_in_seconds(b.i32("IntervalInSeconds")?)
                                .set_size_in_mbs(b.i32("SizeInMBs")?)
                                .build(),
                        )
                    }
                    None => None,
                };
                let logging = match d.child("CloudWatchLoggingOptions")? {
                    Some(l) => {
                        l.only(&["Enabled", "LogGroupName", "LogStreamName"])?;
                        Some(
                            CloudWatchLoggingOptions::builder()
                                .set_enabled(l.bool("Enabled")?)
                                .set_log_group_name(l.str("LogGroupName")?)
                                .set_log_stream_name(l.str("LogStreamName")?)
                                .build(),
                        )
                    }
                    None => None,
                };
                Some(
                    ExtendedS3DestinationConfiguration::builder()
                        .bucket_arn(d.required_str("BucketARN")?)
                        .role_arn(d.required_str("RoleARN")?)
                        .set_prefix(d.str("Prefix")?)
                        .set_error_output_prefix(d.str("ErrorOutputPrefix")?)
                        .set_buffering_hints(buffering)
                        .set_compression_format(
                            d.str("CompressionFormat")?
                                .map(|s| CompressionFormat::from(s.as_str())),
                        )
                        .set_cloud_watch_logging_options(logging)
                        .set_processing_configuration(processing)
                        .build()
                        .map_err(|e| p.api("building ExtendedS3DestinationConfiguration", e))?,
                )
            }
            None => None,
        };
        firehose
            .create_delivery_stream()
            .delivery_stream_name(&name)
            .set_delivery_stream_type(
                p.str("DeliveryStreamType")?
                    .map(|s| DeliveryStreamType::from(s.as_str())),
            )
            .set_kinesis_stream_source_configuration(source)
            .set_extended_s3_destination_configuration(destination)
            .send()
            .await
            .map_err(|e| p.api("CreateDeliveryStream", e))?;
        Ok((name, true))
    }
}

fn dimensions(p: &Props) -> Result<Option<Vec<aws_sdk_cloudwatch::types::Dimension>>, FillError> {
    let items = p.children("Dimensions")?;
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .map(|d| {
            d.only(&["Name", "Value"])?;
            Ok(aws_sdk_cloudwatch::types::Dimension::builder()
                .name(d.required_str("Name")?)
                .value(d.required_str("Value")?)
                .build())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn metric_data_query(q: &Props) -> Result<aws_sdk_cloudwatch::types::MetricDataQuery, FillError> {
    use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat, StandardUnit};
    q.only(&[
        "Id",
        "Expression",
        "Label",
        "Period",
        "ReturnData",
        "AccountId",
        "MetricStat",
    ])?;
    let stat = match q.child("MetricStat")? {
        Some(s) => {
            s.only(&["Metric", "Period", "Stat", "Unit"])?;
            let metric = match s.child("Metric")? {
                Some(m) => {
                    m.only(&["MetricName", "Namespace", "Dimensions"])?;
                    Some(
                        Metric::builder()
                            .set_metric_name(m.str("MetricName")?)
                            .set_namespace(m.str("Namespace")?)
                            .set_dimensions(dimensions(&m)?)
                            .build(),
                    )
                }
                None => None,
            };
            Some(
                MetricStat::builder()
                    .set_metric(metric)
                    .set_period(s.i32("Period")?)
                    .set_stat(s.str("Stat")?)
                    .set_unit(s.str("Unit")?.map(|u| StandardUnit::from(u.as_str())))
                    .build(),
            )
        }
        None => None,
    };
    Ok(MetricDataQuery::builder()
        .id(q.required_str("Id")?)
        .set_expression(q.str("Expression")?)
        .set_label(q.str("Label")?)
        .set_period(q.i32("Period")?)
        .set_return_data(q.bool("ReturnData")?)
        .set_account_id(q.str("AccountId")?)
        .set_metric_stat(stat)
        .build())
}
