//! A Ballista cluster from this binary (`--features ballista`): the hidden `ballista-scheduler`
//! and `ballista-executor` commands start the real scheduler and executor of the `ballista`
//! crates, the same version as the DataFusion `reconcile` plans with, so that no second
//! toolchain build is needed to run `reconcile --engine ballista` on one machine or several.

use crate::cli::{BallistaExecutorArgs, BallistaSchedulerArgs};
use crate::exit;
use anyhow::Context;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
use std::sync::Arc;

/// Ballista's `RuntimeProducer` (from `ballista-core`, which is not a direct dependency).
type RuntimeProducer =
    Arc<dyn Fn(&SessionConfig) -> datafusion::error::Result<Arc<RuntimeEnv>> + Send + Sync>;

/// The environment variable that turns on Ballista's own log (`error` … `trace`).
const LOG_ENV: &str = "TOKAUDIT_LOG";

/// Ballista's scheduler, executors and client report progress and task failures only through
/// the `log` facade; without a logger a stuck job is silent. This one writes to stderr at the
/// level `TOKAUDIT_LOG` names, and stays off when it is unset.
struct StderrLog;

static LOGGER: StderrLog = StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "{:5} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }
    fn flush(&self) {}
}

/// Install the stderr logger if `TOKAUDIT_LOG` asks for one; a level it cannot read is an error.
pub fn init_log() -> anyhow::Result<()> {
    let Ok(level) = std::env::var(LOG_ENV) else {
        return Ok(());
    };
    let filter: log::LevelFilter = level.parse().map_err(|_| {
        anyhow::anyhow!("{LOG_ENV}={level}: use off, error, warn, info, debug or trace")
    })?;
    log::set_max_level(filter);
    // A second call (a test harness that already set one) keeps the first logger.
    let _ = log::set_logger(&LOGGER);
    Ok(())
}

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
        work_dir: args.work_dir.as_ref().map(|d| d.display().to_string()),
        vcores: args.concurrent_tasks,
        // Ballista's own policy: a fair pool of `--memory-limit / --concurrent-tasks` per
        // task. One pool shared by every task (the embedded engine's) was tried at 10M
        // records per side and peaked higher (4.0 and 4.9 GB against 2.1 and 4.3 GB). What
        // grew is outside the pools: shuffle partitions fetched whole from another executor
        // (`--work-dir`'s help; one shared folder brought the larger executor to 1.7 GB).
        memory_pool_size: Some(args.memory_limit.saturating_mul(1 << 20)),
        override_runtime_producer: Some(runtime(args.work_dir.clone())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .context("the Ballista executor stopped")?;
    Ok(exit::SUCCESS)
}

/// The executors' base runtime: the embedded engine's merge fan-in, so that a task's sort
/// merges stay within its pool, and spill files under the work folder.
fn runtime(work_dir: Option<std::path::PathBuf>) -> RuntimeProducer {
    Arc::new(move |_| {
        let builder = RuntimeEnvBuilder::new()
            .with_max_spill_merge_fan_in(crate::reconcile::engine::MERGE_FAN_IN);
        match &work_dir {
            Some(dir) => builder.with_temp_file_path(dir.clone()),
            None => builder,
        }
        .build_arc()
    })
}
