//! `tokaudit serve`: the emulator in the foreground until Ctrl-C or SIGTERM.

use crate::cli::ServeArgs;
use crate::emulator::{self, Config, Emulator, faults::CATALOG};
use anyhow::Context;
use std::net::SocketAddr;

/// Run `serve`.
pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    if args.list_faults {
        for (name, what) in CATALOG {
            println!("{name:<26} {what}");
        }
        return Ok(crate::exit::SUCCESS);
    }
    let emulator = Emulator::new(Config {
        faults: args.fault.clone(),
    });
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (port in use? try --port 0)"))?;
    let local = listener.local_addr()?;
    println!("tokaudit emulator listening on http://{local}");
    if !args.fault.is_empty() {
        let names: Vec<String> = args.fault.iter().map(ToString::to_string).collect();
        println!("faults: {}", names.join(", "));
    }
    println!("ledger: http://{local}/_tokaudit/ledger");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    axum::serve(listener, emulator::router(emulator))
        .with_graceful_shutdown(shutdown())
        .await
        .context("the emulator stopped with an error")?;
    Ok(crate::exit::SUCCESS)
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
