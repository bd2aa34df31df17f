//! `tokaudit serve`: the emulator in the foreground until Ctrl-C or SIGTERM.

use crate::cli::{ServeArgs, UsageError};
use crate::emulator::{self, Config, Emulator, faults};
use crate::plan;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

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
    let emulator = Emulator::new(Config {
        faults: faults.clone(),
        max_body: args.max_body,
        ledger_size: args.ledger_size,
        max_connections: args.max_connections,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
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
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|_| out.flush());
    }
    emulator::serve(listener, emulator, async {
        shutdown.await;
    })
    .await
    .context("the emulator stopped with an error")?;
    Ok(crate::exit::SUCCESS)
}
