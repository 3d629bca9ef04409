//! The packaging step (as CDK's bundling): build each function crate in release for its Lambda
//! target, and zip its binary as `bootstrap` into `<out>/assets/<hash>.zip`, the key the
//! template refers to. `synth` itself compiles nothing; this step is run before a deploy.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use constructs::assets::Asset;
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the Rust target {target} is not installed and could not be added ({reason}); install it with `rustup target add {target}`"
    )]
    TargetUnavailable { target: String, reason: String },
    #[error("`{command}` failed with {status}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
    },
    #[error("cannot read cargo metadata: {reason}")]
    Metadata { reason: String },
    #[error("cannot read the built binary {path}")]
    Binary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot zip {path}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
}

/// A code package written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packaged {
    pub asset: Asset,
    pub path: PathBuf,
    pub bytes: u64,
}

fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(mut cmd: Command) -> Result<std::process::Output, PackageError> {
    let command = display(&cmd);
    cmd.output()
        .map_err(|source| PackageError::Spawn { command, source })
}

/// The cargo the user ran us with (`CARGO` is set by `cargo run`), else `cargo`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Makes sure the standard library for `target` is installed, adding it with rustup if not.
pub fn ensure_target(target: &str) -> Result<(), PackageError> {
    let mut list = Command::new("rustup");
    list.args(["target", "list", "--installed"]);
    let installed = match run(list) {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == target),
        Ok(out) => {
            return Err(PackageError::TargetUnavailable {
                target: target.into(),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Err(_) => {
            return Err(PackageError::TargetUnavailable {
                target: target.into(),
                reason: "rustup is not on PATH".into(),
            });
        }
    };
    if installed {
        return Ok(());
    }
    info!(target, "adding the Rust target");
    let mut add = Command::new("rustup");
    add.args(["target", "add", target]);
    let out = run(add)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PackageError::TargetUnavailable {
            target: target.into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The workspace's target directory, as cargo reports it.
fn target_directory(workspace_root: &Path) -> Result<PathBuf, PackageError> {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root).args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]);
    let out = run(cmd)?;
    if !out.status.success() {
        return Err(PackageError::Metadata {
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| PackageError::Metadata {
            reason: e.to_string(),
        })?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| PackageError::Metadata {
            reason: "no target_directory in cargo metadata".into(),
        })
}

/// Zips `binary` as the single entry `bootstrap` (mode 755, fixed timestamp), so the same binary
/// always gives the same zip.
pub fn zip_bootstrap(binary: &[u8], path: &Path) -> Result<u64, PackageError> {
    let zip_err = |source| PackageError::Zip {
        path: path.to_owned(),
        source,
    };
    let write_err = |source| PackageError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|source| PackageError::Write {
            path: dir.to_owned(),
            source,
        })?;
    }
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755)
            .last_modified_time(zip::DateTime::default());
        zip.start_file("bootstrap", options).map_err(zip_err)?;
        zip.write_all(binary).map_err(write_err)?;
        zip.finish().map_err(zip_err)?;
    }
    let bytes = buffer.into_inner();
    fs::write(path, &bytes).map_err(write_err)?;
    Ok(bytes.len() as u64)
}

/// Builds and zips every asset into `<out_dir>/assets/`.
pub fn package(
    assets: &[Asset],
    workspace_root: &Path,
    out_dir: &Path,
) -> Result<Vec<Packaged>, PackageError> {
    let targets: BTreeSet<&str> = assets.iter().map(|a| a.target).collect();
    for target in &targets {
        ensure_target(target)?;
    }
    let target_dir = target_directory(workspace_root)?;
    let mut packaged = Vec::new();
    for asset in assets {
        info!(package = %asset.package, target = asset.target, "building");
        let mut build = cargo();
        build.current_dir(workspace_root).args([
            "build",
            "--release",
            "--locked",
            "--package",
            &asset.package,
            "--bin",
            &asset.binary,
            "--target",
            asset.target,
        ]);
        let command = display(&build);
        let status = build.status().map_err(|source| PackageError::Spawn {
            command: command.clone(),
            source,
        })?;
        if !status.success() {
            return Err(PackageError::Failed { command, status });
        }
        let binary_path = target_dir
            .join(asset.target)
            .join("release")
            .join(&asset.binary);
        let binary = fs::read(&binary_path).map_err(|source| PackageError::Binary {
            path: binary_path.clone(),
            source,
        })?;
        let path = out_dir.join(&asset.key);
        let bytes = zip_bootstrap(&binary, &path)?;
        info!(package = %asset.package, path = %path.display(), bytes, "packaged");
        packaged.push(Packaged {
            asset: asset.clone(),
            path,
            bytes,
        });
    }
    Ok(packaged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_zip_holds_an_executable_bootstrap_and_is_reproducible() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a.zip");
        let b = dir.path().join("b.zip");
        zip_bootstrap(b"\x7fELF binary", &a).expect("zip");
        zip_bootstrap(b"\x7fELF binary", &b).expect("zip");
        assert_eq!(
            fs::read(&a).expect("read"),
            fs::read(&b).expect("read"),
            "same binary, same zip"
        );

        let mut archive = zip::ZipArchive::new(fs::File::open(&a).expect("open")).expect("a zip");
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_name("bootstrap").expect("bootstrap entry");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read entry");
        assert_eq!(content, b"\x7fELF binary");
    }
}
