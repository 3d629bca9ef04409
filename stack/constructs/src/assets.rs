//! Function code as assets: a Rust crate of the workspace, named by a hash of everything its
//! release build depends on (its sources, its workspace path dependencies, its locked
//! dependency versions, the release profile and the target), so the template and its snapshot
//! are the same on every machine and nothing is compiled to synthesize.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bump when the packaging recipe (zip layout, build flags) changes, so every asset key changes.
pub const RECIPE_VERSION: &str = "rust-lambda-zip/1";

/// The instruction set a function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    #[default]
    X86_64,
    Arm64,
}

impl Architecture {
    /// The name Lambda uses (`x86_64`, `arm64`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The Rust target the function is built for: static musl binaries, which start on
    /// `provided.al2023` whatever glibc the build machine has.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-musl",
            Architecture::Arm64 => "aarch64-unknown-linux-musl",
        }
    }
}

/// A function code package: which crate and binary to build, and where it lives in the assets bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Asset {
    /// The Cargo package.
    pub package: String,
    /// The binary of the package that becomes `bootstrap`.
    pub binary: String,
    pub architecture: Architecture,
    /// The Rust target triple it is built for.
    pub target: &'static str,
    /// SHA-256 of the build inputs, hex.
    pub hash: String,
    /// The object key in the assets bucket: `assets/<hash>.zip`.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error(
        "no workspace root is configured for Rust function assets (StackProps::workspace_root)"
    )]
    NoWorkspaceRoot,
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("package `{package}` is not a member of the workspace at {root}")]
    UnknownPackage { package: String, root: PathBuf },
    #[error("package `{package}` is not in Cargo.lock; run `cargo generate-lockfile`")]
    NotLocked { package: String },
}

fn read(path: &Path) -> Result<String, AssetError> {
    fs::read_to_string(path).map_err(|e| AssetError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn read_toml(path: &Path) -> Result<toml::Table, AssetError> {
    read(path)?
        .parse::<toml::Table>()
        .map_err(|e| AssetError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// A workspace member: its package name, folder (relative to the root) and manifest.
#[derive(Debug)]
struct Member {
    dir: String,
    manifest: toml::Table,
}

/// What the asset hashes of one workspace read, read once: the root manifest, the members'
/// manifests and `Cargo.lock`. A stack with several functions hashes them all from one load.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    root_manifest: toml::Table,
    members: BTreeMap<String, Member>,
    /// The `[[package]]` entries of `Cargo.lock`.
    locked: Vec<toml::Value>,
}

/// Builds the asset for `package`'s binary `binary`, hashing its build inputs.
pub fn rust_asset(
    root: &Path,
    package: &str,
    binary: &str,
    architecture: Architecture,
) -> Result<Asset, AssetError> {
    Workspace::load(root)?.rust_asset(package, binary, architecture)
}

impl Workspace {
    /// Reads the workspace at `root`.
    pub fn load(root: &Path) -> Result<Workspace, AssetError> {
        let root_manifest = read_toml(&root.join("Cargo.toml"))?;
        let members = workspace_members(root, &root_manifest)?;
        let lock = read_toml(&root.join("Cargo.lock"))?;
        let locked = lock
            .get("package")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(Workspace {
            root: root.to_owned(),
            root_manifest,
            members,
            locked,
        })
    }

    /// Builds the asset for `package`'s binary `binary`, hashing its build inputs.
    pub fn rust_asset(
        &self,
        package: &str,
        binary: &str,
        architecture: Architecture,
    ) -> Result<Asset, AssetError> {
        let Workspace {
            root,
            root_manifest,
            members,
            locked,
        } = self;
        if !members.contains_key(package) {
            return Err(AssetError::UnknownPackage {
                package: package.to_owned(),
                root: root.to_owned(),
            });
        }

        let mut hasher = Sha256::new();
        let mut feed = |label: &str, bytes: &[u8]| {
            hasher.update((label.len() as u64).to_le_bytes());
            hasher.update(label.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        feed("recipe", RECIPE_VERSION.as_bytes());
        feed("target", architecture.rust_target().as_bytes());
        feed("binary", binary.as_bytes());

        // The package and the workspace crates it depends on, by path: their manifests and sources.
        let workspace_deps = workspace_dependencies(root_manifest);
        let mut crates = BTreeSet::new();
        let mut queue = VecDeque::from([package.to_owned()]);
        while let Some(name) = queue.pop_front() {
            let Some(m) = members.get(&name) else {
                continue;
            };
            if !crates.insert(name.clone()) {
                continue;
            }
            for dep in dependency_names(&m.manifest) {
                if members.contains_key(&dep) {
                    queue.push_back(dep);
                }
            }
        }
        let mut used_external = BTreeSet::new();
        for name in &crates {
            let m = &members[name];
            for file in source_files(&root.join(&m.dir))? {
                let relative = file
                    .strip_prefix(root)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes = fs::read(&file).map_err(|e| AssetError::Read {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
                feed(&relative, &normalize_newlines(&bytes));
            }
            used_external.extend(
                dependency_names(&m.manifest)
                    .into_iter()
                    .filter(|d| !members.contains_key(d)),
            );
        }

        // What the root manifest says about the build: the release profile, and the workspace
        // dependency specs (versions, features) the crates use.
        if let Some(profile) = root_manifest.get("profile").and_then(|p| p.get("release")) {
            feed("profile.release", profile.to_string().as_bytes());
        }
        for name in used_external.iter().chain(crates.iter()) {
            if let Some(spec) = workspace_deps.get(name) {
                feed(
                    &format!("workspace.dependencies.{name}"),
                    spec.to_string().as_bytes(),
                );
            }
        }

        // The locked versions of everything the package depends on, transitively.
        for entry in locked_closure(locked, package)? {
            feed("lock", entry.as_bytes());
        }

        let hash = hex(&hasher.finalize());
        Ok(Asset {
            package: package.to_owned(),
            binary: binary.to_owned(),
            architecture,
            target: architecture.rust_target(),
            key: format!("assets/{hash}.zip"),
            hash,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text hashed the same whether a checkout has LF or CRLF line endings.
fn normalize_newlines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().peekable();
    while let Some(&b) = iter.next() {
        if b == b'\r' && iter.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

fn workspace_members(
    root: &Path,
    root_manifest: &toml::Table,
) -> Result<BTreeMap<String, Member>, AssetError> {
    let dirs = root_manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut members = BTreeMap::new();
    for dir in dirs {
        let manifest = read_toml(&root.join(&dir).join("Cargo.toml"))?;
        if let Some(name) = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        {
            members.insert(name.to_owned(), Member { dir, manifest });
        }
    }
    Ok(members)
}

fn workspace_dependencies(root_manifest: &toml::Table) -> BTreeMap<String, toml::Value> {
    root_manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The names of a manifest's normal and build dependencies (dev-dependencies do not reach the binary).
fn dependency_names(manifest: &toml::Table) -> Vec<String> {
    ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|section| manifest.get(*section).and_then(|d| d.as_table()))
        .flat_map(|t| {
            t.iter().map(|(key, spec)| {
                spec.get("package")
                    .and_then(|p| p.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| key.clone())
            })
        })
        .collect()
}

/// The files of a crate that its build reads: the manifest, `build.rs` and everything in `src/`, sorted.
fn source_files(dir: &Path) -> Result<Vec<PathBuf>, AssetError> {
    let mut files = vec![dir.join("Cargo.toml")];
    if dir.join("build.rs").is_file() {
        files.push(dir.join("build.rs"));
    }
    let mut stack = vec![dir.join("src")];
    let mut found = Vec::new();
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|e| AssetError::Read {
            path: d.clone(),
            message: e.to_string(),
        })?;
        for entry in entries {
            let path = entry
                .map_err(|e| AssetError::Read {
                    path: d.clone(),
                    message: e.to_string(),
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    files.extend(found);
    Ok(files)
}

/// The Cargo.lock entries (`name version source checksum`) of `package` and everything it
/// depends on, sorted.
fn locked_closure(packages: &[toml::Value], package: &str) -> Result<Vec<String>, AssetError> {
    let mut by_name: BTreeMap<String, Vec<&toml::Value>> = BTreeMap::new();
    for p in packages {
        if let Some(name) = p.get("name").and_then(|n| n.as_str()) {
            by_name.entry(name.to_owned()).or_default().push(p);
        }
    }
    let field =
        |p: &toml::Value, key: &str| p.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let Some(start) = by_name.get(package).and_then(|v| v.first()) else {
        return Err(AssetError::NotLocked {
            package: package.to_owned(),
        });
    };
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([*start]);
    while let Some(p) = queue.pop_front() {
        let entry = format!(
            "{} {} {} {}",
            field(p, "name"),
            field(p, "version"),
            field(p, "source"),
            field(p, "checksum")
        );
        if !seen.insert(entry) {
            continue;
        }
        let deps = p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .cloned()
            .unwrap_or_default();
        for dep in deps.iter().filter_map(|d| d.as_str()) {
            // "name", "name version" or "name version (source)".
            let mut parts = dep.split(' ');
            let name = parts.next().unwrap_or_default();
            let version = parts.next();
            let candidates = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
            let chosen = candidates.iter().find(|c| {
                version.is_none_or(|v| c.get("version").and_then(|x| x.as_str()) == Some(v))
            });
            if let Some(c) = chosen {
                queue.push_back(c);
            }
        }
    }
    Ok(seen.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("test paths have a parent"))
            .expect("create test dir");
        fs::write(path, text).expect("write test file");
    }

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(
            root,
            "Cargo.toml",
            "[workspace]\nmembers = [\"fns/a\", \"fns/shared\", \"fns/b\"]\n[workspace.dependencies]\nserde = \"1\"\n[profile.release]\nlto = true\n",
        );
        write(
            root,
            "fns/a/Cargo.toml",
            "[package]\nname = \"a\"\n[dependencies]\nshared = { path = \"../shared\" }\nserde.workspace = true\n",
        );
        write(root, "fns/a/src/main.rs", "fn main() {}\n");
        write(
            root,
            "fns/shared/Cargo.toml",
            "[package]\nname = \"shared\"\n",
        );
        write(root, "fns/shared/src/lib.rs", "pub fn f() {}\n");
        write(root, "fns/b/Cargo.toml", "[package]\nname = \"b\"\n");
        write(root, "fns/b/src/main.rs", "fn main() {}\n");
        write(
            root,
            "Cargo.lock",
            "version = 4\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\ndependencies = [\"serde\", \"shared\"]\n\n[[package]]\nname = \"b\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\nchecksum = \"aa\"\n\n[[package]]\nname = \"shared\"\nversion = \"0.1.0\"\n",
        );
        dir
    }

    fn hash(root: &Path, package: &str) -> String {
        rust_asset(root, package, package, Architecture::X86_64)
            .expect("asset")
            .hash
    }

    #[test]
    fn the_hash_follows_exactly_the_build_inputs() {
        let dir = workspace();
        let root = dir.path();
        let a = hash(root, "a");
        assert_eq!(a, hash(root, "a"), "same inputs, same hash");
        assert_eq!(
            rust_asset(root, "a", "a", Architecture::X86_64)
                .expect("asset")
                .key,
            format!("assets/{a}.zip")
        );

        write(root, "fns/b/src/main.rs", "fn main() { println!(); }\n");
        assert_eq!(a, hash(root, "a"), "an unrelated crate does not change it");
        write(root, "fns/a/tests/t.rs", "#[test] fn t() {}\n");
        assert_eq!(a, hash(root, "a"), "tests do not reach the binary");

        write(root, "fns/shared/src/lib.rs", "pub fn g() {}\n");
        let after_shared = hash(root, "a");
        assert_ne!(a, after_shared, "a path dependency's source changes it");

        let lock = fs::read_to_string(root.join("Cargo.lock")).expect("lock");
        fs::write(
            root.join("Cargo.lock"),
            lock.replace("checksum = \"aa\"", "checksum = \"bb\""),
        )
        .expect("lock");
        assert_ne!(
            after_shared,
            hash(root, "a"),
            "a locked dependency changes it"
        );

        let x86 = hash(root, "a");
        let arm = rust_asset(root, "a", "a", Architecture::Arm64)
            .expect("asset")
            .hash;
        assert_ne!(x86, arm, "the target changes it");
    }

    #[test]
    fn crlf_checkouts_hash_the_same() {
        let dir = workspace();
        let root = dir.path();
        let lf = hash(root, "a");
        write(root, "fns/a/src/main.rs", "fn main() {}\r\n");
        assert_eq!(lf, hash(root, "a"));
    }

    #[test]
    fn unknown_packages_are_named() {
        let dir = workspace();
        let err = rust_asset(dir.path(), "nope", "nope", Architecture::X86_64)
            .expect_err("unknown package");
        assert!(
            matches!(err, AssetError::UnknownPackage { ref package, .. } if package == "nope"),
            "{err}"
        );
    }
}
