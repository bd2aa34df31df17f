//! A Ballista cluster from this binary (`--features ballista`): the hidden `ballista-scheduler`
//! and `ballista-executor` commands start the real scheduler and executor of the `ballista`
//! crates, the same version as the DataFusion `reconcile` plans with, so that no second
//! toolchain build is needed to run `reconcile --engine ballista` on one machine or several.

use crate::cli::{BallistaExecutorArgs, BallistaSchedulerArgs};
use crate::exit;
use anyhow::Context;
use std::sync::Arc;

/// Run a scheduler until stopped.
pub async fn scheduler(args: BallistaSchedulerArgs) -> anyhow::Result<i32> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let config = SchedulerConfig {
        bind_host: args.bind.ip().to_string(),
        bind_port: args.bind.port(),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("cannot set up the Ballista cluster state")?;
    eprintln!("tokaudit: Ballista scheduler on df://{}", args.bind);
    ballista_scheduler::scheduler_process::start_server(cluster, args.bind, Arc::new(config))
        .await
        .context("the Ballista scheduler stopped")?;
    Ok(exit::SUCCESS)
}

/// Run an executor until stopped.
pub async fn executor(args: BallistaExecutorArgs) -> anyhow::Result<i32> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let (host, port) = args
        .scheduler
        .trim_start_matches("df://")
        .rsplit_once(':')
        .context("--scheduler is HOST:PORT or df://HOST:PORT")?;
    let config = ExecutorProcessConfig {
        scheduler_host: host.to_string(),
        scheduler_port: port.parse().context("--scheduler's port is a number")?,
        port: args.port,
        grpc_port: args.grpc_port,
        work_dir: args.work_dir.map(|d| d.display().to_string()),
        vcores: args.concurrent_tasks,
        memory_pool_size: Some(args.memory_limit.saturating_mul(1 << 20)),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .context("the Ballista executor stopped")?;
    Ok(exit::SUCCESS)
}
