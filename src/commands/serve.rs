//! `tokaudit serve`: the emulator in the foreground until Ctrl-C or SIGTERM.

use crate::cli::{ServeArgs, UsageError};
use crate::emulator::{self, Config, Emulator, faults};
use crate::plan;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// How often the invocation log writes the records it holds (Bedrock delivers within minutes;
/// a test or a reconcile run should not wait that long).
const INVOCATION_LOG_FLUSH: Duration = Duration::from_secs(1);

/// Run `serve`.
pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    if args.list_faults {
        let mut list: String = faults::catalog()
            .iter()
            .map(|(name, what)| format!("{name:<26} {what}\n"))
            .collect();
        list.push_str(&format!("\n{}\n", crate::emulator::faults::SYNTAX));
        super::print(&list)?;
        return Ok(crate::exit::SUCCESS);
    }
    let faults = plan::parse_faults(&args.fault).map_err(UsageError)?;
    // A log folder that cannot be written is said now, not after the first request.
    if let Some(dir) = &args.invocation_logs {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot write invocation logs under {}", dir.display()))?;
    }
    let emulator = Emulator::new(Config {
        faults: faults.clone(),
        max_body: args.max_body,
        ledger_size: args.ledger_size,
        max_connections: args.max_connections,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
        invocation_logs: args
            .invocation_logs
            .clone()
            .map(|dir| (dir, args.invocation_log_region.clone())),
    });
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (port in use? try --port 0)"))?;
    let local = listener.local_addr()?;
    let shutdown = super::stop_signal().context("cannot install the SIGTERM / Ctrl-C handlers")?;
    // Written without `println!`: a closed stdout (a supervisor that read the URL and went
    // away) must not take the server down.
    let mut banner = format!("tokaudit emulator listening on http://{local}\n");
    if !faults.is_empty() {
        let names: Vec<String> = faults.iter().map(ToString::to_string).collect();
        banner.push_str(&format!("faults: {}\n", names.join(", ")));
    }
    banner.push_str(&format!("ledger: http://{local}/_tokaudit/ledger\n"));
    if let Some(dir) = &args.invocation_logs {
        banner.push_str(&format!("invocation logs: {}\n", dir.display()));
        let em = emulator.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(INVOCATION_LOG_FLUSH).await;
                em.flush_invocation_log();
            }
        });
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|_| out.flush());
    }
    let served = emulator::serve(listener, emulator.clone(), async {
        shutdown.await;
    })
    .await;
    // What was logged but not written yet is written before the process ends.
    emulator.flush_invocation_log();
    served.context("the emulator stopped with an error")?;
    Ok(crate::exit::SUCCESS)
}
