//! Orchestration of the jobs: parse → plan → run or load → the core's pipeline → render →
//! exit code. Errors here are `anyhow` with context; the library below uses typed errors.

mod compare;
mod gate;
mod migrate;
mod prices;
mod replay;
mod serve;

use crate::cli::{Cli, ColorChoice, Command, OutputArgs, PricingArgs, UsageError};
use crate::core::policy::Policy;
use crate::core::prices::Prices;
use crate::exit;
use crate::report::Style;
use anyhow::Context;
use clap::Parser;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

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
            Command::Prices(args) => prices::run(args),
            Command::Migrate(args) => migrate::run(args),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("tokaudit: error: {e:#}");
            let usage = e.downcast_ref::<UsageError>().is_some();
            ExitCode::from(if usage { exit::USAGE } else { exit::RUNTIME } as u8)
        }
    }
}

/// A price table: the file `--prices` names, else the embedded one.
fn load_prices(path: Option<&Path>) -> anyhow::Result<Arc<Prices>> {
    let Some(path) = path else {
        return Ok(Prices::embedded());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--prices {}: cannot read", path.display()))?;
    let table = Prices::parse(&text).with_context(|| {
        format!(
            "--prices {}: not a price table (see `tokaudit prices --json` for the format)",
            path.display()
        )
    })?;
    Ok(Arc::new(table))
}

/// The policy of a command with no suite: the prices it was given, nothing else.
fn pricing_policy(p: &PricingArgs) -> anyhow::Result<Policy> {
    Ok(Policy {
        prices: load_prices(p.prices.as_deref())?,
        price_model: p.price_model.clone(),
        ..Policy::default()
    })
}

/// Whether colour is used on stdout: `--color always|never`, else (auto) only on a terminal
/// and never with `NO_COLOR` set.
fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// The columns the table must fit in: `COLUMNS` when set, else the terminal's width when
/// stdout is one, else no limit (a pipe or a file gets every column).
fn table_width() -> Option<u16> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok());
    columns.filter(|c| *c > 0).or_else(|| {
        std::io::stdout()
            .is_terminal()
            .then(|| console::Term::stdout().size_checked().map(|(_, cols)| cols))
            .flatten()
    })
}

/// The style for stdout.
fn stdout_style(out: &OutputArgs) -> Style {
    Style {
        color: color_enabled(out.color),
        width: table_width(),
        full_sources: out.sources,
    }
}
