//! `cargo run -p cfn-codegen [-- --check]` regenerates (or checks) `stack/cfn/src/resources/`;
//! `cargo run -p cfn-codegen -- vendor --from <dir>` refreshes the vendored schemas.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cfn_codegen::Layout;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Generates the typed CloudFormation resources of the cfn crate")]
struct Cli {
    /// List the generated files that are out of date and exit 1 if any are, without writing.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Copy the schemas of the types in types.txt from cfn-lint's bundled registry schemas.
    Vendor {
        /// cfn-lint's `cfnlint/data/schemas` directory (holding `providers/` and `resources/`).
        #[arg(long)]
        from: PathBuf,
        /// The region whose provider list picks the schema versions.
        #[arg(long, default_value = "us-east-2")]
        region: String,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = Layout::from_manifest_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    if let Some(Cmd::Vendor { from, region }) = cli.command {
        let vendored = cfn_codegen::vendor::vendor(&layout, &from, &region)
            .with_context(|| format!("vendoring schemas from {}", from.display()))?;
        eprintln!(
            "vendored {} schemas (cfn-lint {}, schema_date {}), removed {:?}; run `cargo run -p cfn-codegen` to regenerate",
            vendored.written.len(),
            vendored.cfn_lint_version.as_deref().unwrap_or("unknown"),
            vendored.schema_date.as_deref().unwrap_or("unknown"),
            vendored.removed,
        );
        return Ok(ExitCode::SUCCESS);
    }
    let files = cfn_codegen::generate(&layout).context("generating the resources")?;
    if cli.check {
        let stale = cfn_codegen::stale(&layout.out, &files)
            .with_context(|| format!("comparing with {}", layout.out.display()))?;
        if stale.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        for file in &stale {
            println!("{file}");
        }
        eprintln!(
            "{} generated files under {} are out of date; run `cargo run -p cfn-codegen`",
            stale.len(),
            layout.out.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let changes = cfn_codegen::write(&layout.out, &files)
        .with_context(|| format!("writing {}", layout.out.display()))?;
    for change in &changes {
        eprintln!("{change}");
    }
    eprintln!(
        "{} files generated under {}, {} changed",
        files.len(),
        layout.out.display(),
        changes.len()
    );
    Ok(ExitCode::SUCCESS)
}
