//! The command line: `synth` (templates), `synth package` (function code), `synth diff` (what
//! the templates change).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use constructs::assets::Architecture;
use iops_dashboard::{App, Config};
use tracing::{info, warn};

use crate::output::{
    Format, MANIFEST_FILE, Manifest, StackManifest, render, render_manifest, template_file_name,
    write_if_changed,
};
use crate::package::{PackageOptions, Toolchain};

/// Synthesizes the IOps Dashboard stacks into CloudFormation templates.
///
/// Writes `<StackName>.template.json` per stack and `manifest.json` into the output folder. The
/// templates deploy with `aws cloudformation deploy` once the function code is packaged
/// (`synth package`) and uploaded.
#[derive(Debug, Parser)]
#[command(name = "synth", version, about)]
pub struct Cli {
    /// Output folder.
    #[arg(long, global = true, default_value = "cdk.out", value_name = "DIR")]
    pub out: PathBuf,
    /// Template format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Only these stacks (repeatable). Default: every stack.
    #[arg(long = "stack", global = true, value_name = "NAME")]
    pub stacks: Vec<String>,
    /// The core stack's region.
    #[arg(
        long,
        global = true,
        env = "IOPS_DASHBOARD_REGION",
        default_value = "us-east-2"
    )]
    pub region: String,
    /// Pin the AWS account the stacks deploy to (recorded in the manifest).
    #[arg(long, global = true, env = "IOPS_DASHBOARD_ACCOUNT")]
    pub account: Option<String>,
    /// The instruction set of the functions (`arm64`: Graviton, cheaper per GB-second).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "IOPS_DASHBOARD_ARCH",
        default_value_t = Arch::X86_64
    )]
    pub arch: Arch,
    /// The burst, in events per second, the stream's capacity is checked against.
    #[arg(long, default_value_t = Config::default().target_burst_rps)]
    pub target_burst_rps: u64,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every function in release for its Lambda target and zip it as `bootstrap` into
    /// `<out>/assets/<hash>.zip`.
    Package {
        /// The C toolchain for the target's C code and linking.
        #[arg(long, value_enum, default_value_t = Toolchain::Auto)]
        toolchain: Toolchain,
    },
    /// Check the synthesized templates against the policy gates (encryption, TLS, public access,
    /// least-privilege IAM, log retention, failure destinations, alarm actions) and list every
    /// finding and suppression. Exit 1 when a finding is not suppressed. `synth` runs the same
    /// gates before writing anything.
    Check {
        /// Print the reports as JSON, one object per stack.
        #[arg(long)]
        json: bool,
    },
    /// Compare the templates synthesized now with a base: template files, the reviewed snapshots
    /// at a git revision (default: the merge base with main), or the deployed stacks. Exit 0: no
    /// change; 1: changes (with --fail-on: one of those conditions); 2: error.
    Diff(crate::diff::DiffArgs),
}

/// The functions' instruction set, as Lambda names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

impl From<Arch> for Architecture {
    fn from(arch: Arch) -> Self {
        match arch {
            Arch::X86_64 => Architecture::X86_64,
            Arch::Arm64 => Architecture::Arm64,
        }
    }
}

impl Cli {
    fn config(&self) -> Config {
        Config {
            region: self.region.clone(),
            account: self.account.clone(),
            target_burst_rps: self.target_burst_rps,
            architecture: self.arch.into(),
            ..Config::default()
        }
    }
}

/// Logs to stderr, at `info` unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config();
    let root = iops_dashboard::workspace_root();
    let app = App::new(&config, root.clone());
    match cli.command {
        None => synth(&cli, &app),
        Some(Command::Check { json }) => check(&cli, &app, json),
        Some(Command::Package { toolchain }) => {
            let assets = app.core.stack.assets();
            let options = PackageOptions { toolchain };
            let packaged = crate::package::package(&assets, &root, &cli.out, &options)
                .context("packaging the function code")?;
            for p in &packaged {
                println!("{}", p.path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Diff(ref args)) => {
            let mut args = args.clone();
            args.stacks.extend(cli.stacks.iter().cloned());
            crate::diff::run(&args, &app)
        }
    }
}

/// The stacks `--stack` selects (all by default); an unknown name is an error listing the stacks.
fn selected_stacks<'a>(cli: &Cli, app: &'a App) -> anyhow::Result<Vec<&'a constructs::Stack>> {
    let stacks = app.stacks();
    for wanted in &cli.stacks {
        if !stacks.iter().any(|s| &s.name() == wanted) {
            let known: Vec<_> = stacks.iter().map(|s| s.name()).collect();
            bail!(
                "no stack named `{wanted}`; the stacks are: {}",
                known.join(", ")
            );
        }
    }
    Ok(stacks
        .into_iter()
        .filter(|s| cli.stacks.is_empty() || cli.stacks.contains(&s.name()))
        .collect())
}

/// The stack's template, or `None` after printing its problems.
fn synth_or_report(stack: &constructs::Stack) -> Option<cfn::Template> {
    stack
        .synth()
        .map_err(|errors| eprintln!("error: {} is invalid, {errors}", stack.name()))
        .ok()
}

/// Runs the policy gates over `template`: logs what is suppressed, prints what is not to stderr,
/// and says whether it passes.
fn gate(name: &str, template: &cfn::Template) -> bool {
    let report = cfn_policy::check(&template.to_value());
    for finding in report.suppressed() {
        info!(stack = %name, rule = %finding.rule, resource = %finding.resource, reason = finding.suppressed.as_deref().unwrap_or_default(), "policy finding suppressed");
    }
    let violations: Vec<_> = report.violations().collect();
    if !violations.is_empty() {
        eprintln!(
            "error: {name} breaks the policy gates, {} finding{}:",
            violations.len(),
            if violations.len() == 1 { "" } else { "s" }
        );
        for finding in violations {
            eprintln!("  - {finding}");
        }
        eprintln!(
            "  (fix them, or suppress one with a reason: Scope::suppress; `synth check` lists them)"
        );
    }
    report.passes()
}

fn check(cli: &Cli, app: &App, json: bool) -> anyhow::Result<ExitCode> {
    let mut passes = true;
    let mut reports = BTreeMap::new();
    for stack in selected_stacks(cli, app)? {
        let name = stack.name();
        let Some(template) = synth_or_report(stack) else {
            passes = false;
            continue;
        };
        let report = cfn_policy::check(&template.to_value());
        passes &= report.passes();
        if !json {
            let violations = report.violations().count();
            let suppressed = report.suppressed().count();
            println!(
                "{name}: {} — {} rules, {violations} finding{}, {suppressed} suppressed",
                if report.passes() { "passes" } else { "FAILS" },
                cfn_policy::RULES.len(),
                if violations == 1 { "" } else { "s" },
            );
            for finding in &report.findings {
                println!("  {finding}");
            }
        }
        reports.insert(name, report);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if passes {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn synth(cli: &Cli, app: &App) -> anyhow::Result<ExitCode> {
    let selected = selected_stacks(cli, app)?;
    let mut failed = false;
    let mut manifest = Manifest {
        version: 1,
        stacks: BTreeMap::new(),
    };
    for stack in selected {
        let name = stack.name();
        let Some(template) = synth_or_report(stack) else {
            failed = true;
            continue;
        };
        if !gate(&name, &template) {
            failed = true;
            continue;
        }
        let file = template_file_name(&name, cli.format);
        let text = render(&name, &template, cli.format)?;
        let path = cli.out.join(&file);
        let changed = write_if_changed(&path, &text)?;
        info!(stack = %name, path = %path.display(), resources = template.resources.len(), changed, "template written");
        manifest.stacks.insert(
            name.clone(),
            StackManifest {
                template: file,
                region: stack.env().region,
                account: stack.env().account,
                parameters: template.parameters.keys().cloned().collect(),
                assets: stack.assets(),
            },
        );
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    write_if_changed(&cli.out.join(MANIFEST_FILE), &render_manifest(&manifest))?;

    let report = app.core.capacity();
    let (capacity_rps, target_burst_rps) =
        (report.capacity.records_per_second, report.target_burst_rps);
    let capacity_mib_per_s = report.capacity.bytes_per_second / (1024 * 1024);
    match report.shortfall_rps() {
        0 => info!(
            capacity_rps,
            capacity_mib_per_s,
            target_burst_rps,
            "events stream write capacity covers the target burst"
        ),
        shortfall_rps => warn!(
            capacity_rps,
            capacity_mib_per_s,
            target_burst_rps,
            shortfall_rps,
            shards_needed = report.shards_needed(),
            "events stream write capacity is below the target burst"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use constructs::{Environment, Stack, StackProps};

    fn gated_stack() -> Stack {
        Stack::new(
            "Gated",
            StackProps {
                env: Environment {
                    account: None,
                    region: "us-east-2".into(),
                },
                description: None,
                workspace_root: None,
            },
        )
    }

    #[test]
    fn the_gate_refuses_a_template_breaking_a_rule() {
        let stack = gated_stack();
        let queue = cfn::resources::sqs::Queue::default();
        stack
            .child("Plain")
            .add_resource(cfn::Resource::new(&queue));
        let template = stack.synth().expect("a valid stack");
        assert!(!gate("Gated", &template), "an unencrypted queue fails");

        let stack = gated_stack();
        let scope = stack.child("Plain");
        let plain = scope.add_resource(cfn::Resource::new(&queue));
        scope.suppress(
            &plain,
            cfn_policy::RuleId::EncryptionAtRest,
            "a scratch queue that never holds data",
        );
        let template = stack.synth().expect("a valid stack");
        assert!(gate("Gated", &template), "a reasoned suppression passes");
    }
}
