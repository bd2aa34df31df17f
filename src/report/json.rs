//! `--format json`: the whole [`Report`] as pretty JSON.
//!
//! Top level: `schema_version` (1), `tool {name, version}`, `verdict`
//! (`pass|mismatch|inconclusive|error`), `exit_code`, `summary {cases, pass, mismatch,
//! inconclusive, error}`, `spread[]` (runs > 1), and `cases[]`. Each case carries its
//! metadata (`name, origin, target, api, model, region`), `verdict`, `error` (malformed
//! input), `rows[]` (the diff table: `field`, `non_streaming`/`streaming` cells with
//! `value, source, kind`, `delta`, `invariants`, `status`), `findings[]` (`invariant,
//! severity, side, field, message, hint`), `checks[]` (`invariant, side, status`), and both
//! normalized sides with every channel's observations (`value, source, kind`).

use super::Report;

/// Render the report as pretty JSON (with a trailing newline).
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("reports always serialize");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    #[test]
    fn empty_report_shape() {
        let v: serde_json::Value = serde_json::from_str(&render(&Report::new(vec![]))).unwrap();
        insta::assert_json_snapshot!(v);
    }
}
