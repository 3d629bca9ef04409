use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    synth::cli::init_tracing();
    match synth::cli::run(synth::cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
