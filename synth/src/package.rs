//! The packaging step (as CDK's bundling): build each function crate in release for its Lambda
//! target, and zip its binary as `bootstrap` into `<out>/assets/<hash>.zip`, the key the
//! template refers to. `synth` itself compiles nothing; this step is run before a deploy.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use constructs::assets::{Architecture, Asset};
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
    #[error(
        "no C compiler for {target} (`{compiler}` is not on PATH); the AWS SDK's crypto (aws-lc-sys) compiles C for the target. \
         Install it (Debian/Ubuntu: `apt-get install musl-tools`), set {env_var} to a musl C compiler, or build with zig (`--toolchain zig`)"
    )]
    NoCCompiler {
        target: String,
        compiler: &'static str,
        env_var: String,
    },
    #[error("cannot install zig and cargo-zigbuild")]
    Zig {
        #[source]
        source: python_tools::ToolError,
    },
    #[error("{path} is not a binary Lambda's provided.al2023 can start: {reason}")]
    NotRunnable { path: PathBuf, reason: String },
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

/// Which C toolchain compiles the target's C code (the AWS SDK's crypto, aws-lc-sys) and links
/// the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Toolchain {
    /// The system's musl C compiler when there is one, else zig.
    #[default]
    Auto,
    /// The system's musl C compiler (`x86_64-linux-musl-gcc`, from `musl-tools`; or `CC_<target>`),
    /// driven by `cargo build`.
    System,
    /// zig, driven by `cargo zigbuild`; both installed from PyPI on first use into
    /// `<target>/tools/` (nothing on the system needed, and it cross-builds arm64).
    Zig,
}

/// How a target gets built: the resolved [`Toolchain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// `cargo build` with the system's musl compiler; `env` holds what it needs set (the
    /// linker of a cross target).
    System {
        compiler: String,
        env: Vec<(String, String)>,
    },
    /// `cargo-zigbuild zigbuild`, with the venv's `bin/` first on `PATH`.
    Zig { cargo_zigbuild: PathBuf },
}

/// The variable the `cc` crate reads a target's C compiler from: `CC_x86_64_unknown_linux_musl`.
fn cc_env_var(target: &str) -> String {
    format!("CC_{}", target.replace('-', "_"))
}

/// The variable cargo reads a target's linker from: `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER`.
fn linker_env_var(target: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        target.replace('-', "_").to_uppercase()
    )
}

/// The system C compiler for `target`: the one `CC_<target>` names, else the musl-gcc of its
/// architecture when on `path`; the host's `cc` for a target that needs no special compiler.
fn system_compiler(
    target: &str,
    chosen: Option<String>,
    path: Option<&std::ffi::OsStr>,
) -> Result<Builder, PackageError> {
    let musl_gcc = match target {
        "x86_64-unknown-linux-musl" => "x86_64-linux-musl-gcc",
        "aarch64-unknown-linux-musl" => "aarch64-linux-musl-gcc",
        _ => {
            return Ok(Builder::System {
                compiler: "cc".into(),
                env: Vec::new(),
            });
        }
    };
    let compiler = match chosen {
        Some(chosen) => chosen,
        None if path.is_some_and(|path| {
            std::env::split_paths(path).any(|dir| dir.join(musl_gcc).is_file())
        }) =>
        {
            musl_gcc.to_owned()
        }
        None => {
            return Err(PackageError::NoCCompiler {
                target: target.into(),
                compiler: musl_gcc,
                env_var: cc_env_var(target),
            });
        }
    };
    // A cross target also links with it (the host's `cc` cannot link aarch64), unless the
    // user chose a linker.
    let mut env = Vec::new();
    let host_arch = std::env::consts::ARCH;
    if !target.starts_with(host_arch) && std::env::var_os(linker_env_var(target)).is_none() {
        env.push((linker_env_var(target), compiler.clone()));
    }
    Ok(Builder::System { compiler, env })
}

/// Resolves `toolchain` for `target`, installing zig when it is the one chosen or needed.
pub fn builder(
    toolchain: Toolchain,
    target: &str,
    tools_dir: &Path,
) -> Result<Builder, PackageError> {
    let system = || {
        system_compiler(
            target,
            std::env::var(cc_env_var(target)).ok(),
            std::env::var_os("PATH").as_deref(),
        )
    };
    let zig = || {
        info!(
            target,
            "building with zig (cargo-zigbuild), installed on first use"
        );
        python_tools::CARGO_ZIGBUILD
            .ensure(tools_dir)
            .map(|cargo_zigbuild| Builder::Zig { cargo_zigbuild })
            .map_err(|source| PackageError::Zig { source })
    };
    match toolchain {
        Toolchain::System => system(),
        Toolchain::Zig => zig(),
        Toolchain::Auto => match system() {
            Err(PackageError::NoCCompiler { .. }) => zig(),
            found => found,
        },
    }
}

/// The newest glibc of provided.al2023: a binary needing a newer one does not start there.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

/// How an ELF binary links: statically, or against glibc needing at most this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    Static,
    Dynamic { newest_glibc: Option<(u32, u32)> },
}

/// Reads how `binary` links, from its `.interp` section and the `GLIBC_x.y` version names its
/// dynamic string table references.
pub fn linkage(binary: &[u8]) -> Result<Linkage, String> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(binary).map_err(|e| format!("not an object file: {e}"))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(format!("a {:?} file, not ELF", file.format()));
    }
    if file.section_by_name(".interp").is_none() {
        return Ok(Linkage::Static);
    }
    let strings = match file.section_by_name(".dynstr") {
        Some(section) => section
            .data()
            .map_err(|e| format!("unreadable .dynstr: {e}"))?
            .to_vec(),
        None => Vec::new(),
    };
    let newest_glibc = strings
        .split(|b| *b == 0)
        .filter_map(|name| std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.');
            Some((
                parts.next()?.parse().ok()?,
                parts.next().unwrap_or("0").parse().ok()?,
            ))
        })
        .max();
    Ok(Linkage::Dynamic { newest_glibc })
}

/// The instruction set of an ELF binary, if it is one Lambda runs.
pub fn architecture(binary: &[u8]) -> Result<Option<Architecture>, String> {
    use object::Object;
    let file = object::File::parse(binary).map_err(|e| format!("not an object file: {e}"))?;
    Ok(match file.architecture() {
        object::Architecture::X86_64 => Some(Architecture::X86_64),
        object::Architecture::Aarch64 => Some(Architecture::Arm64),
        _ => None,
    })
}

/// Refuses a binary that would not start on provided.al2023 for a function of `expected`
/// architecture: another instruction set, or a glibc newer than the runtime's.
pub fn check_runnable(
    path: &Path,
    binary: &[u8],
    expected: Architecture,
) -> Result<Linkage, PackageError> {
    let not_runnable = |reason: String| PackageError::NotRunnable {
        path: path.to_owned(),
        reason,
    };
    match architecture(binary).map_err(not_runnable)? {
        Some(found) if found == expected => {}
        found => {
            return Err(not_runnable(format!(
                "it is built for {}, the function runs on {}",
                found.map_or("another instruction set", Architecture::lambda_name),
                expected.lambda_name()
            )));
        }
    }
    match linkage(binary).map_err(not_runnable)? {
        Linkage::Dynamic {
            newest_glibc: Some(v),
        } if v > AL2023_GLIBC => Err(not_runnable(format!(
            "it needs glibc {}.{}, newer than the {}.{} of provided.al2023; build for a musl target",
            v.0, v.1, AL2023_GLIBC.0, AL2023_GLIBC.1
        ))),
        linkage => Ok(linkage),
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

/// How [`package`] builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageOptions {
    pub toolchain: Toolchain,
}

/// The `cargo build` (or `cargo-zigbuild zigbuild`) of one asset.
fn build_command(builder: &Builder, asset: &Asset, workspace_root: &Path) -> Command {
    let mut build = match builder {
        Builder::System { env, .. } => {
            let mut build = cargo();
            build.arg("build").envs(env.iter().map(|(k, v)| (k, v)));
            build
        }
        Builder::Zig { cargo_zigbuild } => {
            let mut build = Command::new(cargo_zigbuild);
            build.arg("zigbuild");
            // cargo-zigbuild finds zig through `python3 -m ziglang`: the venv's python first.
            if let Some(bin) = cargo_zigbuild.parent() {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let paths = std::iter::once(bin.to_owned()).chain(std::env::split_paths(&path));
                if let Ok(joined) = std::env::join_paths(paths) {
                    build.env("PATH", joined);
                }
            }
            build
        }
    };
    build.current_dir(workspace_root).args([
        "--release",
        "--locked",
        "--package",
        &asset.package,
        "--bin",
        &asset.binary,
        "--target",
        asset.target,
    ]);
    build
}

/// Builds and zips every asset into `<out_dir>/assets/`.
pub fn package(
    assets: &[Asset],
    workspace_root: &Path,
    out_dir: &Path,
    options: &PackageOptions,
) -> Result<Vec<Packaged>, PackageError> {
    let target_dir = target_directory(workspace_root)?;
    let tools_dir = target_dir.join("tools");
    let targets: BTreeSet<&str> = assets.iter().map(|a| a.target).collect();
    let mut builders = BTreeMap::new();
    for target in targets {
        ensure_target(target)?;
        let builder = builder(options.toolchain, target, &tools_dir)?;
        info!(target, ?builder, "toolchain");
        builders.insert(target, builder);
    }
    let mut packaged = Vec::new();
    for asset in assets {
        let builder = &builders[asset.target];
        info!(package = %asset.package, target = asset.target, "building");
        let mut build = build_command(builder, asset, workspace_root);
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
        let linkage = check_runnable(&binary_path, &binary, asset.architecture)?;
        let path = out_dir.join(&asset.key);
        let bytes = zip_bootstrap(&binary, &path)?;
        info!(package = %asset.package, path = %path.display(), bytes, ?linkage, "packaged");
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

    fn host_architecture() -> Architecture {
        match std::env::consts::ARCH {
            "aarch64" => Architecture::Arm64,
            _ => Architecture::X86_64,
        }
    }

    #[test]
    fn linkage_is_read_from_the_binary() {
        // This test binary is built for the host: dynamically linked against its glibc.
        let exe = std::env::current_exe().expect("test binary path");
        let bytes = fs::read(&exe).expect("read test binary");
        assert!(
            matches!(
                linkage(&bytes),
                Ok(Linkage::Dynamic {
                    newest_glibc: Some((2, _))
                })
            ),
            "{:?}",
            linkage(&bytes)
        );
        assert!(linkage(b"#!/bin/sh\necho not elf\n").is_err());
    }

    #[test]
    fn a_binary_needing_a_newer_glibc_is_refused() {
        let exe = std::env::current_exe().expect("test binary path");
        let bytes = fs::read(&exe).expect("read test binary");
        match linkage(&bytes) {
            Ok(Linkage::Dynamic {
                newest_glibc: Some(v),
            }) if v > AL2023_GLIBC => {
                let err =
                    check_runnable(&exe, &bytes, host_architecture()).expect_err("too new a glibc");
                assert!(
                    err.to_string()
                        .contains("newer than the 2.34 of provided.al2023"),
                    "{err}"
                );
            }
            // On a build machine with glibc <= 2.34 a host binary is fine.
            Ok(Linkage::Dynamic { .. }) => {
                assert!(check_runnable(&exe, &bytes, host_architecture()).is_ok())
            }
            other => panic!("a host test binary links dynamically: {other:?}"),
        }
    }

    #[test]
    fn a_missing_musl_compiler_is_named_with_its_fix() {
        let target = "x86_64-unknown-linux-musl";
        let err = system_compiler(target, None, Some("".as_ref()))
            .expect_err("no compiler on an empty PATH");
        let msg = err.to_string();
        assert!(
            msg.contains("x86_64-linux-musl-gcc")
                && msg.contains("musl-tools")
                && msg.contains("CC_x86_64_unknown_linux_musl")
                && msg.contains("--toolchain zig"),
            "{msg}"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("x86_64-linux-musl-gcc"), "").expect("fake compiler");
        fs::write(dir.path().join("aarch64-linux-musl-gcc"), "").expect("fake compiler");
        assert_eq!(
            system_compiler(target, None, Some(dir.path().as_os_str())).expect("found"),
            Builder::System {
                compiler: "x86_64-linux-musl-gcc".into(),
                env: Vec::new()
            },
            "found on PATH; the host links its own architecture"
        );
        assert!(
            matches!(
                system_compiler(target, Some("/opt/musl/bin/gcc".into()), Some("".as_ref())),
                Ok(Builder::System { compiler, .. }) if compiler == "/opt/musl/bin/gcc"
            ),
            "chosen with CC_<target>"
        );
        assert!(
            matches!(
                system_compiler("x86_64-unknown-linux-gnu", None, None),
                Ok(Builder::System { compiler, .. }) if compiler == "cc"
            ),
            "glibc targets use the host compiler"
        );
        if std::env::consts::ARCH == "x86_64"
            && std::env::var_os(linker_env_var("aarch64-unknown-linux-musl")).is_none()
        {
            assert_eq!(
                system_compiler(
                    "aarch64-unknown-linux-musl",
                    None,
                    Some(dir.path().as_os_str())
                )
                .expect("found"),
                Builder::System {
                    compiler: "aarch64-linux-musl-gcc".into(),
                    env: vec![(
                        "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".into(),
                        "aarch64-linux-musl-gcc".into()
                    )]
                },
                "a cross target links with its own compiler"
            );
        }
    }

    #[test]
    fn a_binary_for_another_architecture_is_refused() {
        let exe = std::env::current_exe().expect("test binary path");
        let bytes = fs::read(&exe).expect("read test binary");
        let (host, other) = match std::env::consts::ARCH {
            "aarch64" => (Architecture::Arm64, Architecture::X86_64),
            _ => (Architecture::X86_64, Architecture::Arm64),
        };
        assert_eq!(architecture(&bytes), Ok(Some(host)));
        let err = check_runnable(&exe, &bytes, other).expect_err("wrong architecture");
        assert!(
            err.to_string().contains(&format!(
                "it is built for {}, the function runs on {}",
                host.lambda_name(),
                other.lambda_name()
            )),
            "{err}"
        );
    }

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
