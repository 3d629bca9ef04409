//! One resource compared: its attributes and properties, whether the change replaces it, and
//! whether that destroys data.

use std::collections::BTreeSet;

use cfn::ResourceSpec;
use serde_json::{Map, Value};

use crate::iam;
use crate::model::{ChangeKind, DataLoss, PropertyChange, Replacement, ResourceDiff, ValueChange};
use crate::path::{Path, Segment};
use crate::values::{self, contains_intrinsic, is_intrinsic};

/// A resource as read from a template.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub type_name: &'a str,
    pub body: &'a Map<String, Value>,
}

impl<'a> Resource<'a> {
    fn properties(&self) -> Map<String, Value> {
        match self.body.get("Properties") {
            Some(Value::Object(p)) => p.clone(),
            _ => Map::new(),
        }
    }

    fn policy(&self, attribute: &str) -> Option<&'a Value> {
        self.body.get(attribute)
    }
}

/// Types that hold data which is gone when the resource is deleted. A KMS key is here because
/// data encrypted under a deleted key cannot be decrypted.
const STATEFUL: &[&str] = &[
    "AWS::DynamoDB::GlobalTable",
    "AWS::DynamoDB::Table",
    "AWS::EFS::FileSystem",
    "AWS::KMS::Key",
    "AWS::Kinesis::Stream",
    "AWS::Logs::LogGroup",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
];

/// Types for which a `Snapshot` policy keeps the data (CloudFormation's `DeletionPolicy` docs);
/// on other types CloudFormation does not take one.
const SNAPSHOT_TYPES: &[&str] = &[
    "AWS::DocDB::DBCluster",
    "AWS::EC2::Volume",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Neptune::DBCluster",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::Redshift::Cluster",
];

pub fn is_stateful(type_name: &str) -> bool {
    STATEFUL.contains(&type_name)
}

/// The attributes compared as sets: their order means nothing.
const SET_ATTRIBUTES: &[&str] = &["DependsOn"];

/// An added or removed resource.
pub fn added_or_removed(change: ChangeKind, resource: Resource<'_>) -> ResourceDiff {
    let properties = resource.properties();
    let (iam, attachments) = match change {
        ChangeKind::Removed => iam::diff(Some((resource.type_name, &properties)), None),
        _ => iam::diff(None, Some((resource.type_name, &properties))),
    };
    let data_loss = (change == ChangeKind::Removed)
        .then(|| removal_loss(resource))
        .flatten();
    ResourceDiff {
        change,
        type_name: resource.type_name.to_owned(),
        replacement: None,
        data_loss,
        changes: Vec::new(),
        iam,
        attachments,
    }
}

/// A resource in both templates; `None` when they are the same.
pub fn modified(old: Resource<'_>, new: Resource<'_>) -> Option<ResourceDiff> {
    let mut changes = Vec::new();

    if old.type_name != new.type_name {
        changes.push(PropertyChange {
            change: ValueChange {
                path: Path::root().key("Type"),
                old: Some(old.type_name.into()),
                new: Some(new.type_name.into()),
            },
            replacement: Replacement::WillReplace,
            reason: Some("the type changed: a resource of another type is created".to_owned()),
        });
    }

    // Attributes (DeletionPolicy, UpdateReplacePolicy, DependsOn, Metadata, Condition, …): they
    // change what CloudFormation does, never the resource itself.
    let keys: BTreeSet<&String> = old.body.keys().chain(new.body.keys()).collect();
    for key in keys {
        if key == "Type" || key == "Properties" {
            continue;
        }
        let (o, n) = (old.body.get(key), new.body.get(key));
        let mut found = Vec::new();
        if SET_ATTRIBUTES.contains(&key.as_str()) {
            if o.map(as_set) != n.map(as_set) {
                found.push(ValueChange {
                    path: Path::root().key(key),
                    old: o.cloned(),
                    new: n.cloned(),
                });
            }
        } else {
            values::diff(&Path::root().key(key), o, n, &mut found);
        }
        changes.extend(found.into_iter().map(|change| PropertyChange {
            change,
            replacement: Replacement::InPlace,
            reason: None,
        }));
    }

    // Properties, but for the IAM statements, which `iam` compares statement by statement.
    let (old_props, new_props) = (old.properties(), new.properties());
    let spec = cfn::resources::spec(new.type_name);
    let mut found = Vec::new();
    values::diff(
        &Path::root().key("Properties"),
        Some(&Value::Object(iam::strip(old.type_name, &old_props))),
        Some(&Value::Object(iam::strip(new.type_name, &new_props))),
        &mut found,
    );
    for change in found {
        let (replacement, reason) =
            replacement(new.type_name, spec, &old_props, &new_props, &change.path);
        changes.push(PropertyChange {
            change,
            replacement,
            reason,
        });
    }

    let (iam, attachments) = iam::diff(
        Some((old.type_name, &old_props)),
        Some((new.type_name, &new_props)),
    );
    if changes.is_empty() && iam.is_empty() && attachments.is_empty() {
        return None;
    }
    let replacement = changes
        .iter()
        .map(|c| c.replacement)
        .max()
        .unwrap_or(Replacement::InPlace);
    Some(ResourceDiff {
        change: ChangeKind::Modified,
        type_name: new.type_name.to_owned(),
        replacement: Some(replacement),
        data_loss: replacement_loss(old, new, replacement),
        changes,
        iam,
        attachments,
    })
}

fn as_set(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Array(items) => items.iter().map(values::compact).collect(),
        other => BTreeSet::from([values::compact(other)]),
    }
}

/// What the property change at `path` (below the resource) does to the resource, and why.
fn replacement(
    type_name: &str,
    spec: Option<&ResourceSpec>,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    path: &Path,
) -> (Replacement, Option<String>) {
    let Some(spec) = spec else {
        return (
            Replacement::MayReplace,
            Some(format!(
                "{type_name} is not among the types whose create-only properties are known"
            )),
        );
    };
    // The path below `Properties`.
    let below = &path.segments()[1..];
    let (old, new) = (Value::Object(old.clone()), Value::Object(new.clone()));
    let mut worst = (Replacement::InPlace, None);
    for pointer in spec.create_only {
        let pointer = pointer_segments(pointer);
        if !overlaps(below, &pointer) {
            continue;
        }
        let (o, n) = (lookup(&old, &pointer), lookup(&new, &pointer));
        if o == n {
            continue;
        }
        let name = pointer.join(".");
        // A property set or unset is a change whatever its value; two values of which one is
        // an intrinsic may resolve to the same.
        let set_or_unset = matches!(
            (&o, &n),
            (Found::Missing, Found::Value(_)) | (Found::Value(_), Found::Missing)
        );
        let found = if !set_or_unset && (o.is_intrinsic() || n.is_intrinsic()) {
            (
                Replacement::MayReplace,
                Some(format!(
                    "create-only property {name}: an intrinsic, whose value is known only at deploy time"
                )),
            )
        } else {
            (
                Replacement::WillReplace,
                Some(format!("create-only property {name}")),
            )
        };
        if found.0 > worst.0 {
            worst = found;
        }
    }
    if worst.0 == Replacement::InPlace {
        for pointer in spec.conditional_create_only {
            let pointer = pointer_segments(pointer);
            if overlaps(below, &pointer) {
                return (
                    Replacement::MayReplace,
                    Some(format!(
                        "{} is create-only under some conditions",
                        pointer.join(".")
                    )),
                );
            }
        }
    }
    worst
}

/// `/A/B` as `["A", "B"]` (JSON Pointer unescaping).
fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Whether a change at `path` touches the property at `pointer`: one is inside the other.
fn overlaps(path: &[Segment], pointer: &[String]) -> bool {
    path.iter().zip(pointer).all(|(segment, p)| match segment {
        Segment::Key(k) => k == p,
        Segment::Index(i) => p == "*" || *p == i.to_string(),
    })
}

/// What a pointer finds in a template value.
#[derive(Debug, PartialEq)]
enum Found<'a> {
    Missing,
    Value(&'a Value),
    /// An intrinsic on the way: the value is known only at deploy time.
    Intrinsic(&'a Value),
}

impl Found<'_> {
    fn is_intrinsic(&self) -> bool {
        match self {
            Found::Missing => false,
            Found::Value(v) => contains_intrinsic(v),
            Found::Intrinsic(_) => true,
        }
    }
}

fn lookup<'a>(value: &'a Value, pointer: &[String]) -> Found<'a> {
    let mut current = value;
    for segment in pointer {
        if is_intrinsic(current) {
            return Found::Intrinsic(current);
        }
        let next = match current {
            Value::Object(map) => map.get(segment),
            Value::Array(_) if segment == "*" => return Found::Value(current),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return Found::Missing,
        }
    }
    Found::Value(current)
}

/// Whether a policy attribute (`DeletionPolicy`, `UpdateReplacePolicy`) of `resource` keeps the
/// data of a resource of `type_name`; else the policy, described.
fn keeps_data(type_name: &str, resource: Resource<'_>, attribute: &str) -> Result<(), String> {
    match resource.policy(attribute) {
        Some(Value::String(p)) if p == "Retain" || p == "RetainExceptOnCreate" => Ok(()),
        Some(Value::String(p)) if p == "Snapshot" && SNAPSHOT_TYPES.contains(&type_name) => Ok(()),
        Some(Value::String(p)) if p == "Snapshot" => {
            Err(format!("Snapshot, which {type_name} does not support"))
        }
        Some(Value::String(p)) => Err(p.clone()),
        Some(other) => Err(format!("{} (not a literal policy)", values::compact(other))),
        // CloudFormation's default is Snapshot for these.
        None if type_name == "AWS::RDS::DBCluster" => Ok(()),
        None if type_name == "AWS::RDS::DBInstance"
            && !resource.properties().contains_key("DBClusterIdentifier") =>
        {
            Ok(())
        }
        None => Err("Delete (the default)".to_owned()),
    }
}

fn removal_loss(resource: Resource<'_>) -> Option<DataLoss> {
    if !is_stateful(resource.type_name) {
        return None;
    }
    keeps_data(resource.type_name, resource, "DeletionPolicy")
        .err()
        .map(|policy| DataLoss {
            certain: true,
            reason: format!("removed with DeletionPolicy {policy}: its data is deleted"),
        })
}

/// Replacing deletes the old physical resource under `UpdateReplacePolicy`. Both templates' must
/// keep the data, as a policy added by the same change that replaces is not to be relied on.
pub fn replacement_loss(
    old: Resource<'_>,
    new: Resource<'_>,
    replacement: Replacement,
) -> Option<DataLoss> {
    if replacement == Replacement::InPlace || !is_stateful(old.type_name) {
        return None;
    }
    let verb = match replacement {
        Replacement::WillReplace => "replaced",
        _ => "possibly replaced",
    };
    let policy = keeps_data(old.type_name, old, "UpdateReplacePolicy")
        .and_then(|()| keeps_data(old.type_name, new, "UpdateReplacePolicy"));
    policy.err().map(|policy| DataLoss {
        certain: replacement == Replacement::WillReplace,
        reason: format!(
            "{verb} with UpdateReplacePolicy {policy}: the old resource's data is deleted"
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resource_diff(type_name: &str, old: Value, new: Value) -> Option<ResourceDiff> {
        let (old, new) = (
            json!({"Type": type_name, "Properties": old}),
            json!({"Type": type_name, "Properties": new}),
        );
        let (old, new) = (
            old.as_object().cloned().unwrap_or_default(),
            new.as_object().cloned().unwrap_or_default(),
        );
        modified(
            Resource {
                type_name,
                body: &old,
            },
            Resource {
                type_name,
                body: &new,
            },
        )
    }

    #[test]
    fn a_nested_create_only_pointer_replaces() {
        let firehose = "AWS::KinesisFirehose::DeliveryStream";
        let old = json!({"KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:a", "RoleARN": "arn:r"},
            "ExtendedS3DestinationConfiguration": {"BufferingHints": {"IntervalInSeconds": 300}}});
        let mut new = old.clone();
        new["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] = json!("arn:b");
        new["ExtendedS3DestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"] =
            json!(60);
        let d = resource_diff(firehose, old, new).expect("changed");
        let by_path: Vec<(String, Replacement)> = d
            .changes
            .iter()
            .map(|c| (c.change.path.to_string(), c.replacement))
            .collect();
        assert_eq!(
            by_path,
            [
                ("Properties.ExtendedS3DestinationConfiguration.BufferingHints.IntervalInSeconds".to_owned(), Replacement::InPlace),
                ("Properties.KinesisStreamSourceConfiguration.KinesisStreamARN".to_owned(), Replacement::WillReplace),
            ]
        );
    }

    #[test]
    fn setting_or_unsetting_a_create_only_property_replaces_even_with_an_intrinsic() {
        let d = resource_diff(
            "AWS::SQS::Queue",
            json!({}),
            json!({"QueueName": {"Fn::Sub": "${AWS::StackName}-q"}}),
        )
        .expect("changed");
        assert_eq!(d.replacement, Some(Replacement::WillReplace));
        let d = resource_diff(
            "AWS::SQS::Queue",
            json!({"QueueName": {"Ref": "A"}}),
            json!({"QueueName": "literal"}),
        )
        .expect("changed");
        assert_eq!(d.replacement, Some(Replacement::MayReplace));
    }

    #[test]
    fn conditionally_create_only_may_replace() {
        let d = resource_diff(
            "AWS::DynamoDB::Table",
            json!({"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}),
            json!({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
        )
        .expect("changed");
        assert_eq!(d.replacement, Some(Replacement::MayReplace));
        assert!(d.data_loss.as_ref().is_some_and(|l| !l.certain), "{d:?}");
    }

    #[test]
    fn retain_and_snapshot_where_valid_keep_the_data() {
        let body = |policy: Value| {
            json!({"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let lost = |policy: Value| {
            let b = body(policy);
            removal_loss(Resource {
                type_name: "AWS::DynamoDB::Table",
                body: &b,
            })
        };
        assert_eq!(lost(json!("Retain")), None);
        assert_eq!(lost(json!("RetainExceptOnCreate")), None);
        assert!(lost(json!("Snapshot")).is_some_and(|l| l.reason.contains("does not support")));
        assert!(lost(json!("Delete")).is_some());
        let rds = json!({"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot"});
        let rds = rds.as_object().cloned().unwrap_or_default();
        assert_eq!(
            removal_loss(Resource {
                type_name: "AWS::RDS::DBInstance",
                body: &rds
            }),
            None
        );
        let topic = json!({"Type": "AWS::SNS::Topic"});
        let topic = topic.as_object().cloned().unwrap_or_default();
        assert_eq!(
            removal_loss(Resource {
                type_name: "AWS::SNS::Topic",
                body: &topic
            }),
            None,
            "not stateful"
        );
    }

    #[test]
    fn a_type_change_replaces() {
        let old = json!({"Type": "AWS::SQS::Queue", "UpdateReplacePolicy": "Retain", "DeletionPolicy": "Retain"});
        let new = json!({"Type": "AWS::SNS::Topic"});
        let (old, new) = (
            old.as_object().cloned().unwrap_or_default(),
            new.as_object().cloned().unwrap_or_default(),
        );
        let d = modified(
            Resource {
                type_name: "AWS::SQS::Queue",
                body: &old,
            },
            Resource {
                type_name: "AWS::SNS::Topic",
                body: &new,
            },
        )
        .expect("changed");
        assert_eq!(d.replacement, Some(Replacement::WillReplace));
        assert_eq!(d.changes[0].change.path.to_string(), "Type");
        assert!(
            d.data_loss.is_some(),
            "the current template no longer retains it"
        );
    }
}
