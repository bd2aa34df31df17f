//! `tokaudit gate`: run a suite as a CI regression gate.
//!
//! Report files are created before any call and rewritten atomically after every case, so a
//! run that is killed still leaves valid reports of what it finished (marked incomplete).

use super::{replay, stdout_style};
use crate::cli::GateArgs;
use crate::core::case::CaseReport;
use crate::core::gate::{GateCase, GateReport, Outcome, ReconcileCase};
use crate::core::pipeline;
use crate::core::policy::{Baseline, Expectation, Policy};
use crate::files;
use crate::fixture::Fixture;
use crate::report::Render;
use crate::report::json::Json;
use crate::report::junit::Junit;
use crate::report::markdown::Markdown;
use crate::report::table::{self, Table};
use crate::runner::{self, PairResult};
use crate::suite::{Case, RecordSources, RunMode, Source, Suite};
use anyhow::Context;
use indicatif::ProgressBar;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Run `gate`.
pub async fn run(args: GateArgs) -> anyhow::Result<i32> {
    args.check()?;
    let mode = if args.replay.is_some() {
        "replay"
    } else if args.offline {
        "offline"
    } else {
        "live"
    };
    let suite = match Suite::load(&args.suite) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tokaudit: error: {e}");
            let refused =
                GateReport::refused(&args.suite.display().to_string(), mode, e.to_string());
            write_reports(&args, &refused).context("cannot write the report files")?;
            return Ok(refused.exit_code);
        }
    };
    let base = super::pricing_policy(&args.pricing)?;
    let mut report = GateReport::start(&args.suite.display().to_string(), mode, suite.cases.len());
    // Create every report file before any call: a bad path fails now, not after the spend.
    write_reports(&args, &report).context("cannot create the report files")?;
    let table = Table {
        style: stdout_style(&args.output),
    };
    let mut diagnostics = super::Diagnostics::default();
    for case in &suite.cases {
        let gc = run_case(case, &args, &base).await;
        if let Some(e) = &gc.error {
            diagnostics.error(&format!("case {}", gc.name), e, "");
        }
        // Errors a case is expected to end with are its point, not news.
        if gc.outcome != Outcome::ExpectedFailure {
            gc.reports.iter().for_each(|r| diagnostics.case(r));
        }
        if !args.output.quiet {
            super::print(&table.gate_case(&gc))?;
        }
        report.push(gc);
        write_reports(&args, &report).context("cannot rewrite the report files")?;
    }
    diagnostics.finish();
    report.finish();
    write_reports(&args, &report).context("cannot write the report files")?;
    append_step_summary(&report)?;
    super::print(&format!("{}\n", table::gate_summary_line(&report)))?;
    Ok(report.exit_code)
}

/// Append the Markdown report to `$GITHUB_STEP_SUMMARY` when it is set.
fn append_step_summary(report: &GateReport) -> anyhow::Result<()> {
    let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(&summary);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot append to GITHUB_STEP_SUMMARY ({})", path.display()))?;
    f.write_all(Markdown.gate(report).as_bytes())?;
    Ok(())
}

/// Every report file from the same state, written as one ([`files::write_all_atomic`]).
fn write_reports(args: &GateArgs, report: &GateReport) -> std::io::Result<()> {
    let outputs: [(&Option<PathBuf>, &dyn Render); 3] = [
        (&args.json, &Json),
        (&args.junit, &Junit),
        (&args.markdown, &Markdown),
    ];
    let mut texts = Vec::new();
    for (path, renderer) in outputs {
        if let Some(p) = path {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))
                })?;
            }
            texts.push((p.as_path(), renderer.gate(report)));
        }
    }
    let files: Vec<(&Path, &[u8])> = texts.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
    files::write_all_atomic(&files)
}

/// One pair of a case before it is audited: a file to replay, or what the runner sent.
enum Input {
    File(PathBuf),
    Live(Box<PairResult>),
}

/// Run one case to its outcome. Never fails: problems become the case's error.
async fn run_case(case: &Case, args: &GateArgs, base: &Policy) -> GateCase {
    if let Source::Records(records) = &case.source {
        let result = reconcile_case(records, args).await;
        return GateCase::reconciled(&case.name, case.line, case.expect.as_ref(), result);
    }
    let inputs = match collect(case, args).await {
        Ok(i) if i.is_empty() => Err(anyhow::anyhow!("the case produced nothing to audit")),
        other => other,
    };
    let inputs = match inputs {
        Ok(i) => i,
        Err(e) => {
            let error = Some(format!("{e:#}"));
            return GateCase::judged(&case.name, case.line, case.expect.as_ref(), error, vec![]);
        }
    };
    let baseline_dir = args.baseline.as_ref().map(|d| d.join(&case.name));
    let checking = baseline_dir.as_deref().filter(|_| !args.update_baseline);
    if case.check_expect {
        let pairs = inputs
            .iter()
            .map(|input| expected_outcome(audit(input, case, checking, base), input))
            .collect();
        return GateCase::checked(&case.name, case.line, pairs);
    }
    let mut reports = Vec::with_capacity(inputs.len());
    let mut recorded = Vec::new();
    for input in &inputs {
        let (report, fixture) = audit(input, case, checking, base);
        reports.push(report);
        recorded.extend(fixture);
    }
    let mut error = None;
    if let (Some(dir), true) = (&baseline_dir, args.update_baseline)
        && let Err(e) = update_baseline(dir, &recorded)
    {
        error = Some(format!(
            "cannot update the baseline in {}: {e}",
            dir.display()
        ));
    }
    GateCase::judged(&case.name, case.line, case.expect.as_ref(), error, reports)
}

/// A fixture's report with the expectation its `expect` block states; an `expect` block that
/// does not parse makes the pair an error (never a silent pass).
fn expected_outcome(
    (report, fixture): (CaseReport, Option<Fixture>),
    input: &Input,
) -> (CaseReport, Option<Expectation>) {
    match fixture.as_ref().map(Fixture::expectation).transpose() {
        Ok(expect) => (report, expect.flatten()),
        Err(e) => {
            let path = match input {
                Input::File(p) => Some(p.as_path()),
                Input::Live(_) => None,
            };
            (pipeline::malformed(report.meta, path, &e.to_string()), None)
        }
    }
}

/// One input through the pipeline under the case's policy (over the command line's prices);
/// also the fixture it is recorded as.
fn audit(
    input: &Input,
    case: &Case,
    baseline: Option<&Path>,
    base: &Policy,
) -> (CaseReport, Option<Fixture>) {
    let policy = |name: &str| Policy {
        tolerance: case.tolerance.clone(),
        baseline: baseline.map(|dir| load_baseline(dir, name)),
        price_model: case.price_model.clone().or(base.price_model.clone()),
        max_cost: case.max_cost,
        ..base.clone()
    };
    match input {
        Input::File(path) => replay::audit_file(path, |fx| policy(&fx.name)),
        Input::Live(result) => {
            let policy = policy(&result.meta.name);
            let report = pipeline::audit_pair(
                result.meta.clone(),
                result.pair(),
                result.upstream(),
                &policy,
            );
            let mut fixture = result.fixture();
            fixture.price_model = policy.price_model.clone();
            (report, Some(fixture))
        }
    }
}

/// The baseline recording of pair `name` in `dir`, or why there is none usable.
fn load_baseline(dir: &Path, name: &str) -> Baseline {
    let path = dir.join(format!("{name}.json"));
    Baseline {
        source: path.display().to_string(),
        captures: Fixture::load(&path)
            .and_then(|f| f.captures())
            .map_err(|e| e.to_string()),
    }
}

/// The inputs of a case: its fixtures, its recordings (`--replay`), or live / offline pairs.
async fn collect(case: &Case, args: &GateArgs) -> anyhow::Result<Vec<Input>> {
    let prompts = match &case.source {
        Source::Fixtures(paths) => {
            let found = files::discover(paths)?;
            return Ok(found.files.into_iter().map(Input::File).collect());
        }
        Source::Prompts(p) => p,
        Source::Records(_) => anyhow::bail!("a reconcile case has no pairs to audit"),
    };
    if let Some(dir) = &args.replay {
        let dir = dir.join(&case.name);
        if !dir.is_dir() {
            anyhow::bail!(
                "no recordings for this case in {}; record them with `tokaudit gate --offline --baseline DIR --update-baseline` (or live)",
                dir.display()
            );
        }
        let found = files::discover(std::slice::from_ref(&dir))?;
        for s in &found.skipped {
            eprintln!("tokaudit: note: skipped {s}");
        }
        return Ok(found.files.into_iter().map(Input::File).collect());
    }
    let mode = RunMode {
        offline: args.offline,
        region: args.region.clone(),
        profile: args.profile.clone(),
        timeout: Duration::from_secs(args.timeout),
    };
    let plan = case.plan(prompts, &mode).map_err(anyhow::Error::msg)?;
    let mut inputs = Vec::new();
    runner::execute(&plan, &ProgressBar::hidden(), |r| {
        inputs.push(Input::Live(Box::new(r)));
    })
    .await?;
    Ok(inputs)
}

/// A `kind = "reconcile"` case, reconciled as `tokaudit reconcile` does it.
#[cfg(feature = "reconcile")]
async fn reconcile_case(records: &RecordSources, args: &GateArgs) -> Result<ReconcileCase, String> {
    let remote = [
        &records.invocation_logs,
        &records.gateway_logs,
        &records.spans,
        &records.recordings,
    ]
    .into_iter()
    .flatten()
    .find(|p| p.starts_with("s3://"));
    if let (Some(prefix), true) = (remote, args.offline || args.replay.is_some()) {
        return Err(format!(
            "{prefix} is on S3, and this run is offline: run the gate without --offline / --replay, or copy the records next to the suite"
        ));
    }
    super::reconcile::gate_case(records, args.region.clone(), args.profile.clone()).await
}

/// Without the `reconcile` feature, a reconcile case is an error of its own (the suite may
/// still be shared with builds that have it).
#[cfg(not(feature = "reconcile"))]
async fn reconcile_case(_: &RecordSources, _: &GateArgs) -> Result<ReconcileCase, String> {
    Err("a reconcile case needs a build with the `reconcile` feature: cargo build --release --features reconcile".into())
}

/// Replace the case's baseline with this run's fixtures.
fn update_baseline(dir: &Path, fixtures: &[Fixture]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let keep: Vec<String> = fixtures
        .iter()
        .map(|f| format!("{}.json", f.name))
        .collect();
    for f in fixtures {
        f.save(&dir.join(format!("{}.json", f.name)))?;
    }
    // Recordings of pairs this run no longer has would otherwise linger as stale baselines.
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".json") && !keep.contains(&name) {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}
