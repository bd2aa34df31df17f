//! `tokaudit compare`: one prompt, both paths, per API family, `--runs` times.

use crate::cli::{CompareArgs, UsageError};
use crate::core::pipeline;
use crate::core::policy::Policy;
use crate::report::Detail;
use crate::report::stream::CaseWriter;
use crate::runner::{self, PairResult};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Run `compare`: plan, execute, record, audit, print.
pub async fn run(args: CompareArgs) -> anyhow::Result<i32> {
    let plan = args.plan()?;
    let policy = super::pricing_policy(&args.pricing)?;
    // Fail on an unusable record folder before spending any tokens.
    if let Some(dir) = &args.record {
        record_folder(dir, args.force)?;
    }
    let jobs = plan.runs as u64 * plan.apis.len() as u64 * plan.prompts.len() as u64;
    let progress = progress_bar(jobs, args.output.quiet);
    let mut style = super::stdout_style(&args.output);
    if plan.runs > 1 && style.detail == Detail::Cases {
        // Repeated runs: the pairs that say something, and the spread for the rest.
        style.detail = Detail::Failing;
    }
    let mut writer = CaseWriter::new(std::io::stdout().lock(), args.format, style, plan.runs > 1);
    let mut failed = Ok(());
    let mut diagnostics = super::Diagnostics::default();
    let bar = progress.clone();
    runner::execute(&plan, &progress, |result| {
        if failed.is_err() {
            return;
        }
        if let Some(dir) = &args.record {
            let mut fixture = result.fixture();
            fixture.price_model = policy.price_model.clone();
            let path = dir.join(format!("{}.json", fixture.name));
            if let Err(e) = fixture.save(&path) {
                failed = Err(anyhow::Error::from(e)
                    .context(format!("cannot write the fixture {}", path.display())));
                return;
            }
        }
        let case = audit(&result, &policy);
        // The bar is taken off the terminal while a case prints, or the case would start on
        // the bar's line.
        bar.suspend(|| {
            diagnostics.case(&case);
            writer.case(case);
        });
    })
    .await?;
    diagnostics.finish();
    failed?;
    writer.finish().context("cannot write the report to stdout")
}

/// Create the record folder, or refuse one that already holds fixtures (a second recording
/// would silently replace the first) unless `force`.
fn record_folder(dir: &std::path::Path, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the record folder {}", dir.display()))?;
    if force {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the record folder {}", dir.display()))?;
    let held = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count();
    if held > 0 {
        return Err(UsageError(format!(
            "--record {}: the folder already holds {held} fixture file(s) that this run may overwrite; pass --force to replace them, or record into another folder",
            dir.display()
        ))
        .into());
    }
    Ok(())
}

/// One live pair through the pipeline under `policy`.
pub fn audit(result: &PairResult, policy: &Policy) -> crate::core::case::CaseReport {
    pipeline::audit_pair(
        result.meta.clone(),
        result.pair(),
        result.upstream(),
        policy,
    )
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} pairs {wide_bar} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}
