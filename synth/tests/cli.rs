//! The `synth` binary as a user runs it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn synth(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synth"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("synth runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn writes_one_template_per_stack_and_a_manifest_into_cdk_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = synth(&[], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let cdk_out = dir.path().join("cdk.out");
    for file in [
        "IOpsDashboard-CoreStack.template.json",
        "IOpsDashboard-BillingStack.template.json",
        "manifest.json",
    ] {
        let text = fs::read_to_string(cdk_out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(cdk_out.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["stacks"]["IOpsDashboard-CoreStack"]["region"],
        "us-east-2"
    );
    assert_eq!(
        manifest["stacks"]["IOpsDashboard-BillingStack"]["region"],
        "us-east-1"
    );
    assert_eq!(
        manifest["stacks"]["IOpsDashboard-CoreStack"]["assets"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(out.stdout.is_empty(), "data files only; logs go to stderr");
    let log = stderr(&out);
    assert!(
        log.contains("capacity_rps=2000") && log.contains("target_burst_rps=4000"),
        "the capacity gap is printed: {log}"
    );
}

#[test]
fn output_is_byte_identical_between_runs() {
    let a = tempfile::tempdir().expect("temp dir");
    let b = tempfile::tempdir().expect("temp dir");
    assert!(synth(&["--format", "yaml"], a.path()).status.success());
    assert!(synth(&["--format", "yaml"], b.path()).status.success());
    for file in [
        "IOpsDashboard-CoreStack.template.yaml",
        "IOpsDashboard-BillingStack.template.yaml",
        "manifest.json",
    ] {
        let read = |d: &Path| {
            fs::read(d.join("cdk.out").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
        };
        assert_eq!(read(a.path()), read(b.path()), "{file}");
    }
}

#[test]
fn out_and_stack_select_what_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = synth(
        &["--out", "build", "--stack", "IOpsDashboard-BillingStack"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        dir.path()
            .join("build/IOpsDashboard-BillingStack.template.json")
            .is_file()
    );
    assert!(
        !dir.path()
            .join("build/IOpsDashboard-CoreStack.template.json")
            .exists()
    );
}

#[test]
fn an_unknown_stack_is_a_usage_error_naming_the_stacks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = synth(&["--stack", "Nope"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no stack named `Nope`") && err.contains("IOpsDashboard-CoreStack"),
        "{err}"
    );
}

#[test]
fn help_describes_the_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = synth(&["--help"], dir.path());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["--out", "--format", "--stack", "package", "diff"] {
        assert!(help.contains(word), "{word} in:\n{help}");
    }
}

#[test]
fn check_lists_every_stack_passing_the_policy_gates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = synth(&["check"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for stack in ["IOpsDashboard-CoreStack", "IOpsDashboard-BillingStack"] {
        assert!(
            stdout.contains(&format!(
                "{stack}: passes — {} rules, 0 findings, 0 suppressed",
                cfn_policy::RULES.len()
            )),
            "{stdout}"
        );
    }

    let out = synth(
        &["check", "--json", "--stack", "IOpsDashboard-CoreStack"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        reports,
        serde_json::json!({"IOpsDashboard-CoreStack": {"findings": []}})
    );
    assert!(!dir.path().join("cdk.out").exists(), "check writes nothing");
}
