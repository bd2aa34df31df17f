//! `tokaudit reconcile` and the hidden `gen-logs`: flags → a reconciliation [`Plan`] → the
//! engine → a renderer → the exit code.

use super::{load_prices, print, table_width};
use crate::cli::{EngineChoice, GenLogsArgs, ReconcileArgs, ReconcileFormat, UsageError};
use crate::core::gate::{ReconcileCase, ReconcileClass};
use crate::defaults;
use crate::exit;
use crate::provider::s3::S3Settings;
use crate::reconcile::checks::JoinMode;
use crate::reconcile::checks::Settings;
use crate::reconcile::engine::{self, Engine, Plan, ReconcileError};
use crate::reconcile::generate::{self, Spec};
use crate::reconcile::row::SourceKind;
use crate::report::{Style, reconcile as render};
use crate::suite::RecordSources;
use anyhow::Context;

/// Run `reconcile`.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<i32> {
    let plan = plan(&args)?;
    // A user's check that is not SQL over the tables is a usage error, like a bad flag.
    let r = engine::run(&plan).await.map_err(|e| match e {
        ReconcileError::Check(..) => anyhow::Error::from(UsageError(e.to_string())),
        e => e.into(),
    })?;
    let text = match args.format {
        ReconcileFormat::Json => render::json(&r),
        ReconcileFormat::Markdown => render::markdown(&r),
        ReconcileFormat::Table => render::table(
            &r,
            Style {
                width: table_width(),
                ..Style::default()
            },
        ),
    };
    print(&text)?;
    Ok(exit::of(r.verdict))
}

fn plan(args: &ReconcileArgs) -> anyhow::Result<Plan> {
    let sources: Vec<(SourceKind, Vec<String>)> = SourceKind::ALL
        .into_iter()
        .map(|k| (k, named(args, k).to_vec()))
        .filter(|(_, names)| !names.is_empty())
        .collect();
    if sources.len() < 2 {
        return Err(UsageError(
            "reconcile compares two sources or more: name them with --invocation-logs, --gateway-logs, --spans and --recordings".into(),
        )
        .into());
    }
    if args.window_ms < 1000 && args.join != crate::reconcile::checks::JoinMode::Id {
        return Err(UsageError(format!(
            "--window-ms {} is below 1000: Bedrock's invocation logs carry whole seconds, so the fallback join would miss calls",
            args.window_ms
        ))
        .into());
    }
    if !(0.0..1.0).contains(&args.cost_tolerance) {
        return Err(UsageError("--cost-tolerance is a fraction in [0, 1)".into()).into());
    }
    let engine = match (args.engine, &args.scheduler) {
        (EngineChoice::Ballista, Some(url)) => Engine::Ballista(url.clone()),
        (EngineChoice::Ballista, None) => {
            return Err(
                UsageError("--engine ballista needs --scheduler df://HOST:PORT".into()).into(),
            );
        }
        (EngineChoice::Datafusion, Some(_)) => {
            return Err(UsageError("--scheduler is for --engine ballista".into()).into());
        }
        (EngineChoice::Datafusion, None) => Engine::Embedded,
    };
    Ok(Plan {
        sources,
        settings: Settings {
            join: args.join,
            window_ms: i64::from(args.window_ms),
            cost_tolerance: args.cost_tolerance,
        },
        checks: args.check.clone(),
        out: args.out.clone(),
        memory_limit: bytes_of_mib(args.memory_limit),
        work_dir: args.work_dir.clone(),
        workers: workers(),
        engine,
        s3: S3Settings {
            region: args.region.clone(),
            endpoint_url: args.endpoint_url.clone(),
            profile: args.profile.clone(),
        },
        prices: load_prices(args.prices.as_deref())?,
    })
}

fn bytes_of_mib(mib: u64) -> usize {
    usize::try_from(mib)
        .unwrap_or(usize::MAX / (1 << 20))
        .saturating_mul(1 << 20)
}

/// Files staged at once, and DataFusion's partitions: one per core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The reconciliation of a gate's `kind = "reconcile"` case: the embedded engine with
/// `reconcile`'s defaults, S3 reached with the gate's `--region` and `--profile`. An error is
/// the case's, as one line.
pub async fn gate_case(
    records: &RecordSources,
    region: Option<String>,
    profile: Option<String>,
) -> Result<ReconcileCase, String> {
    use clap::ValueEnum;
    let join = JoinMode::from_str(&records.join, true)?;
    let named = |kind| match kind {
        SourceKind::InvocationLogs => &records.invocation_logs,
        SourceKind::GatewayLogs => &records.gateway_logs,
        SourceKind::Spans => &records.spans,
        SourceKind::Recordings => &records.recordings,
    };
    let plan = Plan {
        sources: SourceKind::ALL
            .into_iter()
            .map(|k| (k, named(k).clone()))
            .filter(|(_, names)| !names.is_empty())
            .collect(),
        settings: Settings {
            join,
            window_ms: i64::from(defaults::RECONCILE_WINDOW_MS),
            cost_tolerance: defaults::RECONCILE_COST_TOLERANCE,
        },
        checks: Vec::new(),
        out: None,
        memory_limit: bytes_of_mib(defaults::RECONCILE_MEMORY_MIB),
        work_dir: std::env::temp_dir(),
        workers: workers(),
        engine: Engine::Embedded,
        s3: S3Settings {
            region,
            endpoint_url: None,
            profile,
        },
        prices: load_prices(None).map_err(|e| format!("{e:#}"))?,
    };
    let r = engine::run(&plan).await.map_err(|e| e.to_string())?;
    let sum = |f: fn(&engine::Comparison) -> u64| r.comparisons.iter().map(f).sum::<u64>();
    Ok(ReconcileCase {
        verdict: r.verdict,
        matched: sum(|c| c.matched),
        unbilled: sum(|c| c.unbilled),
        unlogged: sum(|c| c.unlogged),
        differing: sum(|c| c.differing),
        usd_over: r.comparisons.iter().map(|c| c.usd_over).sum(),
        usd_under: r.comparisons.iter().map(|c| c.usd_under).sum(),
        malformed: r.malformed_total,
        classes: r
            .classes
            .iter()
            .map(|c| ReconcileClass {
                logged_table: c.logged_table.clone(),
                class: c.class.clone(),
                field: c.field.clone(),
                records: c.records,
                tokens: c.tokens,
                usd: c.usd,
            })
            .collect(),
    })
}

fn named(args: &ReconcileArgs, kind: SourceKind) -> &[String] {
    match kind {
        SourceKind::InvocationLogs => &args.invocation_logs,
        SourceKind::GatewayLogs => &args.gateway_logs,
        SourceKind::Spans => &args.spans,
        SourceKind::Recordings => &args.recordings,
    }
}

/// Run `gen-logs`: write the set and print its truth.
pub fn generate(args: GenLogsArgs) -> anyhow::Result<i32> {
    let spec = Spec {
        out: args.out.clone(),
        records: args.records,
        per_file: args.per_file,
        every: args.every,
        without_id_every: args.without_id_every,
        seed: args.seed,
    };
    let truth = generate::generate(&spec, &crate::core::prices::Prices::embedded())
        .with_context(|| format!("cannot write generated logs to {}", args.out.display()))?;
    print(&format!(
        "{}\n",
        serde_json::to_string_pretty(&truth).context("truth serializes")?
    ))?;
    Ok(exit::SUCCESS)
}
