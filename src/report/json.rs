//! `--format json` and `--json FILE`: the whole report as pretty JSON, trailing newline.
//!
//! A `compare` / `replay` report: `schema_version` (1), `tool {name, version}`, `verdict`
//! (`pass|mismatch|inconclusive|error`), `exit_code`, `summary {cases, pass, mismatch,
//! inconclusive, error}`, `spread[]` (runs > 1), and `cases[]`. Each case carries its
//! metadata (`name, target, api, model, region`), `verdict`, `error` (malformed input),
//! `rows[]` (the diff table: `field`, `non_streaming` / `streaming` cells with `value, source,
//! kind`, `delta`, `upstream_non_streaming` / `upstream_streaming` with `--ledger`,
//! `invariants`, `status`), `findings[]` (`invariant, severity, side, field, message, hint,
//! delta`), `checks[]` (`invariant, side, status`), both normalized sides with every
//! channel's observations (`value, source, kind`), and `upstream` with `--ledger`.
//!
//! A gate report adds `"kind": "gate"`, `suite`, `mode`, `complete`, `planned`, and per suite
//! case `name, line, verdict, outcome, expect, error, reports[]` (each a case as above).

use super::Render;
use crate::core::gate::GateReport;
use crate::core::summary::Report;
use serde::Serialize;

/// The JSON renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

fn pretty(value: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("reports always serialize");
    s.push('\n');
    s
}

impl Render for Json {
    fn report(&self, report: &Report) -> String {
        pretty(report)
    }

    fn gate(&self, report: &GateReport) -> String {
        pretty(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    fn snapshot_of(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn empty_report_shape() {
        let v = snapshot_of(&Json.report(&Report::new(vec![])));
        insta::assert_json_snapshot!(v, {".tool.version" => "[version]"});
    }

    #[test]
    fn report_of_a_known_bad_pair() {
        let v = snapshot_of(&Json.report(&testing::report(&["invoke-headers-disagree.json"])));
        insta::assert_json_snapshot!(v, {".tool.version" => "[version]"});
    }

    #[test]
    fn gate_report() {
        let v = snapshot_of(&Json.gate(&testing::gate()));
        insta::assert_json_snapshot!(v, {".tool.version" => "[version]"});
    }
}
