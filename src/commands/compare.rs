//! `tokaudit compare`: one prompt, both paths, per API family, `--runs` times.

use super::emit;
use crate::cli::CompareArgs;
use crate::core::pipeline;
use crate::core::policy::Policy;
use crate::core::summary::Report;
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
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the record folder {}", dir.display()))?;
    }
    let jobs = plan.runs as u64 * plan.apis.len() as u64 * plan.prompts.len() as u64;
    let progress = progress_bar(jobs, args.quiet);
    let results = runner::execute(&plan, &progress).await?;
    let mut cases = Vec::with_capacity(results.len());
    for result in &results {
        if let Some(dir) = &args.record {
            let mut fixture = result.fixture();
            fixture.price_model = policy.price_model.clone();
            let path = dir.join(format!("{}.json", fixture.name));
            fixture
                .save(&path)
                .with_context(|| format!("cannot write the fixture {}", path.display()))?;
        }
        let case = audit(result, &policy);
        if let Some(e) = &case.error {
            eprintln!("tokaudit: error: {}: {e}", case.meta.name);
        }
        cases.push(case);
    }
    let report = if plan.runs > 1 {
        Report::over_runs(cases)
    } else {
        Report::new(cases)
    };
    Ok(emit(&report, args.format))
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
