//! Every synthesized template is guarded by a reviewed snapshot and passes cfn-lint with no
//! error, warning or informational finding.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use synth::output::{Format, render, template_file_name};

fn synthesized() -> Vec<(String, String, cfn::Template)> {
    tests::app()
        .stacks()
        .iter()
        .map(|s| {
            let template = s
                .synth()
                .unwrap_or_else(|e| panic!("{} does not synthesize: {e}", s.name()));
            (s.name(), s.env().region, template)
        })
        .collect()
}

#[test]
fn every_template_matches_its_reviewed_snapshot() {
    // Every stack is compared (and, outside CI, gets its pending snapshot) before the test fails.
    let mut changed = Vec::new();
    for (name, _, template) in synthesized() {
        let compared = std::panic::catch_unwind(|| {
            insta::with_settings!({
                snapshot_path => tests::snapshots_dir(),
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("cdk.out/{}", template_file_name(&name, Format::Json)),
            }, {
                insta::assert_snapshot!(name.clone(), template.to_json());
            });
        });
        if compared.is_err() {
            changed.push(name);
        }
    }
    assert!(
        changed.is_empty(),
        "templates differ from their reviewed snapshots: {changed:?}; review with `cargo insta review`"
    );
}

#[test]
fn no_snapshot_is_unreferenced() {
    let expected: BTreeSet<String> = synthesized()
        .into_iter()
        .map(|(name, _, _)| format!("{name}.snap"))
        .collect();
    let found: BTreeSet<String> = fs::read_dir(tests::snapshots_dir())
        .expect("snapshots/ exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".snap"))
        .collect();
    let stale: Vec<_> = found.difference(&expected).collect();
    assert!(
        stale.is_empty(),
        "snapshots no test refers to (delete them): {stale:?}"
    );
}

#[test]
fn synthesis_is_deterministic() {
    let first: Vec<String> = synthesized().iter().map(|(_, _, t)| t.to_json()).collect();
    let second: Vec<String> = synthesized().iter().map(|(_, _, t)| t.to_json()).collect();
    assert_eq!(first, second);
}

#[test]
fn cfn_lint_finds_nothing_in_any_template() {
    let cfn_lint = emulator::python::CFN_LINT
        .ensure(&tests::tools_dir())
        .expect("cfn-lint installs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for (name, region, template) in synthesized() {
        for format in [Format::Json, Format::Yaml] {
            let path = dir.path().join(template_file_name(&name, format));
            fs::write(&path, render(&name, &template, format).expect("renders"))
                .expect("write template");
            let out = Command::new(&cfn_lint)
                .arg("--regions")
                .arg(&region)
                .arg("--format")
                .arg("parseable")
                .arg("--")
                .arg(&path)
                .output()
                .expect("cfn-lint runs");
            if !out.status.success() {
                failures.push(format!(
                    "{} ({region}), exit {}:\n{}{}",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "cfn-lint findings:\n{}",
        failures.join("\n")
    );
}

/// The checks checkov and the AWS Guard rules found failing on the CDK template, each passing on
/// every resource it applies to: no open API method (CKV_AWS_59), access logs on every stage
/// (CKV_AWS_76), a concurrency cap on every function (CKV_AWS_115).
#[test]
fn checkov_finds_no_open_api_no_unlogged_stage_and_no_uncapped_function() {
    const CHECKS: [&str; 3] = ["CKV_AWS_59", "CKV_AWS_76", "CKV_AWS_115"];
    let checkov = emulator::python::CHECKOV
        .ensure(&tests::tools_dir())
        .expect("checkov installs");
    let dir = tempfile::tempdir().expect("temp dir");
    let (name, _, template) = synthesized()
        .into_iter()
        .find(|(name, _, _)| name == iops_dashboard::CORE_STACK_NAME)
        .expect("the core stack");
    let path = dir.path().join(template_file_name(&name, Format::Json));
    fs::write(
        &path,
        render(&name, &template, Format::Json).expect("renders"),
    )
    .expect("write");
    // --skip-download: nothing leaves the machine (checkov would fetch guidelines otherwise).
    let out = Command::new(&checkov)
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ])
        .arg("--check")
        .arg(CHECKS.join(","))
        .arg("--file")
        .arg(&path)
        .output()
        .expect("checkov runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's report is JSON ({e}), exit {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let failed = &report["results"]["failed_checks"];
    assert_eq!(report["summary"]["failed"], 0, "{failed:#}");
    let passed: std::collections::BTreeSet<(String, String)> = report["results"]["passed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["check_id"].as_str().unwrap_or_default().to_owned(),
                c["resource"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        (
            "CKV_AWS_59",
            "AWS::ApiGateway::Method.MetricsApimetricsPOST",
        ),
        ("CKV_AWS_76", "AWS::ApiGateway::Stage.MetricsApiStage"),
        ("CKV_AWS_115", "AWS::Lambda::Function.IngestFunction"),
        (
            "CKV_AWS_115",
            "AWS::Lambda::Function.StreamProcessorFunction",
        ),
    ] {
        assert!(
            passed.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not among the passed checks: {passed:?}"
        );
    }
    assert!(out.status.success(), "exit {}", out.status);
}
