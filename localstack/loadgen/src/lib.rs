//! An open-loop load generator for the IOps Dashboard's `POST /metrics`, against the local
//! pipeline (`cargo run -p localstack -- up`) or a deployed `MetricsEndpoint`.
//!
//! ```no_run
//! # async fn example() -> Result<(), loadgen::Error> {
//! use loadgen::{Auth, EventsConfig, Limits, LoadTest, Progress, Target};
//! use local_runtime::apigw::Signer;
//!
//! let test = LoadTest {
//!     target: Target {
//!         url: "http://127.0.0.1:4010/prod/metrics".into(),
//!         api_key: Some("the key `localstack up` prints".into()),
//!         auth: Auth::SigV4(Signer {
//!             access_key_id: "test".into(),
//!             secret_access_key: "test".into(),
//!             session_token: None,
//!             region: "us-east-2".into(),
//!         }),
//!     },
//!     // The spec's burst, scaled by one printed factor.
//!     schedule: "spike:base=500,peak=4000,for=10s".parse::<loadgen::Schedule>()?.scaled(0.1),
//!     events: EventsConfig { seed: 7, ..EventsConfig::default() },
//!     limits: Limits::default(),
//! };
//! let run = loadgen::run(&test, Progress::Quiet).await?;
//! println!("{}", run.report.markdown());
//! # Ok(()) }
//! ```
//!
//! - [`schedule`]: when requests are offered (requests per second over time).
//! - [`events`]: what they carry, made from the event contract.
//! - [`run`](mod@run): the open-loop run, its bounds, its answers and resends.
//! - [`client`]: the HTTP transport, SigV4-signed with the local runtime's signer.
//! - [`report`], [`chart`]: the report as JSON, Markdown and SVG.
//! - [`verify`]: the table read back: exactly once, end to end.

pub mod chart;
pub mod client;
pub mod events;
pub mod report;
pub mod run;
pub mod schedule;
pub mod verify;

use std::path::PathBuf;

/// The environment variables the binary reads (the AWS ones as the AWS SDKs name them).
pub mod env {
    /// The API key, sent as `x-api-key` (`--api-key`).
    pub const API_KEY: &str = "LOADGEN_API_KEY";
    /// The region requests are signed for, and the table's (`--region`).
    pub const REGION: &str = "AWS_REGION";
    /// The access key id requests are signed with (`test` locally).
    pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    /// Its secret (`test` locally).
    pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    /// The session token of temporary credentials, signed as `x-amz-security-token`.
    pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    /// Where the table is read (`--table`): the emulator's endpoint locally; unset for AWS.
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
}

pub use client::{Answer, Auth, Http, Target, Transport, TransportError};
pub use events::{EventsConfig, Generator, PerRequest, UserChoice};
pub use report::{Counts, Percentiles, Report};
pub use run::{DEFAULT_GRACE, Ledger, Limits, LoadTest, Progress, Resend, Run, run, run_with};
pub use schedule::{Schedule, ScheduleError};
pub use verify::{Verification, VerifyOptions, Watch, exactly_once};

/// Why a load test could not run, or its report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("events per request {value:?} is not N or MIN..MAX with 1 <= MIN <= MAX <= 500")]
    EventsPerRequest { value: String },
    #[error("malformed share {value} is not between 0 and 1")]
    MalformedShare { value: f64 },
    #[error("user choice {value:?} is not uniform, zipf or zipf:EXPONENT (0 to 10)")]
    UserChoice { value: String },
    #[error(
        "the partition-key pool of {users} users with {sessions_per_user} sessions each is out of range (1 to 1000000 users, 1 to 1000 sessions)"
    )]
    Pool { users: u32, sessions_per_user: u32 },
    #[error("the scaled schedule {schedule} asks for more than {max} requests per second")]
    Rate { schedule: String, max: f64 },
    #[error("{name} must be at least 1")]
    Limit { name: &'static str },
    #[error("target {url:?} is not an http:// or https:// URL with a host")]
    Url { url: String },
    #[error("cannot load the system's TLS root certificates")]
    Tls(#[source] std::io::Error),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a load test report")]
    ReportJson(#[source] serde_json::Error),
}
