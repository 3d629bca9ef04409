//! `loadgen`: the command line over the `loadgen` library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use loadgen::schedule::duration_of;
use loadgen::{
    Auth, EventsConfig, Limits, LoadTest, PerRequest, Progress, Resend, Schedule, Target,
    UserChoice, VerifyOptions, Watch, env,
};
use local_runtime::apigw::Signer;
use tracing_subscriber::EnvFilter;

const AFTER_HELP: &str = "\
Schedules are in requests per second (each request carries --events-per-request events):
  constant:500rps:30s                                    500/s for 30 s
  step:500:10s,1000:10s                                  500/s for 10 s, then 1000/s for 10 s
  spike:base=500,peak=4000,for=10s,before=5s,after=5s    baseline, spike, baseline
  ramp:100..2000:60s                                     100/s to 2000/s over 60 s
Durations: 500ms, 1.5s, 2m.

Requests are signed (SigV4, execute-api) with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
(/ AWS_SESSION_TOKEN); locally those are test/test (`cargo run -p localstack -- up` prints the
export line). --table reads the table through AWS_ENDPOINT_URL when set.

The report goes to stdout (Markdown, or JSON with --json) and, with --out DIR, to
DIR/report.json, DIR/report.md and DIR/chart.svg. Exit status 1 when --table finds the
table does not hold the accepted events exactly once.";

/// An open-loop load generator for POST /metrics.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, after_help = AFTER_HELP)]
struct Args {
    /// The POST /metrics URL: printed by `cargo run -p localstack -- up`, or the deployed stack's
    /// MetricsEndpoint output.
    #[arg(long)]
    url: String,
    /// The API key, sent as x-api-key.
    #[arg(long, env = env::API_KEY, hide_env_values = true)]
    api_key: Option<String>,
    /// Do not sign requests (a method with AuthorizationType NONE).
    #[arg(long)]
    no_sign: bool,
    /// The region requests are signed for, and the table's.
    #[arg(long, env = env::REGION, default_value = "us-east-1")]
    region: String,
    /// When to offer requests, in requests per second (see below).
    #[arg(long, default_value = "constant:10rps:10s")]
    schedule: Schedule,
    /// Multiply every rate of the schedule by this (the spec's burst on a small machine).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Events per request: N or MIN..MAX, from 1 to 500.
    #[arg(long, default_value = "10")]
    events_per_request: PerRequest,
    /// The share of requests (0 to 1) carrying one malformed event; ingest refuses those whole.
    #[arg(long, default_value_t = 0.0)]
    malformed: f64,
    /// Users in the partition-key pool.
    #[arg(long, default_value_t = 1000)]
    users: u32,
    /// Sessions of each user.
    #[arg(long, default_value_t = 3)]
    sessions_per_user: u32,
    /// How users are picked: uniform, zipf or zipf:EXPONENT.
    #[arg(long, default_value = "zipf")]
    user_choice: UserChoice,
    /// Makes the events reproducible (default: random, printed in the report).
    #[arg(long)]
    seed: Option<u64>,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Requests waiting for a connection at most; more are dropped by the generator.
    #[arg(long, default_value_t = 10_000)]
    max_queued: usize,
    /// The hard deadline from the start (default: the schedule plus 30 s).
    #[arg(long, value_parser = duration)]
    deadline: Option<Duration>,
    /// How long one request may wait for its answer.
    #[arg(long, value_parser = duration, default_value = "30s")]
    request_timeout: Duration,
    /// Resends of the events a 503 names as failed.
    #[arg(long, default_value_t = 3)]
    resend_attempts: u32,
    /// The first resend's largest backoff (doubling, with full jitter).
    #[arg(long, value_parser = duration, default_value = "100ms")]
    resend_base: Duration,
    /// The largest resend backoff.
    #[arg(long, value_parser = duration, default_value = "2s")]
    resend_max: Duration,
    /// Read this metrics table afterwards: the exactly-once check and the end-to-end latency.
    #[arg(long)]
    table: Option<String>,
    /// How long after the run to wait for the table to hold every accepted event.
    #[arg(long, value_parser = duration, default_value = "60s")]
    settle: Duration,
    /// The time between two scans of the table.
    #[arg(long, value_parser = duration, default_value = "1s")]
    poll_interval: Duration,
    /// Write report.json, report.md and chart.svg into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// How to show progress on stderr.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressArg {
    /// A bar on a terminal, log lines otherwise.
    Auto,
    Bar,
    Log,
    Quiet,
}

fn duration(text: &str) -> Result<Duration, String> {
    duration_of(text).ok_or_else(|| format!("{text:?} is not a duration (500ms, 1.5s, 2m)"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale {} is not a positive number", args.scale);
    }
    let auth = if args.no_sign {
        Auth::None
    } else {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(access_key_id), Some(secret_access_key)) =
            (var(env::ACCESS_KEY_ID), var(env::SECRET_ACCESS_KEY))
        else {
            bail!(
                "no credentials to sign with: set {} and {} (test and test for the local pipeline), or pass --no-sign",
                env::ACCESS_KEY_ID,
                env::SECRET_ACCESS_KEY
            );
        };
        Auth::SigV4(Signer {
            access_key_id,
            secret_access_key,
            session_token: var(env::SESSION_TOKEN),
            region: args.region.clone(),
        })
    };
    let schedule = if args.scale == 1.0 {
        args.schedule.clone()
    } else {
        let scaled = args.schedule.scaled(args.scale);
        eprintln!("schedule scaled by {}: {scaled}", args.scale);
        scaled
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let test = LoadTest {
        target: Target {
            url: args.url.clone(),
            api_key: args.api_key.clone(),
            auth,
        },
        schedule,
        events: EventsConfig {
            per_request: args.events_per_request,
            malformed_share: args.malformed,
            users: args.users,
            sessions_per_user: args.sessions_per_user,
            user_choice: args.user_choice,
            seed,
        },
        limits: Limits {
            max_in_flight: args.max_in_flight,
            max_queued: args.max_queued,
            deadline: args.deadline,
            request_timeout: args.request_timeout,
            resend: Resend {
                attempts: args.resend_attempts,
                base: args.resend_base,
                max: args.resend_max,
            },
        },
    };
    let table = match &args.table {
        Some(table) => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(args.region.clone()))
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            let watch = Watch::start(client.clone(), table, seed, args.poll_interval);
            Some((client, table.clone(), watch))
        }
        None => None,
    };
    let progress = match args.progress {
        ProgressArg::Auto => Progress::Auto,
        ProgressArg::Bar => Progress::Bar,
        ProgressArg::Log => Progress::Log,
        ProgressArg::Quiet => Progress::Quiet,
    };
    let mut run = loadgen::run(&test, progress)
        .await
        .context("the load test did not run")?;
    let mut code = ExitCode::SUCCESS;
    if let Some((client, table, watch)) = table {
        let options = VerifyOptions {
            settle: args.settle,
            interval: args.poll_interval,
        };
        let verification = loadgen::exactly_once(&run, &client, &table, &options, Some(watch))
            .await
            .context("cannot check the table")?;
        if !verification.exactly_once() {
            code = ExitCode::FAILURE;
        }
        run.report.verification = Some(verification);
    }
    if let Some(dir) = &args.out {
        run.report.write(dir).context("cannot write the report")?;
        eprintln!("report written to {}", dir.display());
    }
    if args.json {
        println!("{}", run.report.to_json());
    } else {
        print!("{}", run.report.markdown());
    }
    Ok(code)
}
