//! Which AWS API actions a function's code calls, read from its sources: for the test each
//! function has that keeps its list of calls (`aws_calls`, `AWS_CALLS`) true, so the stack's
//! IAM policy, checked against the list, is checked against the code.
//!
//! A call is an SDK operation invoked on a client: the word `client`, then `.operation(`, with
//! any whitespace between (`self.client\n    .put_records()`). Its service is the SDK crate of
//! the client the file holds (`aws_sdk_kinesis::Client`). The sources read are the crate's
//! `src/`, and the modules of this crate it names (`event_contract::store::…`), with the modules
//! those name in turn (`crate::sdk`). Comments and unit-test modules are not read.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Methods of a client that are not API operations.
const NOT_OPERATIONS: [&str; 3] = ["clone", "config", "as_ref"];

/// The AWS actions (`service:Action`, as IAM names them) the crate at `crate_dir` calls, in its
/// own sources and in the `event_contract` modules it uses.
pub fn called_by_crate(crate_dir: &Path) -> io::Result<BTreeSet<String>> {
    let own = rust_files(&crate_dir.join("src"))?;
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = own.clone();
    let mut modules = BTreeSet::new();
    let mut pending: Vec<String> = Vec::new();
    for file in &own {
        pending.extend(modules_named(
            &fs::read_to_string(file)?,
            "event_contract::",
        ));
    }
    while let Some(module) = pending.pop() {
        // This module is the reader, named by the tests that use it; it calls nothing.
        if module == "aws_calls" || !modules.insert(module.clone()) {
            continue;
        }
        for file in module_files(&contract, &module)? {
            pending.extend(modules_named(&fs::read_to_string(&file)?, "crate::"));
            files.push(file);
        }
    }
    let mut actions = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(&file)?;
        let calls = calls_in(&text);
        if calls.is_empty() {
            continue;
        }
        let service = service_of(&text).ok_or_else(|| {
            io::Error::other(format!(
                "{} calls {calls:?} but holds no single aws_sdk_*::Client",
                file.display()
            ))
        })?;
        actions.extend(
            calls
                .iter()
                .map(|op| format!("{service}:{}", pascal_case(op))),
        );
    }
    Ok(actions)
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The files of module `name` of the crate whose sources are `src`: `name.rs` and everything
/// under `name/`.
fn module_files(src: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        files.push(file);
    }
    let dir = src.join(name);
    if dir.is_dir() {
        files.extend(rust_files(&dir)?);
    }
    Ok(files)
}

/// The source without `//` comments, so prose that mentions a call is not one, and without its
/// unit tests (everything from the first `#[cfg(test)]`, where they sit by convention), which
/// call no client.
fn code_only(text: &str) -> String {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .map(|line| line.find("//").map_or(line, |i| &line[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    &text[..end]
}

/// The first-level module names after each `prefix` (`event_contract::store::X` gives
/// `store`; `event_contract::{alert::A, emf::B}` gives `alert` and `emf`).
fn modules_named(text: &str, prefix: &str) -> Vec<String> {
    let code = code_only(text);
    let mut names = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(is_ident) {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The parts of the group at its top level, up to its closing brace.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.extend(module_of(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.extend(module_of(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.extend(module_of(rest));
        }
    }
    names
}

/// The first segment of a path that has more (`store::X` gives `store`, `Checked` nothing).
fn module_of(path: &str) -> Option<String> {
    let path = path.trim_start();
    let name = ident(path);
    (!name.is_empty() && path[name.len()..].starts_with("::")).then(|| name.to_owned())
}

/// The operations invoked on a `client` in `text`, in order, snake case.
fn calls_in(text: &str) -> Vec<String> {
    let code = code_only(text);
    let mut calls = Vec::new();
    for (at, word) in code.match_indices("client") {
        let before_ok = !code[..at].ends_with(is_ident);
        let rest = &code[at + word.len()..];
        if !before_ok || rest.starts_with(is_ident) {
            continue;
        }
        let Some(rest) = rest.trim_start().strip_prefix('.') else {
            continue;
        };
        let rest = rest.trim_start();
        let op = ident(rest);
        if op.is_empty() || NOT_OPERATIONS.contains(&op) {
            continue;
        }
        if rest[op.len()..].trim_start().starts_with('(') {
            calls.push(op.to_owned());
        }
    }
    calls
}

/// The IAM service prefix of the one SDK client type a file names (`aws_sdk_s3::Client` gives
/// `s3`); `None` for none or several.
fn service_of(text: &str) -> Option<String> {
    let code = code_only(text);
    let services: BTreeSet<&str> = code
        .match_indices("aws_sdk_")
        .filter_map(|(at, prefix)| {
            let rest = &code[at + prefix.len()..];
            let name = ident(rest);
            rest[name.len()..].starts_with("::Client").then_some(name)
        })
        .collect();
    match services.into_iter().collect::<Vec<_>>()[..] {
        [one] => Some(one.to_owned()),
        _ => None,
    }
}

/// `put_records` as `PutRecords`.
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_on_a_client_are_found_across_lines_and_comments_are_not() {
        let text = "
            struct S { client: aws_sdk_kinesis::Client }
            // self.client.delete_stream() is never called
            let out = self
                .client
                .put_records()
                .send();
            let again = self.client.clone();
            let other = my_client.describe_stream();
            let field = self.clients.list_streams();
        ";
        assert_eq!(calls_in(text), ["put_records"]);
        assert_eq!(service_of(text).as_deref(), Some("kinesis"));
        assert_eq!(pascal_case("batch_write_item"), "BatchWriteItem");
    }

    #[test]
    fn a_file_with_two_clients_has_no_single_service() {
        assert_eq!(
            service_of("a: aws_sdk_s3::Client, b: aws_sdk_sns::Client"),
            None
        );
        assert_eq!(service_of("aws_sdk_s3::primitives::ByteStream"), None);
    }

    #[test]
    fn modules_are_read_from_paths_and_groups() {
        let text = "use event_contract::store::{EventStore, write_all};
            use event_contract::{Checked, alert::{Alert, publish}, emf::Counts};
            use my_event_contract::nope::X;";
        assert_eq!(
            modules_named(text, "event_contract::"),
            ["store", "alert", "emf"]
        );
        assert_eq!(modules_named("use crate::sdk::Chain;", "crate::"), ["sdk"]);
    }

    #[test]
    fn this_crates_modules_call_what_they_say() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let calls = |module: &str| -> Vec<String> {
            module_files(&src, module)
                .unwrap_or_default()
                .iter()
                .filter_map(|f| fs::read_to_string(f).ok())
                .flat_map(|t| calls_in(&t))
                .collect()
        };
        assert_eq!(calls("store"), ["batch_write_item"]);
        assert_eq!(calls("alert"), ["publish"]);
        assert!(calls("emf").is_empty());
    }
}
