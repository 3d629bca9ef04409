//! Shared support for the workspace-level tests.

use std::path::PathBuf;

use iops_dashboard::{App, Config};

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
