//! Markdown for a pull request comment: per stack a summary table, data loss and replacement
//! called out, IAM widening in its own section, then the details folded.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{change_word, impact, replacement_reason, show, statement_json, summary_line};
use crate::model::{ChangeKind, EntryDiff, Replacement, Report, ResourceDiff, StackReport};

/// The report as GitHub-flavoured Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("## CloudFormation diff\n\n");
    if !report.has_changes() {
        let names: Vec<String> = report.stacks.keys().map(|n| code(n)).collect();
        let _ = writeln!(out, "No changes in {}.", names.join(", "));
        return out;
    }
    if report.stacks.len() > 1 {
        let _ = writeln!(out, "{}\n", summary_line(&report.summary));
    }
    for (name, stack) in &report.stacks {
        stack_section(&mut out, name, stack);
    }
    out
}

fn stack_section(out: &mut String, name: &str, stack: &StackReport) {
    let _ = writeln!(out, "### {}\n", code(name));
    let _ = writeln!(out, "Compared with {}.\n", code(&stack.base));
    let diff = &stack.diff;
    if diff.is_empty() {
        out.push_str("No changes.\n\n");
        return;
    }
    let _ = writeln!(out, "{}\n", summary_line(&stack.summary));

    if !diff.resources.is_empty() {
        out.push_str("| | Resource | Type | Impact |\n|---|---|---|---|\n");
        for (id, r) in &diff.resources {
            let mut what = match r.replacement {
                Some(rep) if rep > Replacement::InPlace => format!("**{}**", impact(r)),
                _ => impact(r),
            };
            if r.data_loss.is_some() {
                what.push_str(" · **data loss**");
            }
            if r.widenings().next().is_some() {
                what.push_str(" · **IAM widening**");
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {what} |",
                marker(r.change),
                code(id),
                code(&r.type_name)
            );
        }
        out.push('\n');
    }

    let losses: Vec<_> = diff
        .resources
        .iter()
        .filter_map(|(id, r)| r.data_loss.as_ref().map(|l| (id, r, l)))
        .collect();
    if !losses.is_empty() {
        out.push_str("> [!CAUTION]\n> **Data loss**\n");
        for (id, r, loss) in losses {
            let certainty = if loss.certain { "" } else { " (possible)" };
            let _ = writeln!(
                out,
                "> - {} ({}){certainty}: {}",
                code(id),
                r.type_name,
                loss.reason
            );
        }
        out.push('\n');
    }
    let replaced: Vec<_> = diff
        .resources
        .iter()
        .filter(|(_, r)| r.replacement.is_some_and(|x| x > Replacement::InPlace))
        .collect();
    if !replaced.is_empty() {
        out.push_str("> [!WARNING]\n> **Replacement**\n");
        for (id, r) in replaced {
            let why = replacement_reason(r)
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            let _ = writeln!(out, "> - {} ({}) {}{why}", code(id), r.type_name, impact(r));
        }
        out.push('\n');
    }

    let widenings: Vec<_> = diff
        .resources
        .iter()
        .flat_map(|(id, r)| {
            r.iam
                .iter()
                .flat_map(move |s| {
                    s.widening
                        .iter()
                        .map(move |w| (id, r, format!("{} {}", s.document, s.statement), w))
                })
                .chain(r.attachments.iter().flat_map(move |a| {
                    a.widening
                        .iter()
                        .map(move |w| (id, r, a.property.clone(), w))
                }))
        })
        .collect();
    if !widenings.is_empty() {
        out.push_str(
            "#### IAM widening\n\n| Resource | Policy | Widening | Grants |\n|---|---|---|---|\n",
        );
        for (id, r, policy, w) in widenings {
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {} |",
                code(id),
                r.type_name,
                cell(&policy),
                w.kind,
                code(&w.detail)
            );
        }
        out.push('\n');
    }

    let details: Vec<_> = diff
        .resources
        .iter()
        .filter(|(_, r)| !r.changes.is_empty() || !r.iam.is_empty() || !r.attachments.is_empty())
        .collect();
    if !details.is_empty()
        || !diff.parameters.is_empty()
        || !diff.outputs.is_empty()
        || !diff.sections.is_empty()
    {
        out.push_str("<details><summary>Details</summary>\n\n");
        for (id, r) in details {
            resource_details(out, id, r);
        }
        entries(out, "Parameters", &diff.parameters);
        entries(out, "Outputs", &diff.outputs);
        if !diff.sections.is_empty() {
            out.push_str(
                "#### Other template sections\n\n| Path | Base | Current |\n|---|---|---|\n",
            );
            for c in &diff.sections {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    code(&c.path.to_string()),
                    value(c.old.as_ref()),
                    value(c.new.as_ref())
                );
            }
            out.push('\n');
        }
        out.push_str("</details>\n\n");
    }
}

fn resource_details(out: &mut String, id: &str, r: &ResourceDiff) {
    let _ = writeln!(out, "#### {} ({}): {}\n", code(id), r.type_name, impact(r));
    if !r.changes.is_empty() {
        out.push_str("| Path | Base | Current | Replacement |\n|---|---|---|---|\n");
        for c in &r.changes {
            let replacement = match (&c.reason, c.replacement) {
                (_, Replacement::InPlace) => c.replacement.to_string(),
                (Some(reason), rep) => format!("**{rep}**: {}", cell(reason)),
                (None, rep) => format!("**{rep}**"),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {replacement} |",
                code(&c.change.path.to_string()),
                value(c.change.old.as_ref()),
                value(c.change.new.as_ref())
            );
        }
        out.push('\n');
    }
    if !r.iam.is_empty() {
        out.push_str("| Policy | Statement | Change | What |\n|---|---|---|---|\n");
        for s in &r.iam {
            let what = if s.change == ChangeKind::Modified {
                s.elements
                    .iter()
                    .flat_map(|e| {
                        e.added
                            .iter()
                            .map(move |a| format!("+ {} {}", e.element, code(a)))
                            .chain(
                                e.removed
                                    .iter()
                                    .map(move |a| format!("− {} {}", e.element, code(a))),
                            )
                    })
                    .collect::<Vec<_>>()
                    .join("<br>")
            } else {
                code(&statement_json(s))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} {} | {what} |",
                cell(&s.document),
                cell(&s.statement),
                s.effect,
                change_word(s.change)
            );
        }
        out.push('\n');
    }
    for a in &r.attachments {
        for x in &a.added {
            let _ = writeln!(out, "- {} added: {}", a.property, code(x));
        }
        for x in &a.removed {
            let _ = writeln!(out, "- {} removed: {}", a.property, code(x));
        }
    }
    if !r.attachments.is_empty() {
        out.push('\n');
    }
}

fn entries(out: &mut String, title: &str, entries: &BTreeMap<String, EntryDiff>) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "#### {title}\n\n| | Name | Path | Base | Current |\n|---|---|---|---|---|"
    );
    for (name, e) in entries {
        for c in &e.changes {
            let path = if c.path.is_root() {
                String::new()
            } else {
                code(&c.path.to_string())
            };
            let _ = writeln!(
                out,
                "| {} | {} | {path} | {} | {} |",
                marker(e.change),
                code(name),
                value(c.old.as_ref()),
                value(c.new.as_ref())
            );
        }
    }
    out.push('\n');
}

fn marker(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "➕",
        ChangeKind::Removed => "➖",
        ChangeKind::Modified => "✏️",
    }
}

/// Text as an inline code span that survives a table cell: pipes escaped, and a fence longer
/// than any run of backticks inside.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

/// A value as a code span; an absent one as a word.
fn value(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "*(absent)*".to_owned(), |v| code(&show(Some(v))))
}

/// Plain text in a table cell: pipes escaped, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
