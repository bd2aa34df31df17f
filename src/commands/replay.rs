//! `tokaudit replay`: fixtures → captures → the same pipeline as a live run.

use crate::cli::ReplayArgs;
use crate::core::case::{CaseMeta, CaseReport};
use crate::core::gate::{GateCase, GateReport, Outcome};
use crate::core::pipeline::{self, Pair};
use crate::core::policy::Policy;
use crate::core::record::{SpanIndex, trace_of};
use crate::files;
use crate::fixture::{Fixture, Replayable, load_streaming};
use crate::report::stream::CaseWriter;
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// Audit one fixture file under the policy `policy_for` gives it, also returning the fixture
/// when it loaded. Malformed input becomes an `error` case whose one-line message names the
/// file, the side, the frame and the field.
pub fn audit_file(
    path: &Path,
    policy_for: impl FnOnce(&mut Fixture) -> Policy,
) -> (CaseReport, Option<Fixture>) {
    let loaded = match load_streaming(path) {
        Ok(l) => l,
        Err(e) => {
            let meta = unknown_meta(path);
            let report = if e.damaged() {
                pipeline::malformed(meta, Some(path), &e.to_string())
            } else {
                pipeline::unreadable(meta, Some(path), &e.to_string())
            };
            return (report, None);
        }
    };
    let Replayable {
        fixture: mut fx,
        captures: (ns, st, warmup),
        normalized,
    } = loaded;
    let mut policy = policy_for(&mut fx);
    let pair = Pair {
        non_streaming: &ns,
        streaming: &st,
        warmup: warmup.as_ref(),
        origin: Some(path),
        records: fx.records.as_ref(),
    };
    if policy.price_model.is_none() {
        policy.price_model = fx.price_model.clone();
    }
    let report = pipeline::audit_prepared(fx.meta(), pair, normalized, fx.upstream(), &policy);
    (report, Some(fx))
}

/// What a file that did not load is reported as: its name, and nothing invented.
fn unknown_meta(path: &Path) -> CaseMeta {
    CaseMeta {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        target: CaseMeta::UNKNOWN.into(),
        api: None,
        model: CaseMeta::UNKNOWN.into(),
        region: CaseMeta::UNKNOWN.into(),
        emulator: false,
    }
}

/// Run `replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let found = files::discover(&args.paths).context("cannot list fixtures")?;
    for s in &found.skipped {
        eprintln!("tokaudit: note: skipped {s}");
    }
    let files = found.files;
    if files.is_empty() {
        bail!(
            "no fixtures (*.json) found in {}; record some with `tokaudit compare --record DIR`",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let policy = super::pricing_policy(&args.pricing)?;
    if args.check_expect {
        return check_expect(&args, &files, &policy);
    }
    let stdout = std::io::stdout().lock();
    let mut writer = CaseWriter::new(
        stdout,
        args.format,
        super::stdout_style(&args.output),
        false,
    );
    let mut diagnostics = super::Diagnostics {
        errors_name_files: true,
        ..Default::default()
    };
    let spans = match &args.records_file {
        Some(p) => Some(read_records_file(p)?),
        None => None,
    };
    let untraced = AtomicUsize::new(0);
    let prepare = |fx: &mut Fixture| {
        if let Some(index) = &spans {
            match (
                trace_of(&fx.non_streaming.request.headers),
                trace_of(&fx.streaming.request.headers),
            ) {
                (Some(ns), Some(st)) => fx.records = Some(index.records(ns, st)),
                _ => {
                    untraced.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        policy.clone()
    };
    let audit = |path: &Path| audit_file(path, prepare).0;
    audit_in_order(&files, audit, |case| {
        diagnostics.case(&case);
        writer.case(case);
    });
    diagnostics.finish();
    let untraced = untraced.into_inner();
    if untraced > 0 {
        eprintln!(
            "tokaudit: note: {untraced} fixture(s) were recorded without trace ids (no --otlp-listen), so --records-file cannot be matched to them"
        );
    }
    writer.finish().context("cannot write the report to stdout")
}

/// `--records-file`: spans exported after the fact, indexed by trace.
fn read_records_file(path: &Path) -> anyhow::Result<SpanIndex> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the records file {}", path.display()))?;
    SpanIndex::read(path.display().to_string(), &text).map_err(anyhow::Error::msg)
}

/// `replay --check-expect`: every fixture judged against its `expect` block, reported as a
/// gate run (one case per fixture; the report holds them all, unlike a plain replay).
fn check_expect(args: &ReplayArgs, files: &[PathBuf], policy: &Policy) -> anyhow::Result<i32> {
    let paths: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
    let title = format!("replay --check-expect {}", paths.join(" "));
    let mut report = GateReport::start(&title, "replay", files.len());
    let mut diagnostics = super::Diagnostics {
        errors_name_files: true,
        ..Default::default()
    };
    let judge = |path: &Path| {
        let (case, fixture) = audit_file(path, |_| policy.clone());
        let expectation = fixture.as_ref().map(Fixture::expectation);
        (case, expectation, path.display().to_string())
    };
    audit_in_order(files, judge, |(case, expectation, path)| {
        let (expect, error) = match expectation {
            Some(Err(e)) => (None, Some(format!("{path}: {e}"))),
            Some(Ok(expect)) => (expect, None),
            None => (None, None),
        };
        let name = case.meta.name.clone();
        let judged = GateCase::judged(&name, 0, expect.as_ref(), error, vec![case]);
        if let Some(e) = &judged.error {
            diagnostics.error("", e, "");
        }
        // Errors a fixture is expected to end with are its point, not news.
        if judged.outcome != Outcome::ExpectedFailure {
            judged.reports.iter().for_each(|r| diagnostics.case(r));
        }
        report.push(judged);
    });
    diagnostics.finish();
    report.finish();
    let style = super::stdout_style(&args.output);
    super::print(&crate::report::renderer(args.format, style).gate(&report))?;
    Ok(report.exit_code)
}

/// Recordings audited ahead of the next one to print, per worker: bounds the cases waiting.
const AHEAD_PER_WORKER: usize = 4;

/// Audit `files` on every core and hand the cases to `emit` in file order, each as soon as
/// it is next: the first appears before the last file is read, and at most
/// `workers × AHEAD_PER_WORKER` finished cases wait for an earlier one.
fn audit_in_order<T: Send>(
    files: &[PathBuf],
    audit: impl Fn(&Path) -> T + Sync,
    mut emit: impl FnMut(T),
) {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len())
        .max(1);
    let window = workers * AHEAD_PER_WORKER;
    let next = AtomicUsize::new(0);
    let printed = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = mpsc::channel::<(usize, T)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, printed, audit) = (&next, &printed, &audit);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() {
                        break;
                    }
                    wait_until(printed, |p| i < p + window);
                    let case = audit(&files[i]);
                    if tx.send((i, case)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (i, case) in rx {
            waiting.insert(i, case);
            while let Some(case) = waiting.remove(&due) {
                emit(case);
                due += 1;
                let (lock, cv) = &printed;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) = due;
                cv.notify_all();
            }
        }
    });
}

/// Block until `ready` holds of the count of cases printed.
fn wait_until(printed: &(Mutex<usize>, Condvar), ready: impl Fn(usize) -> bool) {
    let (lock, cv) = printed;
    let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
    while !ready(*p) {
        p = cv.wait(p).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first case is handed over while a later recording cannot even be opened yet (a
    /// FIFO nobody writes to): output does not wait for the last file.
    #[test]
    fn the_first_case_comes_out_before_the_last_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let good = dir.path().join("a.json");
        std::fs::copy(fixtures.join("invoke-write-hi.json"), &good).unwrap();
        let fifo = dir.path().join("z.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("no mkfifo here: skipped");
            return;
        }
        let files = vec![good.clone(), fifo.clone()];
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::spawn(move || {
            let audit = |p: &Path| audit_file(p, |_| Policy::default()).0;
            audit_in_order(&files, audit, |case: CaseReport| {
                let _ = tx.send(case.meta.name);
            });
        });
        let first = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        assert_eq!(first, "invoke-write-hi");
        // Only now does the last file get its content.
        std::fs::write(&fifo, std::fs::read(&good).unwrap()).unwrap();
        let second = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        assert_eq!(second, "invoke-write-hi");
        worker.join().unwrap();
    }
}
