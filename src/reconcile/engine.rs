//! One reconciliation, end to end: stage every source, register the tables on DataFusion
//! (embedded, under a memory limit that spills to disk; or a Ballista cluster), run the
//! shipped checks for each logged source against the billed one, run the user's checks, and
//! collect a [`Reconciliation`]. Joins are sort-merge joins, which spill, rather than hash
//! joins, which must hold a whole side in memory: memory stays bounded whatever the input.

use super::checks::{self, JoinMode, Settings};
use super::row::{Malformed, SourceKind};
use super::source::{self, Location};
use super::stage::{self, MalformedLog, Staged};
use crate::core::audit::Verdict;
use crate::core::prices::Prices;
use crate::provider::s3::S3Settings;
use datafusion::arrow::array::{Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The report format this build writes.
pub const SCHEMA_VERSION: u32 = 1;
/// Rows listed per aggregate (model, day, API key) and worst offenders.
pub const TOP_ROWS: usize = 10;
/// Sorted runs one merge step reads at once. DataFusion 55 merges a sort's spilled runs with
/// as many runs as the pool lets it reserve a batch buffer for, and that reservation cannot
/// spill: with no cap a long sort's merge took most of the pool and the next operator could
/// not start (10M records per side failed at 2 GiB). With a fan-in, more runs take more merge
/// passes over the disk instead of more memory.
pub const MERGE_FAN_IN: usize = 8;
/// Decimal digits dollar sums are reported to (a nano-dollar).
const USD_DIGITS: u32 = 9;
/// Rows of a user check's result kept as a sample.
pub const CHECK_SAMPLE_ROWS: usize = 5;

/// Where the plans run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process.
    Embedded,
    /// A Ballista scheduler (`df://HOST:PORT`).
    Ballista(String),
}

/// Everything a reconciliation needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each source named, billed side first, with its paths or prefixes.
    pub sources: Vec<(SourceKind, Vec<String>)>,
    /// Join, window and tolerance.
    pub settings: Settings,
    /// The user's `.sql` checks.
    pub checks: Vec<PathBuf>,
    /// Where differing rows are written (Parquet and CSV), if anywhere.
    pub out: Option<PathBuf>,
    /// Memory DataFusion may hold before it spills, in bytes.
    pub memory_limit: usize,
    /// Where staged tables and spill files go (a folder made and removed inside it).
    pub work_dir: PathBuf,
    /// Files read at once while staging, and DataFusion's partitions.
    pub workers: usize,
    /// Where the plans run.
    pub engine: Engine,
    /// How to reach S3.
    pub s3: S3Settings,
    /// The price table.
    pub prices: Arc<Prices>,
}

/// Why a reconciliation could not be carried out (bad records are findings, not this).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A source could not be listed, or the work folder written.
    #[error(transparent)]
    Stage(#[from] stage::StageError),
    /// A source names nothing, with the flag that named it.
    #[error("{0} {1}")]
    Named(&'static str, source::SourceError),
    /// A user's check is not valid SQL over the tables.
    #[error("--check {0}: {1}")]
    Check(String, String),
    /// The engine failed.
    #[error("query engine: {0}")]
    Engine(String),
    /// `--out` could not be written.
    #[error("--out {0}: {1}")]
    Out(String, String),
}

impl From<datafusion::error::DataFusionError> for ReconcileError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        let text = e.to_string();
        if text.contains("Resources exhausted") || text.contains("Not enough memory") {
            let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
            return ReconcileError::Engine(format!(
                "{one_line} (the memory pool is full: raise --memory-limit, in MiB)"
            ));
        }
        ReconcileError::Engine(text)
    }
}

/// One source as read.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    /// Its kind.
    pub kind: SourceKind,
    /// Its SQL table.
    pub table: &'static str,
    /// What the user named.
    pub locations: Vec<String>,
    /// Files, bytes, rows and malformed records.
    #[serde(flatten)]
    pub staged: Staged,
}

/// One logged source against the billed one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Comparison {
    /// The logged table.
    pub logged: String,
    /// The billed table.
    pub billed: String,
    /// Pairs matched.
    pub matched: u64,
    /// Of which by the provider's request id.
    pub matched_by_request_id: u64,
    /// Of which by model, conversation and time.
    pub matched_by_fallback: u64,
    /// Logged records with no billed record.
    pub unbilled: u64,
    /// Billed records with no logged record.
    pub unlogged: u64,
    /// Matched records with at least one field that differs.
    pub differing: u64,
    /// USD the logged side counts above the bill.
    pub usd_over: f64,
    /// USD the logged side counts below the bill (negative or zero).
    pub usd_under: f64,
}

/// The findings of one class on one field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassTotal {
    /// The logged table.
    pub logged_table: String,
    /// The class (`output-differs`, `unbilled`, …).
    pub class: String,
    /// The field.
    pub field: String,
    /// Records.
    pub records: u64,
    /// Tokens, logged minus billed.
    #[serde(default)]
    pub tokens: i64,
    /// USD, logged minus billed.
    #[serde(default)]
    pub usd: f64,
}

/// Findings grouped by one key (a model, a day, an API key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// The key (empty when the records have none).
    #[serde(default)]
    pub key: String,
    /// Findings.
    pub findings: u64,
    /// USD over.
    #[serde(default)]
    pub usd_over: f64,
    /// USD under.
    #[serde(default)]
    pub usd_under: f64,
}

/// One finding, as the worst offenders list it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// Class.
    pub class: String,
    /// Field.
    pub field: String,
    /// The provider's request id, where known.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The model.
    pub model: String,
    /// The logged record's file and line, where there is one.
    #[serde(default)]
    pub file: Option<String>,
    /// Its line.
    #[serde(default)]
    pub line: Option<u64>,
    /// The billed record's file, where there is one.
    #[serde(default)]
    pub billed_file: Option<String>,
    /// Its line.
    #[serde(default)]
    pub billed_line: Option<u64>,
    /// The logged count.
    #[serde(default)]
    pub logged: Option<i64>,
    /// The billed count.
    #[serde(default)]
    pub billed: Option<i64>,
    /// USD, logged minus billed.
    #[serde(default)]
    pub usd: f64,
}

/// A user check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The file.
    pub file: String,
    /// Rows it returned (each is a finding).
    pub rows: u64,
    /// The first rows.
    pub sample: Vec<Map<String, Value>>,
}

/// The outcome of a reconciliation, for the renderers.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    /// The report format.
    pub schema_version: u32,
    /// `datafusion` or `ballista df://…`.
    pub engine: String,
    /// The join mode.
    pub join: JoinMode,
    /// The sources.
    pub sources: Vec<SourceSummary>,
    /// Each logged source against the billed one.
    pub comparisons: Vec<Comparison>,
    /// Findings per class and field.
    pub classes: Vec<ClassTotal>,
    /// Findings per model.
    pub by_model: Vec<Group>,
    /// Findings per day.
    pub by_day: Vec<Group>,
    /// Findings per API key.
    pub by_api_key: Vec<Group>,
    /// The most expensive findings.
    pub worst: Vec<Finding>,
    /// The user's checks.
    pub checks: Vec<CheckResult>,
    /// Malformed records (the first ones), each with file and line.
    pub malformed: Vec<Malformed>,
    /// All malformed records.
    pub malformed_total: u64,
    /// Files written by `--out`.
    pub written: Vec<String>,
    /// The embedded engine's memory pool (a Ballista cluster's pools are its executors').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<PoolUse>,
    /// The verdict.
    pub verdict: Verdict,
}

/// What the embedded engine's memory pool held: the peak against `--memory-limit` says how
/// much room a run had (the process's RSS adds the staged batches, Parquet writers and the
/// allocator's own, outside the pool).
#[derive(Debug, Clone, Serialize)]
pub struct PoolUse {
    /// `--memory-limit`, in bytes.
    pub limit_bytes: u64,
    /// The most the pool held at once.
    pub peak_bytes: u64,
}

/// Run a reconciliation.
pub async fn run(plan: &Plan) -> Result<Reconciliation, ReconcileError> {
    let work = WorkDir::create(&plan.work_dir)?;
    let malformed = Arc::new(Mutex::new(MalformedLog::default()));
    let mut sources = Vec::new();
    for (kind, names) in &plan.sources {
        let mut files = Vec::new();
        for name in names {
            let named = |e| ReconcileError::Named(kind.flag(), e);
            let location: Location = source::locate(name, &plan.s3).await.map_err(named)?;
            files.extend(source::list(&location).await.map_err(named)?);
        }
        let staged = stage::stage(
            *kind,
            files,
            &work.0,
            plan.workers,
            &plan.prices,
            &malformed,
        )
        .await?;
        sources.push(SourceSummary {
            kind: *kind,
            table: kind.table(),
            locations: names.clone(),
            staged,
        });
    }
    let (ctx, peak) = context(plan, &work.0).await?;
    let schema = stage::schema();
    for s in &sources {
        register(&ctx, s.table, &work.0.join(s.table), &schema).await?;
    }
    register_prices(&ctx, &plan.prices, &work.0).await?;
    let billed = sources[0].kind;
    let mut comparisons = Vec::new();
    for logged in sources.iter().skip(1).map(|s| s.kind) {
        comparisons.push(compare(&ctx, &work.0, logged, billed, plan.settings).await?);
    }
    let findings = findings_tables(&sources);
    let mut checks = Vec::new();
    for file in &plan.checks {
        checks.push(user_check(&ctx, file).await?);
    }
    let mut log = std::mem::take(&mut *malformed.lock().unwrap_or_else(|e| e.into_inner()));
    // Files are read in parallel: list in file order whatever order they were met in.
    log.listed
        .sort_by(|a, b| (a.source, &a.file, a.line).cmp(&(b.source, &b.file, b.line)));
    let written = match &plan.out {
        Some(dir) => write_out(&ctx, &findings, dir, &log.listed).await?,
        None => Vec::new(),
    };
    let malformed_total = log.counts.values().sum();
    let mut r = Reconciliation {
        schema_version: SCHEMA_VERSION,
        engine: match &plan.engine {
            Engine::Embedded => "datafusion".into(),
            Engine::Ballista(url) => format!("ballista {url}"),
        },
        join: plan.settings.join,
        classes: json_rows(&ctx, &by_class(&findings)).await?,
        by_model: json_rows(&ctx, &grouped(&findings, "model")).await?,
        by_day: json_rows(&ctx, &grouped(&findings, "day")).await?,
        by_api_key: json_rows(&ctx, &grouped(&findings, "api_key")).await?,
        worst: json_rows(&ctx, &worst(&findings)).await?,
        sources,
        comparisons,
        checks,
        malformed: log.listed,
        malformed_total,
        written,
        memory: peak.map(|p| PoolUse {
            limit_bytes: plan.memory_limit as u64,
            peak_bytes: p.bytes() as u64,
        }),
        verdict: Verdict::Pass,
    };
    r.verdict = verdict(&r);
    Ok(r)
}

/// Mismatch when anything differs or a check returned rows; error when records could not be
/// read; inconclusive when nothing could be compared.
fn verdict(r: &Reconciliation) -> Verdict {
    let compared: u64 = r
        .comparisons
        .iter()
        .map(|c| c.matched + c.unbilled + c.unlogged)
        .sum();
    if !r.classes.is_empty() || r.checks.iter().any(|c| c.rows > 0) {
        Verdict::Mismatch
    } else if r.malformed_total > 0 {
        Verdict::Error
    } else if compared == 0 {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// The folder staged tables and spill files live in, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(parent: &Path) -> Result<Self, stage::StageError> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = parent.join(format!(".tokaudit-reconcile-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| stage::StageError::Write(dir.display().to_string(), e.to_string()))?;
        crate::files::track_temp(&dir);
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        crate::files::untrack_temp(&self.0);
    }
}

/// The session the plans run in, and the embedded pool's peak (none on Ballista).
async fn context(
    plan: &Plan,
    work: &Path,
) -> Result<(SessionContext, Option<super::pool::Peak>), ReconcileError> {
    // Parquet written between steps: small row groups, one writer per file (a row group being
    // encoded is memory the pool cannot spill), fast compression.
    let config = SessionConfig::new()
        .with_target_partitions(plan.workers.max(1))
        .set_bool("datafusion.optimizer.prefer_hash_join", false)
        .set_usize(
            "datafusion.execution.parquet.max_row_group_size",
            stage::ROW_GROUP_ROWS,
        )
        .set_bool(
            "datafusion.execution.parquet.allow_single_file_parallelism",
            false,
        )
        .set_str("datafusion.execution.parquet.compression", "lz4_raw");
    match &plan.engine {
        Engine::Embedded => {
            let (pool, peak) = super::pool::shared(plan.memory_limit);
            let runtime = RuntimeEnvBuilder::new()
                .with_memory_pool(pool)
                .with_temp_file_path(work.join("spill"))
                .with_max_spill_merge_fan_in(MERGE_FAN_IN)
                .build_arc()?;
            Ok((
                SessionContext::new_with_config_rt(config, runtime),
                Some(peak),
            ))
        }
        Engine::Ballista(url) => Ok((ballista(url, config).await?, None)),
    }
}

#[cfg(feature = "ballista")]
async fn ballista(url: &str, config: SessionConfig) -> Result<SessionContext, ReconcileError> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::session_state::SessionStateBuilder;
    // The same settings as embedded (sort-merge joins): the executors' pools spill. Ballista
    // 55's adaptive planner rewrites a stage after its tasks were sent, and then rejects their
    // metrics ("task metrics array size 56 does not equal with the stage metrics array size
    // 55"): the job never finishes. The static planner runs these plans as written.
    let config = config
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| {
            ReconcileError::Engine(format!("cannot reach the Ballista scheduler {url}: {e}"))
        })
}

#[cfg(not(feature = "ballista"))]
async fn ballista(url: &str, _config: SessionConfig) -> Result<SessionContext, ReconcileError> {
    Err(ReconcileError::Engine(format!(
        "--engine ballista ({url}) needs a build with the `ballista` feature: cargo build --release --features ballista"
    )))
}

/// Register a folder of Parquet files as a table, with its schema given: a query that
/// returned no rows writes no file, and an empty folder has no schema to infer.
async fn register(
    ctx: &SessionContext,
    table: &str,
    dir: &Path,
    schema: &Schema,
) -> Result<(), ReconcileError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ReconcileError::Engine(format!("{}: {e}", dir.display())))?;
    let path = format!("{}/", dir.display());
    ctx.register_parquet(table, &path, ParquetReadOptions::default().schema(schema))
        .await?;
    Ok(())
}

/// The price table as SQL: `prices(key, input, cache_read, cache_write, output)`, USD per
/// token, the cache prices falling back as the audit's do. Written as Parquet in the work
/// folder like every other table, so that Ballista's executors read it the same way.
async fn register_prices(
    ctx: &SessionContext,
    prices: &Prices,
    work: &Path,
) -> Result<(), ReconcileError> {
    let schema = Arc::new(Schema::new(
        ["key", "input", "cache_read", "cache_write", "output"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Field::new(
                    *n,
                    if i == 0 {
                        DataType::Utf8
                    } else {
                        DataType::Float64
                    },
                    false,
                )
            })
            .collect::<Vec<_>>(),
    ));
    let rows: Vec<_> = prices.models.iter().collect();
    let col = |f: &dyn Fn(&crate::core::prices::Rates) -> f64| {
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|(_, r)| f(r)),
        )) as _
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(k, _)| k.as_str()),
            )),
            col(&|r| r.input),
            col(&|r| r.cache_read.unwrap_or(r.input)),
            col(&|r| r.cache_write_5m.unwrap_or(r.input)),
            col(&|r| r.output),
        ],
    )
    .map_err(|e| ReconcileError::Engine(e.to_string()))?;
    let dir = work.join("prices");
    let fail =
        |e: &dyn std::fmt::Display| ReconcileError::Engine(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
    let file = std::fs::File::create(dir.join("prices.parquet")).map_err(|e| fail(&e))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| fail(&e))?;
    writer.write(&batch).map_err(|e| fail(&e))?;
    writer.close().map_err(|e| fail(&e))?;
    register(ctx, "prices", &dir, &schema).await
}

/// Fallback candidates, pairs and findings, each written as Parquet before the next reads
/// it, then the counts.
async fn compare(
    ctx: &SessionContext,
    work: &Path,
    logged: SourceKind,
    billed: SourceKind,
    settings: Settings,
) -> Result<Comparison, ReconcileError> {
    let candidates = checks::candidates_table(logged);
    let dir = work.join(&candidates);
    let schema = write_parquet(ctx, &checks::candidates(logged, billed, settings), &dir).await?;
    register(ctx, &candidates, &dir, &schema).await?;
    let pairs = checks::pairs_table(logged);
    let dir = work.join(&pairs);
    let schema = write_parquet(ctx, &checks::pairs(logged, billed, settings), &dir).await?;
    register(ctx, &pairs, &dir, &schema).await?;
    let findings = format!("findings_{}", logged.table());
    let dir = work.join(&findings);
    let schema = write_parquet(ctx, &checks::findings(logged, billed, settings), &dir).await?;
    register(ctx, &findings, &dir, &schema).await?;
    let sql = format!(
        "SELECT '{l}' AS logged, '{b}' AS billed,
           (SELECT count(*) FROM {pairs}) AS matched,
           (SELECT count(*) FROM {pairs} WHERE joined_by = 'request-id') AS matched_by_request_id,
           (SELECT count(*) FROM {pairs} WHERE joined_by <> 'request-id') AS matched_by_fallback,
           (SELECT count(*) FROM {findings} WHERE class = 'unbilled') AS unbilled,
           (SELECT count(*) FROM {findings} WHERE class = 'unlogged') AS unlogged,
           (SELECT count(DISTINCT lrid) FROM {findings} WHERE joined_by IS NOT NULL
              AND class <> 'cost-differs') AS differing,
           (SELECT {over} FROM {findings} WHERE usd > 0 AND class <> 'cost-differs') AS usd_over,
           (SELECT {under} FROM {findings} WHERE usd < 0 AND class <> 'cost-differs') AS usd_under",
        l = logged.table(),
        b = billed.table(),
        over = usd_sum("usd"),
        under = usd_sum("usd"),
    );
    let mut rows: Vec<Comparison> = json_rows(ctx, &sql).await?;
    rows.pop()
        .ok_or_else(|| ReconcileError::Engine("the comparison returned no row".into()))
}

/// Run a query into a folder of Parquet files; the result's schema.
async fn write_parquet(
    ctx: &SessionContext,
    sql: &str,
    dir: &Path,
) -> Result<Schema, ReconcileError> {
    let df = ctx.sql(sql).await?;
    let schema = df.schema().as_arrow().clone();
    let path = format!("{}/", dir.display());
    df.write_parquet(&path, DataFrameWriteOptions::new(), None)
        .await?;
    Ok(schema)
}

/// A dollar sum rounded to `USD_DIGITS`: a sum of floats depends on the order partitions
/// finish in, and embedded and Ballista runs must report the same dollars.
fn usd_sum(expr: &str) -> String {
    format!("round(coalesce(sum({expr}), 0.0), {USD_DIGITS})")
}

/// Every logged source's findings as one relation.
fn findings_tables(sources: &[SourceSummary]) -> String {
    let parts: Vec<String> = sources
        .iter()
        .skip(1)
        .map(|s| format!("SELECT * FROM findings_{}", s.table))
        .collect();
    format!("({})", parts.join(" UNION ALL "))
}

fn by_class(findings: &str) -> String {
    format!(
        "SELECT logged_table, class, field, count(*) AS records,
                CAST(coalesce(sum(delta), 0) AS BIGINT) AS tokens, {usd} AS usd
         FROM {findings} f GROUP BY logged_table, class, field
         ORDER BY logged_table, class, field",
        usd = usd_sum("usd")
    )
}

fn grouped(findings: &str, key: &str) -> String {
    format!(
        "SELECT coalesce({key}, '') AS key, count(*) AS findings,
                {over} AS usd_over, {under} AS usd_under
         FROM {findings} f WHERE class <> 'cost-differs' GROUP BY coalesce({key}, '')
         ORDER BY {all} DESC, count(*) DESC, key LIMIT {TOP_ROWS}",
        over = usd_sum("CASE WHEN usd > 0 THEN usd END"),
        under = usd_sum("CASE WHEN usd < 0 THEN usd END"),
        all = usd_sum("abs(usd)"),
    )
}

fn worst(findings: &str) -> String {
    format!(
        "SELECT class, field, request_id, model, file, line, billed_file, billed_line, logged,
                billed, usd
         FROM {findings} f ORDER BY abs(usd) DESC, class, request_id, file, line LIMIT {TOP_ROWS}"
    )
}

/// A user's `.sql` check: every row it returns is a finding.
async fn user_check(ctx: &SessionContext, file: &Path) -> Result<CheckResult, ReconcileError> {
    let name = file.display().to_string();
    let sql = std::fs::read_to_string(file)
        .map_err(|e| ReconcileError::Check(name.clone(), e.to_string()))?;
    let df = ctx
        .sql(&sql)
        .await
        .map_err(|e| ReconcileError::Check(name.clone(), e.to_string()))?;
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| ReconcileError::Check(name.clone(), e.to_string()))?;
    let (mut rows, mut sample) = (0u64, Vec::new());
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| ReconcileError::Check(name.clone(), e.to_string()))?;
        if sample.len() < CHECK_SAMPLE_ROWS {
            let keep = batch.slice(0, batch.num_rows().min(CHECK_SAMPLE_ROWS - sample.len()));
            sample.extend(to_json(&[keep])?);
        }
        rows += batch.num_rows() as u64;
    }
    Ok(CheckResult {
        file: name,
        rows,
        sample,
    })
}

/// `--out DIR`: the findings as `differences.parquet` and `differences.csv`, and the malformed
/// records listed as `malformed.csv`, each written whole before it is renamed into place.
async fn write_out(
    ctx: &SessionContext,
    findings: &str,
    dir: &Path,
    malformed: &[Malformed],
) -> Result<Vec<String>, ReconcileError> {
    let fail =
        |e: &dyn std::fmt::Display| ReconcileError::Out(dir.display().to_string(), e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let sql = format!(
        "SELECT * FROM {findings} f ORDER BY logged_table, class, field, file, line, request_id"
    );
    let single = || DataFrameWriteOptions::new().with_single_file_output(true);
    let mut written = Vec::new();
    for (name, csv) in [("differences.parquet", false), ("differences.csv", true)] {
        let target = dir.join(name);
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        crate::files::track_temp(&temp);
        let df = ctx.sql(&sql).await?;
        let path = temp.display().to_string();
        let result = if csv {
            df.write_csv(&path, single(), None).await
        } else {
            df.write_parquet(&path, single(), None).await
        };
        let result = result
            .map_err(ReconcileError::from)
            .and_then(|_| std::fs::rename(&temp, &target).map_err(|e| fail(&e)));
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        crate::files::untrack_temp(&temp);
        result?;
        written.push(target.display().to_string());
    }
    let mut text = String::from("source,file,line,reason\n");
    for m in malformed {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let kind = m.source.table();
        text.push_str(&format!(
            "{kind},{},{},{}\n",
            q(&m.file),
            m.line,
            q(&m.reason)
        ));
    }
    let target = dir.join("malformed.csv");
    crate::files::write_atomic(&target, text.as_bytes()).map_err(|e| fail(&e))?;
    written.push(target.display().to_string());
    Ok(written)
}

async fn json_rows<T: for<'de> Deserialize<'de>>(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<T>, ReconcileError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    to_json(&batches)?
        .into_iter()
        .map(|row| {
            serde_json::from_value(Value::Object(row))
                .map_err(|e| ReconcileError::Engine(format!("unexpected result row: {e}")))
        })
        .collect()
}

fn to_json(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>, ReconcileError> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .and_then(|_| writer.finish())
        .map_err(|e| ReconcileError::Engine(e.to_string()))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| ReconcileError::Engine(e.to_string()))
}
