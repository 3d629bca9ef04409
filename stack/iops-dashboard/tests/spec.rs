//! Every resource and setting the Phase 1 spec names is in the synthesized core stack.

use cfn::Template;
use constructs::assets::Architecture;
use iops_dashboard::{App, Config};
use serde_json::{Value, json};

fn app() -> App {
    App::new(&Config::default(), iops_dashboard::workspace_root())
}

fn core() -> Template {
    app()
        .core
        .stack
        .synth()
        .unwrap_or_else(|e| panic!("the core stack must synthesize: {e}"))
}

fn of_type<'t>(t: &'t Template, type_name: &str) -> Vec<(&'t String, &'t cfn::Resource)> {
    t.resources
        .iter()
        .filter(|(_, r)| r.type_name == type_name)
        .collect()
}

fn props<'t>(t: &'t Template, id: &str) -> &'t serde_json::Map<String, Value> {
    &t.resources
        .get(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
        .properties
}

#[test]
fn kinesis_stream() {
    let t = core();
    let s = props(&t, "EventsStream");
    assert_eq!(s["Name"], "iops-dashboard-events-stream");
    assert_eq!(s["ShardCount"], 2);
    assert_eq!(s["StreamModeDetails"]["StreamMode"], "PROVISIONED");
    assert_eq!(s["RetentionPeriodHours"], 24);
    assert_eq!(s["StreamEncryption"]["EncryptionType"], "KMS");
    let stream = &t.resources["EventsStream"];
    assert_eq!(
        (stream.deletion_policy, stream.update_replace_policy),
        (Some(cfn::Policy::Retain), Some(cfn::Policy::Retain)),
        "the stream holds up to 24 h of events: retained like every stateful resource"
    );
}

#[test]
fn archive_bucket() {
    let t = core();
    let b = props(&t, "ArchiveBucket");
    assert_eq!(
        b["BucketName"],
        json!({"Fn::Sub": "iops-dashboard-archive-${AWS::AccountId}"})
    );
    assert_eq!(
        b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    let block = &b["PublicAccessBlockConfiguration"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[k], true, "{k}");
    }
    let rule = &b["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(
        rule["Transitions"],
        json!([{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}, {"StorageClass": "GLACIER", "TransitionInDays": 90}])
    );
    assert_eq!(rule["ExpirationInDays"], 365);
    assert_eq!(
        t.resources["ArchiveBucket"].deletion_policy,
        Some(cfn::Policy::Retain)
    );
}

#[test]
fn firehose_archive() {
    let t = core();
    let f = props(&t, "ArchiveFirehose");
    assert_eq!(f["DeliveryStreamName"], "iops-dashboard-archive-firehose");
    assert_eq!(f["DeliveryStreamType"], "KinesisStreamAsSource");
    assert_eq!(
        f["KinesisStreamSourceConfiguration"]["KinesisStreamARN"],
        json!({"Fn::GetAtt": ["EventsStream", "Arn"]})
    );
    let s3 = &f["ExtendedS3DestinationConfiguration"];
    assert_eq!(
        s3["BucketARN"],
        json!({"Fn::GetAtt": ["ArchiveBucket", "Arn"]})
    );
    assert_eq!(
        s3["BufferingHints"],
        json!({"IntervalInSeconds": 300, "SizeInMBs": 5})
    );
    assert_eq!(s3["CompressionFormat"], "GZIP");
    assert_eq!(
        s3["ProcessingConfiguration"],
        json!({"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]}),
        "one event a line in the archive"
    );
    assert_eq!(
        s3["Prefix"],
        "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    );
    assert_eq!(
        s3["ErrorOutputPrefix"],
        "errors/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/!{firehose:error-output-type}/"
    );
}

#[test]
fn malformed_events_topic_mails_the_parameter_address() {
    let t = core();
    assert_eq!(
        props(&t, "MalformedEventsTopic")["TopicName"],
        "iops-dashboard-malformed-events"
    );
    let sub = props(&t, "MalformedEventsTopicEmailSubscription");
    assert_eq!(sub["Protocol"], "email");
    assert_eq!(
        sub["Endpoint"],
        json!({"Ref": iops_dashboard::ALERT_EMAIL_PARAMETER})
    );
    assert!(
        t.parameters
            .contains_key(iops_dashboard::ALERT_EMAIL_PARAMETER)
    );
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    strings(&serde_json::to_value(&t.resources).expect("json"), &mut all);
    let addresses: Vec<_> = all.iter().filter(|s| s.contains('@')).collect();
    assert!(
        addresses.is_empty(),
        "no address in the resources: {addresses:?}"
    );
}

#[test]
fn stream_processor_and_its_event_source() {
    let t = core();
    let f = props(&t, "StreamProcessorFunction");
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["MemorySize"], 512);
    assert_eq!(f["Timeout"], 300);
    assert_eq!(f["ReservedConcurrentExecutions"], 50);
    let (_, esm) = of_type(&t, "AWS::Lambda::EventSourceMapping")
        .into_iter()
        .next()
        .expect("an event source mapping");
    let m = &esm.properties;
    assert_eq!(
        m["EventSourceArn"],
        json!({"Fn::GetAtt": ["EventsStream", "Arn"]})
    );
    assert_eq!(m["BatchSize"], 100);
    assert_eq!(m["BisectBatchOnFunctionError"], true);
    assert_eq!(m["MaximumRetryAttempts"], 3);
    assert_eq!(
        m["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        m["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": ["StreamProcessorDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        t.resources["StreamProcessorDeadLetterQueue"].type_name,
        "AWS::SQS::Queue"
    );
}

#[test]
fn ingest_function_environment() {
    let t = core();
    let vars = &props(&t, "IngestFunction")["Environment"]["Variables"];
    assert_eq!(vars["KINESIS_STREAM_NAME"], json!({"Ref": "EventsStream"}));
    assert_eq!(vars["USE_KINESIS"], "true");
    assert_eq!(vars["DYNAMODB_TABLE_NAME"], json!({"Ref": "MetricsTable"}));
    assert_eq!(
        t.resources["MetricsTable"].type_name,
        "AWS::DynamoDB::Table"
    );
}

#[test]
fn rest_api_posts_metrics_to_ingest_on_prod() {
    let t = core();
    let resource = props(&t, "MetricsApimetrics");
    assert_eq!(resource["PathPart"], "metrics");
    let method = props(&t, "MetricsApimetricsPOST");
    assert_eq!(method["HttpMethod"], "POST");
    assert_eq!(method["Integration"]["Type"], "AWS_PROXY");
    assert_eq!(props(&t, "MetricsApiStage")["StageName"], "prod");
}

#[test]
fn the_api_is_signed_keyed_throttled_to_the_stream_and_logged() {
    let t = core();
    let method = props(&t, "MetricsApimetricsPOST");
    assert_eq!(method["AuthorizationType"], "AWS_IAM");
    assert_eq!(method["ApiKeyRequired"], true);
    let stage = props(&t, "MetricsApiStage");
    // Two shards take 2,000 records/s: the stage refuses more requests than that.
    assert_eq!(stage["MethodSettings"][0]["ThrottlingRateLimit"], 2000.0);
    assert_eq!(stage["MethodSettings"][0]["ThrottlingBurstLimit"], 2000);
    assert!(stage["AccessLogSetting"]["DestinationArn"].is_object());
    assert_eq!(props(&t, "MetricsApiAccessLogs")["RetentionInDays"], 30);
    let plans = of_type(&t, "AWS::ApiGateway::UsagePlan");
    assert_eq!(plans.len(), 1, "one plan per configured client");
    assert_eq!(plans[0].1.properties["Quota"]["Period"], "DAY");
    // Key values are generated by API Gateway: none in the template or its outputs.
    for (_, key) in of_type(&t, "AWS::ApiGateway::ApiKey") {
        assert!(key.properties.get("Value").is_none());
    }
    assert_eq!(
        t.outputs["DefaultApiKeyId"].value,
        json!({"Ref": "MetricsApiDefaultUsagePlanApiKey"})
    );
    assert_eq!(
        props(&t, "IngestFunction")["ReservedConcurrentExecutions"],
        100
    );
    let producer = props(&t, "MetricsProducerPolicy");
    assert_eq!(
        producer["PolicyDocument"]["Statement"],
        json!([{"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${MetricsApi}/prod/POST/metrics"}]}])
    );
}

#[test]
fn producer_roles_named_in_the_configuration_get_the_producer_policy() {
    let mut config = Config::default();
    config.ingest.producer_roles = vec!["telemetry-producer".into()];
    let t = App::new(&config, iops_dashboard::workspace_root())
        .core
        .stack
        .synth()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        props(&t, "MetricsProducerPolicy")["Roles"],
        json!(["telemetry-producer"])
    );
}

#[test]
fn the_api_key_only_mode_keeps_keys_and_drops_signatures() {
    let mut config = Config::default();
    config.ingest.authorization = constructs::apigateway::Authorization::None;
    let t = App::new(&config, iops_dashboard::workspace_root())
        .core
        .stack
        .synth()
        .unwrap_or_else(|e| panic!("{e}"));
    let method = props(&t, "MetricsApimetricsPOST");
    assert_eq!(method["AuthorizationType"], "NONE");
    assert_eq!(method["ApiKeyRequired"], true);

    // With no client left, nothing would check callers at all: the stack refuses to synthesize.
    config.ingest.clients.clear();
    let errors = App::new(&config, iops_dashboard::workspace_root())
        .core
        .stack
        .synth()
        .expect_err("an open API");
    assert!(
        errors
            .0
            .iter()
            .any(|e| matches!(e.problem, constructs::Problem::OpenApi)),
        "{errors}"
    );
}

#[test]
fn alarms_all_notify_the_high_risk_topic() {
    let t = core();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let names: Vec<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        names,
        [
            "Api4xxAlarm",
            "Api5xxAlarm",
            "IngestErrorsAlarm",
            "IngestThrottlesAlarm",
            "IteratorAgeAlarm",
            "MalformedRateAlarm",
            "MetricsTableThrottleAlarm",
            "StreamProcessorErrorRateAlarm",
            "WriteThroughputExceededAlarm",
        ]
    );
    for (id, alarm) in &alarms {
        assert_eq!(
            alarm.properties["AlarmActions"],
            json!([{"Ref": "HighRiskAlertsTopic"}]),
            "{id}"
        );
    }
    assert_eq!(
        props(&t, "HighRiskAlertsTopic")["TopicName"],
        "iops-dashboard-high-risk-alerts"
    );
    assert_eq!(props(&t, "IteratorAgeAlarm")["Threshold"], 60_000.0);
    let malformed = props(&t, "MalformedRateAlarm");
    assert_eq!(malformed["Threshold"], 5.0);
    let metrics = malformed["Metrics"].as_array().expect("metric math");
    assert_eq!(
        metrics[0]["Expression"],
        "IF(processed > 0, 100 * malformed / processed, 0)"
    );
    let namespaces: Vec<_> = metrics[1..]
        .iter()
        .map(|m| m["MetricStat"]["Metric"]["Namespace"].clone())
        .collect();
    assert_eq!(
        namespaces,
        [
            json!(event_contract::metrics::NAMESPACE),
            json!(event_contract::metrics::NAMESPACE)
        ]
    );
}

#[test]
fn outputs_the_spec_lists() {
    let t = core();
    for name in [
        "KinesisStreamName",
        "KinesisStreamArn",
        "ArchiveBucketName",
        "MalformedDataTopicArn",
        "StreamProcessorFunctionName",
        "MetricsEndpoint",
    ] {
        assert!(t.outputs.contains_key(name), "missing output {name}");
    }
    assert_eq!(
        t.outputs["MetricsEndpoint"].value,
        json!({"Fn::Sub": "https://${MetricsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod/metrics"})
    );
}

#[test]
fn billing_alarm_lives_in_us_east_1() {
    let app = app();
    assert_eq!(app.billing.stack.env().region, "us-east-1");
    let t = app
        .billing
        .stack
        .synth()
        .unwrap_or_else(|e| panic!("billing stack: {e}"));
    let alarm = &t.resources["MonthlyCostAlarm"].properties;
    assert_eq!(alarm["Namespace"], "AWS/Billing");
    assert_eq!(alarm["MetricName"], "EstimatedCharges");
    assert_eq!(alarm["Threshold"], 300.0);
    assert_eq!(
        alarm["AlarmActions"],
        json!([{"Ref": "BillingAlertsTopic"}])
    );
}

#[test]
fn the_capacity_gap_is_known() {
    let report = app().core.capacity();
    assert_eq!(report.capacity.records_per_second, 2_000);
    assert_eq!(report.target_burst_rps, 4_000);
    assert_eq!(report.shortfall_rps(), 2_000);
    assert_eq!(report.shards_needed(), 4);
}

#[test]
fn function_code_is_referenced_by_content_hash() {
    let app = app();
    let t = app.core.stack.synth().unwrap_or_else(|e| panic!("{e}"));
    let assets = app.core.stack.assets();
    let packages: Vec<_> = assets.iter().map(|a| a.package.as_str()).collect();
    assert_eq!(packages.len(), 2);
    assert!(
        packages.contains(&"ingest") && packages.contains(&"stream-processor"),
        "{packages:?}"
    );
    for id in ["IngestFunction", "StreamProcessorFunction"] {
        let code = &t.resources[id].properties["Code"];
        assert_eq!(code["S3Bucket"], json!({"Ref": "AssetsBucketName"}));
        let key = code["S3Key"].as_str().expect("a literal key");
        assert!(assets.iter().any(|a| a.key == key), "{id}: {key}");
        assert_eq!(
            t.resources[id].properties["Architectures"],
            json!(["x86_64"])
        );
    }
}

#[test]
fn arm64_functions_are_built_for_aarch64_under_other_keys() {
    let x86 = app().core.stack.assets();
    let arm = App::new(
        &Config {
            architecture: Architecture::Arm64,
            ..Config::default()
        },
        iops_dashboard::workspace_root(),
    );
    let t = arm.core.stack.synth().unwrap_or_else(|e| panic!("{e}"));
    let assets = arm.core.stack.assets();
    assert!(
        assets
            .iter()
            .all(|a| a.target == "aarch64-unknown-linux-musl"),
        "{assets:?}"
    );
    for id in ["IngestFunction", "StreamProcessorFunction"] {
        let props = &t.resources[id].properties;
        assert_eq!(props["Architectures"], json!(["arm64"]));
        let key = props["Code"]["S3Key"].as_str().expect("a literal key");
        assert!(
            x86.iter().all(|a| a.key != key),
            "{id}: an arm64 package never shares the x86_64 key {key}"
        );
    }
}

#[test]
fn every_stack_passes_the_policy_gates_with_no_unexplained_suppression() {
    for stack in app().stacks() {
        let template = stack.synth().unwrap_or_else(|e| panic!("{e}"));
        let report = cfn_policy::check(&template.to_value());
        assert!(report.passes(), "{}: {:#?}", stack.name(), report.findings);
        for finding in report.suppressed() {
            let reason = finding.suppressed.as_deref().unwrap_or_default();
            assert!(reason.len() >= cfn_policy::MIN_REASON_CHARS, "{finding}");
        }
    }
}
