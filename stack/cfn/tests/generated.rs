//! Facts about the generated resources, through the public API.

use cfn::Expr;
use cfn::resources::{dynamodb, kinesis, lambda};
use cfn::spec::ResourceProperties as _;
use serde_json::json;

#[test]
fn stream_has_an_arn_attribute() {
    assert!(kinesis::Stream::SPEC.attributes.contains(&"Arn"));
    assert!(kinesis::Stream::SPEC.has_attribute("Arn"));
}

#[test]
fn specs_are_found_by_type_name() {
    assert!(cfn::resources::spec("AWS::Lambda::Function").is_some());
    assert!(cfn::resources::spec("AWS::Nope::Nothing").is_none());
    let types: Vec<&str> = cfn::resources::ALL.iter().map(|s| s.type_name).collect();
    assert!(types.is_sorted());
    let listed = include_str!("../../cfn-codegen/types.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(
        types.len(),
        listed,
        "one generated type per line of cfn-codegen/types.txt"
    );
}

#[test]
fn table_name_is_create_only() {
    let spec = cfn::resources::spec("AWS::DynamoDB::Table");
    assert!(spec.is_some_and(|s| s.create_only.contains(&"/TableName")));
    assert!(spec.is_some_and(|s| s.property("TableName").is_some_and(|p| p.create_only)));
    assert!(dynamodb::Table::SPEC.required().eq(["KeySchema"]));
}

#[test]
fn a_ref_serializes_in_place_of_a_literal() -> Result<(), serde_json::Error> {
    let stream = kinesis::Stream {
        shard_count: Some(Expr::r#ref("N").into()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&stream)?,
        json!({"ShardCount": {"Ref": "N"}})
    );
    Ok(())
}

#[test]
fn required_properties_come_through_new() -> Result<(), serde_json::Error> {
    let code = lambda::function::Code {
        zip_file: Some("exports.handler = () => {}".into()),
        ..Default::default()
    };
    let function = lambda::Function {
        memory_size: Some(512.into()),
        ..lambda::Function::new(code, Expr::get_att("Role", "Arn"))
    };
    assert_eq!(
        serde_json::to_value(&function)?,
        json!({
            "Code": {"ZipFile": "exports.handler = () => {}"},
            "MemorySize": 512,
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        })
    );
    let key = dynamodb::table::KeySchema::new("Id", "HASH");
    let table = dynamodb::Table::new(vec![key]);
    assert_eq!(
        serde_json::to_value(&table)?,
        json!({"KeySchema": [{"AttributeName": "Id", "KeyType": "HASH"}]})
    );
    Ok(())
}
