//! Orchestration of the jobs: parse → plan → run or load → the core's pipeline → render →
//! exit code. Errors here are `anyhow` with context; the library below uses typed errors.

#[cfg(feature = "ballista")]
mod ballista;
mod compare;
mod docs;
mod gate;
mod migrate;
mod prices;
#[cfg(feature = "reconcile")]
mod reconcile;
mod replay;
mod serve;

use crate::cli::{Cli, ColorChoice, Command, OutputArgs, PricingArgs, UsageError};
use crate::core::audit::Severity;
use crate::core::case::CaseReport;
use crate::core::policy::Policy;
use crate::core::prices::Prices;
use crate::exit;
use crate::report::{Detail, Style};
use anyhow::Context;
use clap::Parser;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Stack of each async worker thread. Query planning in DataFusion and Ballista's scheduler
/// recurse deeply over plans (Ballista's own binaries use 32 MiB; the scheduler overflowed
/// the default 2 MiB); the memory is reserved, not committed, so this costs nothing until used.
const WORKER_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Entry point: parse arguments, run, print, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE as u8 } else { 0 });
        }
    };
    #[cfg(feature = "ballista")]
    if let Err(e) = ballista::init_log() {
        eprintln!("tokaudit: error: {e:#}");
        return ExitCode::from(exit::USAGE as u8);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokaudit: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME as u8);
        }
    };
    if !matches!(cli.command, Command::Serve(_)) {
        runtime.spawn(exit_on_signal());
    }
    let result = runtime.block_on(async {
        match cli.command {
            Command::Compare(args) => compare::run(*args).await,
            Command::Replay(args) => replay::run(args),
            Command::Serve(args) => serve::run(args).await,
            Command::Gate(args) => gate::run(args).await,
            Command::Prices(args) => prices::run(args),
            Command::Migrate(args) => migrate::run(args),
            #[cfg(feature = "reconcile")]
            Command::Reconcile(args) => reconcile::run(*args).await,
            #[cfg(feature = "reconcile")]
            Command::GenLogs(args) => reconcile::generate(args),
            #[cfg(feature = "ballista")]
            Command::BallistaScheduler(args) => ballista::scheduler(args).await,
            #[cfg(feature = "ballista")]
            Command::BallistaExecutor(args) => ballista::executor(args).await,
            Command::Completions(args) => docs::completions(&args),
            Command::Man => docs::man(),
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

/// Register the stop signals (SIGINT, SIGTERM) now, not lazily on first poll: `serve` prints
/// its URL right after, and a supervisor that reads it may send SIGTERM at once. The future
/// yields the exit code a shell expects of a process stopped by that signal.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = i32> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => exit::SIGTERM,
                _ = int.recv() => exit::SIGINT,
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            exit::SIGINT
        })
    }
}

/// On SIGINT / SIGTERM: remove the temporary files being written and exit with the shell's
/// code for the signal. Reports already written stay as they are (a gate's say "incomplete").
async fn exit_on_signal() {
    let Ok(signal) = stop_signal() else {
        return;
    };
    let code = signal.await;
    let _held = crate::files::remove_temp_files();
    use std::io::Write as _;
    // Not `eprintln!`: it panics when stderr is gone (a parent that died closed the pipe), and
    // a panic here would end this task, not the process, which then ignored the signal.
    let _ = writeln!(
        std::io::stderr(),
        "tokaudit: stopped by a signal; files written so far are complete, partial reports say so"
    );
    std::process::exit(code);
}

/// Distinct error messages remembered for [`Diagnostics`]; past this, errors are printed
/// without being remembered, so memory stays bounded whatever the run's length.
const MAX_DISTINCT_ERRORS: usize = 256;

/// Runtime errors on stderr as the cases finish (the report on stdout has them too): each
/// distinct message once with its hint, repeats counted and summarized at the end, so that a
/// run without credentials does not repeat the same long error per case.
#[derive(Debug, Default)]
struct Diagnostics {
    seen: std::collections::HashMap<String, usize>,
    /// Case errors begin with the replayed file's path (no case name in front).
    errors_name_files: bool,
}

impl Diagnostics {
    /// The errors of one finished case: a malformed input, a failed exchange.
    fn case(&mut self, case: &CaseReport) {
        if let Some(e) = &case.error {
            // A replayed file's error begins with its path, which names it better.
            let who = if self.errors_name_files {
                ""
            } else {
                &case.meta.name
            };
            self.error(who, e, "");
        }
        for f in case
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
        {
            let side = f.side.map(|s| format!(" {s}")).unwrap_or_default();
            self.error(&format!("{}{side}", case.meta.name), &f.message, &f.hint);
        }
    }

    /// One error, printed unless the same message was printed before.
    fn error(&mut self, who: &str, message: &str, hint: &str) {
        if let Some(n) = self.seen.get_mut(message) {
            *n += 1;
            return;
        }
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" (hint: {hint})")
        };
        let who = if who.is_empty() {
            String::new()
        } else {
            format!("{who}: ")
        };
        eprintln!("tokaudit: error: {who}{message}{hint}");
        if self.seen.len() < MAX_DISTINCT_ERRORS {
            self.seen.insert(message.to_string(), 0);
        }
    }

    /// Say how many repeats were not printed.
    fn finish(self) {
        let repeats: usize = self.seen.values().sum();
        if repeats > 0 {
            eprintln!(
                "tokaudit: {repeats} more occurrence{} of the errors above not repeated (the report lists every case)",
                if repeats == 1 { "" } else { "s" }
            );
        }
    }
}

/// Write a report's text to stdout. A closed pipe (piped into `head`) is not a failure of
/// the audit; any other write error (a full disk) is, and names stdout.
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the report to stdout")
        }
        _ => Ok(()),
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
        detail: if out.quiet {
            Detail::Summary
        } else {
            Detail::Cases
        },
    }
}
