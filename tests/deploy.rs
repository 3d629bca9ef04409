//! Test 7 of the pipeline issue: the synthesized core stack deployed to a fresh emulator, and every
//! resource of its template found through its own service's API afterwards, including what the
//! backend could not create and the deploy filled in.

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use emulator::{Backend, Emulator};
use localstack::Deployed;
use serde_json::Value;
use tests::{deploy_core, init_tracing};

/// The resource types moto 5.2.5's CloudFormation skips (measured).
const MOTO_SKIPPED_TYPES: &[&str] = &[
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::CloudWatch::Alarm",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Logs::LogStream",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
];

/// The properties moto 5.2.5's CloudFormation ignores or mangles (measured).
const MOTO_IGNORED_PROPERTIES: &[(&str, &str)] = &[
    ("AWS::DynamoDB::Table", "PointInTimeRecoverySpecification"),
    ("AWS::KMS::Key", "KeyPolicy"),
    ("AWS::Kinesis::Stream", "StreamEncryption"),
    ("AWS::S3::Bucket", "LifecycleConfiguration"),
    ("AWS::S3::Bucket", "OwnershipControls"),
    ("AWS::S3::Bucket", "PublicAccessBlockConfiguration"),
];

/// What a deploy to moto fills in for `template`, as [`localstack::FillIn`] displays it.
fn moto_fill_ins(template: &Value) -> BTreeSet<String> {
    let mut expected = BTreeSet::new();
    for (logical_id, resource) in template["Resources"].as_object().expect("resources") {
        let resource_type = resource["Type"].as_str().expect("a type");
        if MOTO_SKIPPED_TYPES.contains(&resource_type) {
            expected.insert(format!("{logical_id} ({resource_type})"));
        }
        for (t, property) in MOTO_IGNORED_PROPERTIES {
            if *t == resource_type && resource["Properties"].get(*property).is_some() {
                expected.insert(format!("{logical_id} ({resource_type}) {property}"));
            }
        }
    }
    expected
}

#[tokio::test(flavor = "multi_thread")]
async fn every_resource_of_the_core_template_exists_after_deploy() {
    init_tracing();
    let emulator = Emulator::start().await.expect("an emulator starts");
    println!("backend: {emulator}");
    let (template, deployed, config) = deploy_core(&emulator).await;

    if emulator.backend() == Backend::Moto {
        let filled: BTreeSet<String> = deployed.filled.iter().map(ToString::to_string).collect();
        assert_eq!(
            filled,
            moto_fill_ins(&template),
            "moto's measured gaps, each filled in"
        );
        assert!(filled.len() > 20, "the core stack meets most of them");
    }

    let check = Checker::new(&config, &deployed);
    let resources = template["Resources"].as_object().expect("resources");
    for (logical_id, resource) in resources {
        check.resource(logical_id, resource).await;
    }
    println!("{} resources found through their services", resources.len());

    for key in template["Outputs"].as_object().expect("outputs").keys() {
        let value = deployed.output(key).unwrap_or_default();
        assert!(!value.is_empty(), "output {key} has a value");
    }
    assert_eq!(
        deployed.output("ArchiveDeliveryStreamName"),
        deployed.physical_id("ArchiveFirehose"),
        "an output of a filled-in resource"
    );

    // The code packages are where the functions' Code says.
    let s3 = emulator::s3_client(&config);
    assert_eq!(deployed.code.len(), 2, "ingest and stream processor");
    for object in &deployed.code {
        let zip = s3
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", object.key))
            .body
            .collect()
            .await
            .expect("read the zip")
            .into_bytes();
        assert!(zip.starts_with(b"PK\x03\x04"), "{} is a zip", object.key);
        assert!(
            zip.windows(9).any(|w| w == b"bootstrap"),
            "{} holds bootstrap",
            object.key
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filling_in_again_finds_nothing_missing() {
    init_tracing();
    let emulator = Emulator::start().await.expect("an emulator starts");
    println!("backend: {emulator}");
    let (template, deployed, config) = deploy_core(&emulator).await;
    let mut context = deployed.context.clone();
    let again = localstack::fill::fill_in(
        &localstack::fill::Clients::new(&config),
        &template,
        &mut context,
    )
    .await
    .expect("second fill-in");
    assert_eq!(again, [], "everything filled in the first time is found");
    assert_eq!(context, deployed.context, "same physical IDs");
}

/// Looks each resource up through its service, by the template's properties.
struct Checker<'a> {
    deployed: &'a Deployed,
    apigateway: aws_sdk_apigateway::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    firehose: aws_sdk_firehose::Client,
    iam: aws_sdk_iam::Client,
    kinesis: aws_sdk_kinesis::Client,
    kms: aws_sdk_kms::Client,
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

impl<'a> Checker<'a> {
    fn new(config: &SdkConfig, deployed: &'a Deployed) -> Checker<'a> {
        Checker {
            deployed,
            apigateway: aws_sdk_apigateway::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            firehose: aws_sdk_firehose::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            s3: emulator::s3_client(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }

    fn id(&self, logical_id: &str) -> String {
        self.deployed
            .physical_id(logical_id)
            .unwrap_or_else(|| panic!("{logical_id} has a physical ID"))
            .to_owned()
    }

    /// A property of the resource with its intrinsics resolved against the deployed stack.
    fn prop(&self, resource: &Value, path: &[&str]) -> Value {
        let mut value = &resource["Properties"];
        for key in path {
            value = &value[*key];
        }
        self.deployed
            .context
            .resolve(value)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"))
    }

    fn prop_str(&self, resource: &Value, path: &[&str]) -> String {
        match self.prop(resource, path) {
            Value::String(s) => s,
            other => panic!("{path:?} is not a string: {other}"),
        }
    }

    async fn resource(&self, logical_id: &str, resource: &Value) {
        let resource_type = resource["Type"].as_str().expect("a type");
        match resource_type {
            "AWS::KMS::Key" => self.kms_key(logical_id).await,
            "AWS::KMS::Alias" => self.kms_alias(logical_id, resource).await,
            "AWS::CloudWatch::Alarm" => self.alarm(resource).await,
            "AWS::S3::Bucket" => self.bucket(logical_id).await,
            "AWS::S3::BucketPolicy" => self.bucket_policy(resource).await,
            "AWS::KinesisFirehose::DeliveryStream" => {
                self.delivery_stream(logical_id, resource).await
            }
            "AWS::Logs::LogGroup" => self.log_group(logical_id, resource).await,
            "AWS::Logs::LogStream" => self.log_stream(resource).await,
            "AWS::IAM::Role" => self.role(logical_id).await,
            "AWS::IAM::Policy" => self.role_policy(resource).await,
            "AWS::Kinesis::Stream" => self.stream(logical_id).await,
            "AWS::SNS::Topic" => self.topic(logical_id, resource).await,
            "AWS::SNS::Subscription" => self.subscription(resource).await,
            "AWS::SNS::TopicPolicy" => self.topic_policy(resource).await,
            "AWS::Lambda::Function" => self.function(logical_id, resource).await,
            "AWS::Lambda::Permission" => self.permission(resource).await,
            "AWS::Lambda::EventSourceMapping" => self.event_source_mapping(resource).await,
            "AWS::ApiGateway::RestApi" => self.rest_api(logical_id, resource).await,
            "AWS::ApiGateway::Resource" => self.api_resource(logical_id, resource).await,
            "AWS::ApiGateway::Method" => self.method(resource).await,
            "AWS::ApiGateway::Deployment" => self.deployment(logical_id, resource).await,
            "AWS::ApiGateway::Stage" => self.stage(resource).await,
            "AWS::ApiGateway::Account" => self.api_account(resource).await,
            "AWS::ApiGateway::ApiKey" => self.api_key(logical_id, resource).await,
            "AWS::ApiGateway::UsagePlan" => self.usage_plan(logical_id, resource).await,
            "AWS::ApiGateway::UsagePlanKey" => self.usage_plan_key(resource).await,
            "AWS::IAM::ManagedPolicy" => self.managed_policy(logical_id, resource).await,
            "AWS::DynamoDB::Table" => self.table(logical_id).await,
            "AWS::SQS::Queue" => self.queue(logical_id).await,
            "AWS::SQS::QueuePolicy" => self.queue_policy(resource).await,
            other => panic!("{logical_id}: test 7 has no check for {other}; add one"),
        }
    }

    async fn kms_key(&self, logical_id: &str) {
        let key = self.id(logical_id);
        let described = self
            .kms
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .expect("DescribeKey");
        assert!(
            described.key_metadata().is_some_and(|m| m.enabled()),
            "{logical_id} enabled"
        );
        let rotation = self
            .kms
            .get_key_rotation_status()
            .key_id(&key)
            .send()
            .await
            .expect("GetKeyRotationStatus");
        assert!(rotation.key_rotation_enabled(), "{logical_id} rotates");
    }

    async fn kms_alias(&self, logical_id: &str, resource: &Value) {
        let name = self.prop_str(resource, &["AliasName"]);
        let target = self.prop_str(resource, &["TargetKeyId"]);
        let aliases = self.kms.list_aliases().send().await.expect("ListAliases");
        let alias = aliases
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{logical_id}: alias {name} exists"));
        assert_eq!(
            alias.target_key_id(),
            Some(target.as_str()),
            "{logical_id} target"
        );
    }

    async fn alarm(&self, resource: &Value) {
        let name = self.prop_str(resource, &["AlarmName"]);
        let alarms = self
            .cloudwatch
            .describe_alarms()
            .alarm_names(&name)
            .send()
            .await
            .expect("DescribeAlarms");
        let [alarm] = alarms.metric_alarms() else {
            panic!("alarm {name} exists once");
        };
        let strings = |path: &str| -> Vec<String> {
            match self.prop(resource, &[path]) {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };
        assert_eq!(
            alarm.alarm_actions(),
            strings("AlarmActions"),
            "{name} alarm actions"
        );
        assert_eq!(
            alarm.ok_actions(),
            strings("OKActions"),
            "{name} OK actions"
        );
        assert!(!alarm.alarm_actions().is_empty(), "{name} notifies someone");
        assert_eq!(
            alarm.threshold(),
            self.prop(resource, &["Threshold"]).as_f64(),
            "{name} threshold"
        );
        assert_eq!(
            alarm.comparison_operator().map(|c| c.as_str().to_owned()),
            Some(self.prop_str(resource, &["ComparisonOperator"])),
            "{name} comparison"
        );
        let metrics = self.prop(resource, &["Metrics"]);
        if let Value::Array(queries) = metrics {
            let ids: Vec<&str> = alarm.metrics().iter().filter_map(|m| m.id()).collect();
            let expected: Vec<&str> = queries.iter().filter_map(|q| q["Id"].as_str()).collect();
            assert_eq!(ids, expected, "{name} metric queries");
        } else {
            assert_eq!(
                alarm.metric_name().map(str::to_owned),
                Some(self.prop_str(resource, &["MetricName"])),
                "{name} metric"
            );
        }
    }

    async fn bucket(&self, logical_id: &str) {
        let bucket = self.id(logical_id);
        self.s3
            .head_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("HeadBucket");
        let lifecycle = self
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .expect("GetBucketLifecycleConfiguration");
        let [rule, refused] = lifecycle.rules() else {
            panic!("{bucket} has two lifecycle rules");
        };
        assert_eq!(refused.id(), Some("RefusedRequests"));
        assert_eq!(refused.expiration().and_then(|e| e.days()), Some(90));
        assert_eq!(rule.id(), Some("ArchiveTiering"));
        assert_eq!(rule.expiration().and_then(|e| e.days()), Some(365));
        let transitions: Vec<(Option<i32>, Option<&str>)> = rule
            .transitions()
            .iter()
            .map(|t| (t.days(), t.storage_class().map(|s| s.as_str())))
            .collect();
        assert_eq!(
            transitions,
            [(Some(30), Some("STANDARD_IA")), (Some(90), Some("GLACIER"))]
        );
        let block = self
            .s3
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("GetPublicAccessBlock");
        let block = block
            .public_access_block_configuration()
            .expect("a configuration");
        assert_eq!(
            [
                block.block_public_acls(),
                block.block_public_policy(),
                block.ignore_public_acls(),
                block.restrict_public_buckets()
            ],
            [Some(true); 4],
            "{bucket} blocks all public access"
        );
        let encryption = self
            .s3
            .get_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await
            .expect("GetBucketEncryption");
        let algorithm = encryption
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_owned());
        assert_eq!(algorithm.as_deref(), Some("AES256"), "{bucket} encrypted");
        let ownership = self
            .s3
            .get_bucket_ownership_controls()
            .bucket(&bucket)
            .send()
            .await
            .expect("GetBucketOwnershipControls");
        let rules: Vec<&str> = ownership
            .ownership_controls()
            .map(|o| {
                o.rules()
                    .iter()
                    .map(|r| r.object_ownership().as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(rules, ["BucketOwnerEnforced"], "{bucket} ownership");
    }

    async fn bucket_policy(&self, resource: &Value) {
        let bucket = self.prop_str(resource, &["Bucket"]);
        let policy = self
            .s3
            .get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .expect("GetBucketPolicy");
        assert_eq!(
            json(policy.policy().expect("a policy")),
            self.prop(resource, &["PolicyDocument"]),
            "{bucket} policy"
        );
    }

    async fn delivery_stream(&self, logical_id: &str, resource: &Value) {
        let name = self.id(logical_id);
        let described = self
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(&name)
            .send()
            .await
            .expect("DescribeDeliveryStream");
        let stream = described
            .delivery_stream_description()
            .expect("a description");
        assert_eq!(
            stream.delivery_stream_type().as_str(),
            "KinesisStreamAsSource"
        );
        let source_arn = stream
            .source()
            .and_then(|s| s.kinesis_stream_source_description())
            .and_then(|k| k.kinesis_stream_arn());
        assert_eq!(
            source_arn.map(str::to_owned),
            Some(self.prop_str(
                resource,
                &["KinesisStreamSourceConfiguration", "KinesisStreamARN"]
            )),
            "{name} reads the events stream"
        );
        let destination = &stream.destinations()[0];
        let s3 = destination
            .extended_s3_destination_description()
            .map(|d| {
                (
                    d.bucket_arn(),
                    d.prefix(),
                    d.compression_format().as_str(),
                    d.buffering_hints(),
                )
            })
            .or_else(|| {
                destination.s3_destination_description().map(|d| {
                    (
                        d.bucket_arn(),
                        d.prefix(),
                        d.compression_format().as_str(),
                        d.buffering_hints(),
                    )
                })
            })
            .expect("an S3 destination");
        let configuration = ["ExtendedS3DestinationConfiguration"];
        let at = |key: &str| {
            let mut path = configuration.to_vec();
            path.push(key);
            self.prop_str(resource, &path)
        };
        assert_eq!(s3.0, at("BucketARN"), "{name} bucket");
        assert_eq!(s3.1.map(str::to_owned), Some(at("Prefix")), "{name} prefix");
        assert_eq!(s3.2, "GZIP", "{name} compression");
        let hints = s3.3.expect("buffering hints");
        assert_eq!(
            (hints.size_in_mbs(), hints.interval_in_seconds()),
            (Some(5), Some(300))
        );
    }

    async fn log_group(&self, logical_id: &str, resource: &Value) {
        let name = self.id(logical_id);
        let groups = self
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&name)
            .send()
            .await
            .expect("DescribeLogGroups");
        let group = groups
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("log group {name} exists"));
        assert_eq!(
            group.retention_in_days().map(i64::from),
            self.prop(resource, &["RetentionInDays"]).as_i64(),
            "{name} retention"
        );
    }

    async fn log_stream(&self, resource: &Value) {
        let group = self.prop_str(resource, &["LogGroupName"]);
        let name = self.prop_str(resource, &["LogStreamName"]);
        let streams = self
            .logs
            .describe_log_streams()
            .log_group_name(&group)
            .log_stream_name_prefix(&name)
            .send()
            .await
            .expect("DescribeLogStreams");
        assert!(
            streams
                .log_streams()
                .iter()
                .any(|s| s.log_stream_name() == Some(name.as_str())),
            "log stream {group}/{name} exists"
        );
    }

    async fn role(&self, logical_id: &str) {
        let name = self.id(logical_id);
        let role = self
            .iam
            .get_role()
            .role_name(&name)
            .send()
            .await
            .expect("GetRole");
        let arn = role.role().map(|r| r.arn().to_owned());
        assert_eq!(
            arn,
            self.deployed.context.get_att(logical_id, "Arn").ok(),
            "{name} ARN"
        );
    }

    async fn role_policy(&self, resource: &Value) {
        let policy_name = self.prop_str(resource, &["PolicyName"]);
        let Value::Array(roles) = self.prop(resource, &["Roles"]) else {
            panic!("{policy_name} is attached to roles");
        };
        for role in roles {
            let role = role.as_str().expect("a role name");
            let policy = self
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(&policy_name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetRolePolicy {role}/{policy_name}: {e:?}"));
            let document = json(&decode_url(policy.policy_document()));
            assert_eq!(
                log_group_arns_unstarred(document["Statement"].clone()),
                log_group_arns_unstarred(self.prop(resource, &["PolicyDocument", "Statement"])),
                "{role}/{policy_name} statements"
            );
        }
    }

    async fn stream(&self, logical_id: &str) {
        let name = self.id(logical_id);
        let summary = self
            .kinesis
            .describe_stream_summary()
            .stream_name(&name)
            .send()
            .await
            .expect("DescribeStreamSummary");
        let summary = summary.stream_description_summary().expect("a summary");
        assert_eq!(summary.stream_status().as_str(), "ACTIVE");
        assert_eq!(summary.open_shard_count(), 2, "{name} shards");
        assert_eq!(summary.retention_period_hours(), 24, "{name} retention");
        assert_eq!(
            summary.encryption_type().map(|e| e.as_str()),
            Some("KMS"),
            "{name} encrypted"
        );
        assert_eq!(summary.key_id(), Some("alias/aws/kinesis"), "{name} key");
    }

    async fn topic(&self, logical_id: &str, resource: &Value) {
        let arn = self.id(logical_id);
        let attributes = self
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .expect("GetTopicAttributes");
        let attributes = attributes.attributes().expect("attributes");
        assert_eq!(
            attributes.get("KmsMasterKeyId").cloned(),
            Some(self.prop_str(resource, &["KmsMasterKeyId"])),
            "{arn} encrypted with the alerts key"
        );
    }

    async fn subscription(&self, resource: &Value) {
        let topic = self.prop_str(resource, &["TopicArn"]);
        let endpoint = self.prop_str(resource, &["Endpoint"]);
        let subscriptions = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic)
            .send()
            .await
            .expect("ListSubscriptionsByTopic");
        assert!(
            subscriptions
                .subscriptions()
                .iter()
                .any(|s| s.protocol() == Some("email") && s.endpoint() == Some(endpoint.as_str())),
            "{topic} e-mails {endpoint}"
        );
    }

    async fn topic_policy(&self, resource: &Value) {
        let Value::Array(topics) = self.prop(resource, &["Topics"]) else {
            panic!("a topic policy names its topics");
        };
        for topic in topics {
            let topic = topic.as_str().expect("a topic ARN");
            let attributes = self
                .sns
                .get_topic_attributes()
                .topic_arn(topic)
                .send()
                .await
                .expect("GetTopicAttributes");
            let policy = attributes
                .attributes()
                .and_then(|a| a.get("Policy"))
                .expect("a policy");
            assert_eq!(
                json(policy),
                self.prop(resource, &["PolicyDocument"]),
                "{topic} policy"
            );
        }
    }

    async fn function(&self, logical_id: &str, resource: &Value) {
        let name = self.id(logical_id);
        let function = self
            .lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .expect("GetFunction");
        let configuration = function.configuration().expect("a configuration");
        assert_eq!(configuration.handler(), Some("bootstrap"));
        assert_eq!(
            configuration.runtime().map(|r| r.as_str()),
            Some("provided.al2023")
        );
        let variables: Value = configuration
            .environment()
            .and_then(|e| e.variables())
            .map(|v| {
                v.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            variables,
            self.prop(resource, &["Environment", "Variables"]),
            "{name} environment"
        );
        assert_eq!(
            configuration.role().map(str::to_owned),
            Some(self.prop_str(resource, &["Role"])),
            "{name} role"
        );
    }

    async fn permission(&self, resource: &Value) {
        let function = self.prop_str(resource, &["FunctionName"]);
        let policy = self
            .lambda
            .get_policy()
            .function_name(&function)
            .send()
            .await
            .expect("GetPolicy");
        let policy = json(policy.policy().expect("a policy"));
        let principal = self.prop_str(resource, &["Principal"]);
        let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
        assert!(
            statements
                .iter()
                .any(|s| s["Principal"]["Service"] == principal.as_str()
                    || s["Principal"] == principal.as_str()),
            "{function} may be invoked by {principal}: {policy}"
        );
    }

    async fn event_source_mapping(&self, resource: &Value) {
        let function = self.prop_str(resource, &["FunctionName"]);
        let mappings = self
            .lambda
            .list_event_source_mappings()
            .function_name(&function)
            .send()
            .await
            .expect("ListEventSourceMappings");
        let [mapping] = mappings.event_source_mappings() else {
            panic!("{function} has one event source mapping");
        };
        assert_eq!(
            mapping.event_source_arn().map(str::to_owned),
            Some(self.prop_str(resource, &["EventSourceArn"]))
        );
        assert_eq!(mapping.batch_size(), Some(100));
        assert_eq!(mapping.bisect_batch_on_function_error(), Some(true));
        assert_eq!(mapping.maximum_retry_attempts(), Some(3));
        assert_eq!(
            mapping.starting_position().map(|p| p.as_str()),
            Some("TRIM_HORIZON")
        );
        let destination = mapping
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination());
        assert_eq!(
            destination.map(str::to_owned),
            Some(self.prop_str(resource, &["DestinationConfig", "OnFailure", "Destination"])),
            "{function} failures go to the dead-letter queue"
        );
    }

    async fn rest_api(&self, logical_id: &str, resource: &Value) {
        let api = self
            .apigateway
            .get_rest_api()
            .rest_api_id(self.id(logical_id))
            .send()
            .await
            .expect("GetRestApi");
        assert_eq!(
            api.name().map(str::to_owned),
            Some(self.prop_str(resource, &["Name"]))
        );
    }

    async fn api_resource(&self, logical_id: &str, resource: &Value) {
        let found = self
            .apigateway
            .get_resource()
            .rest_api_id(self.prop_str(resource, &["RestApiId"]))
            .resource_id(self.id(logical_id))
            .send()
            .await
            .expect("GetResource");
        assert_eq!(
            found.path_part().map(str::to_owned),
            Some(self.prop_str(resource, &["PathPart"]))
        );
    }

    async fn method(&self, resource: &Value) {
        let method = self
            .apigateway
            .get_method()
            .rest_api_id(self.prop_str(resource, &["RestApiId"]))
            .resource_id(self.prop_str(resource, &["ResourceId"]))
            .http_method(self.prop_str(resource, &["HttpMethod"]))
            .send()
            .await
            .expect("GetMethod");
        let integration = method.method_integration().expect("an integration");
        assert_eq!(integration.r#type().map(|t| t.as_str()), Some("AWS_PROXY"));
        assert_eq!(
            integration.uri().map(str::to_owned),
            Some(self.prop_str(resource, &["Integration", "Uri"])),
            "the method invokes the ingest function"
        );
    }

    async fn deployment(&self, logical_id: &str, resource: &Value) {
        self.apigateway
            .get_deployment()
            .rest_api_id(self.prop_str(resource, &["RestApiId"]))
            .deployment_id(self.id(logical_id))
            .send()
            .await
            .expect("GetDeployment");
    }

    async fn stage(&self, resource: &Value) {
        let name = self.prop_str(resource, &["StageName"]);
        assert_eq!(name, "prod");
        let stage = self
            .apigateway
            .get_stage()
            .rest_api_id(self.prop_str(resource, &["RestApiId"]))
            .stage_name(&name)
            .send()
            .await
            .expect("GetStage");
        assert_eq!(
            stage.deployment_id().map(str::to_owned),
            Some(self.prop_str(resource, &["DeploymentId"]))
        );
        let settings = stage
            .method_settings()
            .and_then(|s| s.get("*/*"))
            .expect("settings for every method");
        assert!(settings.metrics_enabled(), "stage metrics on");
        assert_eq!(
            f64::from(settings.throttling_burst_limit()),
            self.prop(resource, &["MethodSettings"])[0]["ThrottlingBurstLimit"]
                .as_f64()
                .expect("a burst limit")
        );
        assert_eq!(
            settings.throttling_rate_limit(),
            self.prop(resource, &["MethodSettings"])[0]["ThrottlingRateLimit"]
                .as_f64()
                .expect("a rate limit")
        );
        assert_eq!(settings.logging_level(), Some("ERROR"));
        let access = stage.access_log_settings().expect("access logs");
        assert_eq!(
            access.destination_arn().map(str::to_owned),
            Some(self.prop_str(resource, &["AccessLogSetting", "DestinationArn"]))
        );
        assert_eq!(
            access.format().map(str::to_owned),
            Some(self.prop_str(resource, &["AccessLogSetting", "Format"]))
        );
    }

    async fn api_account(&self, resource: &Value) {
        let account = self
            .apigateway
            .get_account()
            .send()
            .await
            .expect("GetAccount");
        assert_eq!(
            account.cloudwatch_role_arn().map(str::to_owned),
            Some(self.prop_str(resource, &["CloudWatchRoleArn"]))
        );
    }

    async fn api_key(&self, logical_id: &str, resource: &Value) {
        let key = self
            .apigateway
            .get_api_key()
            .api_key(self.id(logical_id))
            .include_value(true)
            .send()
            .await
            .expect("GetApiKey");
        assert_eq!(
            key.name().map(str::to_owned),
            Some(self.prop_str(resource, &["Name"]))
        );
        assert!(key.enabled());
        assert!(
            key.value().is_some_and(|v| v.len() >= 20),
            "the service generated a value"
        );
    }

    async fn usage_plan(&self, logical_id: &str, resource: &Value) {
        let plan = self
            .apigateway
            .get_usage_plan()
            .usage_plan_id(self.id(logical_id))
            .send()
            .await
            .expect("GetUsagePlan");
        let stage = &plan.api_stages()[0];
        assert_eq!(
            stage.api_id().map(str::to_owned),
            self.prop(resource, &["ApiStages"])[0]["ApiId"]
                .as_str()
                .map(str::to_owned)
        );
        assert_eq!(stage.stage(), Some("prod"));
        let throttle = plan.throttle().expect("a throttle");
        assert_eq!(
            throttle.rate_limit(),
            self.prop(resource, &["Throttle", "RateLimit"])
                .as_f64()
                .expect("a rate")
        );
        let quota = plan.quota().expect("a quota");
        assert_eq!(quota.period().map(|p| p.as_str()), Some("DAY"));
    }

    async fn usage_plan_key(&self, resource: &Value) {
        self.apigateway
            .get_usage_plan_key()
            .usage_plan_id(self.prop_str(resource, &["UsagePlanId"]))
            .key_id(self.prop_str(resource, &["KeyId"]))
            .send()
            .await
            .expect("GetUsagePlanKey: the key is in its plan");
    }

    async fn managed_policy(&self, logical_id: &str, resource: &Value) {
        let arn = self.id(logical_id);
        let policy = self
            .iam
            .get_policy()
            .policy_arn(&arn)
            .send()
            .await
            .expect("GetPolicy");
        let version = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .expect("a default version")
            .to_owned();
        let document = self
            .iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(version)
            .send()
            .await
            .expect("GetPolicyVersion");
        let document = json(&decode_url(
            document
                .policy_version()
                .and_then(|v| v.document())
                .expect("a document"),
        ));
        assert_eq!(
            document["Statement"],
            self.prop(resource, &["PolicyDocument", "Statement"]),
            "{logical_id} statements"
        );
    }

    async fn table(&self, logical_id: &str) {
        let name = self.id(logical_id);
        let table = self
            .dynamodb
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .expect("DescribeTable");
        let table = table.table().expect("a table");
        let keys: Vec<&str> = table
            .key_schema()
            .iter()
            .map(|k| k.attribute_name())
            .collect();
        assert_eq!(keys, ["pk"]);
        assert_eq!(
            table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(|m| m.as_str()),
            Some("PAY_PER_REQUEST")
        );
        let backups = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(&name)
            .send()
            .await
            .expect("DescribeContinuousBackups");
        let recovery = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|d| d.point_in_time_recovery_status())
            .map(|s| s.as_str().to_owned());
        assert_eq!(
            recovery.as_deref(),
            Some("ENABLED"),
            "{name} point-in-time recovery"
        );
    }

    async fn queue(&self, logical_id: &str) {
        use aws_sdk_sqs::types::QueueAttributeName;
        let url = self.id(logical_id);
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("GetQueueAttributes");
        let attributes = attributes.attributes().expect("attributes");
        let get = |name: QueueAttributeName| attributes.get(&name).map(String::as_str);
        assert_eq!(
            get(QueueAttributeName::MessageRetentionPeriod),
            Some("1209600")
        );
        assert_eq!(get(QueueAttributeName::VisibilityTimeout), Some("30"));
        assert_eq!(get(QueueAttributeName::SqsManagedSseEnabled), Some("true"));
    }

    async fn queue_policy(&self, resource: &Value) {
        use aws_sdk_sqs::types::QueueAttributeName;
        let Value::Array(queues) = self.prop(resource, &["Queues"]) else {
            panic!("a queue policy names its queues");
        };
        for queue in queues {
            let queue = queue.as_str().expect("a queue URL");
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(queue)
                .attribute_names(QueueAttributeName::Policy)
                .send()
                .await
                .expect("GetQueueAttributes");
            let policy = attributes
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::Policy))
                .expect("a policy");
            assert_eq!(
                json(policy),
                self.prop(resource, &["PolicyDocument"]),
                "{queue} policy"
            );
        }
    }
}

/// `value` with log group ARNs without their trailing `:*`: CloudFormation documents
/// `Fn::GetAtt LogGroup.Arn` with it, moto resolves it without.
fn log_group_arns_unstarred(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains(":log-group:") => {
            Value::String(s.strip_suffix(":*").unwrap_or(&s).to_owned())
        }
        Value::Array(items) => items.into_iter().map(log_group_arns_unstarred).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, log_group_arns_unstarred(v)))
            .collect(),
        other => other,
    }
}

/// IAM may return policy documents URL-encoded (as AWS does).
fn decode_url(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_owned();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                rest = &tail[2..];
            }
            None => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_app_deploys_each_stack_in_its_region() {
    init_tracing();
    let emulator = Emulator::start().await.expect("an emulator starts");
    println!("backend: {emulator}");
    let app = tests::app();
    let deployed = localstack::deploy_app(&emulator, &app, &localstack::AppOptions::default())
        .await
        .unwrap_or_else(|e| panic!("deploy: {}", localstack::error_chain(&e)));
    assert_eq!(deployed.core.context.region, "us-east-2");
    let billing = deployed.billing.expect("the billing stack deploys");
    assert_eq!(billing.context.region, "us-east-1");
    println!(
        "billing stack filled in: {:?}",
        billing
            .filled
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
}

/// `cargo run -p localstack -- up` deploys under the stacks' real names into an emulator of its
/// own, so the spec's "Stack Outputs" command answers as it does in AWS:
/// `aws cloudformation describe-stacks --stack-name IOpsDashboard-CoreStack --query 'Stacks[0].Outputs'`.
#[tokio::test(flavor = "multi_thread")]
async fn under_their_real_names_the_stacks_answer_the_specs_commands() {
    init_tracing();
    let emulator = Emulator::start().await.expect("an emulator starts");
    if emulator.backend() == Backend::External {
        println!("skipped: {emulator} may hold stacks of these names already");
        return;
    }
    let app = tests::app();
    let options = localstack::AppOptions {
        stack_names: localstack::StackNames::Real,
        ..localstack::AppOptions::default()
    };
    let deployed = localstack::deploy_app(&emulator, &app, &options)
        .await
        .unwrap_or_else(|e| panic!("deploy: {}", localstack::error_chain(&e)));
    assert_eq!(deployed.core.stack_name(), iops_dashboard::CORE_STACK_NAME);

    let cloudformation = aws_sdk_cloudformation::Client::new(&emulator.sdk_config_in("us-east-2"));
    let stacks = cloudformation
        .describe_stacks()
        .stack_name(iops_dashboard::CORE_STACK_NAME)
        .send()
        .await
        .expect("DescribeStacks --stack-name IOpsDashboard-CoreStack");
    let stack = &stacks.stacks()[0];
    let outputs: BTreeSet<&str> = stack
        .outputs()
        .iter()
        .filter_map(|o| o.output_key())
        .collect();
    // The spec's "Key Outputs".
    for key in [
        "KinesisStreamName",
        "KinesisStreamArn",
        "ArchiveBucketName",
        "MalformedDataTopicArn",
        "StreamProcessorFunctionName",
        "MetricsEndpoint",
    ] {
        assert!(outputs.contains(key), "{key} missing from {outputs:?}");
    }
    // What `synth diff --deployed IOpsDashboard-CoreStack` reads: the template as synthesized.
    let template = cloudformation
        .get_template()
        .stack_name(iops_dashboard::CORE_STACK_NAME)
        .send()
        .await
        .expect("GetTemplate");
    let body: Value =
        serde_json::from_str(template.template_body().expect("a body")).expect("JSON");
    let synthesized = app.core.stack.synth().expect("synthesizes").to_value();
    assert_eq!(body, synthesized);

    let billing = aws_sdk_cloudformation::Client::new(&emulator.sdk_config_in("us-east-1"))
        .describe_stacks()
        .stack_name(iops_dashboard::BILLING_STACK_NAME)
        .send()
        .await
        .expect("DescribeStacks --stack-name IOpsDashboard-BillingStack --region us-east-1");
    assert_eq!(billing.stacks().len(), 1);
}
