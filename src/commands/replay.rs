//! `tokaudit replay`: fixtures → captures → the same core as a live run.

use super::emit;
use crate::cli::ReplayArgs;
use crate::core::normalize::normalize;
use crate::fixture::{self, Fixture};
use crate::report::{CaseMeta, CaseReport, Report};
use anyhow::{Context, bail};
use std::path::Path;

const MALFORMED_HINT: &str =
    "the recording is corrupt or was edited: re-record it with `tokaudit compare --record DIR`";

/// Audit one fixture file. Malformed input becomes an `error` case with a one-line message
/// naming the file, the side, the frame and the field.
pub fn audit_file(path: &Path) -> CaseReport {
    load_and_audit(path).0
}

/// Like [`audit_file`], also returning the fixture when it loaded.
pub fn load_and_audit(path: &Path) -> (CaseReport, Option<Fixture>) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fallback = || CaseMeta {
        name: stem.clone(),
        target: "bedrock".into(),
        api: crate::core::capture::Api::Invoke,
        model: "?".into(),
        region: "?".into(),
    };
    let fx = match Fixture::load(path) {
        Ok(f) => f,
        Err(e) => {
            return (
                CaseReport::malformed(
                    fallback(),
                    format!("{}: {e}; {MALFORMED_HINT}", path.display()),
                ),
                None,
            );
        }
    };
    let meta = fx.meta();
    let sides = fx
        .captures()
        .map_err(|e| e.to_string())
        .and_then(|(ns, st)| {
            let a = normalize(&ns).map_err(|e| format!("non_streaming: {e}"))?;
            let b = normalize(&st).map_err(|e| format!("streaming: {e}"))?;
            Ok((a, b))
        });
    let upstream = fx.upstream.as_ref().map(|u| crate::core::audit::Upstream {
        non_streaming: crate::core::ledger::upstream_side(&u.non_streaming),
        streaming: crate::core::ledger::upstream_side(&u.streaming),
    });
    let report = match sides {
        Ok((a, b)) => CaseReport::audited(meta, a, b, upstream),
        Err(e) => CaseReport::malformed(meta, format!("{}: {e}; {MALFORMED_HINT}", path.display())),
    };
    (report, Some(fx))
}

/// Run `replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let files = fixture::discover(&args.paths).context("cannot list fixtures")?;
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
    let cases: Vec<CaseReport> = files.iter().map(|f| audit_file(f)).collect();
    for c in &cases {
        if let Some(e) = &c.error {
            eprintln!("tokaudit: error: {e}");
        }
    }
    Ok(emit(&Report::new(cases), args.format))
}
