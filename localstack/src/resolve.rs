//! The intrinsic functions our templates use (`Ref`, `Fn::GetAtt`, `Fn::Sub`), resolved against a
//! deployed stack: its parameters, pseudo parameters, and the physical IDs of its resources.
//! Attributes are derived from physical IDs the way CloudFormation documents them (an ARN from a
//! name), so nothing here calls a service.

use std::collections::BTreeMap;

use serde_json::Value;

/// A resource of the deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedResource {
    /// The CloudFormation type, e.g. `AWS::Kinesis::Stream`.
    pub resource_type: String,
    /// What `Ref` returns; `None` while the backend has not reported one.
    pub physical_id: Option<String>,
}

/// What intrinsic functions resolve against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackContext {
    pub stack_name: String,
    pub stack_id: String,
    pub region: String,
    pub account: String,
    pub partition: String,
    pub parameters: BTreeMap<String, String>,
    /// By logical ID.
    pub resources: BTreeMap<String, DeployedResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("Ref {name}: no parameter, pseudo parameter or resource of that name")]
    UnknownRef { name: String },
    #[error("{logical_id} has no physical ID in the deployed stack")]
    NotDeployed { logical_id: String },
    #[error("Fn::GetAtt {logical_id}.{attribute} on {resource_type} is not known to the resolver")]
    UnknownAttribute {
        logical_id: String,
        attribute: String,
        resource_type: String,
    },
    #[error("{function} is not supported by the resolver")]
    UnsupportedFunction { function: String },
    #[error("malformed {function}: {value}")]
    Malformed {
        function: &'static str,
        value: String,
    },
    #[error("expected a string, found {value}")]
    NotAString { value: String },
}

/// The domain suffix of the `aws` partition.
const URL_SUFFIX: &str = "amazonaws.com";

impl StackContext {
    /// A context with parameters only, for what is resolved before the stack exists (where the
    /// function code goes).
    pub fn before_deploy(
        stack_name: &str,
        region: &str,
        parameters: BTreeMap<String, String>,
    ) -> StackContext {
        StackContext {
            stack_name: stack_name.to_owned(),
            stack_id: String::new(),
            region: region.to_owned(),
            account: String::new(),
            partition: "aws".to_owned(),
            parameters,
            resources: BTreeMap::new(),
        }
    }

    /// `value` with every intrinsic function replaced by its value.
    pub fn resolve(&self, value: &Value) -> Result<Value, ResolveError> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().expect("invariant: one entry");
                match key.as_str() {
                    "Ref" => {
                        let name = argument
                            .as_str()
                            .ok_or_else(|| malformed("Ref", argument))?;
                        self.reference(name).map(Value::String)
                    }
                    "Fn::GetAtt" => {
                        let (logical_id, attribute) = get_att_target(argument)?;
                        self.get_att(&logical_id, &attribute).map(Value::String)
                    }
                    "Fn::Sub" => self.sub(argument).map(Value::String),
                    other if other.starts_with("Fn::") || other == "Condition" => {
                        Err(ResolveError::UnsupportedFunction {
                            function: other.to_owned(),
                        })
                    }
                    _ => self.resolve_object(map),
                }
            }
            Value::Object(map) => self.resolve_object(map),
            Value::Array(items) => items
                .iter()
                .map(|v| self.resolve(v))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn resolve_object(&self, map: &serde_json::Map<String, Value>) -> Result<Value, ResolveError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object)
    }

    /// `value` resolved, which must be a string (numbers and booleans are written as strings,
    /// as CloudFormation accepts them).
    pub fn resolve_string(&self, value: &Value) -> Result<String, ResolveError> {
        match self.resolve(value)? {
            Value::String(s) => Ok(s),
            v @ (Value::Number(_) | Value::Bool(_)) => Ok(v.to_string()),
            v => Err(ResolveError::NotAString {
                value: v.to_string(),
            }),
        }
    }

    /// What `Ref` of `name` gives: a parameter, a pseudo parameter, or a resource's physical ID.
    pub fn reference(&self, name: &str) -> Result<String, ResolveError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        match name {
            "AWS::Region" => return Ok(self.region.clone()),
            "AWS::AccountId" => return Ok(self.account.clone()),
            "AWS::Partition" => return Ok(self.partition.clone()),
            "AWS::URLSuffix" => return Ok(URL_SUFFIX.to_owned()),
            "AWS::StackName" => return Ok(self.stack_name.clone()),
            "AWS::StackId" => return Ok(self.stack_id.clone()),
            _ => {}
        }
        self.physical_id(name).map(str::to_owned)
    }

    fn resource(&self, logical_id: &str) -> Result<&DeployedResource, ResolveError> {
        self.resources
            .get(logical_id)
            .ok_or_else(|| ResolveError::UnknownRef {
                name: logical_id.to_owned(),
            })
    }

    /// The physical ID of the resource `logical_id`.
    pub fn physical_id(&self, logical_id: &str) -> Result<&str, ResolveError> {
        self.resource(logical_id)?
            .physical_id
            .as_deref()
            .ok_or_else(|| ResolveError::NotDeployed {
                logical_id: logical_id.to_owned(),
            })
    }

    /// `Fn::GetAtt` of `logical_id`.`attribute`, derived from the resource's physical ID.
    pub fn get_att(&self, logical_id: &str, attribute: &str) -> Result<String, ResolveError> {
        let resource = self.resource(logical_id)?;
        let id = self.physical_id(logical_id)?;
        let arn = |service: &str, region: &str, account: &str, resource: &str| {
            format!(
                "arn:{}:{service}:{region}:{account}:{resource}",
                self.partition
            )
        };
        let (region, account) = (self.region.as_str(), self.account.as_str());
        let value = match (resource.resource_type.as_str(), attribute) {
            ("AWS::Kinesis::Stream", "Arn") => {
                arn("kinesis", region, account, &format!("stream/{id}"))
            }
            ("AWS::S3::Bucket", "Arn") => arn("s3", "", "", id),
            ("AWS::S3::Bucket", "DomainName") => format!("{id}.s3.{URL_SUFFIX}"),
            ("AWS::S3::Bucket", "RegionalDomainName") => format!("{id}.s3.{region}.{URL_SUFFIX}"),
            // Our roles have no `Path`, so they live at `/`.
            ("AWS::IAM::Role", "Arn") => arn("iam", "", account, &format!("role/{id}")),
            ("AWS::Lambda::Function", "Arn") => {
                arn("lambda", region, account, &format!("function:{id}"))
            }
            ("AWS::SQS::Queue", "Arn") => arn("sqs", region, account, last_segment(id, '/')),
            ("AWS::SQS::Queue", "QueueName") => last_segment(id, '/').to_owned(),
            ("AWS::SQS::Queue", "QueueUrl") => id.to_owned(),
            ("AWS::SNS::Topic", "TopicArn") => id.to_owned(),
            ("AWS::SNS::Topic", "TopicName") => last_segment(id, ':').to_owned(),
            ("AWS::DynamoDB::Table", "Arn") => {
                arn("dynamodb", region, account, &format!("table/{id}"))
            }
            ("AWS::KMS::Key", "Arn") => arn("kms", region, account, &format!("key/{id}")),
            ("AWS::KMS::Key", "KeyId") => id.to_owned(),
            ("AWS::Logs::LogGroup", "Arn") => {
                arn("logs", region, account, &format!("log-group:{id}:*"))
            }
            ("AWS::KinesisFirehose::DeliveryStream", "Arn") => {
                arn("firehose", region, account, &format!("deliverystream/{id}"))
            }
            ("AWS::CloudWatch::Alarm", "Arn") => {
                arn("cloudwatch", region, account, &format!("alarm:{id}"))
            }
            (resource_type, _) => {
                return Err(ResolveError::UnknownAttribute {
                    logical_id: logical_id.to_owned(),
                    attribute: attribute.to_owned(),
                    resource_type: resource_type.to_owned(),
                });
            }
        };
        Ok(value)
    }

    /// `Fn::Sub`: a string, or `[string, {name: value}]`; `${Name}` is a variable, a `Ref` or,
    /// with a dot, a `GetAtt`; `${!Literal}` stays `${Literal}`.
    fn sub(&self, argument: &Value) -> Result<String, ResolveError> {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), BTreeMap::new()),
            Value::Array(items) => match items.as_slice() {
                [Value::String(text), Value::Object(vars)] => {
                    let variables = vars
                        .iter()
                        .map(|(k, v)| Ok((k.as_str(), self.resolve_string(v)?)))
                        .collect::<Result<BTreeMap<_, _>, ResolveError>>()?;
                    (text.as_str(), variables)
                }
                _ => return Err(malformed("Fn::Sub", argument)),
            },
            _ => return Err(malformed("Fn::Sub", argument)),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| malformed("Fn::Sub", argument))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(value);
            } else if let Some((logical_id, attribute)) = name.split_once('.') {
                out.push_str(&self.get_att(logical_id, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn malformed(function: &'static str, value: &Value) -> ResolveError {
    ResolveError::Malformed {
        function,
        value: value.to_string(),
    }
}

/// `["Logical", "Attr"]` or `"Logical.Attr"`.
fn get_att_target(argument: &Value) -> Result<(String, String), ResolveError> {
    match argument {
        Value::Array(items) => match items.as_slice() {
            [Value::String(l), Value::String(a)] => Ok((l.clone(), a.clone())),
            _ => Err(malformed("Fn::GetAtt", argument)),
        },
        Value::String(s) => s
            .split_once('.')
            .map(|(l, a)| (l.to_owned(), a.to_owned()))
            .ok_or_else(|| malformed("Fn::GetAtt", argument)),
        _ => Err(malformed("Fn::GetAtt", argument)),
    }
}

fn last_segment(s: &str, separator: char) -> &str {
    s.rsplit(separator).next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> StackContext {
        let resource = |t: &str, id: Option<&str>| DeployedResource {
            resource_type: t.to_owned(),
            physical_id: id.map(str::to_owned),
        };
        StackContext {
            stack_name: "s1".into(),
            stack_id: "arn:aws:cloudformation:us-east-2:123456789012:stack/s1/abc".into(),
            region: "us-east-2".into(),
            account: "123456789012".into(),
            partition: "aws".into(),
            parameters: BTreeMap::from([("AlertEmail".into(), "ops@example.com".into())]),
            resources: BTreeMap::from([
                (
                    "Stream".into(),
                    resource("AWS::Kinesis::Stream", Some("events")),
                ),
                (
                    "Bucket".into(),
                    resource("AWS::S3::Bucket", Some("archive")),
                ),
                ("Role".into(), resource("AWS::IAM::Role", Some("s1-Role-X"))),
                (
                    "Fn".into(),
                    resource("AWS::Lambda::Function", Some("s1-Fn-Y")),
                ),
                (
                    "Queue".into(),
                    resource(
                        "AWS::SQS::Queue",
                        Some("https://sqs.us-east-2.amazonaws.com/123456789012/s1-Queue-Z"),
                    ),
                ),
                (
                    "Api".into(),
                    resource("AWS::ApiGateway::RestApi", Some("abc123")),
                ),
                ("Stage".into(), resource("AWS::ApiGateway::Stage", None)),
            ]),
        }
    }

    #[test]
    fn refs_give_parameters_pseudo_parameters_and_physical_ids() {
        let c = context();
        let value = json!({
            "A": {"Ref": "AlertEmail"},
            "B": [{"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}, {"Ref": "Stream"}],
            "C": {"Nested": {"Ref": "AWS::Partition"}, "N": 3}
        });
        assert_eq!(
            c.resolve(&value).expect("resolves"),
            json!({
                "A": "ops@example.com",
                "B": ["us-east-2", "123456789012", "events"],
                "C": {"Nested": "aws", "N": 3}
            })
        );
    }

    #[test]
    fn get_att_derives_arns_from_physical_ids() {
        let c = context();
        let arn = |l: &str| c.get_att(l, "Arn").expect("an ARN");
        assert_eq!(
            arn("Stream"),
            "arn:aws:kinesis:us-east-2:123456789012:stream/events"
        );
        assert_eq!(arn("Bucket"), "arn:aws:s3:::archive");
        assert_eq!(arn("Role"), "arn:aws:iam::123456789012:role/s1-Role-X");
        assert_eq!(
            arn("Fn"),
            "arn:aws:lambda:us-east-2:123456789012:function:s1-Fn-Y"
        );
        assert_eq!(
            arn("Queue"),
            "arn:aws:sqs:us-east-2:123456789012:s1-Queue-Z"
        );
        assert_eq!(
            c.resolve(&json!({"Fn::GetAtt": "Queue.QueueName"}))
                .expect("string form"),
            json!("s1-Queue-Z")
        );
    }

    #[test]
    fn sub_replaces_refs_attributes_variables_and_keeps_literals() {
        let c = context();
        let value = json!({
            "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod \
                        ${Fn.Arn} ${!Literal}"
        });
        assert_eq!(
            c.resolve_string(&value).expect("resolves"),
            "https://abc123.execute-api.us-east-2.amazonaws.com/prod \
             arn:aws:lambda:us-east-2:123456789012:function:s1-Fn-Y ${Literal}"
        );
        let with_vars =
            json!({"Fn::Sub": ["${Name}-${AWS::StackName}", {"Name": {"Ref": "Stream"}}]});
        assert_eq!(c.resolve_string(&with_vars).expect("resolves"), "events-s1");
    }

    #[test]
    fn what_cannot_be_resolved_is_named() {
        let c = context();
        let err = |v: Value| c.resolve(&v).expect_err("unresolvable");
        assert_eq!(
            err(json!({"Ref": "Nope"})),
            ResolveError::UnknownRef {
                name: "Nope".into()
            }
        );
        assert_eq!(
            err(json!({"Ref": "Stage"})),
            ResolveError::NotDeployed {
                logical_id: "Stage".into()
            }
        );
        assert!(matches!(
            err(json!({"Fn::GetAtt": ["Api", "RootResourceId"]})),
            ResolveError::UnknownAttribute { .. }
        ));
        assert!(matches!(
            err(json!({"Fn::Join": ["", []]})),
            ResolveError::UnsupportedFunction { .. }
        ));
        assert!(matches!(
            err(json!({"Fn::Sub": "${Unclosed"})),
            ResolveError::Malformed { .. }
        ));
        assert!(matches!(
            c.resolve_string(&json!(["a"])),
            Err(ResolveError::NotAString { .. })
        ));
    }

    /// What the deploy resolves: the properties of the resources it may fill in or complete,
    /// the function code locations, and the outputs.
    #[test]
    fn every_intrinsic_the_deploy_resolves_in_our_templates_is_supported() {
        let app = iops_dashboard::App::new(
            &iops_dashboard::Config::default(),
            iops_dashboard::workspace_root(),
        );
        let completed = [
            "AWS::S3::Bucket",
            "AWS::Kinesis::Stream",
            "AWS::DynamoDB::Table",
        ];
        for stack in app.stacks() {
            let template = stack.synth().expect("valid template").to_value();
            let resources = template["Resources"].as_object().expect("resources");
            let mut c = context();
            c.resources = resources
                .iter()
                .map(|(id, r)| {
                    let resource_type = r["Type"].as_str().expect("a type").to_owned();
                    let physical_id = Some(format!("{id}-physical"));
                    (
                        id.clone(),
                        DeployedResource {
                            resource_type,
                            physical_id,
                        },
                    )
                })
                .collect();
            c.parameters
                .insert("AssetsBucketName".into(), "assets".into());
            let mut resolved = 0;
            for (id, resource) in resources {
                let resource_type = resource["Type"].as_str().expect("a type");
                let value = if crate::fill::FILLABLE.contains(&resource_type)
                    || completed.contains(&resource_type)
                {
                    &resource["Properties"]
                } else if resource_type == "AWS::Lambda::Function" {
                    &resource["Properties"]["Code"]
                } else {
                    continue;
                };
                if let Err(e) = c.resolve(value) {
                    panic!("{}: {id}: {e}", stack.name());
                }
                resolved += 1;
            }
            assert!(
                resolved > 0,
                "{} has resources the deploy resolves",
                stack.name()
            );
            for (name, output) in template["Outputs"].as_object().into_iter().flatten() {
                if let Err(e) = c.resolve(&output["Value"]) {
                    panic!("{}: output {name}: {e}", stack.name());
                }
            }
        }
    }
}
