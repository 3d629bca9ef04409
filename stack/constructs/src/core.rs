//! Stacks, scopes and construct paths; logical IDs derived from paths; the problems constructs
//! report; and synthesis of a stack into a validated template.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::rc::Rc;

use cfn::{Expr, Output, Parameter, Resource, Template};

use crate::assets::{Asset, AssetError, Workspace};
use crate::problem::{Problem, ValidationError, ValidationErrors};

/// Where a stack deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The AWS account ID, when pinned; templates use `AWS::AccountId` either way.
    pub account: Option<String>,
    /// The AWS region, e.g. `us-east-2`.
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct StackProps {
    pub env: Environment,
    pub description: Option<String>,
    /// The Cargo workspace whose crates `lambda::Code::rust` packages; needed only by stacks with
    /// Rust functions.
    pub workspace_root: Option<PathBuf>,
}

/// Something added to the template when the stack is synthesized, because it depends on what
/// was added after it was created (a role's policy collects every grant; an API's deployment
/// hashes every method).
pub(crate) trait Finalizer: fmt::Debug {
    fn finalize(&self, synthesis: &mut Synthesis);
}

#[derive(Debug)]
pub(crate) struct StackState {
    name: String,
    env: Environment,
    workspace_root: Option<PathBuf>,
    /// The workspace, once a function's code has been hashed from it.
    workspace: Option<Rc<Workspace>>,
    template: Template,
    /// Logical ID → construct path.
    paths: BTreeMap<String, String>,
    problems: Vec<ValidationError>,
    finalizers: Vec<Rc<dyn Finalizer>>,
    assets: BTreeMap<String, Asset>,
}

/// A place in the construct tree: a stack and a path inside it. Constructs take a scope and an
/// id, and create their resources at `scope/id`.
#[derive(Debug, Clone)]
pub struct Scope {
    state: Rc<RefCell<StackState>>,
    path: Vec<String>,
}

/// A handle to a resource in a stack: its logical ID, for `Ref` and `Fn::GetAtt`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceRef {
    logical_id: String,
}

impl ResourceRef {
    pub(crate) fn new(logical_id: impl Into<String>) -> Self {
        ResourceRef {
            logical_id: logical_id.into(),
        }
    }

    pub fn logical_id(&self) -> &str {
        &self.logical_id
    }

    /// `{"Ref": logical_id}`.
    pub fn r#ref(&self) -> Expr {
        Expr::r#ref(&self.logical_id)
    }

    /// `{"Fn::GetAtt": [logical_id, attribute]}`.
    pub fn get_att(&self, attribute: &str) -> Expr {
        Expr::get_att(&self.logical_id, attribute)
    }
}

/// The logical ID for a construct path: its components with everything but ASCII letters and
/// digits removed, concatenated. `Events/ServiceRole` → `EventsServiceRole`.
pub fn logical_id_for(path: &[String]) -> String {
    path.iter()
        .flat_map(|c| c.chars().filter(char::is_ascii_alphanumeric))
        .collect()
}

impl Scope {
    /// The scope of a child construct.
    pub fn child(&self, id: &str) -> Scope {
        let mut path = self.path.clone();
        path.push(id.to_owned());
        Scope {
            state: Rc::clone(&self.state),
            path,
        }
    }

    /// The construct path, starting with the stack name: `IOpsDashboard-CoreStack/Events`.
    pub fn path(&self) -> String {
        let state = self.state.borrow();
        std::iter::once(state.name.as_str())
            .chain(self.path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The logical ID a resource at this scope gets.
    pub fn logical_id(&self) -> String {
        logical_id_for(&self.path)
    }

    pub fn stack_name(&self) -> String {
        self.state.borrow().name.clone()
    }

    pub fn env(&self) -> Environment {
        self.state.borrow().env.clone()
    }

    /// Adds a resource at this scope's path; a second resource with the same logical ID is a problem.
    pub fn add_resource(&self, mut resource: Resource) -> ResourceRef {
        let logical_id = self.logical_id();
        let path = self.path();
        if logical_id.is_empty() {
            self.report(Problem::EmptyLogicalId);
        }
        resource.metadata = Some(serde_json::json!({ PATH_METADATA_KEY: path }));
        let mut state = self.state.borrow_mut();
        if let Some(other) = state.paths.get(&logical_id) {
            let problem = Problem::DuplicateLogicalId {
                logical_id: logical_id.clone(),
                other_path: other.clone(),
            };
            state.problems.push(ValidationError { path, problem });
        } else {
            state.paths.insert(logical_id.clone(), path);
            state
                .template
                .resources
                .insert(logical_id.clone(), resource);
        }
        ResourceRef::new(logical_id)
    }

    /// Changes a resource already added (e.g. to add a `DependsOn`).
    pub fn update_resource(&self, target: &ResourceRef, f: impl FnOnce(&mut Resource)) {
        let mut state = self.state.borrow_mut();
        match state.template.resources.get_mut(target.logical_id()) {
            Some(resource) => f(resource),
            None => unreachable!(
                "invariant: a ResourceRef names a resource of its stack ({})",
                target.logical_id()
            ),
        }
    }

    /// Accepts a policy rule's finding on `target`, for `reason`: written into the resource's
    /// metadata, listed by every `synth check` and `synth`, and reviewed with the template.
    pub fn suppress(&self, target: &ResourceRef, rule: cfn_policy::RuleId, reason: &str) {
        if reason.trim().chars().count() < cfn_policy::MIN_REASON_CHARS {
            self.report(Problem::SuppressionWithoutReason {
                rule,
                reason: reason.to_owned(),
            });
            return;
        }
        self.update_resource(target, |resource| {
            let metadata = resource
                .metadata
                .get_or_insert_with(|| serde_json::json!({}));
            if let Some(map) = metadata.as_object_mut() {
                let list = map
                    .entry(cfn_policy::SUPPRESSIONS_METADATA_KEY)
                    .or_insert_with(|| serde_json::json!([]));
                if let Some(list) = list.as_array_mut() {
                    list.push(serde_json::json!({"Rule": rule.as_str(), "Reason": reason.trim()}));
                }
            }
        });
    }

    /// Adds a template parameter and returns a `Ref` to it.
    pub fn add_parameter(&self, name: &str, parameter: Parameter) -> Expr {
        self.state
            .borrow_mut()
            .template
            .parameters
            .insert(name.to_owned(), parameter);
        Expr::r#ref(name)
    }

    /// Whether the stack has a parameter of that name.
    pub fn has_parameter(&self, name: &str) -> bool {
        self.state.borrow().template.parameters.contains_key(name)
    }

    pub fn add_output(&self, name: &str, output: Output) {
        let mut state = self.state.borrow_mut();
        if state
            .template
            .outputs
            .insert(name.to_owned(), output)
            .is_some()
        {
            let path = format!("{}/Outputs/{name}", state.name);
            state.problems.push(ValidationError {
                path,
                problem: Problem::DuplicateOutput {
                    name: name.to_owned(),
                },
            });
        }
    }

    /// Records a problem at this scope's path; synthesis fails listing every problem.
    pub fn report(&self, problem: Problem) {
        let path = self.path();
        self.state
            .borrow_mut()
            .problems
            .push(ValidationError { path, problem });
    }

    pub(crate) fn add_finalizer(&self, finalizer: Rc<dyn Finalizer>) {
        self.state.borrow_mut().finalizers.push(finalizer);
    }

    /// The Cargo workspace Rust function code is hashed from, read on first use.
    pub(crate) fn workspace(&self) -> Result<Rc<Workspace>, AssetError> {
        if let Some(workspace) = &self.state.borrow().workspace {
            return Ok(Rc::clone(workspace));
        }
        let root = self
            .state
            .borrow()
            .workspace_root
            .clone()
            .ok_or(AssetError::NoWorkspaceRoot)?;
        let workspace = Rc::new(Workspace::load(&root)?);
        self.state.borrow_mut().workspace = Some(Rc::clone(&workspace));
        Ok(workspace)
    }

    pub(crate) fn add_asset(&self, asset: Asset) {
        self.state
            .borrow_mut()
            .assets
            .insert(asset.hash.clone(), asset);
    }
}

/// The metadata key under which each resource records its construct path.
pub const PATH_METADATA_KEY: &str = "ConstructPath";

/// A stack: the root scope of a construct tree, synthesized into one template.
#[derive(Debug, Clone)]
pub struct Stack {
    scope: Scope,
}

impl Deref for Stack {
    type Target = Scope;
    fn deref(&self) -> &Scope {
        &self.scope
    }
}

impl Stack {
    pub fn new(name: &str, props: StackProps) -> Stack {
        let template = Template {
            description: props.description,
            ..Template::default()
        };
        let state = StackState {
            name: name.to_owned(),
            env: props.env,
            workspace_root: props.workspace_root,
            workspace: None,
            template,
            paths: BTreeMap::new(),
            problems: Vec::new(),
            finalizers: Vec::new(),
            assets: BTreeMap::new(),
        };
        let stack = Stack {
            scope: Scope {
                state: Rc::new(RefCell::new(state)),
                path: Vec::new(),
            },
        };
        if !is_valid_stack_name(name) {
            stack.report(Problem::InvalidStackName {
                name: name.to_owned(),
            });
        }
        stack
    }

    pub fn name(&self) -> String {
        self.stack_name()
    }

    /// The assets (function code packages) the stack's template refers to, by content hash.
    pub fn assets(&self) -> Vec<Asset> {
        self.scope.state.borrow().assets.values().cloned().collect()
    }

    /// The template, after every construct's validation and the template's own checks
    /// (references, attributes, required properties). Every problem is returned at once.
    pub fn synth(&self) -> Result<Template, ValidationErrors> {
        let state = self.scope.state.borrow();
        let mut synthesis = Synthesis {
            stack_name: state.name.clone(),
            template: state.template.clone(),
            paths: state.paths.clone(),
            problems: state.problems.clone(),
        };
        let finalizers = state.finalizers.clone();
        drop(state);
        for finalizer in &finalizers {
            finalizer.finalize(&mut synthesis);
        }
        let Synthesis {
            stack_name,
            template,
            paths,
            mut problems,
        } = synthesis;
        for problem in template.validate() {
            let path = match problem.resource().and_then(|id| paths.get(id)) {
                Some(path) => path.clone(),
                None => format!("{stack_name}/{}", problem.location),
            };
            problems.push(ValidationError {
                path,
                problem: Problem::Template(problem),
            });
        }
        if problems.is_empty() {
            Ok(template)
        } else {
            Err(ValidationErrors(problems))
        }
    }
}

/// A stack name CloudFormation accepts: a letter, then letters, digits and hyphens, at most 128.
fn is_valid_stack_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.len() <= 128
}

/// The template being finalized: finalizers add resources and dependencies to it.
#[derive(Debug)]
pub(crate) struct Synthesis {
    stack_name: String,
    pub(crate) template: Template,
    paths: BTreeMap<String, String>,
    problems: Vec<ValidationError>,
}

impl Synthesis {
    /// Adds a resource at a scope's path, as [`Scope::add_resource`] does before synthesis.
    pub(crate) fn add_resource(
        &mut self,
        scope: &Scope,
        logical_id: String,
        mut resource: Resource,
    ) -> ResourceRef {
        let path = scope.path();
        resource.metadata = Some(serde_json::json!({ PATH_METADATA_KEY: path }));
        if let Some(other) = self.paths.get(&logical_id) {
            let problem = Problem::DuplicateLogicalId {
                logical_id: logical_id.clone(),
                other_path: other.clone(),
            };
            self.problems.push(ValidationError { path, problem });
        } else {
            self.paths.insert(logical_id.clone(), path);
            self.template.resources.insert(logical_id.clone(), resource);
        }
        ResourceRef::new(logical_id)
    }

    /// Records a problem found while finalizing, at `scope`'s path.
    pub(crate) fn report(&mut self, scope: &Scope, problem: Problem) {
        self.problems.push(ValidationError {
            path: scope.path(),
            problem,
        });
    }

    /// Makes `dependents` wait for `dependency` (`DependsOn`).
    pub(crate) fn add_dependency(
        &mut self,
        dependents: &BTreeSet<ResourceRef>,
        dependency: &ResourceRef,
    ) {
        for dependent in dependents {
            if let Some(resource) = self.template.resources.get_mut(dependent.logical_id()) {
                resource
                    .depends_on
                    .insert(dependency.logical_id().to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use crate::test_support::stack;

    #[test]
    fn logical_ids_come_from_the_path() {
        let s = stack();
        assert_eq!(
            s.child("Events").child("Service-Role").logical_id(),
            "EventsServiceRole"
        );
        assert_eq!(s.child("Events").path(), "Test/Events");
    }

    #[test]
    fn duplicate_logical_ids_are_a_problem_naming_both_paths() {
        let s = stack();
        let queue = cfn::resources::sqs::Queue::default();
        s.child("AB").add_resource(Resource::new(&queue));
        s.child("A").child("B").add_resource(Resource::new(&queue));
        let errors = s.synth().expect_err("duplicate IDs must fail synthesis").0;
        assert!(
            matches!(&errors[0].problem, Problem::DuplicateLogicalId { logical_id, other_path } if logical_id == "AB" && other_path == "Test/AB"),
            "{errors:#?}"
        );
        assert_eq!(errors[0].path, "Test/A/B");
    }

    #[test]
    fn a_suppression_is_written_into_the_metadata_with_its_reason() {
        let suppressed_queue = |reason: &str| {
            let s = stack();
            let queue = s
                .child("Dlq")
                .add_resource(Resource::new(&cfn::resources::sqs::Queue::default()));
            s.child("Dlq")
                .suppress(&queue, cfn_policy::RuleId::EncryptionAtRest, reason);
            (s, queue)
        };
        let (s, queue) = suppressed_queue("  holds only test data, by design  ");
        s.child("Dlq")
            .suppress(&queue, cfn_policy::RuleId::AlarmHasAction, "short");
        let errors = s.synth().expect_err("a reasonless suppression").0;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(matches!(
            &errors[0].problem,
            Problem::SuppressionWithoutReason {
                rule: cfn_policy::RuleId::AlarmHasAction,
                ..
            }
        ));

        let (s, _) = suppressed_queue("holds only test data, by design");
        let t = s.synth().expect("valid");
        assert_eq!(
            t.resources["Dlq"].metadata,
            Some(serde_json::json!({
                "ConstructPath": "Test/Dlq",
                "Suppressions": [{"Rule": "ENCRYPTION_AT_REST", "Reason": "holds only test data, by design"}]
            }))
        );
        let report = cfn_policy::check(&t.to_value());
        assert!(report.passes(), "{:#?}", report.findings);
        assert_eq!(report.suppressed().count(), 1);
    }

    #[test]
    fn template_problems_carry_the_construct_path() {
        let s = stack();
        let queue = cfn::resources::sqs::Queue {
            queue_name: Some(Expr::r#ref("Nowhere").into()),
            ..Default::default()
        };
        s.child("Dlq").add_resource(Resource::new(&queue));
        let errors = s.synth().expect_err("a dangling Ref must fail synthesis").0;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, "Test/Dlq");
        assert!(
            matches!(&errors[0].problem, Problem::Template(p) if matches!(p.problem, cfn::Problem::DanglingRef { .. }))
        );
    }

    #[test]
    fn stack_names_are_checked() {
        let s = Stack::new(
            "1-bad_name",
            StackProps {
                env: Environment {
                    account: None,
                    region: "us-east-2".into(),
                },
                description: None,
                workspace_root: None,
            },
        );
        assert!(matches!(
            &s.synth().expect_err("bad name").0[0].problem,
            Problem::InvalidStackName { .. }
        ));
    }
}
