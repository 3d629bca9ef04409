//! IAM policies inside resources, compared statement by statement, and the ways a change
//! widens what they allow.
//!
//! Statements are matched by `Sid` where they have one, then by content: an identical statement
//! is unchanged, and of the leftovers, statements with the same effect that share actions,
//! resources or principals are paired as one modified statement. What is left is added or removed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::model::{
    AttachmentChange, ChangeKind, ElementChange, StatementChange, Widening, WideningKind,
};
use crate::values::{compact, is_intrinsic, is_intrinsic_map};

/// The properties that hold a whole policy document, per type.
fn document_properties(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "AWS::IAM::Role" => &["AssumeRolePolicyDocument"],
        "AWS::IAM::Policy"
        | "AWS::IAM::ManagedPolicy"
        | "AWS::S3::BucketPolicy"
        | "AWS::SNS::TopicPolicy"
        | "AWS::SQS::QueuePolicy" => &["PolicyDocument"],
        "AWS::KMS::Key" => &["KeyPolicy"],
        _ => &[],
    }
}

/// Whether the type holds inline policies (`Policies: [{PolicyName, PolicyDocument}]`).
fn has_inline_policies(type_name: &str) -> bool {
    matches!(
        type_name,
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group"
    )
}

/// The properties that say whom a policy applies to, per type.
fn attachment_properties(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => &["Roles", "Users", "Groups"],
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => &["ManagedPolicyArns"],
        _ => &[],
    }
}

const LAMBDA_PERMISSION: &str = "AWS::Lambda::Permission";
/// The Lambda permission properties that narrow who may invoke, and the condition Lambda writes
/// for each into the function's resource policy.
const PERMISSION_CONDITIONS: &[(&str, &str, &str)] = &[
    ("SourceArn", "ArnLike", "AWS:SourceArn"),
    ("SourceAccount", "StringEquals", "AWS:SourceAccount"),
    ("PrincipalOrgID", "StringEquals", "aws:PrincipalOrgID"),
    (
        "EventSourceToken",
        "StringEquals",
        "lambda:EventSourceToken",
    ),
    (
        "FunctionUrlAuthType",
        "StringEquals",
        "lambda:FunctionUrlAuthType",
    ),
];

/// `properties` without what [`diff`] compares: policy statements, inline policies and
/// attachments. The rest (a document's `Version`, a policy's name) stays for the property diff.
pub fn strip(type_name: &str, properties: &Map<String, Value>) -> Map<String, Value> {
    let mut out = properties.clone();
    for name in document_properties(type_name) {
        match out.get_mut(*name) {
            Some(Value::Object(doc)) if !is_intrinsic_map(doc) => {
                doc.remove("Statement");
            }
            Some(_) => {
                out.remove(*name);
            }
            None => {}
        }
    }
    if has_inline_policies(type_name) {
        out.remove("Policies");
    }
    for name in attachment_properties(type_name) {
        out.remove(*name);
    }
    out
}

/// The statement-level changes and attachment changes between a resource's base properties and
/// its current ones (`None`: the resource is absent on that side).
pub fn diff(
    old: Option<(&str, &Map<String, Value>)>,
    new: Option<(&str, &Map<String, Value>)>,
) -> (Vec<StatementChange>, Vec<AttachmentChange>) {
    let old_docs = old.map(|(t, p)| documents(t, p)).unwrap_or_default();
    let new_docs = new.map(|(t, p)| documents(t, p)).unwrap_or_default();
    let labels: BTreeSet<&String> = old_docs.keys().chain(new_docs.keys()).collect();
    let mut statements = Vec::new();
    for label in labels {
        let empty = Vec::new();
        let o = old_docs.get(label).unwrap_or(&empty);
        let n = new_docs.get(label).unwrap_or(&empty);
        statements.extend(diff_document(label, o, n));
    }

    let old_att = old.map(|(t, p)| attachments(t, p)).unwrap_or_default();
    let new_att = new.map(|(t, p)| attachments(t, p)).unwrap_or_default();
    let names: BTreeSet<&&str> = old_att.keys().chain(new_att.keys()).collect();
    let mut attached = Vec::new();
    for name in names {
        let empty = BTreeSet::new();
        let o = old_att.get(*name).unwrap_or(&empty);
        let n = new_att.get(*name).unwrap_or(&empty);
        let added: Vec<String> = n.difference(o).cloned().collect();
        let removed: Vec<String> = o.difference(n).cloned().collect();
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        let widening = added
            .iter()
            .map(|a| Widening {
                kind: WideningKind::NewAttachment,
                detail: if *name == "ManagedPolicyArns" {
                    format!("managed policy {a} attached")
                } else {
                    format!("applies to {} {a}", singular(name))
                },
            })
            .collect();
        attached.push(AttachmentChange {
            property: (*name).to_owned(),
            added,
            removed,
            widening,
        });
    }
    (statements, attached)
}

fn singular(property: &str) -> &str {
    match property {
        "Roles" => "role",
        "Users" => "user",
        "Groups" => "group",
        other => other,
    }
}

/// The policy documents of a resource by label, each as its list of statements.
fn documents(type_name: &str, properties: &Map<String, Value>) -> BTreeMap<String, Vec<Value>> {
    let mut docs = BTreeMap::new();
    for name in document_properties(type_name) {
        if let Some(doc) = properties.get(*name) {
            docs.insert((*name).to_owned(), statements(doc));
        }
    }
    if has_inline_policies(type_name) {
        match properties.get("Policies") {
            Some(Value::Array(policies)) => {
                for (i, policy) in policies.iter().enumerate() {
                    let name = match policy.get("PolicyName") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => compact(other),
                        None => format!("#{}", i + 1),
                    };
                    let doc = policy.get("PolicyDocument").unwrap_or(policy);
                    docs.insert(format!("Policies[{name}]"), statements(doc));
                }
            }
            Some(other) => {
                docs.insert("Policies".to_owned(), vec![opaque(other)]);
            }
            None => {}
        }
    }
    if type_name == LAMBDA_PERMISSION {
        docs.insert(
            "Permission".to_owned(),
            vec![permission_statement(properties)],
        );
    }
    docs
}

/// A document's statements: its `Statement` list (or single statement). A document that is not
/// a literal object (an intrinsic, a JSON string that does not parse) is one opaque statement.
fn statements(doc: &Value) -> Vec<Value> {
    if let Value::String(text) = doc
        && let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(text)
    {
        return statements(&parsed);
    }
    match doc {
        Value::Object(map) if !is_intrinsic(doc) => match map.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(single @ Value::Object(_)) if !is_intrinsic(single) => vec![single.clone()],
            Some(other) => vec![opaque(other)],
            None => Vec::new(),
        },
        other => vec![opaque(other)],
    }
}

/// A policy this module cannot read statement by statement: kept whole under a marker key, so
/// any change to it is one change of a statement with an unknown effect.
fn opaque(value: &Value) -> Value {
    json!({ OPAQUE: value })
}

const OPAQUE: &str = "(not a literal policy)";

/// A Lambda permission read as the resource-policy statement Lambda adds for it.
fn permission_statement(properties: &Map<String, Value>) -> Value {
    let mut statement = Map::new();
    statement.insert("Effect".into(), "Allow".into());
    for (from, to) in [
        ("Action", "Action"),
        ("FunctionName", "Resource"),
        ("Principal", "Principal"),
    ] {
        if let Some(v) = properties.get(from) {
            statement.insert(to.into(), v.clone());
        }
    }
    if let Some(Value::String(p)) = properties.get("Principal") {
        let principal = if p == "*" {
            json!("*")
        } else if p.ends_with(".amazonaws.com") || p.ends_with(".amazonaws.com.cn") {
            json!({ "Service": p })
        } else {
            json!({ "AWS": p })
        };
        statement.insert("Principal".into(), principal);
    }
    let mut condition = Map::new();
    for (property, operator, key) in PERMISSION_CONDITIONS {
        if let Some(v) = properties.get(*property) {
            let keys = condition
                .entry(*operator)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(keys) = keys {
                keys.insert((*key).to_owned(), v.clone());
            }
        }
    }
    if !condition.is_empty() {
        statement.insert("Condition".into(), Value::Object(condition));
    }
    Value::Object(statement)
}

/// The `Sid`/`Effect` and set-valued elements of a statement, in the order they are shown.
const ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    OPAQUE,
];

/// A statement reduced to sets, for matching and comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    elements: BTreeMap<&'static str, BTreeSet<String>>,
    /// The condition as `(operator, key) → values`.
    condition: BTreeMap<(String, String), BTreeSet<String>>,
    raw: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
    /// Not a literal `Allow`/`Deny`: treated as an Allow when judging widening.
    Unknown,
}

impl Effect {
    fn allows(self) -> bool {
        !matches!(self, Effect::Deny)
    }
}

impl Statement {
    fn read(raw: &Value) -> Statement {
        let get = |k: &str| raw.get(k);
        let sid = get("Sid").map(compact);
        let effect = match get("Effect") {
            Some(Value::String(s)) if s == "Allow" => Effect::Allow,
            Some(Value::String(s)) if s == "Deny" => Effect::Deny,
            _ => Effect::Unknown,
        };
        let mut elements = BTreeMap::new();
        for name in ["Action", "NotAction", "Resource", "NotResource", OPAQUE] {
            if let Some(v) = get(name) {
                elements.insert(name, strings(v));
            }
        }
        for name in ["Principal", "NotPrincipal"] {
            if let Some(v) = get(name) {
                elements.insert(name, principals(v));
            }
        }
        let mut condition = BTreeMap::new();
        match get("Condition") {
            Some(Value::Object(ops)) if !is_intrinsic_map(ops) => {
                for (op, keys) in ops {
                    match keys {
                        Value::Object(keys) => {
                            for (key, values) in keys {
                                condition.insert((op.clone(), key.clone()), strings(values));
                            }
                        }
                        other => {
                            condition.insert((op.clone(), String::new()), strings(other));
                        }
                    }
                }
            }
            Some(other) => {
                condition.insert((String::new(), String::new()), strings(other));
            }
            None => {}
        }
        Statement {
            sid,
            effect,
            elements,
            condition,
            raw: raw.clone(),
        }
    }

    fn effect_name(&self) -> String {
        match (&self.effect, self.raw.get("Effect")) {
            (Effect::Allow, _) => "Allow".to_owned(),
            (Effect::Deny, _) => "Deny".to_owned(),
            (Effect::Unknown, Some(v)) => compact(v),
            (Effect::Unknown, None) => "(no effect)".to_owned(),
        }
    }

    fn set(&self, element: &str) -> BTreeSet<String> {
        match element {
            "Sid" => self.sid.iter().cloned().collect(),
            "Effect" => BTreeSet::from([self.effect_name()]),
            "Condition" => self
                .condition
                .iter()
                .map(|((op, key), values)| condition_entry(op, key, values))
                .collect(),
            other => self.elements.get(other).cloned().unwrap_or_default(),
        }
    }

    /// Equal but for the `Sid`.
    fn same_content(&self, other: &Statement) -> bool {
        self.effect_name() == other.effect_name()
            && self.elements == other.elements
            && self.condition == other.condition
    }

    /// How alike two statements are, for pairing leftovers: how many of their actions,
    /// resources and principals they share (elements, then entries); `None` when they share
    /// none or differ in effect.
    fn likeness(&self, other: &Statement) -> Option<(usize, usize)> {
        if self.effect_name() != other.effect_name() {
            return None;
        }
        let (mut elements, mut entries) = (0, 0);
        for e in [
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "NotPrincipal",
            OPAQUE,
        ] {
            if let (Some(a), Some(b)) = (self.elements.get(e), other.elements.get(e)) {
                let shared = a.intersection(b).count();
                if shared > 0 {
                    elements += 1;
                    entries += shared;
                }
            }
        }
        (elements > 0).then_some((elements, entries))
    }

    /// One line: `Allow s3:GetObject on arn:… to Service:lambda.amazonaws.com when …`.
    fn summary(&self) -> String {
        if let Some(whole) = self.elements.get(OPAQUE) {
            return format!(
                "a policy that is not a literal document, which may grant anything: {}",
                join(whole)
            );
        }
        let mut out = self.effect_name();
        let list = |e: &str| {
            self.elements
                .get(e)
                .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
        };
        for (element, word) in [
            ("Action", ""),
            ("NotAction", " every action but"),
            ("Resource", " on"),
            ("NotResource", " on every resource but"),
            ("Principal", " to"),
            ("NotPrincipal", " to every principal but"),
        ] {
            if let Some(items) = list(element) {
                out.push_str(word);
                out.push(' ');
                out.push_str(&items);
            }
        }
        if !self.condition.is_empty() {
            out.push_str(" when ");
            out.push_str(
                &self
                    .set("Condition")
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        out
    }
}

fn condition_entry(op: &str, key: &str, values: &BTreeSet<String>) -> String {
    let values = values.iter().cloned().collect::<Vec<_>>().join(", ");
    match (op.is_empty(), key.is_empty()) {
        (true, _) => values,
        (false, true) => format!("{op} {values}"),
        (false, false) => format!("{op} {key} = {values}"),
    }
}

/// A string or a list as a set of strings; anything else (an intrinsic) as its JSON.
fn strings(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Array(items) => items.iter().map(compact).collect(),
        other => BTreeSet::from([compact(other)]),
    }
}

/// A principal as `Kind:value` entries; `"*"` is `AWS:*`, as IAM reads it.
fn principals(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(s) if s == "*" => BTreeSet::from(["AWS:*".to_owned()]),
        Value::Object(map) if !is_intrinsic(value) => map
            .iter()
            .flat_map(|(kind, v)| strings(v).into_iter().map(move |p| format!("{kind}:{p}")))
            .collect(),
        other => strings(other),
    }
}

/// One dimension of what an Allow statement grants, and how it widens.
struct Dimension {
    element: &'static str,
    /// The element that grants everything but what it lists.
    not_element: &'static str,
    kind: WideningKind,
    describe: fn(&str) -> String,
    noun: &'static str,
}

const DIMENSIONS: [Dimension; 3] = [
    Dimension {
        element: "Action",
        not_element: "NotAction",
        kind: WideningKind::NewAction,
        describe: describe_action,
        noun: "action",
    },
    Dimension {
        element: "Resource",
        not_element: "NotResource",
        kind: WideningKind::BroaderResource,
        describe: describe_resource,
        noun: "resource",
    },
    Dimension {
        element: "Principal",
        not_element: "NotPrincipal",
        kind: WideningKind::NewPrincipal,
        describe: describe_principal,
        noun: "principal",
    },
];

/// What widens when `old` becomes `new` (both the same statement, matched).
fn widenings(old: &Statement, new: &Statement) -> Vec<Widening> {
    let mut out = Vec::new();
    // What one side has that the other's entries do not cover, wildcards included: `s3:GetObject`
    // added next to `s3:*` grants nothing new.
    let added = |e: &str| -> Vec<String> { uncovered(&new.set(e), &old.set(e), e) };
    let removed = |e: &str| -> Vec<String> { uncovered(&old.set(e), &new.set(e), e) };
    let newly_present = |e: &str| !old.elements.contains_key(e) && new.elements.contains_key(e);
    match (old.effect.allows(), new.effect.allows()) {
        (false, true) => {
            out.push(Widening {
                kind: WideningKind::RemovedDeny,
                detail: format!("Deny became {}: {}", new.effect_name(), old.summary()),
            });
            out.push(Widening {
                kind: WideningKind::NewAllowStatement,
                detail: new.summary(),
            });
        }
        (true, false) => {}
        (true, true) => {
            let mut push = |kind, detail: String| out.push(Widening { kind, detail });
            for d in &DIMENSIONS {
                let (element, not_element, kind, noun) = (d.element, d.not_element, d.kind, d.noun);
                for a in added(element) {
                    push(kind, (d.describe)(&a));
                }
                if newly_present(not_element) {
                    push(
                        kind,
                        format!("every {noun} but {}", join(&new.set(not_element))),
                    );
                } else {
                    for a in removed(not_element) {
                        push(kind, format!("{a} (no longer excluded by {not_element})"));
                    }
                }
            }
            // Condition keys are ANDed: only a new key narrows an Allow; a removed key, or other
            // values for a key (which may be negated operators), may let more requests through.
            for (pair, values) in &old.condition {
                let entry = condition_entry(&pair.0, &pair.1, values);
                match new.condition.get(pair) {
                    None => push(WideningKind::LooserCondition, format!("removed: {entry}")),
                    Some(now) if now != values => push(
                        WideningKind::LooserCondition,
                        format!("{entry} → {}", join(now)),
                    ),
                    Some(_) => {}
                }
            }
        }
        (false, false) => {
            let mut push = |detail: String| {
                out.push(Widening {
                    kind: WideningKind::NarrowerDeny,
                    detail,
                })
            };
            for a in removed("Action") {
                push(format!("no longer denies {a}"));
            }
            for a in added("NotAction") {
                push(format!("no longer denies {a} (excluded by NotAction)"));
            }
            for r in removed("Resource") {
                push(format!("no longer denies on {r}"));
            }
            for r in added("NotResource") {
                push(format!("no longer denies on {r} (excluded by NotResource)"));
            }
            for p in removed("Principal") {
                push(format!("no longer denies {p}"));
            }
            for p in added("NotPrincipal") {
                push(format!("no longer denies {p} (excluded by NotPrincipal)"));
            }
            // A new key, or other values for a key, may make the Deny apply to fewer requests.
            for (pair, values) in &new.condition {
                let entry = condition_entry(&pair.0, &pair.1, values);
                match old.condition.get(pair) {
                    None => push(format!("denies only when {entry}")),
                    Some(before) if before != values => push(format!(
                        "condition {} → {entry}",
                        condition_entry(&pair.0, &pair.1, before)
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    out
}

/// The entries of `items` that no entry of `patterns` matches (`*` any run, `?` one character;
/// actions without regard to case, as IAM compares them).
fn uncovered(items: &BTreeSet<String>, patterns: &BTreeSet<String>, element: &str) -> Vec<String> {
    let fold = element.ends_with("Action");
    items
        .iter()
        .filter(|item| {
            !patterns.iter().any(|p| {
                if fold {
                    glob(&p.to_ascii_lowercase(), &item.to_ascii_lowercase())
                } else {
                    glob(p, item)
                }
            })
        })
        .cloned()
        .collect()
}

/// Whether `text` matches the IAM wildcard `pattern`.
fn glob(pattern: &str, text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    // matches[j]: the pattern so far matches text[..j].
    let mut matches = vec![false; t.len() + 1];
    matches[0] = true;
    for pc in pattern.chars() {
        let mut next = vec![false; t.len() + 1];
        next[0] = pc == '*' && matches[0];
        for j in 1..=t.len() {
            next[j] = match pc {
                '*' => matches[j] || next[j - 1],
                '?' => matches[j - 1],
                c => matches[j - 1] && t[j - 1] == c,
            };
        }
        matches = next;
    }
    matches[t.len()]
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn describe_action(action: &str) -> String {
    if action == "*" {
        "* (every action of every service)".to_owned()
    } else if let Some(service) = action.strip_suffix(":*") {
        format!("{action} (every {service} action)")
    } else if action.contains('*') || action.contains('?') {
        format!("{action} (wildcard)")
    } else {
        action.to_owned()
    }
}

fn describe_resource(resource: &str) -> String {
    if resource == "*" {
        "* (every resource)".to_owned()
    } else {
        resource.to_owned()
    }
}

fn describe_principal(principal: &str) -> String {
    if principal == "AWS:*" {
        "AWS:* (anyone)".to_owned()
    } else {
        principal.to_owned()
    }
}

/// The changes between two versions of one document.
fn diff_document(label: &str, old: &[Value], new: &[Value]) -> Vec<StatementChange> {
    let old: Vec<Statement> = old.iter().map(Statement::read).collect();
    let new: Vec<Statement> = new.iter().map(Statement::read).collect();
    // pairs[i] = the old statement new[i] is matched with.
    let mut pairs: Vec<Option<usize>> = vec![None; new.len()];
    let mut taken = vec![false; old.len()];

    // 1. By Sid, in order of appearance.
    for (i, n) in new.iter().enumerate() {
        if let Some(sid) = &n.sid
            && let Some(j) = (0..old.len()).find(|&j| !taken[j] && old[j].sid.as_ref() == Some(sid))
        {
            pairs[i] = Some(j);
            taken[j] = true;
        }
    }
    // 2. By identical content.
    for (i, n) in new.iter().enumerate() {
        if pairs[i].is_none()
            && let Some(j) = (0..old.len()).find(|&j| !taken[j] && old[j].same_content(n))
        {
            pairs[i] = Some(j);
            taken[j] = true;
        }
    }
    // 3. Leftovers that are alike: one statement edited.
    for (i, n) in new.iter().enumerate() {
        if pairs[i].is_some() {
            continue;
        }
        // The most alike; of equals, the first.
        let best = (0..old.len())
            .filter(|&j| !taken[j])
            .filter_map(|j| old[j].likeness(n).map(|score| (score, j)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        if let Some((_, j)) = best {
            pairs[i] = Some(j);
            taken[j] = true;
        }
    }

    let label_of = |s: &Statement, index: usize| s.sid.clone().unwrap_or(format!("#{}", index + 1));
    let mut out = Vec::new();
    for (i, n) in new.iter().enumerate() {
        match pairs[i] {
            Some(j) => {
                let o = &old[j];
                let elements: Vec<ElementChange> = ELEMENTS
                    .iter()
                    .filter_map(|e| {
                        let (before, after) = (o.set(e), n.set(e));
                        let added: Vec<String> = after.difference(&before).cloned().collect();
                        let removed: Vec<String> = before.difference(&after).cloned().collect();
                        (!added.is_empty() || !removed.is_empty()).then(|| ElementChange {
                            element: (*e).to_owned(),
                            added,
                            removed,
                        })
                    })
                    .collect();
                if elements.is_empty() {
                    continue;
                }
                out.push(StatementChange {
                    document: label.to_owned(),
                    statement: label_of(n, i),
                    change: ChangeKind::Modified,
                    effect: n.effect_name(),
                    elements,
                    old: Some(o.raw.clone()),
                    new: Some(n.raw.clone()),
                    widening: widenings(o, n),
                });
            }
            None => {
                let widening = if n.effect.allows() {
                    vec![Widening {
                        kind: WideningKind::NewAllowStatement,
                        detail: n.summary(),
                    }]
                } else {
                    Vec::new()
                };
                out.push(StatementChange {
                    document: label.to_owned(),
                    statement: label_of(n, i),
                    change: ChangeKind::Added,
                    effect: n.effect_name(),
                    elements: Vec::new(),
                    old: None,
                    new: Some(n.raw.clone()),
                    widening,
                });
            }
        }
    }
    for (j, o) in old.iter().enumerate() {
        if taken[j] {
            continue;
        }
        let widening = if o.effect.allows() {
            Vec::new()
        } else {
            vec![Widening {
                kind: WideningKind::RemovedDeny,
                detail: o.summary(),
            }]
        };
        out.push(StatementChange {
            document: label.to_owned(),
            statement: label_of(o, j),
            change: ChangeKind::Removed,
            effect: o.effect_name(),
            elements: Vec::new(),
            old: Some(o.raw.clone()),
            new: None,
            widening,
        });
    }
    out
}

/// Whom the policies apply to, per attachment property, as sets.
fn attachments(
    type_name: &str,
    properties: &Map<String, Value>,
) -> BTreeMap<&'static str, BTreeSet<String>> {
    attachment_properties(type_name)
        .iter()
        .filter_map(|name| properties.get(*name).map(|v| (*name, strings(v))))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc_diff(old: Value, new: Value) -> Vec<StatementChange> {
        let props = |doc: Value| {
            json!({ "PolicyDocument": doc })
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let (o, n) = (props(old), props(new));
        diff(
            Some(("AWS::IAM::Policy", &o)),
            Some(("AWS::IAM::Policy", &n)),
        )
        .0
    }

    fn kinds(changes: &[StatementChange]) -> Vec<WideningKind> {
        changes
            .iter()
            .flat_map(|c| c.widening.iter().map(|w| w.kind))
            .collect()
    }

    #[test]
    fn a_string_and_a_one_element_list_are_the_same_statement() {
        let old = json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:x"}});
        let new = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:x"]}]});
        assert!(doc_diff(old, new).is_empty());
    }

    #[test]
    fn a_deny_that_denies_less_widens() {
        let old = json!({"Statement": [{"Sid": "D", "Effect": "Deny", "Action": ["s3:DeleteObject", "s3:PutObject"], "Resource": "*"}]});
        let new = json!({"Statement": [{"Sid": "D", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ops"}}}]});
        let changes = doc_diff(old, new);
        assert_eq!(
            kinds(&changes),
            [WideningKind::NarrowerDeny, WideningKind::NarrowerDeny]
        );
        let details: Vec<&str> = changes[0]
            .widening
            .iter()
            .map(|w| w.detail.as_str())
            .collect();
        assert_eq!(
            details,
            [
                "no longer denies s3:DeleteObject",
                "denies only when StringEquals aws:PrincipalTag/team = ops"
            ]
        );
    }

    #[test]
    fn a_deny_becoming_an_allow_widens_twice() {
        let old = json!({"Statement": [{"Sid": "S", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]});
        let new = json!({"Statement": [{"Sid": "S", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        assert_eq!(
            kinds(&doc_diff(old, new)),
            [WideningKind::RemovedDeny, WideningKind::NewAllowStatement]
        );
    }

    #[test]
    fn an_allow_becoming_narrower_does_not_widen() {
        let old = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]});
        let new = json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]});
        let changes = doc_diff(old, new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change, ChangeKind::Modified);
        assert!(kinds(&changes).is_empty(), "{changes:#?}");
    }

    #[test]
    fn another_value_for_a_condition_key_is_looser() {
        let old = json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": ["arn:a"]}}}]});
        let new = json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": ["arn:a", "arn:b"]}}}]});
        assert_eq!(kinds(&doc_diff(old, new)), [WideningKind::LooserCondition]);
    }

    #[test]
    fn not_elements_and_wildcards() {
        let old = json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:x"}]});
        let new = json!({"Statement": [{"Sid": "A", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:x"}]});
        let changes = doc_diff(old, new);
        assert_eq!(changes[0].widening[0].detail, "every action but iam:*");
        assert_eq!(describe_action("*"), "* (every action of every service)");
        assert_eq!(describe_action("s3:*"), "s3:* (every s3 action)");
        assert_eq!(describe_action("s3:Get*"), "s3:Get* (wildcard)");
        assert_eq!(describe_principal("AWS:*"), "AWS:* (anyone)");
        assert_eq!(principals(&json!("*")), principals(&json!({"AWS": "*"})));
    }

    #[test]
    fn a_document_that_is_not_literal_is_one_opaque_statement() {
        let old = json!({"Fn::If": ["Prod", {"Statement": []}, {"Statement": []}]});
        let new = json!({"Fn::If": ["Prod", {"Statement": []}, {"Ref": "AWS::NoValue"}]});
        let changes = doc_diff(old, new);
        assert_eq!(kinds(&changes), [WideningKind::NewAllowStatement]);
        assert!(changes.iter().any(|c| c.change == ChangeKind::Removed));
        // A policy given as a JSON string is read as the document it holds.
        let text = json!(
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}]}"
        );
        let parsed =
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        assert!(doc_diff(text, parsed).is_empty());
    }

    #[test]
    fn wildcards_cover_what_they_match() {
        assert!(glob("*", "{\"Fn::GetAtt\":[\"T\",\"Arn\"]}"));
        assert!(glob("s3:*", "s3:GetObject"));
        assert!(glob("s3:Get*", "s3:GetObject"));
        assert!(glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/logs/x"));
        assert!(glob("s3:GetObject?", "s3:GetObjectX"));
        assert!(!glob("s3:Get*", "s3:PutObject"));
        assert!(!glob("arn:aws:s3:::b/*", "arn:aws:s3:::c/x"));
        let old = BTreeSet::from(["S3:*".to_owned()]);
        let new = BTreeSet::from(["s3:GetObject".to_owned(), "sqs:SendMessage".to_owned()]);
        assert_eq!(uncovered(&new, &old, "Action"), ["sqs:SendMessage"]);
        let old = json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        let new = json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Action": ["s3:*", "s3:GetObject"], "Resource": "*"}]});
        let changes = doc_diff(old, new);
        assert_eq!(changes.len(), 1, "a change");
        assert!(kinds(&changes).is_empty(), "but no wider");
    }

    #[test]
    fn strip_leaves_what_the_property_diff_compares() {
        let props = json!({
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
            "Policies": [], "ManagedPolicyArns": [], "RoleName": "r"
        });
        let stripped = strip("AWS::IAM::Role", props.as_object().unwrap_or(&Map::new()));
        assert_eq!(
            Value::Object(stripped),
            json!({"AssumeRolePolicyDocument": {"Version": "2012-10-17"}, "RoleName": "r"})
        );
    }
}
