//! The terminal view: one block per stack, a line per resource, its changes indented below.

use std::fmt::Write;

use super::{change_word, impact, show, statement_json, summary_line};
use crate::model::{
    ChangeKind, EntryDiff, Replacement, Report, ResourceDiff, ValueChange, Widening,
};

/// ANSI styles, or none.
#[derive(Debug, Clone, Copy)]
struct Style {
    colour: bool,
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const BOLD_RED: &str = "1;31";
const BOLD: &str = "1";
const DIM: &str = "2";

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn marker(self, change: ChangeKind) -> String {
        match change {
            ChangeKind::Added => self.paint(GREEN, "[+]"),
            ChangeKind::Removed => self.paint(RED, "[-]"),
            ChangeKind::Modified => self.paint(YELLOW, "[~]"),
        }
    }
}

/// The report for a terminal; ANSI colours only when `colour` (the caller decides, by TTY).
pub fn text(report: &Report, colour: bool) -> String {
    let style = Style { colour };
    let mut out = String::new();
    for (name, stack) in &report.stacks {
        let _ = writeln!(
            out,
            "{} {}",
            style.paint(BOLD, name),
            style.paint(DIM, &format!("(base: {})", stack.base))
        );
        if stack.diff.is_empty() {
            out.push_str("  no changes\n\n");
            continue;
        }
        let _ = writeln!(out, "  {}", summary_line(&stack.summary));
        if !stack.diff.resources.is_empty() {
            out.push_str("Resources\n");
            for (id, r) in &stack.diff.resources {
                resource(&mut out, style, id, r);
            }
        }
        entries(&mut out, style, "Parameters", &stack.diff.parameters);
        entries(&mut out, style, "Outputs", &stack.diff.outputs);
        if !stack.diff.sections.is_empty() {
            out.push_str("Other template sections\n");
            for c in &stack.diff.sections {
                change_line(&mut out, c);
            }
        }
        let widenings: Vec<_> = stack
            .diff
            .resources
            .iter()
            .flat_map(|(id, r)| r.widenings().map(move |w| (id, r, w)))
            .collect();
        if !widenings.is_empty() {
            let _ = writeln!(out, "{}", style.paint(BOLD_RED, "IAM widening"));
            for (id, r, w) in widenings {
                let _ = writeln!(out, "  {id} ({}): {}: {}", r.type_name, w.kind, w.detail);
            }
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}",
        if report.has_changes() {
            format!("total: {}", summary_line(&report.summary))
        } else {
            "no changes".to_owned()
        }
    );
    out
}

fn resource(out: &mut String, style: Style, id: &str, r: &ResourceDiff) {
    let impact_text = impact(r);
    let impact_text = match r.replacement {
        Some(Replacement::WillReplace) => style.paint(BOLD_RED, &impact_text),
        Some(Replacement::MayReplace) => style.paint(YELLOW, &impact_text),
        _ => impact_text,
    };
    let _ = writeln!(
        out,
        "{} {id} {} — {impact_text}",
        style.marker(r.change),
        r.type_name
    );
    if let Some(loss) = &r.data_loss {
        let what = if loss.certain {
            "data loss"
        } else {
            "possible data loss"
        };
        let _ = writeln!(
            out,
            "    {} {}",
            style.paint(BOLD_RED, &format!("! {what}:")),
            loss.reason
        );
    }
    for c in &r.changes {
        let mut line = format!(
            "    {}: {} → {}",
            c.change.path,
            show(c.change.old.as_ref()),
            show(c.change.new.as_ref())
        );
        if c.replacement > Replacement::InPlace {
            let note = match &c.reason {
                Some(reason) => format!("[{}: {reason}]", c.replacement),
                None => format!("[{}]", c.replacement),
            };
            line.push(' ');
            line.push_str(&style.paint(
                if c.replacement == Replacement::WillReplace {
                    BOLD_RED
                } else {
                    YELLOW
                },
                &note,
            ));
        }
        let _ = writeln!(out, "{line}");
    }
    for s in &r.iam {
        let _ = writeln!(
            out,
            "    {} {} statement {} ({}) {}",
            style.marker(s.change),
            s.document,
            s.statement,
            s.effect,
            change_word(s.change)
        );
        if s.change == ChangeKind::Modified {
            for e in &s.elements {
                for a in &e.added {
                    let _ = writeln!(out, "        {} {} {a}", style.paint(GREEN, "+"), e.element);
                }
                for a in &e.removed {
                    let _ = writeln!(out, "        {} {} {a}", style.paint(RED, "-"), e.element);
                }
            }
        } else {
            let _ = writeln!(out, "        {}", statement_json(s));
        }
        for w in &s.widening {
            widening_line(out, style, w);
        }
    }
    for a in &r.attachments {
        for x in &a.added {
            let _ = writeln!(out, "    {} {} {x}", style.paint(GREEN, "[+]"), a.property);
        }
        for x in &a.removed {
            let _ = writeln!(out, "    {} {} {x}", style.paint(RED, "[-]"), a.property);
        }
        for w in &a.widening {
            widening_line(out, style, w);
        }
    }
}

/// `        ! widens: new action: s3:PutObject`
fn widening_line(out: &mut String, style: Style, w: &Widening) {
    let label = format!("! widens: {}:", w.kind);
    let _ = writeln!(
        out,
        "        {} {}",
        style.paint(BOLD_RED, &label),
        w.detail
    );
}

/// `    Path: old → new`
fn change_line(out: &mut String, c: &ValueChange) {
    let _ = writeln!(
        out,
        "    {}: {} → {}",
        c.path,
        show(c.old.as_ref()),
        show(c.new.as_ref())
    );
}

fn entries(
    out: &mut String,
    style: Style,
    title: &str,
    entries: &std::collections::BTreeMap<String, EntryDiff>,
) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for (name, e) in entries {
        let _ = writeln!(out, "{} {name}", style.marker(e.change));
        for c in &e.changes {
            if c.path.is_root() {
                let _ = writeln!(out, "    {}", show(c.new.as_ref().or(c.old.as_ref())));
            } else {
                change_line(out, c);
            }
        }
    }
}
