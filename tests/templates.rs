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
