//! Shared support for the workspace-level tests.

use std::path::PathBuf;
use std::sync::Mutex;

use constructs::assets::Architecture;
use iops_dashboard::{App, Config};
use synth::package::{PackageError, PackageOptions, Packaged, Toolchain};

/// The stacks as the default configuration builds them, from this workspace's sources.
pub fn app() -> App {
    App::new(&Config::default(), iops_dashboard::workspace_root())
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
    let app = App::new(
        &Config {
            architecture,
            ..Config::default()
        },
        iops_dashboard::workspace_root(),
    );
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
