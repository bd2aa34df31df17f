//! Markdown for CI summaries (`--markdown`, and `$GITHUB_STEP_SUMMARY`): a summary table, then
//! per case its outcome, diff tables and findings.

use super::Render;
use crate::core::case::{CaseReport, Cell, RowStatus};
use crate::core::gate::{GateReport, Outcome, ReconcileCase};
use crate::core::summary::Report;

/// The Markdown renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Markdown;

impl Render for Markdown {
    fn report(&self, report: &Report) -> String {
        let s = &report.closing.summary;
        let mut out = format!(
            "## tokaudit: {}\n\n| cases | pass | mismatch | inconclusive | error |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |\n\n",
            report.verdict(),
            s.cases,
            s.pass,
            s.mismatch,
            s.inconclusive,
            s.error
        );
        for case in &report.cases {
            pair(&mut out, case);
        }
        out
    }

    fn gate(&self, report: &GateReport) -> String {
        render_gate(report)
    }
}

fn cell(c: &Option<Cell>) -> String {
    c.as_ref().map_or("—".into(), |c| {
        format!("{} <sub>{}</sub>", c.value, c.source.replace('|', "\\|"))
    })
}

fn pair(out: &mut String, r: &CaseReport) {
    out.push_str(&format!(
        "#### {} · {} · {}{} · **{}**\n\n",
        r.meta.name,
        r.meta.api_name(),
        r.meta.model,
        if r.meta.emulator { " · emulator" } else { "" },
        r.verdict
    ));
    if let Some(e) = &r.error {
        out.push_str(&format!("> error: {}\n\n", e.replace('\n', " ")));
        return;
    }
    let ledger = r.upstream.is_some();
    let recorded = r.records.is_some();
    out.push_str("| field | non-streaming | streaming |");
    if ledger {
        out.push_str(" upstream |");
    }
    if recorded {
        out.push_str(" recorded |");
    }
    out.push_str(" delta | verdict |\n|---|---|---|");
    out.push_str(&"---|".repeat(usize::from(ledger) + usize::from(recorded)));
    out.push_str("---|---|\n");
    for row in &r.rows {
        let ids: Vec<&str> = row.invariants.iter().map(|i| i.id()).collect();
        let name = row.status.name().to_string();
        let verdict = match row.status {
            RowStatus::Mismatch => format!("❌ {}", ids.join(", ")),
            RowStatus::Ok => "ok".into(),
            _ if ids.is_empty() => name,
            _ => format!("{name}: {}", ids.join(", ")),
        };
        out.push_str(&format!(
            "| {} | {} | {} |",
            row.field.name(),
            cell(&row.non_streaming),
            cell(&row.streaming)
        ));
        let v = |x: Option<u64>| x.map_or("—".into(), |v| v.to_string());
        if ledger {
            out.push_str(&format!(
                " {} / {} |",
                v(row.upstream_non_streaming),
                v(row.upstream_streaming)
            ));
        }
        if recorded {
            out.push_str(&format!(
                " {} / {} |",
                v(row.recorded_non_streaming),
                v(row.recorded_streaming)
            ));
        }
        out.push_str(&format!(
            " {} | {} |\n",
            row.delta.map_or("—".into(), |d| format!("{d:+}")),
            verdict
        ));
    }
    out.push('\n');
    if let Some(line) = super::cost_line(r) {
        out.push_str(&format!("{line}\n\n"));
    }
    for f in &r.findings {
        let side = f.side.map(|s| format!(" ({s})")).unwrap_or_default();
        out.push_str(&format!(
            "- **{}**{side}: {}",
            f.invariant,
            super::priced_message(f).replace('\n', " ")
        ));
        if !f.hint.is_empty() {
            out.push_str(&format!(" — _{}_", f.hint));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn render_gate(gate: &GateReport) -> String {
    let s = &gate.summary;
    let mut out = format!(
        "## tokaudit gate: {}{}\n\n| cases | pass | mismatch | inconclusive | error | expected failures | unexpected passes |\n|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} |\n\n",
        gate.suite,
        if gate.complete {
            String::new()
        } else {
            format!(" (incomplete: {} of {} cases)", s.cases, gate.planned)
        },
        s.cases,
        s.pass,
        s.mismatch,
        s.inconclusive,
        s.error,
        s.expected_failures,
        s.unexpected_passes
    );
    if let Some(err) = &gate.error {
        out.push_str(&format!(
            "**The suite was refused, no case ran:** {err}\n\n"
        ));
    }
    for case in &gate.cases {
        let icon = match case.outcome {
            Outcome::Pass | Outcome::ExpectedFailure => "✅",
            Outcome::Inconclusive => "❔",
            _ => "❌",
        };
        out.push_str(&format!(
            "### {icon} {} — {}\n\n",
            case.name,
            case.outcome.name()
        ));
        if let Some(e) = &case.expect {
            out.push_str(&format!(
                "Expected to end `{}`: {}\n\n",
                e.verdict, e.reason
            ));
        }
        if let Some(e) = &case.error {
            out.push_str(&format!("> error: {e}\n\n"));
        }
        for r in &case.reports {
            pair(&mut out, r);
        }
        if let Some(rc) = &case.reconcile {
            reconciled(&mut out, rc);
        }
    }
    out
}

/// A reconcile case: its summary line and its finding classes.
fn reconciled(out: &mut String, rc: &ReconcileCase) {
    out.push_str(&format!(
        "Reconciled: {}

",
        rc.summary_line()
    ));
    if rc.classes.is_empty() {
        return;
    }
    out.push_str("| finding | records | tokens | USD (logged − billed) |\n|---|---:|---:|---:|\n");
    for c in &rc.classes {
        out.push_str(&format!(
            "| `{}` | {} | {} | {:.6} |\n",
            c.name(),
            c.records,
            c.tokens,
            c.usd
        ));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn markdown_of_a_gate_run() {
        insta::assert_snapshot!(Markdown.gate(&testing::gate()));
    }

    #[test]
    fn markdown_of_a_report() {
        insta::assert_snapshot!(Markdown.report(&testing::report(&[
            "invoke-write-hi.json",
            "invoke-metrics-disagree.json"
        ])));
    }

    /// The upstream and recorded columns of a gateway run with `--ledger` and records.
    #[test]
    fn markdown_with_records() {
        insta::assert_snapshot!(Markdown.report(&testing::report(&[
            "litellm-1.108.7-records-invoke-abort.json"
        ])));
    }
}
