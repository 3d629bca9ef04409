//! `validate-events [FILE]`: checks newline-delimited events against the IOps Dashboard event
//! contract, printing one JSON verdict per line. Reads standard input when FILE is `-` or absent.
//! Exit code 0 when every event is valid (warnings allowed), 1 when any is not, 2 on a usage or
//! I/O error.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use event_contract::ndjson::validate_lines;

const USAGE: &str = "\
usage: validate-events [FILE]

Checks newline-delimited events against the IOps Dashboard event contract and prints one
JSON verdict per input line: {\"line\":N,\"valid\":..,\"severity\":..,\"errors\":[..]}.
Reads standard input when FILE is `-` or absent.

Exit status: 0 every event is valid (warnings allowed), 1 some event is not, 2 usage or I/O error.";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("validate-events: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let input = match parse_args(std::env::args_os().skip(1))? {
        Command::Help => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Command::Validate(input) => input,
    };
    let reader: Box<dyn BufRead> = match input {
        None => Box::new(io::stdin().lock()),
        Some(path) => {
            let file =
                File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            Box::new(BufReader::new(file))
        }
    };
    let all_valid = validate_lines(reader, io::stdout().lock(), Utc::now())
        .context("cannot validate the events")?;
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

enum Command {
    Help,
    /// The file to read, `None` for standard input.
    Validate(Option<PathBuf>),
}

fn parse_args(args: impl Iterator<Item = OsString>) -> anyhow::Result<Command> {
    let mut file = None;
    let mut options_done = false;
    for arg in args {
        let text = arg.to_str();
        if !options_done && text == Some("--") {
            options_done = true;
        } else if !options_done && matches!(text, Some("-h" | "--help")) {
            return Ok(Command::Help);
        } else if !options_done && text.is_some_and(|t| t.starts_with('-') && t != "-") {
            bail!("unknown option {:?}\n\n{USAGE}", arg);
        } else if file.is_some() {
            bail!(
                "expected at most one FILE, got another: {:?}\n\n{USAGE}",
                arg
            );
        } else {
            file = Some(arg);
        }
    }
    Ok(Command::Validate(
        file.filter(|f| f != "-").map(PathBuf::from),
    ))
}
