//! The diff on fixture template pairs: what it finds, and how each format shows it.

use cfn_diff::{
    ChangeKind, Finding, PropertyChange, Replacement, Report, ResourceDiff, StackDiff,
    WideningKind, diff_templates, render,
};
use serde_json::Value;

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn pipeline() -> StackDiff {
    diff_templates(
        &fixture(include_str!("fixtures/pipeline.base.json")),
        &fixture(include_str!("fixtures/pipeline.current.json")),
    )
    .expect("fixtures diff")
}

fn iam() -> StackDiff {
    diff_templates(
        &fixture(include_str!("fixtures/iam.base.json")),
        &fixture(include_str!("fixtures/iam.current.json")),
    )
    .expect("fixtures diff")
}

/// A real template: the reviewed snapshot of the core stack, without its insta header.
fn core_stack() -> Value {
    let snap = include_str!("../../../snapshots/IOpsDashboard-CoreStack.snap");
    let body = snap
        .splitn(3, "---\n")
        .nth(2)
        .expect("an insta header, then the template");
    fixture(body)
}

/// The change of `resource` at `path` (as displayed).
fn change<'a>(resource: &'a ResourceDiff, path: &str) -> &'a PropertyChange {
    resource
        .changes
        .iter()
        .find(|c| c.change.path.to_string() == path)
        .unwrap_or_else(|| panic!("{path} changed in {resource:#?}"))
}

fn report() -> Report {
    let mut report = Report::default();
    report.add("PipelineStack", "fixtures/pipeline.base.json", pipeline());
    report.add("IamStack", "fixtures/iam.base.json", iam());
    let unchanged = diff_templates(&core_stack(), &core_stack()).expect("diff");
    report.add(
        "UnchangedStack",
        "snapshots/IOpsDashboard-CoreStack.snap",
        unchanged,
    );
    report
}

#[test]
fn added_and_removed_resources() {
    let d = pipeline();
    assert_eq!(d.resources["AlarmTopic"].change, ChangeKind::Added);
    assert_eq!(d.resources["AlarmTopic"].type_name, "AWS::SNS::Topic");
    assert_eq!(d.resources["ScratchTable"].change, ChangeKind::Removed);
    assert_eq!(d.resources["LegacyTable"].change, ChangeKind::Removed);
}

#[test]
fn a_removed_table_loses_its_data_unless_retained() {
    let d = pipeline();
    let scratch = d.resources["ScratchTable"].data_loss.as_ref();
    assert!(
        scratch
            .is_some_and(|l| l.certain && l.reason.contains("DeletionPolicy Delete (the default)")),
        "{scratch:?}"
    );
    assert_eq!(
        d.resources["LegacyTable"].data_loss, None,
        "DeletionPolicy Retain keeps it"
    );
}

#[test]
fn an_in_place_change_is_in_place() {
    let d = pipeline();
    let function = &d.resources["ProcessorFunction"];
    assert_eq!(function.replacement, Some(Replacement::InPlace));
    let memory = change(function, "Properties.MemorySize");
    assert_eq!(memory.change.old, Some(512.into()));
    assert_eq!(memory.change.new, Some(1024.into()));
    // Attributes count too, and DependsOn is compared as a set.
    let paths: Vec<String> = function
        .changes
        .iter()
        .map(|c| c.change.path.to_string())
        .collect();
    assert!(paths.contains(&"DependsOn".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"Metadata.ConstructPath".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"Properties.Environment.Variables.LOG_LEVEL".to_owned()),
        "{paths:?}"
    );
}

#[test]
fn a_create_only_change_will_replace() {
    let d = pipeline();
    let stream = &d.resources["EventsStream"];
    assert_eq!(stream.replacement, Some(Replacement::WillReplace));
    let name = change(stream, "Properties.Name");
    assert_eq!(name.replacement, Replacement::WillReplace);
    let shards = change(stream, "Properties.ShardCount");
    assert_eq!(shards.replacement, Replacement::InPlace);
    assert_eq!(
        stream.data_loss, None,
        "UpdateReplacePolicy Retain keeps the old stream"
    );

    let queue = &d.resources["DeadLetterQueue"];
    assert_eq!(queue.replacement, Some(Replacement::WillReplace));
    assert!(
        queue.data_loss.as_ref().is_some_and(|l| l.certain),
        "{queue:?}"
    );
}

#[test]
fn a_replacement_replaces_what_refers_to_it_in_a_create_only_property() {
    let d = pipeline();
    // The mapping did not change, but the stream it reads is replaced: a new ARN.
    let mapping = &d.resources["ProcessorEventSource"];
    assert_eq!(mapping.replacement, Some(Replacement::WillReplace));
    let arn = change(mapping, "Properties.EventSourceArn");
    assert_eq!(arn.change.old, arn.change.new);
    assert!(
        arn.reason
            .as_deref()
            .is_some_and(|r| r.contains("refers to EventsStream, which is replaced")),
        "{arn:?}"
    );
    // A reference outside a create-only property is updated in place: nothing to report.
    assert!(!d.resources.contains_key("ProcessorRole"));
}

#[test]
fn a_changed_intrinsic_on_a_create_only_property_may_replace() {
    let d = pipeline();
    let log_group = &d.resources["ProcessorLogGroup"];
    assert_eq!(log_group.replacement, Some(Replacement::MayReplace));
    assert!(
        log_group.changes[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("create-only property LogGroupName")),
        "{log_group:?}"
    );
    assert_eq!(log_group.data_loss, None, "retained");
}

#[test]
fn a_type_unknown_to_the_specs_may_replace() {
    let d = pipeline();
    let rule = &d.resources["NightlyRule"];
    assert_eq!(rule.replacement, Some(Replacement::MayReplace));
    assert!(
        rule.changes[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("AWS::Events::Rule"))
    );
}

#[test]
fn parameters_outputs_and_sections() {
    let d = pipeline();
    assert_eq!(d.parameters["RetentionHours"].change, ChangeKind::Modified);
    assert_eq!(
        d.parameters["AlertEmail"].changes[0].path.to_string(),
        "AllowedPattern"
    );
    assert_eq!(d.outputs["QueueUrl"].change, ChangeKind::Removed);
    assert_eq!(d.outputs["TopicArn"].change, ChangeKind::Added);
    assert!(!d.outputs.contains_key("StreamName"));
    assert_eq!(d.sections.len(), 1);
    assert_eq!(d.sections[0].path.to_string(), "Description");
}

fn widenings(d: &StackDiff, id: &str) -> Vec<(WideningKind, String)> {
    d.resources[id]
        .widenings()
        .map(|w| (w.kind, w.detail.clone()))
        .collect()
}

#[test]
fn a_widened_policy_is_flagged_action_resource_and_statement() {
    let d = iam();
    let found = widenings(&d, "ProcessorPolicy");
    for expected in [
        (WideningKind::NewAction, "kinesis:PutRecords"),
        (WideningKind::BroaderResource, "* (every resource)"),
        (WideningKind::NewAllowStatement, "Allow s3:* on *"),
        (
            WideningKind::NewAttachment,
            "applies to role {\"Ref\":\"IngestRole\"}",
        ),
    ] {
        assert!(
            found
                .iter()
                .any(|(k, d)| *k == expected.0 && d == expected.1),
            "{expected:?} in {found:#?}"
        );
    }
    // The removed dynamodb:DeleteItem narrows: a change, not a widening.
    let policy = &d.resources["ProcessorPolicy"];
    assert!(policy.iam.iter().any(|s| {
        s.elements
            .iter()
            .any(|e| e.removed == ["dynamodb:DeleteItem"])
    }));
    assert!(!found.iter().any(|(_, d)| d.contains("DeleteItem")));
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn a_new_principal_is_flagged() {
    let d = iam();
    assert_eq!(
        widenings(&d, "ProcessorRole"),
        [
            (
                WideningKind::NewPrincipal,
                "AWS:arn:aws:iam::123456789012:root".to_owned()
            ),
            (
                WideningKind::NewAttachment,
                "managed policy arn:aws:iam::aws:policy/AdministratorAccess attached".to_owned()
            ),
        ]
    );
    assert_eq!(
        widenings(&d, "AlertsKey"),
        [(
            WideningKind::NewPrincipal,
            "Service:events.amazonaws.com".to_owned()
        )]
    );
}

#[test]
fn a_removed_deny_and_a_dropped_condition_widen() {
    let d = iam();
    let bucket = widenings(&d, "ArchiveBucketPolicy");
    assert_eq!(bucket.len(), 1, "{bucket:?}");
    assert_eq!(bucket[0].0, WideningKind::RemovedDeny);
    let queue = widenings(&d, "DeadLetterQueuePolicy");
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0].0, WideningKind::LooserCondition);
    let permission = widenings(&d, "ApiInvokesIngest");
    assert_eq!(permission.len(), 1, "{permission:?}");
    assert_eq!(permission[0].0, WideningKind::LooserCondition);
    // SourceArn is create-only: dropping it replaces the permission.
    assert_eq!(
        d.resources["ApiInvokesIngest"].replacement,
        Some(Replacement::WillReplace)
    );
    assert_eq!(
        widenings(&d, "DebugPolicy"),
        [(WideningKind::NewAllowStatement, "Allow * on *".to_owned())]
    );
}

#[test]
fn statements_match_by_sid_then_content_whatever_their_order() {
    let d = iam();
    // The unchanged statements (by Sid in the key policy, by content in the inline policy)
    // are not reported; the role's inline policy did not change at all.
    let key = &d.resources["AlertsKey"];
    assert_eq!(key.iam.len(), 1);
    assert_eq!(key.iam[0].statement, "CloudWatchUsesKey");
    assert!(
        d.resources["ProcessorRole"]
            .iam
            .iter()
            .all(|s| s.document == "AssumeRolePolicyDocument")
    );

    let mut base = fixture(include_str!("fixtures/iam.base.json"));
    let statements =
        base["Resources"]["ProcessorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array_mut()
            .expect("statements");
    let reordered = {
        statements.reverse();
        base.clone()
    };
    let base = fixture(include_str!("fixtures/iam.base.json"));
    assert!(diff_templates(&base, &reordered).expect("diff").is_empty());
}

#[test]
fn a_template_against_itself_is_empty() {
    for template in [
        core_stack(),
        fixture(include_str!("fixtures/pipeline.base.json")),
        fixture(include_str!("fixtures/iam.current.json")),
    ] {
        let diff = diff_templates(&template, &template).expect("diff");
        assert!(diff.is_empty(), "{diff:#?}");
    }
    let mut report = Report::default();
    report.add(
        "Core",
        "itself",
        diff_templates(&core_stack(), &core_stack()).expect("diff"),
    );
    assert!(!report.has_changes());
    assert!(!report.has(Finding::Replacement));
}

#[test]
fn the_same_input_gives_the_same_output() {
    let a = report();
    let b = report();
    assert_eq!(a, b);
    assert_eq!(render::json(&a), render::json(&b));
    assert_eq!(render::markdown(&a), render::markdown(&b));
    assert_eq!(render::text(&a, true), render::text(&b, true));
    // Key order in the input does not matter.
    let base = fixture(include_str!("fixtures/pipeline.base.json"));
    let reserialized: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&base).expect("json")).expect("json");
    assert_eq!(
        diff_templates(
            &reserialized,
            &fixture(include_str!("fixtures/pipeline.current.json"))
        )
        .expect("diff"),
        pipeline()
    );
}

#[test]
fn findings_for_the_ci_gates() {
    let r = report();
    assert!(r.has_changes());
    assert!(r.has(Finding::Replacement));
    assert!(r.has(Finding::DataLoss));
    assert!(r.has(Finding::IamWidening));
    let mut only_in_place = Report::default();
    let base = fixture(
        r#"{"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128}}}}"#,
    );
    let current = fixture(
        r#"{"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256}}}}"#,
    );
    only_in_place.add("S", "base", diff_templates(&base, &current).expect("diff"));
    assert!(only_in_place.has_changes());
    assert!(!only_in_place.has(Finding::Replacement));
    assert!(!only_in_place.has(Finding::DataLoss));
    assert!(!only_in_place.has(Finding::IamWidening));
}

#[test]
fn malformed_templates_are_named_errors() {
    use cfn_diff::{DiffError, Side};
    let good = fixture(r#"{"Resources": {}}"#);
    let err = diff_templates(&fixture("[]"), &good).expect_err("not an object");
    assert!(matches!(err, DiffError::NotATemplate { side: Side::Base }));
    let err = diff_templates(
        &good,
        &fixture(r#"{"Resources": {"X": {"Properties": {}}}}"#),
    )
    .expect_err("no type");
    assert!(
        matches!(&err, DiffError::NoType { side: Side::Current, logical_id } if logical_id == "X")
    );
    assert_eq!(
        err.to_string(),
        "the current template's resource X has no Type (a string)"
    );
    let err = diff_templates(&good, &fixture(r#"{"Resources": []}"#)).expect_err("not a section");
    assert!(matches!(
        err,
        DiffError::Section {
            side: Side::Current,
            section: "Resources"
        }
    ));
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn text_snapshot() {
    settings().bind(|| insta::assert_snapshot!("text", render::text(&report(), false)));
}

#[test]
fn text_with_colour_snapshot() {
    let text = render::text(&report(), true);
    assert!(text.contains("\x1b[1;31m"));
    // Without colour, nothing but the escapes differs.
    let plain = render::text(&report(), false);
    let stripped = strip_ansi(&text);
    assert_eq!(stripped, plain);
}

#[test]
fn markdown_snapshot() {
    settings().bind(|| insta::assert_snapshot!("markdown", render::markdown(&report())));
}

#[test]
fn json_snapshot() {
    let json = render::json(&report());
    let parsed: Value = serde_json::from_str(&json).expect("the JSON output parses");
    assert_eq!(parsed["version"], 1);
    settings().bind(|| insta::assert_snapshot!("json", json));
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
