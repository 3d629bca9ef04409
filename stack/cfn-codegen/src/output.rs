//! The generated file set: producing it in memory, comparing it with the tree, writing it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::model::{self, Resource};
use crate::{Error, Layout, render, schema};

/// Generated files by path relative to the output directory (`kinesis/stream.rs`).
pub type Files = BTreeMap<PathBuf, String>;

/// Generates every file in memory, formatted with `rustfmt`.
pub fn generate(layout: &Layout) -> Result<Files, Error> {
    let schemas = schema::load_all(&layout.schemas, &layout.patches)?;
    let mut resources: Vec<Resource> = Vec::new();
    for schema in &schemas {
        let resource = model::build(schema)?;
        if let Some(other) = resources.iter().find(|r| r.type_name == resource.type_name) {
            return Err(Error::DuplicateType {
                type_name: resource.type_name,
                first: other.file.clone(),
                second: resource.file,
            });
        }
        resources.push(resource);
    }
    let unformatted = render_all(&resources);
    let cwd = existing_ancestor(&layout.out);
    let mut files = Files::new();
    std::thread::scope(|scope| {
        let jobs: Vec<_> = unformatted
            .into_iter()
            .map(|(path, code)| {
                let cwd = cwd.clone();
                scope.spawn(move || {
                    let formatted = rustfmt(&code, &path, &cwd);
                    (path, formatted)
                })
            })
            .collect();
        for job in jobs {
            let (path, formatted) = job
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            files.insert(path, formatted?);
        }
        Ok(files)
    })
}

/// The unformatted sources of all files.
pub fn render_all(resources: &[Resource]) -> Files {
    let mut by_type: Vec<&Resource> = resources.iter().collect();
    by_type.sort_by(|a, b| a.type_name.cmp(&b.type_name));
    let mut by_service: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
    for resource in &by_type {
        by_service
            .entry(&resource.service_module)
            .or_default()
            .push(resource);
    }
    let mut files = Files::new();
    for (service_module, members) in &mut by_service {
        members.sort_by(|a, b| a.module.cmp(&b.module));
        let service = members
            .first()
            .and_then(|r| r.type_name.split("::").nth(1))
            .unwrap_or(service_module);
        files.insert(
            Path::new(service_module).join("mod.rs"),
            render::service_module(service, members),
        );
        for resource in members.iter() {
            files.insert(
                Path::new(service_module).join(format!("{}.rs", resource.module)),
                render::resource_file(resource),
            );
        }
    }
    let services: Vec<String> = by_service.keys().map(|s| (*s).to_owned()).collect();
    files.insert(
        PathBuf::from("mod.rs"),
        render::root_module(&services, &by_type),
    );
    files
}

/// Pipes `code` through `rustfmt`, run from `cwd` so that it finds the same configuration as
/// `cargo fmt` does for the output directory.
fn rustfmt(code: &str, path: &Path, cwd: &Path) -> Result<String, Error> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::RustfmtSpawn)?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(code.as_bytes()));
    let output = child.wait_with_output().map_err(Error::RustfmtSpawn)?;
    let rejected = |stderr: String| Error::Rustfmt {
        file: path.display().to_string(),
        stderr,
    };
    if !output.status.success() {
        return Err(rejected(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    if let Some(Err(e)) = written {
        return Err(Error::RustfmtSpawn(e));
    }
    String::from_utf8(output.stdout).map_err(|_| rejected("output is not UTF-8".to_owned()))
}

fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("."))
        .to_owned()
}

/// How a file on disk differs from the generated one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stale {
    /// Generated but not on disk.
    Missing(PathBuf),
    /// On disk with other content.
    Changed(PathBuf),
    /// On disk but not generated (from a schema that is gone).
    Extra(PathBuf),
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Missing(p) => write!(f, "missing: {}", p.display()),
            Stale::Changed(p) => write!(f, "changed: {}", p.display()),
            Stale::Extra(p) => write!(f, "not generated: {}", p.display()),
        }
    }
}

/// The differences between `files` and the tree under `out`.
pub fn stale(out: &Path, files: &Files) -> Result<Vec<Stale>, Error> {
    let existing = list_files(out)?;
    let mut stale = Vec::new();
    for (path, content) in files {
        let full = out.join(path);
        if !existing.contains(path) {
            stale.push(Stale::Missing(path.clone()));
        } else if std::fs::read_to_string(&full).map_err(|source| Error::Read {
            path: full.clone(),
            source,
        })? != *content
        {
            stale.push(Stale::Changed(path.clone()));
        }
    }
    for path in existing {
        if !files.contains_key(&path) {
            stale.push(Stale::Extra(path));
        }
    }
    stale.sort();
    Ok(stale)
}

/// Brings the tree under `out` in line with `files`: writes what differs, removes what is not
/// generated (and directories left empty). Returns what it changed.
pub fn write(out: &Path, files: &Files) -> Result<Vec<Stale>, Error> {
    let changes = stale(out, files)?;
    for change in &changes {
        match change {
            Stale::Missing(path) | Stale::Changed(path) => {
                let full = out.join(path);
                let write_err = |source| Error::Write {
                    path: full.clone(),
                    source,
                };
                if let Some(dir) = full.parent() {
                    std::fs::create_dir_all(dir).map_err(write_err)?;
                }
                std::fs::write(&full, &files[path]).map_err(write_err)?;
            }
            Stale::Extra(path) => {
                let full = out.join(path);
                std::fs::remove_file(&full).map_err(|source| Error::Write {
                    path: full.clone(),
                    source,
                })?;
                for dir in full.ancestors().skip(1) {
                    if dir == out || std::fs::remove_dir(dir).is_err() {
                        break;
                    }
                }
            }
        }
    }
    Ok(changes)
}

/// Every file under `dir`, relative to it; empty if `dir` does not exist.
fn list_files(dir: &Path) -> Result<BTreeSet<PathBuf>, Error> {
    let mut files = BTreeSet::new();
    if !dir.exists() {
        return Ok(files);
    }
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let read_err = |source| Error::Read {
            path: current.clone(),
            source,
        };
        for entry in std::fs::read_dir(&current).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.insert(relative.to_owned());
            }
        }
    }
    Ok(files)
}
