//! IAM: typed policy statements, roles whose inline policy collects every grant, and the
//! `Grantee` trait grant methods take.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use cfn::resources::iam;
use cfn::{Expr, Resource};
use serde_json::{Value as Json, json};

use crate::core::{Finalizer, ResourceRef, Scope, Synthesis};
use crate::problem::Problem;

/// An IAM action, `service:Name`. Grant methods own their action lists; nobody types them at
/// call sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Action {
    pub service: &'static str,
    pub name: &'static str,
}

impl Action {
    pub const fn new(service: &'static str, name: &'static str) -> Action {
        Action { service, name }
    }

    fn is_wildcard(&self) -> bool {
        self.name.contains('*')
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service, self.name)
    }
}

/// `Action::new` for a list of names of one service.
pub fn actions(service: &'static str, names: &[&'static str]) -> Vec<Action> {
    names.iter().map(|n| Action::new(service, n)).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a resource policy or trust policy speaks of.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// An AWS service, `lambda.amazonaws.com`.
    Service(String),
    /// The account the stack deploys to (its root, i.e. IAM decides).
    ThisAccount,
    /// Everyone: only for `Deny` statements such as "no plain HTTP".
    Anyone,
}

impl Principal {
    pub fn service(name: &str) -> Principal {
        Principal::Service(name.to_owned())
    }

    fn to_json(&self) -> Json {
        match self {
            Principal::Service(s) => json!({ "Service": s }),
            Principal::ThisAccount => {
                json!({ "AWS": Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root").json() })
            }
            Principal::Anyone => json!({ "AWS": "*" }),
        }
    }
}

/// One policy statement.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyStatement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principal>,
    pub actions: Vec<Action>,
    /// Resource ARNs (literals or expressions).
    pub resources: Vec<Json>,
    /// A `Condition` block.
    pub condition: Option<Json>,
}

impl PolicyStatement {
    /// Allow `actions` on `resources`.
    pub fn allow(actions: Vec<Action>, resources: Vec<Json>) -> Self {
        PolicyStatement {
            sid: None,
            effect: Effect::Allow,
            principal: None,
            actions,
            resources,
            condition: None,
        }
    }

    /// The statement as policy JSON; actions sorted and deduplicated.
    pub fn to_json(&self) -> Json {
        let mut out = serde_json::Map::new();
        if let Some(sid) = &self.sid {
            out.insert("Sid".into(), json!(sid));
        }
        out.insert(
            "Effect".into(),
            json!(if self.effect == Effect::Allow {
                "Allow"
            } else {
                "Deny"
            }),
        );
        if let Some(p) = &self.principal {
            out.insert("Principal".into(), p.to_json());
        }
        let actions: BTreeSet<String> = self.actions.iter().map(Action::to_string).collect();
        out.insert("Action".into(), json!(actions));
        out.insert("Resource".into(), Json::Array(self.resources.clone()));
        if let Some(c) = &self.condition {
            out.insert("Condition".into(), c.clone());
        }
        Json::Object(out)
    }

    /// Statements can merge when they differ only in their actions.
    fn merges_with(&self, other: &PolicyStatement) -> bool {
        self.sid.is_none()
            && other.sid.is_none()
            && self.effect == other.effect
            && self.principal == other.principal
            && self.resources == other.resources
            && self.condition == other.condition
    }

    /// Reports an `Allow` of a wildcard action.
    pub(crate) fn check(&self, scope: &Scope) {
        if self.effect == Effect::Allow {
            for a in self.actions.iter().filter(|a| a.is_wildcard()) {
                scope.report(Problem::WildcardAction {
                    action: a.to_string(),
                });
            }
        }
    }
}

/// A policy document of statements.
pub fn policy_document(statements: &[PolicyStatement]) -> Json {
    json!({ "Version": "2012-10-17", "Statement": statements.iter().map(PolicyStatement::to_json).collect::<Vec<_>>() })
}

/// Adds `statement` to `statements`, merging it into an equal-but-for-actions statement.
fn merge_into(statements: &mut Vec<PolicyStatement>, statement: PolicyStatement) {
    match statements.iter_mut().find(|s| s.merges_with(&statement)) {
        Some(existing) => {
            for a in statement.actions {
                if !existing.actions.contains(&a) {
                    existing.actions.push(a);
                }
            }
        }
        None => statements.push(statement),
    }
}

/// Anything that acts through an IAM role and can be granted permissions.
pub trait Grantee {
    fn role(&self) -> &Role;

    /// Allows `actions` on `resources` (what every `grant_*` method does).
    fn grant(&self, actions: Vec<Action>, resources: Vec<Json>) {
        self.role()
            .add_to_policy(PolicyStatement::allow(actions, resources));
    }
}

#[derive(Debug, Default)]
struct RolePolicy {
    statements: Vec<PolicyStatement>,
    /// Resources that must not be created before the policy exists (a function, an event source
    /// mapping, a delivery stream: AWS checks the role's permissions when creating them).
    dependents: BTreeSet<ResourceRef>,
}

/// An IAM role whose permissions are the grants made to it, rendered as one inline policy
/// (`<Role>DefaultPolicy`) when the stack is synthesized.
#[derive(Debug, Clone)]
pub struct Role {
    scope: Scope,
    resource: ResourceRef,
    policy: Rc<RefCell<RolePolicy>>,
}

#[derive(Debug, Clone)]
pub struct RoleProps {
    /// The service that assumes the role.
    pub assumed_by: Principal,
    /// Conditions on assuming it (e.g. `sts:ExternalId`).
    pub assume_condition: Option<Json>,
    pub description: Option<String>,
}

impl Role {
    pub fn new(scope: &Scope, id: &str, props: RoleProps) -> Role {
        let scope = scope.child(id);
        let trust = PolicyStatement {
            sid: None,
            effect: Effect::Allow,
            principal: Some(props.assumed_by),
            actions: vec![Action::new("sts", "AssumeRole")],
            resources: Vec::new(),
            condition: props.assume_condition,
        };
        let mut trust_json = trust.to_json();
        if let Some(obj) = trust_json.as_object_mut() {
            obj.remove("Resource");
        }
        let document = json!({ "Version": "2012-10-17", "Statement": [trust_json] });
        let role = iam::Role {
            description: props.description.map(Into::into),
            ..iam::Role::new(document)
        };
        let resource = scope.add_resource(Resource::new(&role));
        let role = Role {
            scope: scope.clone(),
            resource,
            policy: Rc::default(),
        };
        scope.add_finalizer(Rc::new(RoleFinalizer { role: role.clone() }));
        role
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// `Fn::GetAtt [Role, Arn]`.
    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Adds a statement to the role's policy.
    pub fn add_to_policy(&self, statement: PolicyStatement) {
        statement.check(&self.scope);
        merge_into(&mut self.policy.borrow_mut().statements, statement);
    }

    /// Makes `dependent` wait for the role's policy, so its permissions exist when AWS checks them.
    pub fn add_policy_dependent(&self, dependent: &ResourceRef) {
        self.policy
            .borrow_mut()
            .dependents
            .insert(dependent.clone());
    }
}

impl Grantee for Role {
    fn role(&self) -> &Role {
        self
    }
}

#[derive(Debug)]
struct RoleFinalizer {
    role: Role,
}

impl Finalizer for RoleFinalizer {
    fn finalize(&self, synthesis: &mut Synthesis) {
        let policy = self.role.policy.borrow();
        if policy.statements.is_empty() {
            return;
        }
        let scope = self.role.scope.child("DefaultPolicy");
        let logical_id = scope.logical_id();
        let props = iam::Policy {
            roles: Some(vec![self.role.resource.r#ref().value()].into()),
            ..iam::Policy::new(policy_document(&policy.statements), logical_id.clone())
        };
        let policy_ref = synthesis.add_resource(&scope, logical_id, Resource::new(&props));
        synthesis.add_dependency(&policy.dependents, &policy_ref);
    }
}

#[derive(Debug, Clone, Default)]
pub struct ManagedPolicyProps {
    /// Default: a name CloudFormation generates.
    pub managed_policy_name: Option<String>,
    pub description: Option<String>,
    pub statements: Vec<PolicyStatement>,
    /// Names of roles (outside the stack, or by `Ref`) the policy is attached to.
    pub roles: Vec<cfn::Value<String>>,
}

/// A customer managed policy: a set of permissions other roles attach, e.g. the producers of an
/// API, which live in other stacks and accounts' pipelines.
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    resource: ResourceRef,
}

impl ManagedPolicy {
    pub fn new(scope: &Scope, id: &str, props: ManagedPolicyProps) -> ManagedPolicy {
        let scope = scope.child(id);
        for s in &props.statements {
            s.check(&scope);
        }
        let policy = iam::ManagedPolicy {
            managed_policy_name: props.managed_policy_name.map(Into::into),
            description: props.description.map(Into::into),
            roles: (!props.roles.is_empty()).then(|| props.roles.into()),
            ..iam::ManagedPolicy::new(policy_document(&props.statements))
        };
        ManagedPolicy {
            resource: scope.add_resource(Resource::new(&policy)),
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The policy's ARN (`Ref`).
    pub fn arn(&self) -> Expr {
        self.resource.r#ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stack;

    #[test]
    fn grants_merge_into_one_default_policy_that_dependents_wait_for() {
        let s = stack();
        let role = Role::new(
            &s,
            "Worker",
            RoleProps {
                assumed_by: Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        let arn = json!("arn:aws:sqs:us-east-2:123456789012:q");
        role.add_to_policy(PolicyStatement::allow(
            actions("sqs", &["SendMessage"]),
            vec![arn.clone()],
        ));
        role.add_to_policy(PolicyStatement::allow(
            actions("sqs", &["GetQueueUrl", "SendMessage"]),
            vec![arn.clone()],
        ));
        let queue = s
            .child("Q")
            .add_resource(Resource::new(&cfn::resources::sqs::Queue::default()));
        role.add_policy_dependent(&queue);
        let t = s.synth().expect("valid stack");
        let policy = &t.resources["WorkerDefaultPolicy"];
        assert_eq!(policy.type_name, "AWS::IAM::Policy");
        assert_eq!(
            policy.properties["PolicyDocument"]["Statement"],
            json!([{ "Effect": "Allow", "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"], "Resource": [arn] }])
        );
        assert_eq!(policy.properties["Roles"], json!([{ "Ref": "Worker" }]));
        assert!(t.resources["Q"].depends_on.contains("WorkerDefaultPolicy"));
    }

    #[test]
    fn a_role_without_grants_has_no_policy() {
        let s = stack();
        Role::new(
            &s,
            "Idle",
            RoleProps {
                assumed_by: Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        assert!(
            !s.synth()
                .expect("valid")
                .resources
                .contains_key("IdleDefaultPolicy")
        );
    }

    #[test]
    fn wildcard_allows_are_problems() {
        let s = stack();
        let role = Role::new(
            &s,
            "Wild",
            RoleProps {
                assumed_by: Principal::service("lambda.amazonaws.com"),
                assume_condition: None,
                description: None,
            },
        );
        role.add_to_policy(PolicyStatement::allow(
            vec![Action::new("s3", "*")],
            vec![json!("*")],
        ));
        let errors = s.synth().expect_err("wildcard action").0;
        assert!(
            matches!(&errors[0].problem, Problem::WildcardAction { action } if action == "s3:*"),
            "{errors:#?}"
        );
        assert_eq!(errors[0].path, "Test/Wild");
    }
}
