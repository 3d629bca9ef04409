//! What a diff finds, as plain data with a stable JSON form (`render::json`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::path::Path;

/// Whether an entry (resource, parameter, output, IAM statement) is new, gone or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

/// What a change does to the deployed resource. Ordered from harmless to worst, so a resource's
/// impact is the `max` of its changes'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    /// CloudFormation updates the resource where it is.
    InPlace,
    /// It may be replaced: a create-only property's old or new value is known only at deploy
    /// time (an intrinsic), the property is create-only under conditions, or the type is not
    /// among the specs this crate knows.
    MayReplace,
    /// CloudFormation creates a new resource and deletes the old one.
    WillReplace,
}

impl fmt::Display for Replacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Replacement::InPlace => "in place",
            Replacement::MayReplace => "may replace",
            Replacement::WillReplace => "will replace",
        })
    }
}

/// One difference inside a parameter, an output or a template section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueChange {
    pub path: Path,
    /// The base value; absent when the change adds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The current value; absent when the change removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// One difference inside a resource (`Properties…`, `DeletionPolicy`, `DependsOn`, `Metadata`,
/// `Type`…), with what it does to the resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyChange {
    #[serde(flatten)]
    pub change: ValueChange,
    pub replacement: Replacement,
    /// Why it replaces or may replace the resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Data a change destroys: a stateful resource removed or replaced without a policy that keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataLoss {
    /// `false` when the resource only may be replaced.
    pub certain: bool,
    pub reason: String,
}

/// One resource that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceDiff {
    pub change: ChangeKind,
    /// The resource type (the base's when the resource is removed).
    #[serde(rename = "type")]
    pub type_name: String,
    /// For a modified resource: the worst of its changes' replacements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<DataLoss>,
    /// For a modified resource: every difference outside its IAM policy statements.
    pub changes: Vec<PropertyChange>,
    /// Statement-level changes of the IAM policies the resource holds or grants.
    pub iam: Vec<StatementChange>,
    /// Policies attached to other roles, users or groups; managed policies attached to a role.
    pub attachments: Vec<AttachmentChange>,
}

impl ResourceDiff {
    /// Every IAM widening of this resource: statements' and attachments'.
    pub fn widenings(&self) -> impl Iterator<Item = &Widening> {
        self.iam
            .iter()
            .flat_map(|s| &s.widening)
            .chain(self.attachments.iter().flat_map(|a| &a.widening))
    }
}

/// How a permission got wider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WideningKind {
    /// An Allow statement that was not there (or a Deny that became an Allow).
    NewAllowStatement,
    /// An Allow statement grants an action it did not (or `NotAction` excludes less).
    NewAction,
    /// An Allow statement covers a resource it did not, or every resource (`*`).
    BroaderResource,
    /// An Allow statement names a principal it did not.
    NewPrincipal,
    /// An Allow statement's condition was removed or changed.
    LooserCondition,
    /// A Deny statement was removed (or became an Allow).
    RemovedDeny,
    /// A Deny statement denies less: an action, resource or principal dropped, a condition added or changed.
    NarrowerDeny,
    /// A policy now applies to another role, user or group; a managed policy was attached.
    NewAttachment,
}

impl fmt::Display for WideningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WideningKind::NewAllowStatement => "new Allow statement",
            WideningKind::NewAction => "new action",
            WideningKind::BroaderResource => "broader resource",
            WideningKind::NewPrincipal => "new principal",
            WideningKind::LooserCondition => "looser condition",
            WideningKind::RemovedDeny => "removed Deny",
            WideningKind::NarrowerDeny => "narrower Deny",
            WideningKind::NewAttachment => "new attachment",
        })
    }
}

/// One way a change widens permissions, and what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Widening {
    pub kind: WideningKind,
    pub detail: String,
}

/// A statement's element (`Action`, `Resource`, `Principal`, `Condition`, …) that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementChange {
    pub element: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// One IAM policy statement that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementChange {
    /// Which policy of the resource: `PolicyDocument`, `AssumeRolePolicyDocument`, `KeyPolicy`,
    /// `Policies[<PolicyName>]`, or `Permission` (a Lambda permission read as a statement).
    pub document: String,
    /// Its `Sid`, else its position in its document (`#1`, counted in the current document,
    /// in the base for a removed statement).
    pub statement: String,
    pub change: ChangeKind,
    /// `Allow` or `Deny` (the current effect; the base's for a removed statement).
    pub effect: String,
    /// For a modified statement: its elements that changed.
    pub elements: Vec<ElementChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    pub widening: Vec<Widening>,
}

/// Who a policy applies to (`Roles`, `Users`, `Groups` of a policy; a role's `ManagedPolicyArns`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentChange {
    pub property: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub widening: Vec<Widening>,
}

/// A parameter or output that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryDiff {
    pub change: ChangeKind,
    /// The differences; for an added or removed entry, one change holding the whole entry.
    pub changes: Vec<ValueChange>,
}

/// Everything that differs between two templates of one stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackDiff {
    pub resources: BTreeMap<String, ResourceDiff>,
    pub parameters: BTreeMap<String, EntryDiff>,
    pub outputs: BTreeMap<String, EntryDiff>,
    /// Differences in the other sections (`Description`, `Conditions`, `Mappings`, `Metadata`,
    /// `Rules`, `Transform`, …), with paths from the template's root.
    pub sections: Vec<ValueChange>,
}

impl StackDiff {
    /// Whether the two templates are the same, semantically.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
            && self.parameters.is_empty()
            && self.outputs.is_empty()
            && self.sections.is_empty()
    }

    /// The counts of what differs.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in self.resources.values() {
            match r.change {
                ChangeKind::Added => s.added += 1,
                ChangeKind::Removed => s.removed += 1,
                ChangeKind::Modified => s.modified += 1,
            }
            match r.replacement {
                Some(Replacement::WillReplace) => s.will_replace += 1,
                Some(Replacement::MayReplace) => s.may_replace += 1,
                Some(Replacement::InPlace) | None => {}
            }
            if r.data_loss.is_some() {
                s.data_loss += 1;
            }
            s.iam_widening += r.widenings().count();
        }
        s.parameters = self.parameters.len();
        s.outputs = self.outputs.len();
        s.sections = self.sections.len();
        s
    }
}

/// Counts of a diff: resources added, removed, modified (of which replaced), resources losing
/// data, IAM widenings, and parameters, outputs and other section values changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub modified: usize,
    pub will_replace: usize,
    pub may_replace: usize,
    pub data_loss: usize,
    pub iam_widening: usize,
    pub parameters: usize,
    pub outputs: usize,
    pub sections: usize,
}

impl Summary {
    fn add(&mut self, other: Summary) {
        self.added += other.added;
        self.removed += other.removed;
        self.modified += other.modified;
        self.will_replace += other.will_replace;
        self.may_replace += other.may_replace;
        self.data_loss += other.data_loss;
        self.iam_widening += other.iam_widening;
        self.parameters += other.parameters;
        self.outputs += other.outputs;
        self.sections += other.sections;
    }

    pub fn is_empty(&self) -> bool {
        *self == Summary::default()
    }
}

/// A condition a CI gate can fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// A resource will or may be replaced.
    Replacement,
    /// A stateful resource is removed or (possibly) replaced without a policy keeping its data.
    DataLoss,
    /// An IAM permission gets wider.
    IamWidening,
}

/// The diff of one stack, and what it was compared with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackReport {
    /// Where the base template came from (a file, a git revision, a deployed stack).
    pub base: String,
    pub summary: Summary,
    #[serde(flatten)]
    pub diff: StackDiff,
}

/// The diffs of every stack compared: what the renderers show and `--format json` writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The version of this JSON form; it changes only when a field changes meaning or goes away.
    pub version: u32,
    pub summary: Summary,
    pub stacks: BTreeMap<String, StackReport>,
}

/// The current [`Report::version`].
pub const REPORT_VERSION: u32 = 1;

impl Default for Report {
    fn default() -> Self {
        Report {
            version: REPORT_VERSION,
            summary: Summary::default(),
            stacks: BTreeMap::new(),
        }
    }
}

impl Report {
    /// Adds (or replaces) the diff of `stack`, compared with the template from `base`.
    pub fn add(&mut self, stack: &str, base: &str, diff: StackDiff) {
        let summary = diff.summary();
        self.stacks.insert(
            stack.to_owned(),
            StackReport {
                base: base.to_owned(),
                summary,
                diff,
            },
        );
        self.summary = Summary::default();
        for s in self.stacks.values() {
            self.summary.add(s.summary);
        }
    }

    /// Whether any stack differs from its base.
    pub fn has_changes(&self) -> bool {
        self.stacks.values().any(|s| !s.diff.is_empty())
    }

    /// Whether any stack has `finding`.
    pub fn has(&self, finding: Finding) -> bool {
        let s = self.summary;
        match finding {
            Finding::Replacement => s.will_replace + s.may_replace > 0,
            Finding::DataLoss => s.data_loss > 0,
            Finding::IamWidening => s.iam_widening > 0,
        }
    }
}
