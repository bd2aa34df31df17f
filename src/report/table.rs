//! The default human output: one comfy-table diff table per case, then its findings; for a
//! gate run, each suite case's outcome before its tables and the summary line at the end.

use super::{Detail, Render, Style};
use crate::core::audit::{Severity, Verdict};
use crate::core::case::{CaseReport, Cell, Row, RowStatus};
use crate::core::gate::{GateCase, GateReport};
use crate::core::summary::{Closing, Report};
use comfy_table::{
    Cell as TCell, Color, ColumnConstraint, ContentArrangement, Table as Grid, Width, presets,
};

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
        let width = self.style.width.map(usize::from);
        if let Some(e) = &case.expect {
            let line = format!("   expected to end {}: {}", e.verdict, e.reason);
            out.push_str(&wrap(&line, width, 5));
        }
        if let Some(e) = &case.error {
            out.push_str(&wrap(&format!("   error: {e}"), width, 5));
        }
        out.push_str(&render_cases(&case.reports, self.style));
        if let Some(rc) = &case.reconcile {
            out.push_str(&wrap(
                &format!("   reconciled: {}", rc.summary_line()),
                width,
                5,
            ));
            for c in &rc.classes {
                out.push_str(&wrap(&format!("   {}: {}", c.name(), c.detail()), width, 5));
            }
        }
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

/// A row's verdict, its invariant ids separated by `sep`.
fn status_text(r: &Row, fitted: bool) -> String {
    let ids: Vec<&str> = r.invariants.iter().map(|i| i.id()).collect();
    // Fitted to a terminal: one id per line, each mark glued to its id (a no-break space, as
    // comfy-table breaks only at ' '), so a narrow column wraps between ids, never inside one.
    let (glue, sep) = match fitted {
        true => (NO_BREAK, "\n\u{a0}\u{a0}"),
        false => (" ", ", "),
    };
    let ids = ids.join(sep);
    match r.status {
        RowStatus::Mismatch => format!("✗{glue}{ids}"),
        RowStatus::NotComparable => format!("?{glue}{ids}"),
        RowStatus::Note => format!("note: {ids}"),
        RowStatus::Ok => "ok".into(),
        RowStatus::Differs => "differs".into(),
        RowStatus::Partial => "partial (call failed)".into(),
        RowStatus::Aborted => "aborted".into(),
        RowStatus::Absent => "—".into(),
        RowStatus::Error => "error".into(),
    }
}

/// A space at which comfy-table never wraps.
const NO_BREAK: &str = "\u{a0}";

/// The diff table as a grid, or `None` when the terminal is too narrow to lay it out without
/// cutting a word in two (the caller then stacks it).
fn case_table(case: &CaseReport, style: Style) -> Option<Grid> {
    let mut header = vec!["field", "non-streaming (source)", "streaming (source)"];
    if case.upstream.is_some() {
        header.push("upstream (ledger)");
    }
    if case.records.is_some() {
        header.push("recorded (spans)");
    }
    header.extend(["delta", "verdict"]);
    let rows: Vec<Vec<String>> = case
        .rows
        .iter()
        .map(|r| row_texts(case, r, style))
        .collect();
    let mut t = Grid::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    plain_or_styled(&mut t, style);
    t.set_content_arrangement(ContentArrangement::Disabled);
    let widest = longest_words(&header, &rows);
    t.set_header(header);
    for (r, texts) in case.rows.iter().zip(rows) {
        let status = r.status;
        let mut cells: Vec<TCell> = texts.into_iter().map(TCell::new).collect();
        if style.color
            && let Some(last) = cells.pop()
        {
            cells.push(last.fg(status_color(status)));
        }
        t.add_row(cells);
    }
    if let Some(width) = style.width {
        let needed: usize = widest.iter().map(|w| w + CELL_PADDING + 1).sum::<usize>() + 1;
        if needed > usize::from(width) {
            return None;
        }
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(width);
        // Set once the columns exist.
        t.set_constraints(widest.iter().map(|w| {
            let w = u16::try_from(w + CELL_PADDING).unwrap_or(u16::MAX);
            ColumnConstraint::LowerBoundary(Width::Fixed(w))
        }));
    }
    Some(t)
}

/// Spaces comfy-table puts around a cell's text.
const CELL_PADDING: usize = 2;

/// A row's cells as text: field, both sides, the upstream with `--ledger`, delta, verdict.
fn row_texts(case: &CaseReport, r: &Row, style: Style) -> Vec<String> {
    let mut cells = vec![
        r.field.name().to_string(),
        value_cell(&r.non_streaming, style),
        value_cell(&r.streaming, style),
    ];
    if case.upstream.is_some() {
        cells.push(upstream_cell(r));
    }
    if case.records.is_some() {
        cells.push(pair_cell(r.recorded_non_streaming, r.recorded_streaming));
    }
    cells.push(r.delta.map_or("—".into(), |d| format!("{d:+}")));
    cells.push(status_text(r, style.width.is_some()));
    cells
}

fn status_color(status: RowStatus) -> Color {
    match status {
        RowStatus::Mismatch | RowStatus::Error => Color::Red,
        RowStatus::NotComparable | RowStatus::Differs | RowStatus::Partial => Color::Yellow,
        RowStatus::Ok => Color::Green,
        RowStatus::Note | RowStatus::Absent | RowStatus::Aborted => Color::Reset,
    }
}

/// Per column, the longest word (in characters) of its header and cells, words being what
/// comfy-table wraps between: the narrowest the column can be without cutting a word.
fn longest_words(header: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let longest = |text: &str| text.split([' ', '\n']).map(|w| w.chars().count()).max();
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let cells = rows.iter().filter_map(|r| r.get(i)).map(|c| longest(c));
            cells.chain([longest(h)]).flatten().max().unwrap_or(0)
        })
        .collect()
}

/// A line, word-wrapped to `width` columns (continuations indented by `indent`), with a
/// trailing newline; unchanged without a width.
pub(super) fn wrap(line: &str, width: Option<usize>, indent: usize) -> String {
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
    pair_cell(r.upstream_non_streaming, r.upstream_streaming)
}

/// Figures for the non-streaming and the streaming request, `—` where there is none.
fn pair_cell(non_streaming: Option<u64>, streaming: Option<u64>) -> String {
    let show = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
    format!("{} / {}", show(non_streaming), show(streaming))
}

/// The diff table one field per block, for narrow terminals.
fn stacked(case: &CaseReport, style: Style) -> String {
    let mut out = String::new();
    for r in &case.rows {
        let delta = r.delta.map_or("—".into(), |d| format!("{d:+}"));
        out.push_str(&format!(
            "  {:<14} {}  (delta {delta})\n",
            r.field.name(),
            status_text(r, false)
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
        if case.records.is_some() {
            let cell = pair_cell(r.recorded_non_streaming, r.recorded_streaming);
            out.push_str(&format!("      recorded       {cell}\n"));
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
        match case_table(case, style) {
            Some(table) => {
                out.push_str(&table.to_string());
                out.push('\n');
            }
            None => out.push_str(&stacked(case, style)),
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
            (
                "records",
                testing::report(&["litellm-1.108.7-records-invoke-abort.json"]),
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
                assert_no_word_cut(&text, &render(report, Style::default()));
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

    /// Every word in the cells of a fitted table is a whole word of the unfitted one: the
    /// grid wraps between words (and between invariant ids), never inside one.
    fn assert_no_word_cut(fitted: &str, unfitted: &str) {
        let words = |text: &str, table_only: bool| -> std::collections::HashSet<String> {
            text.lines()
                .filter(|l| !table_only || l.starts_with('│'))
                .flat_map(|l| l.split(|c: char| c.is_whitespace() || "│┆,".contains(c)))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let whole = words(unfitted, false);
        for w in words(fitted, true) {
            assert!(whole.contains(&w), "{w:?} is a cut word:\n{fitted}");
        }
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
