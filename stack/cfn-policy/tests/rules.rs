//! Each rule is proven by a fixture that breaks it (`tests/fixtures/<RULE_ID>.json`, a variant of
//! the compliant `compliant.json`): the rule fires there, on the resources named, and no other
//! rule does. The findings of every fixture are kept as a reviewed snapshot.

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
