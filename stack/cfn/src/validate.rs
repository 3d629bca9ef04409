//! Checks a whole template before it is written: references that point nowhere, attributes a type
//! does not have, required properties left out. Every problem is reported, each with its place.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::template::Template;
use crate::value::Pseudo;

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("`Ref` to `{target}`, which is no parameter, resource or pseudo parameter")]
    DanglingRef { target: String },
    #[error("`Fn::GetAtt` of `{target}`, which is no resource")]
    GetAttOfMissingResource { target: String },
    #[error(
        "`Fn::GetAtt` of attribute `{attribute}`, which {type_name} does not have (it has: {known})"
    )]
    UnknownAttribute {
        target: String,
        type_name: String,
        attribute: String,
        known: String,
    },
    #[error(
        "`Fn::Sub` names `${{{variable}}}`, which is no parameter, resource, attribute or variable"
    )]
    DanglingSubVariable { variable: String },
    #[error("condition `{name}` is not defined")]
    UndefinedCondition { name: String },
    #[error("`DependsOn` names `{target}`, which is no resource")]
    DanglingDependsOn { target: String },
    #[error("required property `{property}` of {type_name} is missing")]
    MissingRequiredProperty { type_name: String, property: String },
    #[error("parameter `{name}` is never used")]
    UnusedParameter { name: String },
    #[error("malformed intrinsic function `{function}`: {reason}")]
    MalformedIntrinsic { function: String, reason: String },
}

/// A problem and where it is, as a path in the template (`Resources/Events/Properties/ShardCount`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct TemplateProblem {
    pub location: String,
    pub problem: Problem,
}

impl TemplateProblem {
    /// The logical ID of the resource the problem is in, if it is in a resource.
    pub fn resource(&self) -> Option<&str> {
        self.location
            .strip_prefix("Resources/")
            .map(|rest| rest.split('/').next().unwrap_or(rest))
    }
}

impl Template {
    /// Every problem in the template, in a stable order (empty when it is sound).
    pub fn validate(&self) -> Vec<TemplateProblem> {
        let mut checker = Checker {
            template: self,
            problems: Vec::new(),
            used_refs: BTreeSet::new(),
        };
        checker.run();
        checker.problems
    }
}

struct Checker<'t> {
    template: &'t Template,
    problems: Vec<TemplateProblem>,
    used_refs: BTreeSet<String>,
}

impl Checker<'_> {
    fn run(&mut self) {
        let t = self.template;
        for (name, condition) in &t.conditions {
            self.walk(condition, &format!("Conditions/{name}"));
        }
        for (id, resource) in &t.resources {
            let here = format!("Resources/{id}");
            if let Some(condition) = &resource.condition {
                self.condition(condition, &format!("{here}/Condition"));
            }
            for target in &resource.depends_on {
                if !t.resources.contains_key(target) {
                    self.report(
                        &format!("{here}/DependsOn"),
                        Problem::DanglingDependsOn {
                            target: target.clone(),
                        },
                    );
                }
            }
            if let Some(spec) = resource.spec {
                for property in spec.required() {
                    if !resource.properties.contains_key(property) {
                        self.report(
                            &format!("{here}/Properties"),
                            Problem::MissingRequiredProperty {
                                type_name: spec.type_name.to_owned(),
                                property: property.to_owned(),
                            },
                        );
                    }
                }
            }
            for (key, value) in &resource.properties {
                self.walk(value, &format!("{here}/Properties/{key}"));
            }
            if let Some(metadata) = &resource.metadata {
                self.walk(metadata, &format!("{here}/Metadata"));
            }
        }
        for (name, output) in &t.outputs {
            let here = format!("Outputs/{name}");
            self.walk(&output.value, &format!("{here}/Value"));
            if let Some(export) = &output.export {
                self.walk(&export.name, &format!("{here}/Export/Name"));
            }
            if let Some(condition) = &output.condition {
                self.condition(condition, &format!("{here}/Condition"));
            }
        }
        for name in t.parameters.keys() {
            if !self.used_refs.contains(name) {
                self.report(
                    &format!("Parameters/{name}"),
                    Problem::UnusedParameter { name: name.clone() },
                );
            }
        }
    }

    fn report(&mut self, location: &str, problem: Problem) {
        self.problems.push(TemplateProblem {
            location: location.to_owned(),
            problem,
        });
    }

    fn condition(&mut self, name: &str, location: &str) {
        if !self.template.conditions.contains_key(name) {
            self.report(
                location,
                Problem::UndefinedCondition {
                    name: name.to_owned(),
                },
            );
        }
    }

    fn walk(&mut self, value: &Json, location: &str) {
        match value {
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, &format!("{location}/{i}"));
                }
            }
            Json::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("invariant: the map has one entry");
                let here = format!("{location}/{key}");
                match key.as_str() {
                    "Ref" => self.check_ref(arg, &here),
                    "Fn::GetAtt" => self.check_get_att(arg, &here),
                    "Fn::Sub" => self.check_sub(arg, &here),
                    "Condition" => match arg.as_str() {
                        Some(name) => self.condition(name, &here),
                        None => self.malformed(&here, "Condition", "takes a condition name"),
                    },
                    "Fn::If" => {
                        match arg.as_array().map(Vec::as_slice) {
                            Some([Json::String(name), _, _]) => self.condition(name, &here),
                            _ => self.malformed(
                                &here,
                                "Fn::If",
                                "takes [condition name, value if true, value if false]",
                            ),
                        }
                        self.walk(arg, &here);
                    }
                    _ => self.walk(arg, &here),
                }
            }
            Json::Object(map) => {
                for (key, item) in map {
                    self.walk(item, &format!("{location}/{key}"));
                }
            }
            _ => {}
        }
    }

    fn malformed(&mut self, location: &str, function: &str, reason: &str) {
        self.report(
            location,
            Problem::MalformedIntrinsic {
                function: function.to_owned(),
                reason: reason.to_owned(),
            },
        );
    }

    fn is_pseudo(name: &str) -> bool {
        Pseudo::ALL.iter().any(|p| p.name() == name)
    }

    fn check_ref(&mut self, arg: &Json, location: &str) {
        let Some(target) = arg.as_str() else {
            return self.malformed(location, "Ref", "takes a name");
        };
        self.used_refs.insert(target.to_owned());
        let t = self.template;
        if !(t.parameters.contains_key(target)
            || t.resources.contains_key(target)
            || Self::is_pseudo(target))
        {
            self.report(
                location,
                Problem::DanglingRef {
                    target: target.to_owned(),
                },
            );
        }
    }

    fn check_get_att(&mut self, arg: &Json, location: &str) {
        let (target, attribute) = match arg {
            Json::Array(parts) => match parts.as_slice() {
                [Json::String(target), Json::String(attribute)] => {
                    (target.as_str(), attribute.as_str())
                }
                [Json::String(_), other] => {
                    // An attribute chosen by an intrinsic (e.g. a Ref) cannot be checked here.
                    return self.walk(other, location);
                }
                _ => {
                    return self.malformed(location, "Fn::GetAtt", "takes [logical ID, attribute]");
                }
            },
            Json::String(dotted) => match dotted.split_once('.') {
                Some(pair) => pair,
                None => {
                    return self.malformed(location, "Fn::GetAtt", "takes \"LogicalId.Attribute\"");
                }
            },
            _ => return self.malformed(location, "Fn::GetAtt", "takes [logical ID, attribute]"),
        };
        self.get_att(target, attribute, location, false);
    }

    fn get_att(&mut self, target: &str, attribute: &str, location: &str, in_sub: bool) {
        let Some(resource) = self.template.resources.get(target) else {
            let problem = if in_sub {
                Problem::DanglingSubVariable {
                    variable: format!("{target}.{attribute}"),
                }
            } else {
                Problem::GetAttOfMissingResource {
                    target: target.to_owned(),
                }
            };
            return self.report(location, problem);
        };
        if let Some(spec) = resource.spec
            && !spec.has_attribute(attribute)
        {
            let problem = Problem::UnknownAttribute {
                target: target.to_owned(),
                type_name: spec.type_name.to_owned(),
                attribute: attribute.to_owned(),
                known: spec.attributes.join(", "),
            };
            self.report(location, problem);
        }
    }

    fn check_sub(&mut self, arg: &Json, location: &str) {
        let (template, variables) = match arg {
            Json::String(s) => (s.as_str(), None),
            Json::Array(parts) => match parts.as_slice() {
                [Json::String(s), Json::Object(vars)] => (s.as_str(), Some(vars)),
                _ => {
                    return self.malformed(
                        location,
                        "Fn::Sub",
                        "takes a string or [string, {variables}]",
                    );
                }
            },
            _ => {
                return self.malformed(
                    location,
                    "Fn::Sub",
                    "takes a string or [string, {variables}]",
                );
            }
        };
        if let Some(vars) = variables {
            for (key, value) in vars {
                self.walk(value, &format!("{location}/1/{key}"));
            }
        }
        for variable in sub_variables(template) {
            if variables.is_some_and(|v| v.contains_key(variable)) {
                continue;
            }
            match variable.split_once('.') {
                Some((target, attribute)) => self.get_att(target, attribute, location, true),
                None => {
                    self.used_refs.insert(variable.to_owned());
                    let t = self.template;
                    if !(t.parameters.contains_key(variable)
                        || t.resources.contains_key(variable)
                        || Self::is_pseudo(variable))
                    {
                        self.report(
                            location,
                            Problem::DanglingSubVariable {
                                variable: variable.to_owned(),
                            },
                        );
                    }
                }
            }
        }
    }
}

/// The `${Name}` and `${Name.Attr}` variables of an `Fn::Sub` string; `${!Literal}` is text.
pub fn sub_variables(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find("${")?;
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            rest = &after[end + 1..];
            if !name.starts_with('!') {
                return Some(name.trim());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Output, Parameter, ParameterType, Resource};
    use serde_json::json;

    fn resource(type_name: &str, properties: Json) -> Resource {
        let Json::Object(properties) = properties else {
            panic!("test properties must be an object")
        };
        Resource {
            type_name: type_name.into(),
            condition: None,
            depends_on: Default::default(),
            deletion_policy: None,
            update_replace_policy: None,
            metadata: None,
            properties,
            spec: crate::resources::spec(type_name),
        }
    }

    fn output(value: Json) -> Output {
        Output {
            description: None,
            value,
            export: None,
            condition: None,
        }
    }

    #[test]
    fn sub_variables_skip_literals() {
        let vars: Vec<_> = sub_variables("a-${AWS::AccountId}-${!Literal}-${Fn.Arn}").collect();
        assert_eq!(vars, ["AWS::AccountId", "Fn.Arn"]);
    }

    #[test]
    fn a_sound_template_has_no_problems() {
        let mut t = Template::default();
        t.parameters
            .insert("Shards".into(), Parameter::new(ParameterType::Number));
        t.resources.insert(
            "S".into(),
            resource(
                "AWS::Kinesis::Stream",
                json!({"ShardCount": {"Ref": "Shards"}}),
            ),
        );
        t.outputs
            .insert("Arn".into(), output(json!({"Fn::GetAtt": ["S", "Arn"]})));
        t.outputs.insert(
            "Name".into(),
            output(json!({"Fn::Sub": "${S}-${AWS::Region}-${S.Arn}"})),
        );
        assert_eq!(t.validate(), []);
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let mut t = Template::default();
        t.parameters
            .insert("Unused".into(), Parameter::new(ParameterType::String));
        let mut q = resource("AWS::SQS::Queue", json!({"QueueName": {"Ref": "Nowhere"}}));
        q.depends_on.insert("Ghost".into());
        t.resources.insert("Q".into(), q);
        t.outputs.insert(
            "A".into(),
            output(json!({"Fn::GetAtt": ["Q", "NoSuchAttr"]})),
        );
        t.outputs.insert(
            "B".into(),
            output(json!({"Fn::GetAtt": ["Missing", "Arn"]})),
        );
        t.outputs
            .insert("C".into(), output(json!({"Fn::Sub": "${Nope}"})));
        t.outputs
            .insert("D".into(), output(json!({"Fn::If": ["NoCond", 1, 2]})));
        let problems = t.validate();
        let kinds: Vec<_> = problems
            .iter()
            .map(|p| (p.location.as_str(), &p.problem))
            .collect();
        assert!(
            matches!(
                kinds[0],
                ("Resources/Q/DependsOn", Problem::DanglingDependsOn { .. })
            ),
            "{problems:#?}"
        );
        assert!(
            matches!(
                kinds[1],
                (
                    "Resources/Q/Properties/QueueName/Ref",
                    Problem::DanglingRef { .. }
                )
            ),
            "{problems:#?}"
        );
        assert!(
            matches!(
                kinds[2],
                (
                    "Outputs/A/Value/Fn::GetAtt",
                    Problem::UnknownAttribute { .. }
                )
            ),
            "{problems:#?}"
        );
        assert!(
            matches!(
                kinds[3],
                (
                    "Outputs/B/Value/Fn::GetAtt",
                    Problem::GetAttOfMissingResource { .. }
                )
            ),
            "{problems:#?}"
        );
        assert!(
            matches!(
                kinds[4],
                (
                    "Outputs/C/Value/Fn::Sub",
                    Problem::DanglingSubVariable { .. }
                )
            ),
            "{problems:#?}"
        );
        assert!(
            matches!(
                kinds[5],
                ("Outputs/D/Value/Fn::If", Problem::UndefinedCondition { .. })
            ),
            "{problems:#?}"
        );
        assert!(
            matches!(
                kinds[6],
                ("Parameters/Unused", Problem::UnusedParameter { .. })
            ),
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert_eq!(problems[0].resource(), Some("Q"));
    }

    #[test]
    fn missing_required_property_is_named() {
        let mut t = Template::default();
        t.resources
            .insert("R".into(), resource("AWS::IAM::Role", json!({})));
        let problems = t.validate();
        assert!(
            problems.iter().any(|p| matches!(&p.problem, Problem::MissingRequiredProperty { property, .. } if property == "AssumeRolePolicyDocument")),
            "{problems:#?}"
        );
    }
}
