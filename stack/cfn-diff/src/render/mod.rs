//! The report as terminal text, as Markdown for a pull request comment, or as JSON for tools.

mod markdown;
mod text;

pub use markdown::markdown;
pub use text::text;

use serde_json::Value;

use crate::model::{ChangeKind, Replacement, ResourceDiff, StatementChange, Summary};

/// The report as pretty JSON with a trailing newline: the [`crate::Report`] fields, paths as
/// JSON Pointers, enums in snake case.
pub fn json(report: &crate::Report) -> String {
    let mut s = serde_json::to_string_pretty(report)
        .expect("invariant: a Report is plain data and always serializes");
    s.push('\n');
    s
}

/// A value on one line: compact JSON (strings quoted, so `"1"` and `1` differ); `(absent)`.
fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), Value::to_string)
}

/// `2 added, 1 removed, 3 modified (1 will replace, 1 may replace)`, and the rest that is not zero.
fn summary_line(s: &Summary) -> String {
    let mut parts = Vec::new();
    let mut resources = format!(
        "{} added, {} removed, {} modified",
        s.added, s.removed, s.modified
    );
    let mut replaced = Vec::new();
    if s.will_replace > 0 {
        replaced.push(format!("{} will replace", s.will_replace));
    }
    if s.may_replace > 0 {
        replaced.push(format!("{} may replace", s.may_replace));
    }
    if !replaced.is_empty() {
        resources.push_str(&format!(" ({})", replaced.join(", ")));
    }
    parts.push(format!("resources: {resources}"));
    for (n, what) in [
        (s.parameters, "parameters changed"),
        (s.outputs, "outputs changed"),
        (s.sections, "other template values changed"),
        (s.data_loss, "resources losing data"),
        (s.iam_widening, "IAM widenings"),
    ] {
        if n > 0 {
            parts.push(format!("{what}: {n}"));
        }
    }
    parts.join(" · ")
}

/// What happens to a resource, in a few words: `added`, `removed`, `will replace`, `in place`.
fn impact(r: &ResourceDiff) -> String {
    match (r.change, r.replacement) {
        (ChangeKind::Added, _) => "added".to_owned(),
        (ChangeKind::Removed, _) => "removed".to_owned(),
        (ChangeKind::Modified, Some(replacement)) => replacement.to_string(),
        (ChangeKind::Modified, None) => Replacement::InPlace.to_string(),
    }
}

/// The reason a modified resource is (maybe) replaced: the first change's that is as bad.
fn replacement_reason(r: &ResourceDiff) -> Option<&str> {
    let worst = r.replacement.filter(|w| *w > Replacement::InPlace)?;
    r.changes
        .iter()
        .find(|c| c.replacement == worst)
        .and_then(|c| c.reason.as_deref())
}

/// A statement, for an added or removed one: its raw JSON on one line.
fn statement_json(s: &StatementChange) -> String {
    show(s.new.as_ref().or(s.old.as_ref()))
}

fn change_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Modified => "modified",
    }
}
