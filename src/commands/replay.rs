//! `tokaudit replay`: fixtures → captures → the same pipeline as a live run.

use super::emit;
use crate::cli::ReplayArgs;
use crate::core::capture::Api;
use crate::core::case::{CaseMeta, CaseReport};
use crate::core::pipeline::{self, Pair};
use crate::core::policy::Policy;
use crate::core::summary::Report;
use crate::files;
use crate::fixture::{Fixture, Replayable, load_streaming};
use anyhow::{Context, bail};
use std::path::Path;

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
    let cases: Vec<CaseReport> = files
        .iter()
        .map(|f| audit_file(f, |_| policy.clone()).0)
        .collect();
    for c in &cases {
        if let Some(e) = &c.error {
            eprintln!("tokaudit: error: {e}");
        }
    }
    Ok(emit(&Report::new(cases), args.format))
}
