//! Every function's role allows exactly what the function's code calls, and what Lambda itself
//! calls with the role (writing the function's logs; polling the stream and sending to the
//! on-failure queue for an event source mapping) — nothing more, nothing less. The calls are
//! declared beside the code that makes them (`ingest::aws_calls`, `stream_processor::AWS_CALLS`,
//! each checked against the crate's sources by a test there), so a call added without its
//! grant, or a grant left after its call went, fails here.

use std::collections::BTreeSet;

use cfn::Template;
use constructs::lambda::{EVENT_SOURCE_QUEUE_ACTIONS, EVENT_SOURCE_STREAM_ACTIONS};
use iops_dashboard::{App, Config};
use serde_json::Value;

fn core(config: &Config) -> Template {
    App::new(config, iops_dashboard::workspace_root())
        .core
        .stack
        .synth()
        .unwrap_or_else(|e| panic!("the core stack synthesizes: {e}"))
}

/// The actions every `Allow` statement of every policy attached to the function's role grants.
fn granted(t: &Template, function: &str) -> BTreeSet<String> {
    let role = t.resources[function].properties["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{function}'s role is a role of the stack"))
        .to_owned();
    let attached = |policy: &cfn::Resource| {
        policy
            .properties
            .get("Roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| r["Ref"] == role.as_str()))
    };
    let mut actions = BTreeSet::new();
    let policies = t.resources.values().filter(|r| {
        matches!(
            r.type_name.as_str(),
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy"
        ) && attached(r)
    });
    for policy in policies {
        let statements = policy.properties["PolicyDocument"]["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
            match &statement["Action"] {
                Value::String(a) => {
                    actions.insert(a.clone());
                }
                Value::Array(list) => {
                    actions.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                other => panic!("{function}: unexpected Action {other}"),
            }
        }
    }
    assert!(
        !t.resources[&role]
            .properties
            .contains_key("ManagedPolicyArns"),
        "{function}'s role has managed policies, whose actions this test cannot see"
    );
    actions
}

fn runtime_logging() -> impl Iterator<Item = String> {
    constructs::logs::WRITE_ACTIONS
        .iter()
        .map(|a| format!("logs:{a}"))
}

fn event_source_mapping() -> impl Iterator<Item = String> {
    EVENT_SOURCE_STREAM_ACTIONS
        .iter()
        .map(|a| a.action().to_string())
        .chain(
            EVENT_SOURCE_QUEUE_ACTIONS
                .iter()
                .map(|a| a.action().to_string()),
        )
}

fn assert_same(function: &str, granted: &BTreeSet<String>, needed: &BTreeSet<String>) {
    let extra: Vec<_> = granted.difference(needed).collect();
    let missing: Vec<_> = needed.difference(granted).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{function}: granted but never called: {extra:?}; called but not granted: {missing:?}"
    );
}

#[test]
fn the_stream_processor_may_do_exactly_what_it_does() {
    let t = core(&Config::default());
    let needed: BTreeSet<String> = stream_processor::AWS_CALLS
        .iter()
        .map(|a| (*a).to_owned())
        .chain(runtime_logging())
        .chain(event_source_mapping())
        .collect();
    assert_same(
        "StreamProcessorFunction",
        &granted(&t, "StreamProcessorFunction"),
        &needed,
    );
}

#[test]
fn ingest_may_do_exactly_what_it_does_on_either_path() {
    for use_kinesis in [true, false] {
        let mut config = Config::default();
        config.ingest.use_kinesis = use_kinesis;
        let t = core(&config);
        let needed: BTreeSet<String> = ingest::aws_calls(use_kinesis)
            .into_iter()
            .map(str::to_owned)
            .chain(runtime_logging())
            .collect();
        assert_same(
            &format!("IngestFunction (USE_KINESIS={use_kinesis})"),
            &granted(&t, "IngestFunction"),
            &needed,
        );
    }
}

#[test]
fn no_function_may_subscribe_to_shards_or_delete_items() {
    let t = core(&Config::default());
    for function in ["IngestFunction", "StreamProcessorFunction"] {
        let actions = granted(&t, function);
        for forbidden in [
            "kinesis:SubscribeToShard",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
        ] {
            assert!(!actions.contains(forbidden), "{function} may {forbidden}");
        }
    }
}
