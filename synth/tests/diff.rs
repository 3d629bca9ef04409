//! `synth diff` as a user runs it: against template files, against the snapshots in a git
//! repository, and against deployed stacks (a loopback CloudFormation endpoint that checks the
//! region asked, and the moto emulator).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const CORE: &str = "IOpsDashboard-CoreStack";
const BILLING: &str = "IOpsDashboard-BillingStack";

fn synth(args: &[&str], cwd: &Path) -> Output {
    synth_with_env(args, cwd, &[])
}

fn synth_with_env(args: &[&str], cwd: &Path, env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synth"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("synth runs")
}

/// The exit code is `code`; else the output, to see why.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// An AWS environment for `synth` that talks to `endpoint` with dummy credentials and reads no
/// profile files or instance metadata.
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The templates the code synthesizes now, written by `synth` into `dir/cdk.out`.
fn synthesized(dir: &Path) -> PathBuf {
    let out = synth(&[], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join("cdk.out")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).expect("readable")).expect("JSON")
}

fn write_json(path: &Path, value: &Value) {
    fs::write(path, serde_json::to_string_pretty(value).expect("json")).expect("writable");
}

/// The core template as it would have been before a change that renamed the stream, dropped a
/// queue, added a shard and widened the stream processor's policy: diffing the current one
/// against it shows each kind of finding.
fn core_before(current: &Value) -> Value {
    let mut base = current.clone();
    let resources = base["Resources"].as_object_mut().expect("resources");
    resources.insert(
        "LegacyQueue".into(),
        json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "iops-legacy"}}),
    );
    let stream = &mut resources["EventsStream"]["Properties"];
    stream["Name"] = json!("iops-events-v0");
    stream["ShardCount"] = json!(1);
    let policy = &mut resources["StreamProcessorFunctionServiceRoleDefaultPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"];
    let dynamodb = policy
        .as_array_mut()
        .expect("statements")
        .iter_mut()
        .find(|s| s["Action"].to_string().contains("dynamodb:"))
        .expect("a DynamoDB statement");
    let actions = dynamodb["Action"].as_array_mut().expect("actions");
    actions.remove(0);
    base
}

#[test]
fn the_same_templates_exit_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cdk_out = synthesized(dir.path());
    let out = synth(
        &["diff", "--base", cdk_out.to_str().expect("utf-8")],
        dir.path(),
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{CORE} (base: {}",
            cdk_out.join(format!("{CORE}.template.json")).display()
        )),
        "{text}"
    );
    assert!(text.trim_end().ends_with("no changes"), "{text}");
    assert!(!text.contains('\x1b'), "no colour off a terminal");

    // `synth --format yaml` output reads back as the same templates.
    let yaml_out = dir.path().join("yaml");
    let out = synth(
        &[
            "--format",
            "yaml",
            "--out",
            yaml_out.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_exit(&out, 0);
    let out = synth(
        &["diff", "--base", yaml_out.to_str().expect("utf-8")],
        dir.path(),
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(&format!("{CORE}.template.yaml")),
        "{}",
        stdout(&out)
    );

    let file = cdk_out.join(format!("{BILLING}.template.json"));
    let out = synth(
        &[
            "diff",
            "--stack",
            BILLING,
            "--base",
            file.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_exit(&out, 0);
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["stacks"].as_object().map(|s| s.len()), Some(1));
    assert_eq!(report["summary"]["added"], 0);
}

#[test]
fn changes_exit_1_and_fail_on_gates_on_what_it_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cdk_out = synthesized(dir.path());
    let current = read_json(&cdk_out.join(format!("{CORE}.template.json")));
    let base = dir.path().join("core-before.json");
    write_json(&base, &core_before(&current));
    let named = format!("{CORE}={}", base.display());

    let out = synth(
        &["diff", "--base", &named, "--format", "markdown"],
        dir.path(),
    );
    assert_exit(&out, 1);
    let md = stdout(&out);
    for expected in [
        // The stream is retained (UpdateReplacePolicy Retain): replaced, its records kept.
        "| ✏️ | `EventsStream` | `AWS::Kinesis::Stream` | **will replace** |",
        "| ➖ | `LegacyQueue` | `AWS::SQS::Queue` | removed · **data loss** |",
        // Unchanged in the template, replaced because the stream it reads is.
        "| ✏️ | `StreamProcessorFunctionKinesisEventSourceEventsStream` | `AWS::Lambda::EventSourceMapping` | **will replace** |",
        "#### IAM widening",
        "| new action |",
        "> - `EventsStream` (AWS::Kinesis::Stream) will replace: create-only property Name",
    ] {
        assert!(md.contains(expected), "{expected} in:\n{md}");
    }
    assert!(!md.contains(BILLING), "only the stack --base names");

    for (gate, code) in [("replacement", 1), ("data-loss", 1), ("iam-widening", 1)] {
        let out = synth(&["diff", "--base", &named, "--fail-on", gate], dir.path());
        assert_eq!(
            out.status.code(),
            Some(code),
            "--fail-on {gate}: {}",
            stderr(&out)
        );
    }

    // Only an in-place change: changes (exit 1), but no gate trips (exit 0).
    let mut in_place = current.clone();
    in_place["Resources"]["EventsStream"]["Properties"]["ShardCount"] = json!(1);
    write_json(&base, &in_place);
    let out = synth(&["diff", "--base", &named], dir.path());
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("Properties.ShardCount: 1 → 2"),
        "{}",
        stdout(&out)
    );
    let out = synth(
        &[
            "diff",
            "--base",
            &named,
            "--fail-on",
            "replacement",
            "--fail-on",
            "data-loss",
            "--fail-on",
            "iam-widening",
        ],
        dir.path(),
    );
    assert_exit(&out, 0);
}

#[test]
fn bad_bases_are_errors_that_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cdk_out = synthesized(dir.path());
    let file = cdk_out.join(format!("{CORE}.template.json"));
    let file = file.to_str().expect("utf-8");
    let missing = dir.path().join("missing.json");
    let not_json = dir.path().join("broken.json");
    fs::write(&not_json, "{ \"Resources\": ").expect("write");
    let not_json_named = format!("{CORE}={}", not_json.display());
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["--base", file],
            "--base FILE compares one stack, and 2 are selected",
        ),
        (
            vec!["--stack", CORE, "--base", missing.to_str().expect("utf-8")],
            "cannot read the base template",
        ),
        (
            vec!["--base", &not_json_named],
            "is not a template: it is not valid JSON",
        ),
        (
            vec!["--base", "NoSuchStack=x.json"],
            "no stack named `NoSuchStack`",
        ),
        (
            vec!["--base", dir.path().to_str().expect("utf-8")],
            "no base template for IOpsDashboard-CoreStack in",
        ),
        (
            vec!["--base", file, "--base-ref", "HEAD"],
            "cannot be used with",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["diff"];
        all.extend(&args);
        let out = synth(&all, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {expected} in {}",
            stderr(&out)
        );
    }
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=synth test",
            "-c",
            "user.email=synth@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(repo)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// A template as `tests/templates.rs` commits it: an insta snapshot with its header.
fn snapshot(template: &Value) -> String {
    format!(
        "---\nsource: tests/templates.rs\nassertion_line: 35\ndescription: cdk.out/x.template.json\n---\n{}\n",
        serde_json::to_string_pretty(template).expect("json")
    )
}

#[test]
fn base_ref_reads_the_snapshots_at_a_revision_default_the_merge_base_with_main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cdk_out = synthesized(dir.path());
    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join("snapshots")).expect("mkdir");
    git(&repo, &["init", "--quiet", "--initial-branch", "main"]);
    let core = read_json(&cdk_out.join(format!("{CORE}.template.json")));
    let billing = read_json(&cdk_out.join(format!("{BILLING}.template.json")));
    fs::write(repo.join(format!("snapshots/{CORE}.snap")), snapshot(&core)).expect("write");
    fs::write(
        repo.join(format!("snapshots/{BILLING}.snap")),
        snapshot(&billing),
    )
    .expect("write");
    git(&repo, &["add", "."]);
    git(
        &repo,
        &[
            "commit",
            "--quiet",
            "-m",
            "reviewed snapshots as the code makes them",
        ],
    );
    let same = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();

    // main moves on to a snapshot the code does not make; a branch starts from there.
    fs::write(
        repo.join(format!("snapshots/{CORE}.snap")),
        snapshot(&core_before(&core)),
    )
    .expect("write");
    git(&repo, &["commit", "--quiet", "-am", "older core"]);
    git(&repo, &["checkout", "--quiet", "-b", "feature"]);
    fs::write(repo.join("notes.txt"), "work on the branch").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "branch work"]);

    let out = synth(&["diff"], &repo);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("at the merge base with main ("), "{text}");
    assert!(
        text.contains("[-] LegacyQueue AWS::SQS::Queue — removed"),
        "{text}"
    );
    assert!(
        text.contains(
            "IOpsDashboard-BillingStack (base: snapshots/IOpsDashboard-BillingStack.snap"
        ),
        "{text}"
    );

    let out = synth(&["diff", "--base-ref", &same], &repo);
    assert_exit(&out, 0);

    // A stack without a snapshot at the revision is new; a revision without any is an error.
    fs::remove_file(repo.join(format!("snapshots/{BILLING}.snap"))).expect("rm");
    git(&repo, &["commit", "--quiet", "-am", "no billing snapshot"]);
    let out = synth(&["diff", "--base-ref", "HEAD", "--format", "json"], &repo);
    assert_exit(&out, 1);
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert!(
        report["stacks"][BILLING]["base"]
            .as_str()
            .is_some_and(|b| b.ends_with("not there, a new stack"))
    );
    assert!(report["stacks"][BILLING]["summary"]["added"].as_u64() > Some(0));
    let first = git(&repo, &["rev-list", "--max-parents=0", "HEAD"])
        .trim()
        .to_owned();
    fs::remove_dir_all(repo.join("snapshots")).expect("rm");
    git(&repo, &["commit", "--quiet", "-am", "no snapshots"]);
    let out = synth(&["diff", "--base-ref", "HEAD"], &repo);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("holds none of snapshots/IOpsDashboard-CoreStack.snap"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        synth(&["diff", "--base-ref", &first], &repo).status.code(),
        Some(0)
    );

    let out = synth(&["diff", "--base-ref", "no-such-branch"], &repo);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("unknown git revision `no-such-branch`"),
        "{}",
        stderr(&out)
    );

    let not_a_repo = dir.path().join("plain");
    fs::create_dir_all(&not_a_repo).expect("mkdir");
    let out = synth(&["diff"], &not_a_repo);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no merge base of HEAD with main"),
        "{}",
        stderr(&out)
    );
}

/// A CloudFormation endpoint on loopback that answers `GetTemplate` (the Query protocol the SDK
/// speaks) from a map of stack name → template body, and records each request's credential
/// scope (which region the client signed for).
struct FakeCloudFormation {
    endpoint: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeCloudFormation {
    fn start(stacks: Vec<(String, String)>) -> FakeCloudFormation {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let (mut length, mut authorization) = (0, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        authorization = line.trim().to_owned();
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).into_owned();
                let param = |key: &str| {
                    body.split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                        .map(|v| v.replace("%2D", "-").replace("%3D", "="))
                        .unwrap_or_default()
                };
                let scope = authorization
                    .split("Credential=")
                    .nth(1)
                    .and_then(|c| c.split('/').nth(2))
                    .unwrap_or("?")
                    .to_owned();
                seen.lock().expect("lock").push(format!(
                    "{} {} {scope}",
                    param("Action"),
                    param("StackName")
                ));
                let name = param("StackName");
                let (status, xml) = match stacks.iter().find(|(n, _)| *n == name) {
                    Some((_, template)) => (
                        "200 OK",
                        format!(
                            "<GetTemplateResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                             <GetTemplateResult><TemplateBody>{}</TemplateBody></GetTemplateResult>\
                             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetTemplateResponse>",
                            template
                                .replace('&', "&amp;")
                                .replace('<', "&lt;")
                                .replace('>', "&gt;")
                        ),
                    ),
                    None => (
                        "400 Bad Request",
                        format!(
                            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                             <Error><Type>Sender</Type><Code>ValidationError</Code>\
                             <Message>Stack with id {name} does not exist</Message></Error>\
                             <RequestId>r</RequestId></ErrorResponse>"
                        ),
                    ),
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                );
            }
        });
        FakeCloudFormation { endpoint, requests }
    }
}

#[test]
fn deployed_reads_the_template_the_stack_has_through_get_template() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cdk_out = synthesized(dir.path());
    let billing =
        fs::read_to_string(cdk_out.join(format!("{BILLING}.template.json"))).expect("read");
    let billing_json: Value = serde_json::from_str(&billing).expect("json");
    // An older deployment, created from YAML (GetTemplate returns the body as it was given).
    let mut older = billing_json.clone();
    older["Resources"]["RetiredQueue"] = json!({"Type": "AWS::SQS::Queue"});
    let older_yaml = format!(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n{}",
        older["Resources"]
            .as_object()
            .expect("resources")
            .iter()
            .map(|(id, r)| format!("  {id}: {}\n", serde_json::to_string(r).expect("json")))
            .collect::<String>()
    );
    let fake = FakeCloudFormation::start(vec![
        (BILLING.to_owned(), billing),
        ("billing-older".to_owned(), older_yaml),
    ]);
    let mut env = aws_env(&fake.endpoint);
    env.push(("AWS_REGION", "eu-west-1".to_owned()));

    let out = synth_with_env(&["diff", "--deployed", BILLING], dir.path(), &env);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(&format!("deployed stack {BILLING} (us-east-1)")),
        "{}",
        stdout(&out)
    );

    let older_arg = format!("{BILLING}=billing-older");
    let out = synth_with_env(&["diff", "--deployed", &older_arg], dir.path(), &env);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("[-] RetiredQueue AWS::SQS::Queue — removed"),
        "{text}"
    );
    assert!(
        text.contains("Description: (absent) →"),
        "the YAML had no description: {text}"
    );

    let never = format!("{BILLING}=never-deployed");
    let out = synth_with_env(&["diff", "--deployed", &never], dir.path(), &env);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("not deployed, a new stack"),
        "{}",
        stdout(&out)
    );

    // Each stack is asked for in its own region, whatever AWS_REGION says.
    assert_eq!(
        *fake.requests.lock().expect("lock"),
        [
            format!("GetTemplate {BILLING} us-east-1"),
            "GetTemplate billing-older us-east-1".to_owned(),
            "GetTemplate never-deployed us-east-1".to_owned(),
        ]
    );

    let out = synth_with_env(&["diff", "--deployed", "Nope"], dir.path(), &env);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no stack named `Nope`"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_against_a_stack_created_in_the_moto_emulator() {
    use aws_sdk_cloudformation::error::DisplayErrorContext;
    use aws_sdk_cloudformation::types::Parameter;

    let emulator = emulator::Emulator::moto().await.expect("moto starts");
    // The billing stack deploys to us-east-1, where `synth diff --deployed` asks for it.
    let cloudformation = aws_sdk_cloudformation::Client::new(&emulator.sdk_config_in("us-east-1"));
    let dir = tempfile::tempdir().expect("temp dir");
    let cdk_out = synthesized(dir.path());
    let billing =
        fs::read_to_string(cdk_out.join(format!("{BILLING}.template.json"))).expect("read");
    let mut older: Value = serde_json::from_str(&billing).expect("json");
    older["Resources"]
        .as_object_mut()
        .expect("resources")
        .remove("MonthlyCostAlarm")
        .expect("the billing stack has its alarm");
    let pid = std::process::id();
    let (same, before) = (
        format!("billing-same-{pid}"),
        format!("billing-before-{pid}"),
    );
    for (name, body) in [(&same, billing), (&before, older.to_string())] {
        cloudformation
            .create_stack()
            .stack_name(name)
            .template_body(body)
            .parameters(
                Parameter::builder()
                    .parameter_key("AlertEmail")
                    .parameter_value("ops@example.com")
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStack {name}: {}", DisplayErrorContext(&e)));
    }
    let env = aws_env(emulator.endpoint());

    let same_arg = format!("{BILLING}={same}");
    let out = synth_with_env(&["diff", "--deployed", &same_arg], dir.path(), &env);
    assert_exit(&out, 0);

    let before_arg = format!("{BILLING}={before}");
    let out = synth_with_env(
        &["diff", "--deployed", &before_arg, "--format", "json"],
        dir.path(),
        &env,
    );
    assert_exit(&out, 1);
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(
        report["stacks"][BILLING]["resources"]["MonthlyCostAlarm"]["change"], "added",
        "{report:#}"
    );
    assert_eq!(report["summary"]["added"], 1);
}
