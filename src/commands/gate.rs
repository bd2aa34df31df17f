//! `tokaudit gate`: run a suite as a CI regression gate.
//!
//! Report files are created before any call and rewritten atomically after every case, so a
//! run that is killed still leaves valid reports of what it finished (marked incomplete).

use super::{color_enabled, compare, replay};
use crate::cli::{ApiChoice, CompareArgs, Format, GateArgs};
use crate::core::audit::{SideId, Verdict, baseline_drift};
use crate::core::normalize::normalize;
use crate::fixture::{Fixture, write_atomic};
use crate::report::CaseReport;
use crate::report::gate::{ExpectReport, GateCase, GateReport, Outcome};
use crate::report::{junit, markdown, table};
use crate::suite::{Case, Source, Suite};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Run `gate`.
pub async fn run(args: GateArgs) -> anyhow::Result<i32> {
    let suite = match Suite::load(&args.suite) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tokaudit: error: {e}");
            return Ok(crate::exit::USAGE);
        }
    };
    let mode = if args.replay.is_some() {
        "replay"
    } else if args.offline {
        "offline"
    } else {
        "live"
    };
    let mut report = GateReport::start(&args.suite.display().to_string(), mode, suite.cases.len());
    // Create every report file before any call: a bad path fails now, not after the spend.
    write_reports(&args, &report).context("cannot create the report files")?;
    let style = table::Style {
        color: color_enabled(),
    };
    for case in &suite.cases {
        let gc = run_case(case, &args).await;
        let mut out = format!("== {} (line {}): {}\n", gc.name, gc.line, gc.outcome.name());
        if let Some(e) = &gc.expect {
            out.push_str(&format!("   expected to end {}: {}\n", e.verdict, e.reason));
        }
        if let Some(e) = &gc.error {
            out.push_str(&format!("   error: {e}\n"));
            eprintln!("tokaudit: error: case {}: {e}", gc.name);
        }
        out.push_str(&table::render_cases(&gc.reports, style));
        let _ = std::io::stdout().write_all(out.as_bytes());
        report.push(gc);
        write_reports(&args, &report).context("cannot rewrite the report files")?;
    }
    report.finish();
    write_reports(&args, &report).context("cannot write the report files")?;
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| {
                format!(
                    "cannot append to GITHUB_STEP_SUMMARY ({})",
                    PathBuf::from(&summary).display()
                )
            })?;
        f.write_all(markdown::render(&report).as_bytes())?;
    }
    let _ = writeln!(std::io::stdout(), "{}", report.summary_line());
    Ok(report.exit_code)
}

fn write_reports(args: &GateArgs, report: &GateReport) -> std::io::Result<()> {
    type Render = fn(&GateReport) -> String;
    let outputs: [(&Option<PathBuf>, Render); 3] = [
        (&args.json, GateReport::to_json),
        (&args.junit, junit::render),
        (&args.markdown, markdown::render),
    ];
    for (path, render) in outputs {
        if let Some(p) = path {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            write_atomic(p, render(report).as_bytes())
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        }
    }
    Ok(())
}

/// Run one case to its outcome. Never fails: problems become the case's error.
async fn run_case(case: &Case, args: &GateArgs) -> GateCase {
    let expect = case.expect.as_ref().map(|e| ExpectReport {
        verdict: e.verdict,
        reason: e.reason.clone(),
        findings: e.findings.iter().map(|i| i.id().to_string()).collect(),
    });
    let mut gc = GateCase {
        name: case.name.clone(),
        line: case.line,
        verdict: Verdict::Error,
        outcome: Outcome::Error,
        expect,
        error: None,
        reports: Vec::new(),
    };
    let results = match collect(case, args).await {
        Ok(r) if r.is_empty() => Err(anyhow::anyhow!("the case produced nothing to audit")),
        other => other,
    };
    let mut pairs = match results {
        Ok(r) => r,
        Err(e) => {
            gc.error = Some(format!("{e:#}"));
            gc.outcome = Outcome::of(Verdict::Error, gc.expect.as_ref(), &[]);
            return gc;
        }
    };
    if let Some(dir) = &args.baseline {
        let dir = dir.join(&case.name);
        if args.update_baseline {
            if let Err(e) = update_baseline(&dir, &pairs) {
                gc.error = Some(format!(
                    "cannot update the baseline in {}: {e}",
                    dir.display()
                ));
            }
        } else {
            for (report, fixture) in &mut pairs {
                check_drift(&dir, report, fixture.as_ref());
            }
        }
    }
    for (report, _) in &mut pairs {
        report.tolerate(&case.tolerance);
    }
    gc.reports = pairs.into_iter().map(|(r, _)| r).collect();
    gc.verdict = Verdict::worst(
        gc.reports
            .iter()
            .map(|r| r.verdict)
            .chain(gc.error.as_ref().map(|_| Verdict::Error)),
    )
    .unwrap_or(Verdict::Error);
    gc.outcome = Outcome::of(gc.verdict, gc.expect.as_ref(), &gc.violations());
    gc
}

type Pair = (CaseReport, Option<Fixture>);

/// The audited pairs of a case, with their fixtures.
async fn collect(case: &Case, args: &GateArgs) -> anyhow::Result<Vec<Pair>> {
    let prompts = match &case.source {
        Source::Fixtures(paths) => {
            return Ok(paths.iter().map(|p| replay::load_and_audit(p)).collect());
        }
        Source::Prompts(p) => p,
    };
    if let Some(dir) = &args.replay {
        let dir = dir.join(&case.name);
        if !dir.is_dir() {
            anyhow::bail!(
                "no recordings for this case in {}; record them with `tokaudit gate --offline --baseline DIR --update-baseline` (or live)",
                dir.display()
            );
        }
        let files = crate::fixture::discover(std::slice::from_ref(&dir))?;
        return Ok(files.iter().map(|p| replay::load_and_audit(p)).collect());
    }
    if !args.offline && !case.emulator_faults.is_empty() {
        anyhow::bail!(
            "emulator_faults only apply with --offline (line {})",
            case.line
        );
    }
    let mut out = Vec::new();
    for (k, prompt) in prompts.iter().enumerate() {
        let compare_args = CompareArgs {
            prompt: prompt.clone(),
            system: case.system.clone(),
            cache: case.cache,
            model: case.model.clone(),
            target: case.target,
            base_url: case.base_url.clone(),
            api_key_env: case.api_key_env.clone(),
            ledger: case.ledger.clone(),
            api: if case.target == crate::cli::TargetKind::Bedrock {
                case.api
            } else {
                ApiChoice::Both
            },
            region: args.region.clone().or(case.region.clone()),
            profile: args.profile.clone(),
            endpoint_url: None,
            max_tokens: case.max_tokens,
            temperature: case.temperature,
            timeout: args.timeout,
            max_attempts: 3,
            runs: case.runs,
            concurrency: 1,
            record: None,
            offline: args.offline,
            emulator_fault: case.emulator_faults.clone(),
            format: Format::Table,
            quiet: true,
        };
        for (mut report, mut fixture) in compare::execute(&compare_args).await? {
            if prompts.len() > 1 {
                let name = format!("p{}-{}", k + 1, report.meta.name);
                report.meta.name = name.clone();
                fixture.name = name;
            }
            out.push((report, Some(fixture)));
        }
    }
    Ok(out)
}

/// Replace the case's baseline with this run's fixtures.
fn update_baseline(dir: &Path, pairs: &[Pair]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let keep: Vec<String> = pairs
        .iter()
        .filter_map(|(_, f)| f.as_ref().map(|f| format!("{}.json", f.name)))
        .collect();
    for (_, f) in pairs {
        if let Some(f) = f {
            f.save(&dir.join(format!("{}.json", f.name)))?;
        }
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

/// Compare each side's total input with the baseline recording of the same pair.
fn check_drift(dir: &Path, report: &mut CaseReport, fixture: Option<&Fixture>) {
    let Some(fixture) = fixture else { return };
    let path = dir.join(format!("{}.json", fixture.name));
    let base = match Fixture::load(&path).ok().and_then(|f| f.captures().ok()) {
        Some((ns, st)) => (normalize(&ns).ok(), normalize(&st).ok()),
        None => {
            report.findings.push(crate::core::audit::Finding {
                invariant: crate::core::audit::Invariant::BaselineDrift,
                severity: crate::core::audit::Severity::Note,
                side: None,
                field: None,
                message: format!(
                    "no usable baseline at {}; record one with --update-baseline",
                    path.display()
                ),
                hint: String::new(),
                delta: None,
            });
            report.refresh();
            return;
        }
    };
    let source = path.display().to_string();
    for (side, now, then) in [
        (SideId::NonStreaming, report.non_streaming.clone(), base.0),
        (SideId::Streaming, report.streaming.clone(), base.1),
    ] {
        if let (Some(now), Some(then)) = (now, then)
            && let Some((check, finding)) = baseline_drift(side, &now, &then, &source)
        {
            report.checks.push(check);
            report.findings.extend(finding);
        }
    }
    report.refresh();
}
