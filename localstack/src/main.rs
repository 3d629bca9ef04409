//! `cargo run -p localstack -- up`: the local development environment. Starts the emulator,
//! deploys both stacks, runs the pipeline, prints where to send events; Ctrl-C stops it all.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use localstack::emulator::{self, Emulator};
use localstack::pipeline::{FunctionBinaries, Pipeline, PipelineOptions};
use localstack::{AppOptions, FunctionCode, StackNames};

#[derive(Debug, Parser)]
#[command(about = "The IOps Dashboard's local AWS environment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the emulator, deploy the stacks, run the pipeline until Ctrl-C.
    Up {
        /// Serve the REST API on this loopback port (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Deliver the archive every SECONDS instead of the template's buffer interval.
        #[arg(long, value_name = "SECONDS")]
        firehose_interval: Option<u64>,
        /// Run the function binaries found in DIR (by binary name, e.g.
        /// target/x86_64-unknown-linux-musl/release) instead of building host debug binaries.
        #[arg(long, value_name = "DIR")]
        bin_dir: Option<PathBuf>,
        /// Append each function's output to DIR/<function name>.log (default: the emulator's
        /// log folder, <target>/tools/logs).
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let Command::Up {
        port,
        firehose_interval,
        bin_dir,
        log_dir,
    } = Cli::parse().command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(up(port, firehose_interval, bin_dir, log_dir))?;
    Ok(ExitCode::SUCCESS)
}

async fn up(
    port: u16,
    firehose_interval: Option<u64>,
    bin_dir: Option<PathBuf>,
    log_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let root = iops_dashboard::workspace_root();
    let app = iops_dashboard::App::new(&iops_dashboard::Config::default(), root.clone());
    let assets = app.core.stack.assets();
    let binaries = match bin_dir {
        Some(dir) => {
            let binaries = FunctionBinaries::in_dir(&assets, &dir).with_context(|| {
                format!("cannot find the function binaries in {}", dir.display())
            })?;
            eprintln!("function binaries: from {}", dir.display());
            binaries
        }
        None => {
            eprintln!(
                "function binaries: building host debug binaries (cargo build -p ingest -p stream-processor) ..."
            );
            let build_root = root.clone();
            tokio::task::spawn_blocking(move || FunctionBinaries::build_host(&assets, &build_root))
                .await
                .context("the build of the function binaries panicked")?
                .context("cannot build the function binaries")?
        }
    };
    for path in binaries.paths().values() {
        eprintln!("  {}", path.display());
    }

    let emulator = Emulator::start()
        .await
        .context("cannot start the emulator")?;
    eprintln!("emulator: {emulator}");
    // An emulator of this command's own: the stacks take their real names, so the spec's own
    // AWS CLI commands find them. One given by AWS_ENDPOINT_URL may hold other stacks.
    let stack_names = match emulator.backend() {
        emulator::Backend::External => StackNames::Unique,
        emulator::Backend::Moto | emulator::Backend::LocalStack => StackNames::Real,
    };
    let deployment = localstack::deploy_app(
        &emulator,
        &app,
        &AppOptions {
            // The functions run locally from `binaries`; the code packages in the emulator's
            // S3 are stand-ins (zipping the debug binaries, ~190 MB each, would take longer
            // than the whole deploy).
            code: FunctionCode::Placeholder,
            stack_names,
            ..AppOptions::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(localstack::error_chain(&e)))
    .context("cannot deploy the stacks")?;
    let template = app
        .core
        .stack
        .synth()
        .map_err(|problems| anyhow::anyhow!("{problems}"))
        .context("the core stack is invalid")?
        .to_value();

    let log_dir = match log_dir {
        Some(dir) => dir,
        None => emulator::python::default_tools_dir(&root).join("logs"),
    };
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create the log folder {}", log_dir.display()))?;
    let options = PipelineOptions {
        firehose_buffer_interval: firehose_interval.map(Duration::from_secs),
        api_port: port,
        log_dir: Some(log_dir.clone()),
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::start(&emulator, &template, &deployment.core, &binaries, options)
        .await
        .map_err(|e| anyhow::anyhow!(localstack::error_chain(&e)))
        .context("cannot start the pipeline")?;

    print_summary(&emulator, &deployment, &pipeline, &log_dir);

    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    eprintln!("stopping ...");
    pipeline.shutdown().await;
    drop(emulator);
    eprintln!("stopped");
    Ok(())
}

fn print_summary(
    emulator: &Emulator,
    deployment: &localstack::AppDeployment,
    pipeline: &Pipeline,
    log_dir: &std::path::Path,
) {
    let names = pipeline.names();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = format!(
        r#"{{"event_type":"metrics_reported","timestamp":"{now}","payload":{{"session_id":"s-1"}},"metrics":{{"iops":1200,"latency":3.5,"errorRate":0.2}}}}"#
    );
    let region = &deployment.core.context.region;
    let key = pipeline.api_keys().first().map(|k| k.value.clone());
    println!("IOps Dashboard pipeline running ({emulator})");
    println!();
    println!("POST {}", pipeline.metrics_url());
    println!();
    // What the deployed API asks for too: a SigV4 signature (here with the local credentials)
    // and an API key of a usage plan.
    let credential = emulator::DUMMY_CREDENTIAL;
    let key_header = key
        .as_deref()
        .map(|k| format!(" -H 'x-api-key: {k}'"))
        .unwrap_or_default();
    println!(
        "  curl -sS -X POST '{url}' --aws-sigv4 'aws:amz:{region}:execute-api' --user '{credential}:{credential}'{key_header} -H 'Content-Type: application/json' -d '{event}'",
        url = pipeline.metrics_url()
    );
    println!();
    println!(
        "The AWS CLI and SDKs reach the emulator (Kinesis: the local one, with AWS's shard limits) with:"
    );
    let exports: Vec<String> = emulator
        .client_env(region)
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    println!("  export {}", exports.join(" "));
    println!(
        "  aws cloudformation describe-stacks --stack-name {} --query 'Stacks[0].Outputs'",
        deployment.core.stack_name()
    );
    println!();
    println!("region            {region}");
    println!("core stack        {}", deployment.core.stack_name());
    if let Some(billing) = &deployment.billing {
        println!(
            "billing stack     {} ({})",
            billing.stack_name(),
            billing.context.region
        );
    }
    println!("table             {}", names.table);
    println!("stream            {}", names.stream);
    println!("malformed topic   {}", names.malformed_topic_arn);
    for topic in &names.alarm_topic_arns {
        println!("alarm topic       {topic}");
    }
    println!("archive bucket    {}", names.archive_bucket);
    println!("delivery stream   {}", names.delivery_stream);
    println!("dead-letter queue {}", names.dead_letter_queue_url);
    for (logical_id, name) in &names.functions {
        println!("function          {name} ({logical_id})");
    }
    for key in pipeline.api_keys() {
        println!("API key           {} ({})", key.value, key.name);
    }
    println!("function logs     {}", log_dir.display());
    println!();
    println!("Ctrl-C stops everything.");
}
