//! Python command-line tools (cfn-lint, checkov, moto, the AWS CLI, cargo-zigbuild with zig) installed on first use into
//! a cached virtual environment under the Cargo target folder, pinned to one version, as
//! testcontainers pulls an image on first use. A new machine needs only `python3`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use tracing::info;

/// A pinned Python package and the console script it provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonTool {
    /// The pip requirement, pinned: `cfn-lint==1.58.0`. It names the virtual environment.
    pub requirement: &'static str,
    /// Further pinned requirements installed beside it (`ziglang==0.17.0` for cargo-zigbuild).
    pub with: &'static [&'static str],
    /// The script the package installs: `cfn-lint`.
    pub script: &'static str,
}

/// `cfn-lint`, the CloudFormation linter; the same version the vendored resource schemas come from.
pub const CFN_LINT: PythonTool = PythonTool {
    requirement: "cfn-lint==1.58.0",
    with: &[],
    script: "cfn-lint",
};

/// `checkov`, the infrastructure-as-code scanner: the tests run the checks its users asked about
/// (open API methods, stage access logs, function concurrency) on the synthesized templates.
pub const CHECKOV: PythonTool = PythonTool {
    requirement: "checkov==3.3.30",
    with: &[],
    script: "checkov",
};

/// The AWS CLI (v1, the one on PyPI): a real client of the local Kinesis in the tests, as a user
/// of `cargo run -p localstack -- up` runs it.
pub const AWS_CLI: PythonTool = PythonTool {
    requirement: "awscli==1.46.3",
    with: &[],
    script: "aws",
};

/// `cargo-zigbuild` with the zig toolchain it drives (the `ziglang` wheel): C compiler and linker
/// for the Lambda musl targets, x86_64 and aarch64, with nothing installed by the system. The
/// script finds zig through `python3 -m ziglang`, so the venv's `bin/` goes first on `PATH`.
pub const CARGO_ZIGBUILD: PythonTool = PythonTool {
    requirement: "cargo-zigbuild==0.24.0",
    with: &["ziglang==0.17.0"],
    script: "cargo-zigbuild",
};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run `{command}` (is python3 installed?)")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed with {status}:\n{output}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("cannot prepare {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The environment variable naming the interpreter used to create virtual environments.
pub const PYTHON_ENV: &str = "IOPS_PYTHON";

fn run(cmd: &mut Command) -> Result<(), ToolError> {
    let command = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd.output().map_err(|source| ToolError::Spawn {
        command: command.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Err(ToolError::Failed {
            command,
            status: out.status,
            output,
        })
    }
}

impl PythonTool {
    /// The folder of this tool's virtual environment under `tools_dir`, named by the pin.
    pub fn venv_dir(&self, tools_dir: &Path) -> PathBuf {
        tools_dir.join(
            self.requirement
                .replace("==", "-")
                .replace('[', "-")
                .replace(']', ""),
        )
    }

    /// Every pinned requirement, the tool's first.
    pub fn requirements(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.requirement).chain(self.with.iter().copied())
    }

    /// What the `.installed` marker of a complete install holds: the requirements, one a line.
    fn marker(&self) -> String {
        self.requirements().collect::<Vec<_>>().join("\n")
    }

    /// The path of the tool's script, installing it first if needed. Safe to call from several
    /// processes at once: installs are serialized by a lock file, and a finished install is
    /// marked so later calls return at once.
    pub fn ensure(&self, tools_dir: &Path) -> Result<PathBuf, ToolError> {
        let python = std::env::var_os(PYTHON_ENV).unwrap_or_else(|| "python3".into());
        self.ensure_with(Path::new(&python), tools_dir)
    }

    /// [`PythonTool::ensure`] with the interpreter given.
    pub fn ensure_with(&self, python: &Path, tools_dir: &Path) -> Result<PathBuf, ToolError> {
        let venv = self.venv_dir(tools_dir);
        let script = venv.join("bin").join(self.script);
        let done = venv.join(".installed");
        let installed =
            || script.is_file() && fs::read_to_string(&done).is_ok_and(|m| m == self.marker());
        if installed() {
            return Ok(script);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ToolError::Io { path, source }
        };
        fs::create_dir_all(tools_dir).map_err(io(tools_dir))?;
        let lock_path = tools_dir.join(format!("{}.lock", self.script));
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        if installed() {
            return Ok(script);
        }
        info!(requirements = %self.marker().replace('\n', " "), venv = %venv.display(), "installing a Python tool (first use)");
        let _ = fs::remove_dir_all(&venv);
        run(Command::new(python).arg("-m").arg("venv").arg(&venv))?;
        let pip = venv.join("bin").join("pip");
        run(Command::new(&pip)
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(self.requirements()))?;
        fs::write(&done, self.marker()).map_err(io(&done))?;
        Ok(script)
    }
}

/// Where cached tools live: `<target>/tools`, the target folder being `CARGO_TARGET_DIR` or
/// `<workspace>/target`.
pub fn default_tools_dir(workspace_root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("target"));
    target.join("tools")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_folders_are_named_by_the_pin() {
        let dir = Path::new("/t");
        assert_eq!(CFN_LINT.venv_dir(dir), PathBuf::from("/t/cfn-lint-1.58.0"));
        let moto = PythonTool {
            requirement: "moto[server]==5.2.5",
            with: &[],
            script: "moto_server",
        };
        assert_eq!(
            moto.venv_dir(dir),
            PathBuf::from("/t/moto-server-5.2.5"),
            "no brackets in folder names"
        );
    }

    #[test]
    fn a_missing_interpreter_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tool = PythonTool {
            requirement: "nothing==0",
            with: &[],
            script: "nothing",
        };
        let err = tool
            .ensure_with(Path::new("/nonexistent/python3"), dir.path())
            .expect_err("no python");
        assert!(matches!(err, ToolError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("is python3 installed?"));
    }
}
