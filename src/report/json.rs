//! `--format json` and `--json FILE`: the whole report as pretty JSON, trailing newline.
//!
//! A `compare` / `replay` report: `schema_version` (1), `tool {name, version}`, `verdict`
//! (`pass|mismatch|inconclusive|error`), `exit_code`, `summary {cases, pass, mismatch,
//! inconclusive, error}`, `spread[]` (runs > 1), and `cases[]`. Each case carries its
//! metadata (`name, target, api, model, region`), `verdict`, `error` (malformed input),
//! `rows[]` (the diff table: `field`, `non_streaming` / `streaming` cells with `value, source,
//! kind`, `delta`, `upstream_non_streaming` / `upstream_streaming` with `--ledger`,
//! `recorded_non_streaming` / `recorded_streaming` with records, `invariants`, `status`),
//! `findings[]` (`invariant, severity, side, field, message, hint, delta`), `checks[]`
//! (`invariant, side, status`), both normalized sides with every channel's observations
//! (`value, source, kind`), `upstream` with `--ledger`, and `records` (`source`, and per side
//! `trace_id` and `reading`: `usage`, `convention`, `span`, `spans`, or `error`, or null).
//!
//! A gate report adds `"kind": "gate"`, `suite`, `mode`, `complete`, `planned`, and per suite
//! case `name, line, verdict, outcome, expect, error, reports[]` (each a case as above).

use super::Render;
use crate::core::case::CaseReport;
use crate::core::gate::GateReport;
use crate::core::summary::{Closing, Report, SCHEMA_VERSION, Tool};
use serde::Serialize;

/// The JSON renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

/// A report's JSON written in pieces, case by case: the same text `serde_json`'s pretty printer
/// gives for the whole [`Report`], so a streamed report and a collected one are identical.
pub fn head() -> String {
    let tool = serde_json::to_string_pretty(&Tool::this()).expect("serializes");
    format!(
        "{{\n  \"schema_version\": {SCHEMA_VERSION},\n  \"tool\": {},\n  \"cases\": [",
        indent(&tool, 2)
    )
}

/// Case number `i` of the `cases` array.
pub fn case(c: &CaseReport, i: usize) -> String {
    let text = serde_json::to_string_pretty(c).expect("cases serialize");
    format!(
        "{}\n    {}",
        if i == 0 { "" } else { "," },
        indent(&text, 4)
    )
}

/// The end of the `cases` array and the closing figures.
pub fn closing(closing: &Closing, any_case: bool) -> String {
    let mut out = String::from(if any_case { "\n  ]" } else { "]" });
    let value = serde_json::to_value(closing).expect("serializes");
    for (k, v) in value.as_object().into_iter().flatten() {
        let text = serde_json::to_string_pretty(v).expect("serializes");
        out.push_str(&format!(
            ",\n  {}: {}",
            serde_json::Value::from(k.as_str()),
            indent(&text, 2)
        ));
    }
    out.push_str("\n}\n");
    out
}

/// Indent every line but the first by `n` spaces.
fn indent(text: &str, n: usize) -> String {
    text.replace('\n', &format!("\n{}", " ".repeat(n)))
}

fn pretty(value: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("reports always serialize");
    s.push('\n');
    s
}

impl Render for Json {
    fn report(&self, report: &Report) -> String {
        let mut out = head();
        for (i, c) in report.cases.iter().enumerate() {
            out.push_str(&case(c, i));
        }
        out.push_str(&closing(&report.closing, !report.cases.is_empty()));
        out
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
