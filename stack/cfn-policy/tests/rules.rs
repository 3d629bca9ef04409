//! Each rule is proven by a fixture that breaks it (`tests/fixtures/<RULE_ID>.json`, a variant of
//! the compliant `compliant.json`): the rule fires there, on the resources named, and no other
//! rule does. The findings of every fixture are kept as a reviewed snapshot.
//!
//! The fixtures of the first eight rules are variants of `compliant.json` as it was before it
//! gained the API, the function behind it and the key's grant to a service (which the API and KMS
//! rules pass on); they hold none of those, so those rules pass on them too. The cases a fixture
//! cannot show one by one (each exemption, each way to refer to a function) have their own tests.

use std::path::PathBuf;

use cfn_policy::{Report, RuleId, check};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fired(report: &Report) -> Vec<(RuleId, &str)> {
    report
        .violations()
        .map(|f| (f.rule, f.resource.as_str()))
        .collect()
}

#[test]
fn the_compliant_fixture_passes_every_rule() {
    let report = check(&fixture("compliant"));
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.passes());
}

#[test]
fn every_rule_has_a_fixture_that_breaks_it_and_only_it() {
    let expected: &[(RuleId, &[&str])] = &[
        (
            RuleId::EncryptionAtRest,
            &["Alerts", "Archive", "DeadLetters", "Events", "Metrics"],
        ),
        (RuleId::S3TlsOnly, &["Archive"]),
        (RuleId::S3BlockPublicAccess, &["Archive"]),
        (
            RuleId::IamNoWildcardAction,
            &["Key", "ProcessorPolicy", "ProcessorPolicy"],
        ),
        (
            RuleId::IamNoWildcardResource,
            &["ProcessorPolicy", "ProcessorPolicy"],
        ),
        (RuleId::LambdaLogRetention, &["Named", "Processor"]),
        (
            RuleId::AsyncFailureDestination,
            &["AlertsToQueue", "Processor", "ProcessorEvents"],
        ),
        (RuleId::AlarmHasAction, &["DisabledAlarm", "LagAlarm"]),
        (
            RuleId::ApiMethodAuthorization,
            &["ApiMetricsGet", "ApiMetricsPost", "HttpApiPostMetrics"],
        ),
        (
            RuleId::ApiStageAccessLogging,
            &["ApiDeployment", "ApiStage", "HttpApiStage"],
        ),
        (RuleId::LambdaPublicApiConcurrency, &["Ingest", "Named"]),
        (RuleId::KmsServiceSourceCondition, &["Key", "Key"]),
        (RuleId::ValidSuppression, &["Archive", "Archive", "Archive"]),
    ];
    assert_eq!(
        expected.iter().map(|(rule, _)| *rule).collect::<Vec<_>>(),
        RuleId::ALL,
        "every rule is covered"
    );
    for (rule, resources) in expected {
        let report = check(&fixture(rule.as_str()));
        let mut found: Vec<_> = fired(&report);
        found.sort();
        let wanted: Vec<_> = resources.iter().map(|r| (*rule, *r)).collect();
        assert_eq!(found, wanted, "{rule}: {:#?}", report.findings);
        assert!(!report.passes());
    }
}

#[test]
fn every_rule_id_is_listed_once_and_serialized_as_its_id() {
    let checked: Vec<_> = cfn_policy::RULES.iter().map(|r| r.id).collect();
    let mut all = RuleId::ALL.to_vec();
    all.retain(|r| *r != RuleId::ValidSuppression);
    assert_eq!(
        checked, all,
        "every rule but VALID_SUPPRESSION is in RULES, in order"
    );
    for rule in RuleId::ALL {
        assert_eq!(serde_json::to_value(rule).ok(), Some(json!(rule.as_str())));
        assert_eq!(RuleId::parse(rule.as_str()), Some(rule));
    }
}

/// The resources `rule` fires on in `template`, sorted (other rules are not looked at: these
/// templates are too small to pass them).
fn fired_by(rule: RuleId, template: &Value) -> Vec<String> {
    let mut found: Vec<_> = check(template)
        .violations()
        .filter(|f| f.rule == rule)
        .map(|f| f.resource.clone())
        .collect();
    found.sort();
    found
}

fn method(props: Value) -> Value {
    json!({"Type": "AWS::ApiGateway::Method", "Properties": props})
}

#[test]
fn api_methods_need_authorization_unless_preflight_or_api_key() {
    let template = json!({"Resources": {
        "None": method(json!({"HttpMethod": "POST", "AuthorizationType": "NONE"})),
        "Absent": method(json!({"HttpMethod": "ANY"})),
        "Lowercase": method(json!({"HttpMethod": "GET", "AuthorizationType": "none"})),
        "Preflight": method(json!({"HttpMethod": "OPTIONS", "AuthorizationType": "NONE"})),
        "ApiKey": method(json!({"HttpMethod": "POST", "AuthorizationType": "NONE", "ApiKeyRequired": true})),
        "ApiKeyString": method(json!({"HttpMethod": "POST", "ApiKeyRequired": "true"})),
        "ApiKeyFalse": method(json!({"HttpMethod": "POST", "AuthorizationType": "NONE", "ApiKeyRequired": false})),
        "Iam": method(json!({"HttpMethod": "POST", "AuthorizationType": "AWS_IAM"})),
        "Cognito": method(json!({"HttpMethod": "POST", "AuthorizationType": "COGNITO_USER_POOLS", "AuthorizerId": {"Ref": "Authorizer"}})),
        "Chosen": method(json!({"HttpMethod": "POST", "AuthorizationType": {"Ref": "AuthorizationType"}})),
        "Route": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "$default"}},
        "RouteNone": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "GET /x", "AuthorizationType": "NONE"}},
        "RouteApiKey": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "sendmessage", "ApiKeyRequired": true}},
        "RouteJwt": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "GET /y", "AuthorizationType": "JWT"}},
    }});
    assert_eq!(
        fired_by(RuleId::ApiMethodAuthorization, &template),
        [
            "Absent",
            "ApiKeyFalse",
            "Lowercase",
            "None",
            "Route",
            "RouteNone"
        ]
    );
}

#[test]
fn api_stages_need_access_logs_also_when_a_deployment_creates_them() {
    let logs = json!({"DestinationArn": {"Fn::GetAtt": ["Logs", "Arn"]}});
    let template = json!({"Resources": {
        "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "prod", "AccessLogSetting": logs}},
        "StageFormatOnly": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "prod", "AccessLogSetting": {"Format": "$context.requestId"}}},
        "V2Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"StageName": "$default", "AccessLogSettings": logs}},
        "V2StageSingular": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"StageName": "$default", "AccessLogSetting": logs}},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": "Api"}}},
        "DeploymentLogged": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"StageName": "v1", "StageDescription": {"AccessLogSetting": logs}}},
        "DeploymentNamed": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"StageName": "v1"}},
        "DeploymentDescribed": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"StageName": "v1", "StageDescription": {"LoggingLevel": "INFO"}}},
    }});
    assert_eq!(
        fired_by(RuleId::ApiStageAccessLogging, &template),
        [
            "DeploymentDescribed",
            "DeploymentNamed",
            "StageFormatOnly",
            "V2StageSingular"
        ]
    );
}

fn function(props: Value) -> Value {
    json!({"Type": "AWS::Lambda::Function", "Properties": props})
}

fn integration(uri: Value) -> Value {
    method(
        json!({"HttpMethod": "POST", "AuthorizationType": "AWS_IAM", "Integration": {"Type": "AWS_PROXY", "Uri": uri}}),
    )
}

fn api_permission(function_name: Value, principal: Value) -> Value {
    json!({"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:InvokeFunction", "FunctionName": function_name, "Principal": principal}})
}

#[test]
fn functions_an_api_invokes_need_reserved_concurrency_however_they_are_referred_to() {
    let template = json!({"Resources": {
        "BySub": function(json!({})),
        "ByJoin": function(json!({})),
        "BySubVariable": function(json!({})),
        "ByAlias": function(json!({})),
        "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "ByAlias"}, "Name": "live"}},
        "ByLiteralArn": function(json!({"FunctionName": "literal"})),
        "ByV2": function(json!({})),
        "ByPermission": function(json!({})),
        "ByPermissionName": function(json!({"FunctionName": "by-name"})),
        "ByUrlSuffix": function(json!({})),
        "Capped": function(json!({"ReservedConcurrentExecutions": 10})),
        "CappedByParameter": function(json!({"ReservedConcurrentExecutions": {"Ref": "Cap"}})),
        "FromSns": function(json!({})),
        "Escaped": function(json!({})),
        "Prefixed": function(json!({"FunctionName": "literal-two"})),
        "Unrelated": function(json!({})),
        "MSub": integration(json!({"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${BySub.Arn}/invocations"})),
        "MJoin": integration(json!({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"},
            ":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": ["ByJoin", "Arn"]}, "/invocations"]]})),
        "MSubVariable": integration(json!({"Fn::Sub": ["arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/${Target}/invocations",
            {"Target": {"Fn::GetAtt": ["BySubVariable", "Arn"]}}]})),
        "MAlias": integration(json!({"Fn::Sub": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/${Alias}/invocations"})),
        "MLiteral": integration(json!("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:literal/invocations")),
        "MCapped": integration(json!({"Fn::Sub": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/${Capped.Arn}/invocations"})),
        "MCappedByParameter": integration(json!({"Fn::Sub": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/${CappedByParameter.Arn}/invocations"})),
        "MEscaped": integration(json!({"Fn::Sub": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/${!Escaped.Arn}/invocations"})),
        "V2Integration": {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {"IntegrationType": "AWS_PROXY", "IntegrationUri": {"Fn::GetAtt": ["ByV2", "Arn"]}}},
        "PByRef": api_permission(json!({"Ref": "ByPermission"}), json!("apigateway.amazonaws.com")),
        "PByName": api_permission(json!("by-name"), json!("apigateway.amazonaws.com")),
        "PByUrlSuffix": api_permission(json!({"Fn::GetAtt": ["ByUrlSuffix", "Arn"]}), json!({"Fn::Sub": "apigateway.${AWS::URLSuffix}"})),
        "PFromSns": api_permission(json!({"Ref": "FromSns"}), json!("sns.amazonaws.com")),
    }});
    assert_eq!(
        fired_by(RuleId::LambdaPublicApiConcurrency, &template),
        [
            "ByAlias",
            "ByJoin",
            "ByLiteralArn",
            "ByPermission",
            "ByPermissionName",
            "BySub",
            "BySubVariable",
            "ByUrlSuffix",
            "ByV2"
        ]
    );
}

#[test]
fn the_concurrency_finding_names_every_way_the_api_reaches_the_function() {
    let report = check(&fixture("LAMBDA_PUBLIC_API_CONCURRENCY"));
    let ingest = report
        .violations()
        .find(|f| f.resource == "Ingest")
        .map(|f| f.message.as_str());
    assert!(
        ingest.is_some_and(|m| m.contains("(ApiMetricsPost, IngestFromApi)")),
        "{ingest:?}"
    );
}

fn kms_key(statements: Value) -> Value {
    json!({"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": statements}}})
}

fn grant(principal: Value, condition: Value) -> Value {
    json!({"Effect": "Allow", "Principal": principal, "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*", "Condition": condition})
}

#[test]
fn key_policies_grant_service_principals_only_under_a_source_condition() {
    let service = json!({"Service": "logs.amazonaws.com"});
    let mut resources = serde_json::Map::new();
    for (i, (operator, key)) in [
        ("StringEquals", "aws:SourceAccount"),
        ("ArnLike", "aws:SourceArn"),
        ("StringEquals", "aws:SourceOrgID"),
        ("ForAnyValue:StringLike", "aws:SourceOrgPaths"),
        ("StringEquals", "kms:CallerAccount"),
        ("StringEquals", "kms:ViaService"),
        ("StringEquals", "AWS:SOURCEACCOUNT"),
    ]
    .into_iter()
    .enumerate()
    {
        resources.insert(
            format!("Guarded{i}"),
            kms_key(json!([grant(
                service.clone(),
                json!({operator: {key: "x"}})
            )])),
        );
    }
    let unguarded = [
        ("NoCondition", grant(service.clone(), Value::Null)),
        (
            "ServiceList",
            grant(
                json!({"Service": ["sns.amazonaws.com", "events.amazonaws.com"]}),
                Value::Null,
            ),
        ),
        (
            "OtherKey",
            grant(
                service.clone(),
                json!({"StringEquals": {"kms:EncryptionContext:aws:logs:arn": "x"}}),
            ),
        ),
        (
            "Mixed",
            grant(
                json!({"AWS": "arn:aws:iam::123456789012:root", "Service": "sns.amazonaws.com"}),
                Value::Null,
            ),
        ),
    ];
    for (id, statement) in unguarded {
        resources.insert(id.to_owned(), kms_key(json!([statement])));
    }
    resources.insert(
        "AccountOnly".to_owned(),
        kms_key(json!([grant(
            json!({"AWS": "arn:aws:iam::123456789012:root"}),
            Value::Null
        )])),
    );
    resources.insert(
        "Denies".to_owned(),
        kms_key(
            json!([{"Effect": "Deny", "Principal": service, "Action": "kms:*", "Resource": "*"}]),
        ),
    );
    let template = json!({"Resources": resources});
    assert_eq!(
        fired_by(RuleId::KmsServiceSourceCondition, &template),
        ["Mixed", "NoCondition", "OtherKey", "ServiceList"]
    );
}

#[test]
fn a_reasoned_suppression_silences_one_rule_on_one_resource_and_is_listed() {
    let mut template = fixture("S3_TLS_ONLY");
    template["Resources"]["Archive"]["Metadata"] = json!({
        "ConstructPath": "Stack/Archive",
        "Suppressions": [{"Rule": "S3_TLS_ONLY", "Reason": "served through CloudFront with TLS"}]
    });
    let report = check(&template);
    assert!(report.passes(), "{:#?}", report.findings);
    let suppressed: Vec<_> = report.suppressed().collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(
        suppressed[0].to_string(),
        "[S3_TLS_ONLY] Archive (Stack/Archive): no bucket policy denies requests without TLS \
         (`aws:SecureTransport` false) — suppressed: served through CloudFront with TLS"
    );

    // The same suppression does not cover another rule.
    template["Resources"]["Archive"]["Properties"]["PublicAccessBlockConfiguration"] = json!({});
    let report = check(&template);
    assert_eq!(fired(&report), [(RuleId::S3BlockPublicAccess, "Archive")]);
}

#[test]
fn a_suppression_without_a_reason_suppresses_nothing() {
    let mut template = fixture("S3_TLS_ONLY");
    template["Resources"]["Archive"]["Metadata"] =
        json!({"Suppressions": [{"Rule": "S3_TLS_ONLY", "Reason": " "}]});
    let report = check(&template);
    let mut found = fired(&report);
    found.sort();
    assert_eq!(
        found,
        [
            (RuleId::S3TlsOnly, "Archive"),
            (RuleId::ValidSuppression, "Archive")
        ]
    );
}

#[test]
fn a_template_without_resources_or_with_odd_shapes_is_checked_without_panicking() {
    for template in [
        json!({}),
        json!({"Resources": []}),
        json!({"Resources": {"A": 1, "B": {"Type": 7}, "C": {"Type": "AWS::S3::Bucket", "Properties": []}}}),
        json!({"Resources": {"P": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": "x"}}}}}),
    ] {
        let _ = check(&template);
    }
}

#[test]
fn the_findings_of_every_fixture_are_as_reviewed() {
    let mut text = String::new();
    for rule in RuleId::ALL {
        text.push_str(&format!("# {rule}\n"));
        for finding in check(&fixture(rule.as_str())).findings {
            text.push_str(&format!("{finding}\n"));
        }
    }
    insta::assert_snapshot!("fixture-findings", text);
}
