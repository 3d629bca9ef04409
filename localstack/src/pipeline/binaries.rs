//! The executables the functions run: found by the S3 key of each function's code package, as
//! the template names it, so the template decides which binary a function runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use constructs::assets::Asset;
use serde_json::Value;
use tracing::info;

/// The environment variable holding the `cargo` that runs us (set by `cargo run` and
/// `cargo test`); `cargo` from the `PATH` when unset.
pub const CARGO_ENV: &str = "CARGO";

#[derive(Debug, thiserror::Error)]
pub enum BinariesError {
    #[error("the binary {binary} of package {package} is not at {}", path.display())]
    Missing {
        package: String,
        binary: String,
        path: PathBuf,
    },
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed with {status}:\n{stderr}")]
    Build {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("`{command}` built no executable for binary {binary} of package {package}")]
    NotBuilt {
        command: String,
        package: String,
        binary: String,
    },
}

/// The executable of each function, by the S3 key of its code package (`assets/<hash>.zip`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionBinaries {
    paths: BTreeMap<String, PathBuf>,
}

impl FunctionBinaries {
    /// Executables by code package key.
    pub fn new(paths: BTreeMap<String, PathBuf>) -> FunctionBinaries {
        FunctionBinaries { paths }
    }

    /// The binaries of `assets` in `dir`, by binary name (e.g. `target/debug`, or
    /// `target/x86_64-unknown-linux-musl/release` for the shipped ones).
    pub fn in_dir(assets: &[Asset], dir: &Path) -> Result<FunctionBinaries, BinariesError> {
        let mut paths = BTreeMap::new();
        for asset in assets {
            let path = dir.join(&asset.binary);
            if !path.is_file() {
                return Err(BinariesError::Missing {
                    package: asset.package.clone(),
                    binary: asset.binary.clone(),
                    path,
                });
            }
            paths.insert(asset.key.clone(), path);
        }
        Ok(FunctionBinaries { paths })
    }

    /// Builds the binaries of `assets` for the host with `cargo build --locked` (the debug
    /// profile) in the workspace at `workspace_root`, with the `cargo` of [`CARGO_ENV`], and
    /// takes the executables cargo reports. Up to date binaries are not rebuilt. Blocks.
    pub fn build_host(
        assets: &[Asset],
        workspace_root: &Path,
    ) -> Result<FunctionBinaries, BinariesError> {
        let cargo = std::env::var_os(CARGO_ENV).unwrap_or_else(|| "cargo".into());
        let mut packages: Vec<&str> = assets.iter().map(|a| a.package.as_str()).collect();
        packages.sort_unstable();
        packages.dedup();
        let mut args = vec![
            "build",
            "--locked",
            "--message-format=json-render-diagnostics",
        ];
        for package in &packages {
            args.extend(["-p", package]);
        }
        let command = format!("{} {}", Path::new(&cargo).display(), args.join(" "));
        let started = Instant::now();
        let output = Command::new(&cargo)
            .args(&args)
            .current_dir(workspace_root)
            .output()
            .map_err(|source| BinariesError::Spawn {
                command: command.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(BinariesError::Build {
                command,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let executables = executables(&String::from_utf8_lossy(&output.stdout));
        let mut paths = BTreeMap::new();
        for asset in assets {
            let path = executables
                .get(&asset.binary)
                .ok_or_else(|| BinariesError::NotBuilt {
                    command: command.clone(),
                    package: asset.package.clone(),
                    binary: asset.binary.clone(),
                })?;
            paths.insert(asset.key.clone(), path.clone());
        }
        info!(
            %command,
            millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            binaries = ?paths.values().collect::<Vec<_>>(),
            "function binaries built for the host"
        );
        Ok(FunctionBinaries { paths })
    }

    /// The executable for the code package `key`.
    pub fn path(&self, key: &str) -> Option<&Path> {
        self.paths.get(key).map(PathBuf::as_path)
    }

    /// Every executable, by code package key.
    pub fn paths(&self) -> &BTreeMap<String, PathBuf> {
        &self.paths
    }
}

/// The executables of the binary targets in cargo's JSON messages, by target name.
fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_bin = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if let (true, Some(name), Some(executable)) = (
            is_bin,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            found.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(binary: &str) -> Asset {
        Asset {
            package: binary.into(),
            binary: binary.into(),
            architecture: constructs::assets::Architecture::X86_64,
            target: "x86_64-unknown-linux-musl",
            hash: "abc".into(),
            key: format!("assets/{binary}.zip"),
        }
    }

    #[test]
    fn executables_come_from_cargos_binary_artifacts() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"ingest"},"executable":null}
not json, e.g. a line a build script printed
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"ingest"},"executable":"/t/debug/ingest"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executables(messages),
            BTreeMap::from([("ingest".to_owned(), PathBuf::from("/t/debug/ingest"))])
        );
    }

    #[test]
    fn binaries_in_a_folder_are_found_by_name_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("ingest"), b"elf").expect("write");
        let found = FunctionBinaries::in_dir(&[asset("ingest")], dir.path()).expect("found");
        assert_eq!(
            found.path("assets/ingest.zip"),
            Some(dir.path().join("ingest").as_path())
        );
        let error = FunctionBinaries::in_dir(&[asset("ingest"), asset("processor")], dir.path())
            .expect_err("no processor");
        assert!(
            matches!(&error, BinariesError::Missing { binary, .. } if binary == "processor"),
            "{error}"
        );
    }
}
