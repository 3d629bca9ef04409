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
    #[arg(long = "stack", value_name = "NAME")]
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

fn synth(cli: &Cli, app: &App) -> anyhow::Result<ExitCode> {
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
    let selected: Vec<_> = stacks
        .into_iter()
        .filter(|s| cli.stacks.is_empty() || cli.stacks.contains(&s.name()))
        .collect();

    let mut failed = false;
    let mut manifest = Manifest {
        version: 1,
        stacks: BTreeMap::new(),
    };
    for stack in selected {
        let name = stack.name();
        let template = match stack.synth() {
            Ok(t) => t,
            Err(errors) => {
                eprintln!("error: {name} is invalid, {errors}");
                failed = true;
                continue;
            }
        };
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
