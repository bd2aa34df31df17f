//! `tokaudit reconcile` and the hidden `gen-logs`: flags → a reconciliation [`Plan`] → the
//! engine → a renderer → the exit code.

use super::{load_prices, print, table_width};
use crate::cli::{EngineChoice, GenLogsArgs, ReconcileArgs, ReconcileFormat, UsageError};
use crate::exit;
use crate::provider::s3::S3Settings;
use crate::reconcile::checks::Settings;
use crate::reconcile::engine::{self, Engine, Plan, ReconcileError};
use crate::reconcile::generate::{self, Spec};
use crate::reconcile::row::SourceKind;
use crate::report::{Style, reconcile as render};
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
        memory_limit: usize::try_from(args.memory_limit)
            .unwrap_or(usize::MAX / (1 << 20))
            .saturating_mul(1 << 20),
        work_dir: args.work_dir.clone(),
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        engine,
        s3: S3Settings {
            region: args.region.clone(),
            endpoint_url: args.endpoint_url.clone(),
            profile: args.profile.clone(),
        },
        prices: load_prices(args.prices.as_deref())?,
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
