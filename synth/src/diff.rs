//! `synth diff`: what the templates synthesized now change, compared with a base — template
//! files, the reviewed snapshots at a git revision, or the deployed stacks — rendered for a
//! terminal, a pull request comment (Markdown) or a tool (JSON), with exit codes for CI gates.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use cfn_diff::{Finding, Report, diff_templates, render};
use serde_json::Value;
use tracing::{info, warn};

use crate::template_text::{self, TemplateTextError};

/// Set (to anything) to turn the terminal view's colours off even on a TTY (no-color.org).
pub const NO_COLOR_ENV: &str = "NO_COLOR";
/// The folder of the reviewed snapshots, `<Stack>.snap`, relative to the repository's root.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// The branch whose merge base with `HEAD` is the default base.
pub const MAIN_BRANCH: &str = "main";

/// Exit code: the templates are the same as the base (or no `--fail-on` condition is present).
pub const EXIT_NO_CHANGES: u8 = 0;
/// Exit code: the templates differ (with `--fail-on`: a named condition is present).
pub const EXIT_CHANGES: u8 = 1;

#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// A template file to compare with: `FILE` (when one stack is selected), `STACK=FILE` per
    /// stack (repeatable; selects those stacks), or a directory holding `<Stack>.template.json`
    /// (or `.yaml`), such as an earlier `cdk.out`.
    #[arg(long, value_name = "FILE|STACK=FILE|DIR", conflicts_with_all = ["base_ref", "deployed"])]
    pub base: Vec<String>,
    /// Compare with the reviewed snapshots (`snapshots/<Stack>.snap`) committed at this git
    /// revision. Without any base option: the merge base of HEAD with `main`.
    #[arg(long, value_name = "GIT_REV", conflicts_with = "deployed")]
    pub base_ref: Option<String>,
    /// Compare with the template a stack has deployed (CloudFormation `GetTemplate`, in the
    /// stack's region; `AWS_ENDPOINT_URL` points it at an emulator). `STACK`, or
    /// `STACK=NAME` when the CloudFormation stack has another name. Repeatable; selects those stacks.
    #[arg(long, value_name = "STACK[=NAME]")]
    pub deployed: Vec<String>,
    /// Only these stacks: the global `--stack NAME` (repeatable). Default: every stack (or those
    /// the base options name).
    #[arg(skip)]
    pub stacks: Vec<String>,
    /// How to show the diff: `text` for a terminal (colour only on a TTY), `markdown` for a pull
    /// request comment, `json` for tools.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit 1 only when one of these is present (repeatable), and 0 otherwise, even with changes.
    #[arg(long = "fail-on", value_enum, value_name = "CONDITION")]
    pub fail_on: Vec<FailOn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

/// A condition `--fail-on` gates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// A resource will or may be replaced.
    Replacement,
    /// A stateful resource is removed or replaced without a policy that keeps its data.
    DataLoss,
    /// An IAM permission gets wider.
    IamWidening,
}

impl From<FailOn> for Finding {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Replacement => Finding::Replacement,
            FailOn::DataLoss => Finding::DataLoss,
            FailOn::IamWidening => Finding::IamWidening,
        }
    }
}

/// The exit code for a report: see [`EXIT_NO_CHANGES`], [`EXIT_CHANGES`].
pub fn exit_code(report: &Report, fail_on: &[FailOn]) -> u8 {
    let failing = if fail_on.is_empty() {
        report.has_changes()
    } else {
        fail_on.iter().any(|f| report.has((*f).into()))
    };
    if failing {
        EXIT_CHANGES
    } else {
        EXIT_NO_CHANGES
    }
}

/// One stack to compare: its name, its region, and the template it synthesizes now.
#[derive(Debug, Clone)]
pub struct Current {
    pub stack: String,
    pub region: String,
    pub template: Value,
}

/// The template one stack is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    /// Where it came from, as the report shows it.
    pub label: String,
    /// `None`: the stack is not there (not in the snapshots at that revision, not deployed), so
    /// everything it has is new.
    pub template: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("cannot read the base template {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no base template for {stack} in {dir}: expected {expected}")]
    NotInDir {
        stack: String,
        dir: PathBuf,
        expected: String,
    },
    #[error(
        "--base FILE compares one stack, and {selected} are selected: select one with --stack, \
         name each with --base STACK=FILE, or give a directory of <Stack>.template.json"
    )]
    OneFileManyStacks { selected: usize },
    #[error("give --base either as one FILE or DIR, or as STACK=FILE per stack, not both")]
    MixedBaseForms,
    #[error("--stack {stack} has no base: give --base {stack}=FILE")]
    NoBaseFor { stack: String },
    #[error("{option} names {stack}, which --stack does not select")]
    NotSelected { option: &'static str, stack: String },
    #[error("no stack named `{name}`; the stacks are: {known}")]
    UnknownStack { name: String, known: String },
    #[error("{origin} is not a template")]
    Template {
        origin: String,
        #[source]
        source: TemplateTextError,
    },
    #[error(
        "git is not installed (or not on PATH); it is needed to read the snapshots at a revision"
    )]
    NoGit(#[source] std::io::Error),
    #[error("unknown git revision `{rev}`: {stderr}")]
    UnknownRevision { rev: String, stderr: String },
    #[error(
        "no merge base of HEAD with {MAIN_BRANCH} or origin/{MAIN_BRANCH}: give --base-ref REV ({stderr})"
    )]
    NoMergeBase { stderr: String },
    #[error("`git {args}` failed: {stderr}")]
    Git { args: String, stderr: String },
    #[error(
        "{rev} holds none of {files}: not a revision with reviewed snapshots (give another --base-ref)"
    )]
    NoSnapshots { rev: String, files: String },
}

/// Compares each stack's current template with its base, into a report.
pub fn compare(currents: &[Current], bases: &[Base]) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let empty = Value::Object(serde_json::Map::new());
    for (current, base) in currents.iter().zip(bases) {
        let diff = diff_templates(base.template.as_ref().unwrap_or(&empty), &current.template)
            .with_context(|| format!("comparing {} with {}", current.stack, base.label))?;
        report.add(&current.stack, &base.label, diff);
    }
    Ok(report)
}

/// The report in the format, and whether the terminal view is coloured.
pub fn render(report: &Report, format: DiffFormat, colour: bool) -> String {
    match format {
        DiffFormat::Text => render::text(report, colour),
        DiffFormat::Markdown => render::markdown(report),
        DiffFormat::Json => render::json(report),
    }
}

/// Colour for the terminal view: stdout is a terminal and `NO_COLOR` is unset.
pub fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os(NO_COLOR_ENV).is_none()
}

/// The stacks `synth diff` compares, in the app's order: the `--stack` ones, else those the base
/// options name, else all. Every name must be a stack.
pub fn select_stacks(args: &DiffArgs, known: &[String]) -> Result<Vec<String>, BaseError> {
    let check = |name: &str| {
        if known.iter().any(|k| k == name) {
            Ok(())
        } else {
            Err(BaseError::UnknownStack {
                name: name.to_owned(),
                known: known.join(", "),
            })
        }
    };
    for s in &args.stacks {
        check(s)?;
    }
    let named: Vec<String> = if !args.deployed.is_empty() {
        let mut named = Vec::new();
        for d in &args.deployed {
            let (stack, _) = split_deployed(d);
            check(stack)?;
            named.push(stack.to_owned());
        }
        named
    } else {
        let mut named = Vec::new();
        for b in &args.base {
            if let BaseSpec::Named { stack, .. } = parse_base(b, known)? {
                named.push(stack);
            }
        }
        named
    };
    if !args.stacks.is_empty()
        && let Some(extra) = named.iter().find(|n| !args.stacks.contains(n))
    {
        let option = if args.deployed.is_empty() {
            "--base"
        } else {
            "--deployed"
        };
        return Err(BaseError::NotSelected {
            option,
            stack: extra.clone(),
        });
    }
    let wanted: &[String] = if !args.stacks.is_empty() {
        &args.stacks
    } else if !named.is_empty() {
        &named
    } else {
        known
    };
    Ok(known
        .iter()
        .filter(|k| wanted.contains(k))
        .cloned()
        .collect())
}

/// One `--base` value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BaseSpec {
    /// `STACK=FILE`.
    Named { stack: String, path: PathBuf },
    /// A directory of `<Stack>.template.json`.
    Dir(PathBuf),
    /// One template file.
    File(PathBuf),
}

/// `STACK=FILE` when the part before `=` is a stack and the whole is not an existing path;
/// `A=B` naming no stack is an error, so a typo is not read as a file name.
fn parse_base(value: &str, known: &[String]) -> Result<BaseSpec, BaseError> {
    let path = Path::new(value);
    if let Some((stack, file)) = value.split_once('=')
        && !path.exists()
    {
        if !known.iter().any(|k| k == stack) {
            return Err(BaseError::UnknownStack {
                name: stack.to_owned(),
                known: known.join(", "),
            });
        }
        return Ok(BaseSpec::Named {
            stack: stack.to_owned(),
            path: PathBuf::from(file),
        });
    }
    Ok(if path.is_dir() {
        BaseSpec::Dir(path.to_owned())
    } else {
        BaseSpec::File(path.to_owned())
    })
}

/// The base of each selected stack from the `--base` values.
pub fn bases_from_files(
    values: &[String],
    selected: &[String],
    known: &[String],
) -> Result<Vec<Base>, BaseError> {
    let specs = values
        .iter()
        .map(|v| parse_base(v, known))
        .collect::<Result<Vec<_>, _>>()?;
    let named: BTreeMap<&str, &Path> = specs
        .iter()
        .filter_map(|s| match s {
            BaseSpec::Named { stack, path } => Some((stack.as_str(), path.as_path())),
            _ => None,
        })
        .collect();
    if !named.is_empty() && named.len() != specs.len() || named.is_empty() && specs.len() > 1 {
        return Err(BaseError::MixedBaseForms);
    }
    // Every stack's file first, so a missing one is reported before any is read.
    let paths = selected
        .iter()
        .map(|stack| match specs.first() {
            Some(BaseSpec::Named { .. }) => named
                .get(stack.as_str())
                .map(|p| p.to_path_buf())
                .ok_or_else(|| BaseError::NoBaseFor {
                    stack: stack.clone(),
                }),
            Some(BaseSpec::Dir(dir)) => template_in_dir(dir, stack),
            Some(BaseSpec::File(file)) if selected.len() == 1 => Ok(file.clone()),
            Some(BaseSpec::File(_)) => Err(BaseError::OneFileManyStacks {
                selected: selected.len(),
            }),
            None => unreachable!("invariant: called with at least one --base value"),
        })
        .collect::<Result<Vec<_>, _>>()?;
    paths
        .iter()
        .map(|path| {
            read_base_file(path).map(|template| Base {
                label: path.display().to_string(),
                template: Some(template),
            })
        })
        .collect()
}

/// `<dir>/<stack>.template.json`, else `.yaml`.
fn template_in_dir(dir: &Path, stack: &str) -> Result<PathBuf, BaseError> {
    let candidates = ["json", "yaml"].map(|ext| dir.join(format!("{stack}.template.{ext}")));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| BaseError::NotInDir {
            stack: stack.to_owned(),
            dir: dir.to_owned(),
            expected: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
        })
}

fn read_base_file(path: &Path) -> Result<Value, BaseError> {
    let text = std::fs::read_to_string(path).map_err(|source| BaseError::Read {
        path: path.to_owned(),
        source,
    })?;
    template_text::parse(&text).map_err(|source| BaseError::Template {
        origin: path.display().to_string(),
        source,
    })
}

/// Runs git in the current directory; its stdout, or `None` when it exits non-zero (with its stderr).
fn git(args: &[&str]) -> Result<Result<String, String>, BaseError> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(BaseError::NoGit)?;
    if out.status.success() {
        Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

/// The commit a revision names (`--base-ref`), or the merge base of HEAD with `main` (falling
/// back on `origin/main`, as CI checkouts often have only that), with how to show it.
pub fn resolve_revision(rev: Option<&str>) -> Result<(String, String), BaseError> {
    match rev {
        Some(rev) => {
            let spec = format!("{rev}^{{commit}}");
            match git(&["rev-parse", "--verify", "--quiet", &spec])? {
                Ok(sha) => {
                    let sha = sha.trim().to_owned();
                    Ok((sha.clone(), format!("{rev} ({})", short(&sha))))
                }
                Err(stderr) => Err(BaseError::UnknownRevision {
                    rev: rev.to_owned(),
                    stderr: if stderr.is_empty() {
                        "git rev-parse does not know it".to_owned()
                    } else {
                        stderr
                    },
                }),
            }
        }
        None => {
            let mut last = String::new();
            for branch in [MAIN_BRANCH.to_owned(), format!("origin/{MAIN_BRANCH}")] {
                match git(&["merge-base", "HEAD", &branch])? {
                    Ok(sha) => {
                        let sha = sha.trim().to_owned();
                        let label = format!("the merge base with {branch} ({})", short(&sha));
                        return Ok((sha, label));
                    }
                    Err(stderr) => last = stderr,
                }
            }
            Err(BaseError::NoMergeBase { stderr: last })
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The path of a stack's snapshot in the repository.
pub fn snapshot_path(stack: &str) -> String {
    format!("{SNAPSHOTS_DIR}/{stack}.snap")
}

/// The base of each stack: its snapshot at `commit`. A stack without one there is new; a
/// revision with none of them is an error.
pub fn bases_from_git(
    commit: &str,
    label: &str,
    stacks: &[String],
) -> Result<Vec<Base>, BaseError> {
    let mut bases = Vec::new();
    for stack in stacks {
        let path = snapshot_path(stack);
        let object = format!("{commit}:{path}");
        if git(&["cat-file", "-e", &object])?.is_err() {
            bases.push(Base {
                label: format!("{path} at {label}: not there, a new stack"),
                template: None,
            });
            continue;
        }
        let text = git(&["show", &object])?.map_err(|stderr| BaseError::Git {
            args: format!("show {object}"),
            stderr,
        })?;
        let template =
            template_text::parse(template_text::snapshot_body(&text)).map_err(|source| {
                BaseError::Template {
                    origin: format!("{path} at {label}"),
                    source,
                }
            })?;
        bases.push(Base {
            label: format!("{path} at {label}"),
            template: Some(template),
        });
    }
    if !stacks.is_empty() && bases.iter().all(|b| b.template.is_none()) {
        return Err(BaseError::NoSnapshots {
            rev: label.to_owned(),
            files: stacks
                .iter()
                .map(|s| snapshot_path(s))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(bases)
}

/// `STACK=NAME` → (`STACK`, `NAME`); `STACK` → (`STACK`, `STACK`).
fn split_deployed(value: &str) -> (&str, &str) {
    value.split_once('=').unwrap_or((value, value))
}

/// The base of each stack: the template its CloudFormation stack has deployed.
pub fn bases_from_deployed(values: &[String], currents: &[Current]) -> anyhow::Result<Vec<Base>> {
    let names: BTreeMap<&str, &str> = values.iter().map(|v| split_deployed(v)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime for the CloudFormation calls")?;
    runtime.block_on(async {
        let mut bases = Vec::new();
        for current in currents {
            let name = names
                .get(current.stack.as_str())
                .copied()
                .unwrap_or(&current.stack);
            bases.push(crate::deployed::base(name, &current.region).await?);
        }
        Ok(bases)
    })
}

/// `synth diff`: synthesizes the selected stacks, loads their bases, prints the diff.
pub fn run(args: &DiffArgs, app: &iops_dashboard::App) -> anyhow::Result<ExitCode> {
    let stacks = app.stacks();
    let known: Vec<String> = stacks.iter().map(|s| s.name()).collect();
    let selected = select_stacks(args, &known)?;

    let mut currents = Vec::new();
    let mut invalid = Vec::new();
    for stack in stacks.iter().filter(|s| selected.contains(&s.name())) {
        match stack.synth() {
            Ok(t) => currents.push(Current {
                stack: stack.name(),
                region: stack.env().region,
                template: t.to_value(),
            }),
            Err(errors) => invalid.push(format!("{} is invalid, {errors}", stack.name())),
        }
    }
    if !invalid.is_empty() {
        bail!("{}", invalid.join("\n"));
    }

    let bases = if !args.base.is_empty() {
        bases_from_files(&args.base, &selected, &known)?
    } else if !args.deployed.is_empty() {
        bases_from_deployed(&args.deployed, &currents)?
    } else {
        let (commit, label) = resolve_revision(args.base_ref.as_deref())?;
        bases_from_git(&commit, &label, &selected)?
    };
    for (current, base) in currents.iter().zip(&bases) {
        info!(stack = %current.stack, base = %base.label, "comparing");
    }

    let report = compare(&currents, &bases)?;
    let colour = args.format == DiffFormat::Text && colour_wanted();
    print!("{}", render(&report, args.format, colour));
    for f in &args.fail_on {
        if report.has((*f).into()) {
            warn!(condition = ?f, "a --fail-on condition is present");
        }
    }
    Ok(ExitCode::from(exit_code(&report, &args.fail_on)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(base: &[&str], deployed: &[&str], stacks: &[&str]) -> DiffArgs {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        DiffArgs {
            base: owned(base),
            base_ref: None,
            deployed: owned(deployed),
            stacks: owned(stacks),
            format: DiffFormat::Text,
            fail_on: Vec::new(),
        }
    }

    fn known() -> Vec<String> {
        vec!["Core".to_owned(), "Billing".to_owned()]
    }

    #[test]
    fn the_stacks_are_those_selected_else_named_else_all_in_app_order() {
        let select = |a: DiffArgs| select_stacks(&a, &known());
        assert_eq!(select(args(&[], &[], &[])).ok(), Some(known()));
        assert_eq!(
            select(args(&[], &[], &["Billing", "Core"])).ok(),
            Some(known())
        );
        assert_eq!(
            select(args(&["Billing=missing.json"], &[], &[])).ok(),
            Some(vec!["Billing".to_owned()])
        );
        assert_eq!(
            select(args(&[], &["Core=deployed-name"], &[])).ok(),
            Some(vec!["Core".to_owned()])
        );
        assert!(matches!(
            select(args(&[], &["Core"], &["Billing"])),
            Err(BaseError::NotSelected {
                option: "--deployed",
                ..
            })
        ));
        assert!(matches!(
            select(args(&["Nope=x.json"], &[], &[])),
            Err(BaseError::UnknownStack { name, .. }) if name == "Nope"
        ));
        assert!(matches!(
            select(args(&[], &[], &["Nope"])),
            Err(BaseError::UnknownStack { .. })
        ));
    }

    #[test]
    fn base_forms_do_not_mix() {
        let err = bases_from_files(
            &["Core=a.json".to_owned(), "b.json".to_owned()],
            &known(),
            &known(),
        );
        assert!(matches!(err, Err(BaseError::MixedBaseForms)));
        let err = bases_from_files(&["Core=a.json".to_owned()], &known(), &known());
        assert!(matches!(err, Err(BaseError::NoBaseFor { stack }) if stack == "Billing"));
    }

    #[test]
    fn exit_codes_follow_changes_or_the_named_conditions() {
        let template = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 1}}}});
        let mut changed = template.clone();
        changed["Resources"]["Q"]["Properties"]["DelaySeconds"] = json!(2);
        let report = |current: &Value| {
            let currents = [Current {
                stack: "S".into(),
                region: "us-east-2".into(),
                template: current.clone(),
            }];
            let bases = [Base {
                label: "base".into(),
                template: Some(template.clone()),
            }];
            compare(&currents, &bases).expect("compares")
        };
        assert_eq!(exit_code(&report(&template), &[]), EXIT_NO_CHANGES);
        assert_eq!(exit_code(&report(&changed), &[]), EXIT_CHANGES);
        assert_eq!(
            exit_code(&report(&changed), &[FailOn::Replacement, FailOn::DataLoss]),
            EXIT_NO_CHANGES
        );
        changed["Resources"]["Q"]["Properties"]["QueueName"] = json!("renamed");
        assert_eq!(
            exit_code(&report(&changed), &[FailOn::DataLoss]),
            EXIT_CHANGES
        );
        assert_eq!(
            exit_code(&report(&changed), &[FailOn::IamWidening]),
            EXIT_NO_CHANGES
        );
    }
}
