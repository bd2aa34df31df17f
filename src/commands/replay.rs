//! `tokaudit replay`: fixtures → captures → the same pipeline as a live run.

use crate::cli::ReplayArgs;
use crate::core::capture::Api;
use crate::core::case::{CaseMeta, CaseReport};
use crate::core::pipeline::{self, Pair};
use crate::core::policy::Policy;
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
    policy_for: impl FnOnce(&Fixture) -> Policy,
) -> (CaseReport, Option<Fixture>) {
    let loaded = match load_streaming(path) {
        Ok(l) => l,
        Err(e) => {
            let meta = unknown_meta(path);
            return (pipeline::malformed(meta, Some(path), &e.to_string()), None);
        }
    };
    let Replayable {
        fixture: fx,
        captures: (ns, st, warmup),
        normalized,
    } = loaded;
    let pair = Pair {
        non_streaming: &ns,
        streaming: &st,
        warmup: warmup.as_ref(),
        origin: Some(path),
    };
    let mut policy = policy_for(&fx);
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
        target: "bedrock".into(),
        api: Api::Invoke,
        model: "?".into(),
        region: "?".into(),
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
    let stdout = std::io::stdout().lock();
    let mut writer = CaseWriter::new(
        stdout,
        args.format,
        super::stdout_style(&args.output),
        false,
    );
    audit_in_order(&files, &policy, |case| {
        if let Some(e) = &case.error {
            eprintln!("tokaudit: error: {e}");
        }
        writer.case(case);
    });
    Ok(writer.finish())
}

/// Recordings audited ahead of the next one to print, per worker: bounds the cases waiting.
const AHEAD_PER_WORKER: usize = 4;

/// Audit `files` on every core and hand the cases to `emit` in file order, each as soon as
/// it is next: the first appears before the last file is read, and at most
/// `workers × AHEAD_PER_WORKER` finished cases wait for an earlier one.
fn audit_in_order(files: &[PathBuf], policy: &Policy, mut emit: impl FnMut(CaseReport)) {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len())
        .max(1);
    let window = workers * AHEAD_PER_WORKER;
    let next = AtomicUsize::new(0);
    let printed = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = mpsc::channel::<(usize, CaseReport)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, printed) = (&next, &printed);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() {
                        break;
                    }
                    wait_until(printed, |p| i < p + window);
                    let case = audit_file(&files[i], |_| policy.clone()).0;
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
            audit_in_order(&files, &Policy::default(), |case| {
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
