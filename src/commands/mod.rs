//! Orchestration of the three jobs: parse → set up → capture → core → report → exit code.
//! Errors here are `anyhow` with context; the library below uses typed errors.

mod compare;
mod gate;
mod replay;
mod serve;

use crate::cli::{Cli, Command, Format};
use crate::exit;
use crate::report::{Report, json, table};
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Entry point: parse arguments, run, print, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE as u8 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokaudit: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME as u8);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Compare(args) => compare::run(*args).await,
            Command::Replay(args) => replay::run(args),
            Command::Serve(args) => serve::run(args).await,
            Command::Gate(args) => gate::run(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("tokaudit: error: {e:#}");
            ExitCode::from(exit::RUNTIME as u8)
        }
    }
}

/// Whether colour may be used on stdout.
fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Print a report in the chosen format and return its exit code. A closed stdout (e.g. piped
/// into `head`) is not an error.
fn emit(report: &Report, format: Format) -> i32 {
    let text = match format {
        Format::Table => table::render(
            report,
            table::Style {
                color: color_enabled(),
            },
        ),
        Format::Json => json::render(report),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    report.exit_code
}
