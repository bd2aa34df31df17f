//! The default human output: one comfy-table diff table per case, then its findings; for a
//! gate run, each suite case's outcome before its tables and the summary line at the end.

use super::{Detail, Render, Style};
use crate::core::audit::{Severity, Verdict};
use crate::core::case::{CaseReport, Cell, Row, RowStatus};
use crate::core::gate::{GateCase, GateReport};
use crate::core::summary::{Closing, Report};
use comfy_table::{Cell as TCell, Color, ContentArrangement, Table as Grid, presets};

/// The table renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Table {
    /// Colour or not.
    pub style: Style,
}

impl Render for Table {
    fn report(&self, report: &Report) -> String {
        let mut shown = Shown::default();
        let mut out: String = report
            .cases
            .iter()
            .map(|c| self.streamed_case(c, &mut shown))
            .collect();
        out.push_str(&self.closing(&report.closing, &shown));
        out
    }

    fn gate(&self, report: &GateReport) -> String {
        let mut out: String = if self.style.detail == Detail::Summary {
            String::new()
        } else {
            report.cases.iter().map(|c| self.gate_case(c)).collect()
        };
        out.push_str(&gate_summary_line(report));
        out.push('\n');
        out
    }
}

/// `N cases: P pass, M mismatch, I inconclusive, E error`.
fn counts(cases: usize, pass: usize, mismatch: usize, inconclusive: usize, error: usize) -> String {
    format!(
        "{cases} case{}: {pass} pass, {mismatch} mismatch, {inconclusive} inconclusive, {error} error",
        if cases == 1 { "" } else { "s" }
    )
}

/// The line that ends a gate run.
pub fn gate_summary_line(report: &GateReport) -> String {
    let s = &report.summary;
    let mut line = counts(s.cases, s.pass, s.mismatch, s.inconclusive, s.error);
    line.push_str(&format!(
        ", {} expected failure{}",
        s.expected_failures,
        if s.expected_failures == 1 { "" } else { "s" }
    ));
    if s.unexpected_passes > 0 {
        line.push_str(&format!(", {} unexpected pass", s.unexpected_passes));
    }
    line.push_str(&format!(" (exit {})", report.exit_code));
    line
}

impl Table {
    /// One suite case of a gate run: its outcome, expectation and error, then its tables
    /// (printed as each case finishes).
    pub fn gate_case(&self, case: &GateCase) -> String {
        let line = if case.line > 0 {
            format!(" (line {})", case.line)
        } else {
            String::new()
        };
        let mut out = format!("== {}{line}: {}\n", case.name, case.outcome.name());
        if let Some(e) = &case.expect {
            out.push_str(&format!("   expected to end {}: {}\n", e.verdict, e.reason));
        }
        if let Some(e) = &case.error {
            out.push_str(&format!("   error: {e}\n"));
        }
        out.push_str(&render_cases(&case.reports, self.style));
        out
    }
}

/// The caller decided about colour (terminal, `NO_COLOR`); comfy-table must not guess again.
fn plain_or_styled(t: &mut Grid, style: Style) {
    if style.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
}

/// The verdict in capitals, bold and coloured when colour is on.
fn verdict_text(v: Verdict, style: Style) -> String {
    let text = v.to_string().to_uppercase();
    if !style.color {
        return text;
    }
    let code = match v {
        Verdict::Pass => 32,
        Verdict::Mismatch => 31,
        Verdict::Error => 35,
        Verdict::Inconclusive => 33,
    };
    format!("\u{1b}[1;{code}m{text}\u{1b}[0m")
}

fn value_cell(c: &Option<Cell>, style: Style) -> String {
    match c {
        Some(c) if style.full_sources => format!("{}\n{}", c.value, c.source),
        Some(c) => format!("{} {}", c.value, super::short_source(&c.source)),
        None => "—".into(),
    }
}

/// Below this many columns the diff table is laid out one field per block instead of as a
/// grid.
const STACKED_BELOW: u16 = 72;

fn status_text(r: &Row) -> String {
    let ids: Vec<&str> = r.invariants.iter().map(|i| i.id()).collect();
    match r.status {
        RowStatus::Mismatch => format!("✗ {}", ids.join(", ")),
        RowStatus::NotComparable => format!("? {}", ids.join(", ")),
        RowStatus::Note => format!("note: {}", ids.join(", ")),
        RowStatus::Ok => "ok".into(),
        RowStatus::Differs => "differs".into(),
        RowStatus::Partial => "partial (call failed)".into(),
        RowStatus::Absent => "—".into(),
        RowStatus::Error => "error".into(),
    }
}

fn case_table(case: &CaseReport, style: Style) -> Grid {
    let mut t = Grid::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    match style.width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    plain_or_styled(&mut t, style);
    let ledger = case.upstream.is_some();
    let mut header = vec!["field", "non-streaming (source)", "streaming (source)"];
    if ledger {
        header.push("upstream (ledger)");
    }
    header.extend(["delta", "verdict"]);
    t.set_header(header);
    for r in &case.rows {
        let mut status = TCell::new(status_text(r));
        if style.color {
            status = status.fg(match r.status {
                RowStatus::Mismatch | RowStatus::Error => Color::Red,
                RowStatus::NotComparable | RowStatus::Differs | RowStatus::Partial => Color::Yellow,
                RowStatus::Ok => Color::Green,
                RowStatus::Note | RowStatus::Absent => Color::Reset,
            });
        }
        let mut cells = vec![
            TCell::new(r.field.name()),
            TCell::new(value_cell(&r.non_streaming, style)),
            TCell::new(value_cell(&r.streaming, style)),
        ];
        if ledger {
            cells.push(TCell::new(upstream_cell(r)));
        }
        cells.push(TCell::new(r.delta.map_or("—".into(), |d| format!("{d:+}"))));
        cells.push(status);
        t.add_row(cells);
    }
    t
}

/// A line, word-wrapped to `width` columns (continuations indented by `indent`), with a
/// trailing newline; unchanged without a width.
fn wrap(line: &str, width: Option<usize>, indent: usize) -> String {
    let Some(width) = width.filter(|w| *w > indent + 20) else {
        return format!("{line}\n");
    };
    let body = line.trim_start();
    let mut out = String::new();
    let mut current = line[..line.len() - body.len()].to_string();
    let mut fresh = true;
    for word in body.split(' ') {
        let len = current.chars().count();
        if !fresh && len + 1 + word.chars().count() > width {
            out.push_str(current.trim_end());
            out.push('\n');
            current = " ".repeat(indent);
        } else if !fresh {
            current.push(' ');
        }
        current.push_str(word);
        fresh = false;
    }
    out.push_str(current.trim_end());
    out.push('\n');
    out
}

/// The upstream's figures for the two requests (with `--ledger`).
fn upstream_cell(r: &Row) -> String {
    let show = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
    format!(
        "{} / {}",
        show(r.upstream_non_streaming),
        show(r.upstream_streaming)
    )
}

/// The diff table one field per block, for narrow terminals.
fn stacked(case: &CaseReport, style: Style) -> String {
    let mut out = String::new();
    for r in &case.rows {
        let delta = r.delta.map_or("—".into(), |d| format!("{d:+}"));
        out.push_str(&format!(
            "  {:<14} {}  (delta {delta})\n",
            r.field.name(),
            status_text(r)
        ));
        out.push_str(&format!(
            "      non-streaming  {}\n",
            value_cell(&r.non_streaming, style)
        ));
        out.push_str(&format!(
            "      streaming      {}\n",
            value_cell(&r.streaming, style)
        ));
        if case.upstream.is_some() {
            out.push_str(&format!("      upstream       {}\n", upstream_cell(r)));
        }
    }
    out
}

/// Passing cases shown in full before the table keeps to the others: a run of a million pairs
/// prints the pairs that say something, and the spread.
pub const PASSING_SHOWN: usize = 20;

/// What the table has printed so far.
#[derive(Debug, Default)]
pub struct Shown {
    passing: usize,
    hidden: usize,
}

impl Table {
    /// One case of a report as it finishes: its table and findings, unless the style's
    /// [`Detail`] leaves it out (a passing case past those shown, any case for `-q`).
    pub fn streamed_case(&self, case: &CaseReport, shown: &mut Shown) -> String {
        let passing_shown = match self.style.detail {
            Detail::Summary => return String::new(),
            Detail::Failing => 0,
            Detail::Cases => PASSING_SHOWN,
        };
        if case.verdict == Verdict::Pass {
            if shown.passing >= passing_shown {
                shown.hidden += 1;
                return String::new();
            }
            shown.passing += 1;
        }
        render_cases(std::slice::from_ref(case), self.style)
    }

    /// What ends a report: the spread over runs, the hidden passing cases, the summary line.
    pub fn closing(&self, closing: &Closing, shown: &Shown) -> String {
        let mut out = String::new();
        if shown.hidden > 0 && self.style.detail != Detail::Summary {
            out.push_str(&format!(
                "({} more passing cases not shown; --format json lists every case)\n",
                shown.hidden
            ));
        }
        spread_and_summary(&mut out, closing, self.style);
        out
    }
}

/// A table and findings per case.
fn render_cases(cases: &[CaseReport], style: Style) -> String {
    let mut out = String::new();
    for case in cases {
        let m = &case.meta;
        let head = format!(
            " {} · {} · {} · {} · {}{}  {}",
            m.name,
            m.target,
            m.api_name(),
            m.model,
            m.region,
            if m.emulator { " · emulator" } else { "" },
            verdict_text(case.verdict, style)
        );
        out.push_str(&wrap(&head, style.width.map(usize::from), 3));
        if let Some(err) = &case.error {
            out.push_str(&format!("  error: {err}\n\n"));
            continue;
        }
        if style.width.is_some_and(|w| w < STACKED_BELOW) {
            out.push_str(&stacked(case, style));
        } else {
            out.push_str(&case_table(case, style).to_string());
            out.push('\n');
        }
        let width = style.width.map(usize::from);
        if let Some(line) = super::cost_line(case) {
            out.push_str(&wrap(&format!("  {line}"), width, 8));
        }
        for f in &case.findings {
            let mark = match f.severity {
                Severity::Violation => "✗",
                Severity::Error => "!",
                Severity::NotComparable => "?",
                Severity::Note => "·",
            };
            let side = f.side.map(|s| format!(" {s}")).unwrap_or_default();
            let line = format!(
                "  {mark} {}{side}: {}",
                f.invariant,
                super::priced_message(f)
            );
            out.push_str(&wrap(&line, width, 4));
            if !f.hint.is_empty() {
                out.push_str(&wrap(&format!("      hint: {}", f.hint), width, 12));
            }
        }
        out.push('\n');
    }
    out
}

fn spread_and_summary(out: &mut String, report: &Closing, style: Style) {
    if !report.spread.is_empty() {
        let mut t = Grid::new();
        t.load_style(presets::UTF8_FULL_CONDENSED);
        plain_or_styled(&mut t, style);
        t.set_header(vec!["field", "min", "max", "pairs disagreeing"]);
        for s in &report.spread {
            let show = |v: Option<u64>| v.map_or("—".into(), |v| v.to_string());
            t.add_row(vec![
                s.field.name().to_string(),
                show(s.min),
                show(s.max),
                format!("{}/{}", s.pairs_disagreeing, report.summary.cases),
            ]);
        }
        out.push_str("over all runs:\n");
        out.push_str(&t.to_string());
        out.push('\n');
    }
    if let Some(n) = report.cache_split_differs {
        out.push_str(&format!(
            "cache split differed between the paths in {n} of {} pairs\n",
            report.summary.cases
        ));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{} → {} (exit {})\n",
        counts(s.cases, s.pass, s.mismatch, s.inconclusive, s.error),
        report.verdict,
        report.exit_code
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    fn render(report: &Report, style: Style) -> String {
        Table { style }.report(report)
    }

    #[test]
    fn table_for_the_litellm_hardcoded_usage_case() {
        let report = testing::report(&["converse-hardcoded-usage-litellm-9577.json"]);
        insta::assert_snapshot!(render(&report, Style::default()));
    }

    #[test]
    fn table_for_a_stream_cut_by_an_exception() {
        let report = testing::report(&["invoke-stream-cut-by-exception.json"]);
        insta::assert_snapshot!(render(&report, Style::default()));
    }

    #[test]
    fn table_with_a_cache_note() {
        let report = testing::report(&["invoke-cache-write-then-read.json"]);
        insta::assert_snapshot!(render(&report, Style::default()));
    }

    #[test]
    fn table_for_a_gateway_with_a_ledger() {
        let report = testing::report(&["litellm-1.63.14-proxy-write-hi.json"]);
        insta::assert_snapshot!(render(&report, Style::default()));
    }

    #[test]
    fn table_for_a_gate_run() {
        insta::assert_snapshot!(Table::default().gate(&testing::gate()));
    }

    /// The tables at 80 and 120 columns, for the two Bedrock families, a gateway with a
    /// ledger and a gate run; and the full sources of `--sources`.
    #[test]
    fn tables_fit_80_and_120_columns() {
        let reports = [
            ("invoke", testing::report(&["invoke-headers-disagree.json"])),
            (
                "converse",
                testing::report(&["converse-cache-warm-stream-drops-cache.json"]),
            ),
            (
                "gateway",
                testing::report(&["litellm-1.63.14-proxy-write-hi.json"]),
            ),
        ];
        for width in [80u16, 120] {
            let style = Style {
                width: Some(width),
                ..Style::default()
            };
            for (name, report) in &reports {
                let text = render(report, style);
                let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
                assert!(widest <= usize::from(width), "{name} at {width}: {widest}");
                insta::assert_snapshot!(format!("{name}_{width}"), text);
            }
            let gate = Table { style }.gate(&testing::gate());
            insta::assert_snapshot!(format!("gate_{width}"), gate);
        }
        let full = Style {
            full_sources: true,
            ..Style::default()
        };
        assert!(render(&reports[0].1, full).contains("frame[5] message_delta.usage.output_tokens"));
    }

    #[test]
    fn colour_only_when_asked() {
        let report = testing::report(&["invoke-write-hi.json"]);
        let plain = Style::default();
        let color = Style {
            color: true,
            ..Style::default()
        };
        assert!(!render(&report, plain).contains('\u{1b}'));
        assert!(render(&report, color).contains('\u{1b}'));
    }
}
