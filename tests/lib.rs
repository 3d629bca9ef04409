//! Shared support for the workspace-level tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::OnceLock;

use aws_config::SdkConfig;
use constructs::assets::Architecture;
use emulator::Emulator;
use iops_dashboard::{App, Config};
use localstack::pipeline::FunctionBinaries;
use localstack::{Deployed, FunctionCode, StackDeployment};
use serde_json::Value;
use synth::package::{PackageError, PackageOptions, Packaged, Toolchain};

/// The stacks as the default configuration builds them, from this workspace's sources.
pub fn app() -> App {
    app_for(Architecture::default())
}

/// The stacks of the default configuration with functions for `architecture`.
pub fn app_for(architecture: Architecture) -> App {
    App::new(
        &Config {
            architecture,
            ..Config::default()
        },
        iops_dashboard::workspace_root(),
    )
}

/// The top-level `snapshots/` folder.
pub fn snapshots_dir() -> PathBuf {
    iops_dashboard::workspace_root().join("snapshots")
}

/// Where the Python tools the tests need are cached.
pub fn tools_dir() -> PathBuf {
    emulator::python::default_tools_dir(&iops_dashboard::workspace_root())
}

/// The function packages exactly as `synth package` ships them (release, static musl, zipped as
/// `bootstrap`) for `architecture`, written under `<target>/test-packages/<arch>/assets/`. The
/// first call builds (minutes); later ones find cargo's build fresh and only re-zip. Calls are
/// serialized: two tests never write the same zip at once.
pub fn shipped_packages(
    architecture: Architecture,
    toolchain: Toolchain,
) -> Result<Vec<Packaged>, PackageError> {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let app = app_for(architecture);
    let out = tools_dir()
        .with_file_name("test-packages")
        .join(architecture.lambda_name());
    synth::package::package(
        &app.core.stack.assets(),
        &iops_dashboard::workspace_root(),
        &out,
        &PackageOptions { toolchain },
    )
}

/// Logs to the test output, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The binaries the pipeline tests run as the functions: the host debug builds of the core
/// stack's function packages, built once per test process with `cargo build --locked -p ingest
/// -p stream-processor` (the `cargo` running the tests; nothing is rebuilt when up to date).
/// The one place that decides which binaries the functions are.
pub fn function_binaries() -> &'static FunctionBinaries {
    static BINARIES: OnceLock<FunctionBinaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let assets = app().core.stack.assets();
        FunctionBinaries::build_host(&assets, &iops_dashboard::workspace_root())
            .unwrap_or_else(|e| panic!("the function binaries: {}", localstack::error_chain(&e)))
    })
}

/// The load generator's target: the local pipeline's `/metrics`, signed with the emulator's
/// dummy credentials for `region`, with the template's first API key.
pub fn load_target(pipeline: &localstack::pipeline::Pipeline, region: &str) -> loadgen::Target {
    loadgen::Target {
        url: pipeline.metrics_url().to_owned(),
        api_key: pipeline.api_keys().first().map(|k| k.value.clone()),
        auth: loadgen::Auth::SigV4(localstack::local_runtime::apigw::Signer {
            access_key_id: emulator::DUMMY_CREDENTIAL.to_owned(),
            secret_access_key: emulator::DUMMY_CREDENTIAL.to_owned(),
            session_token: None,
            region: region.to_owned(),
        }),
    }
}

/// The core stack's template, deployed to `emulator` with placeholder function code (the
/// pipeline runs the binaries of [`function_binaries`] locally; nothing runs the packages).
pub async fn deploy_core(emulator: &Emulator) -> (Value, Deployed, SdkConfig) {
    deploy_core_of(emulator, &app()).await
}

/// [`deploy_core`] for the core stack of `app` (another configuration).
pub async fn deploy_core_of(emulator: &Emulator, app: &App) -> (Value, Deployed, SdkConfig) {
    let stack = &app.core.stack;
    let template = stack.synth().expect("a valid core stack").to_value();
    let config = emulator.sdk_config_in(&stack.env().region);
    let stack_name = localstack::unique_stack_name(&stack.name());
    let parameters = BTreeMap::from([
        ("AlertEmail".to_owned(), "ops@example.com".to_owned()),
        (
            constructs::lambda::ASSETS_BUCKET_PARAMETER.to_owned(),
            format!("assets-{}", stack_name.to_lowercase()),
        ),
    ]);
    let started = std::time::Instant::now();
    let deployed = localstack::deploy(
        &config,
        StackDeployment {
            stack_name,
            template: &template,
            parameters,
            code: &FunctionCode::Placeholder,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("deploy: {}", localstack::error_chain(&e)));
    println!(
        "deployed {} in {} ms; filled in: {}",
        deployed.stack_name(),
        started.elapsed().as_millis(),
        if deployed.filled.is_empty() {
            "nothing".to_owned()
        } else {
            deployed
                .filled
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    (template, deployed, config)
}
