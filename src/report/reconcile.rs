//! Renderers of a reconciliation: the summary on a terminal (sources, matched and one-sided
//! records, dollars over and under, findings per class, worst offenders, per model / day /
//! API key, malformed records with file and line), Markdown for CI summaries, and JSON.

use super::Style;
use super::table::wrap;
use crate::core::prices::usd;
use crate::reconcile::Reconciliation;
use crate::reconcile::engine::Group;
use comfy_table::{ContentArrangement, Table as Grid, presets};
use std::fmt::Write;

/// Malformed records listed on a terminal; the JSON and `--out` carry more.
pub const MALFORMED_SHOWN: usize = 20;

/// The JSON report.
pub fn json(r: &Reconciliation) -> String {
    let mut text = serde_json::to_string_pretty(r).expect("a reconciliation always serializes");
    text.push('\n');
    text
}

fn grid(header: &[&str], style: Style) -> Grid {
    let mut t = Grid::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if let Some(w) = style.width {
        t.set_width(w);
    }
    t.force_no_tty();
    t
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// One comparison's numbers, in the order both renderers show them: logged table, matched,
/// by request id, by fallback, unbilled, unlogged, differing, USD over, USD under.
fn comparison_cells(c: &crate::reconcile::engine::Comparison) -> [String; 9] {
    [
        c.logged.clone(),
        c.matched.to_string(),
        c.matched_by_request_id.to_string(),
        c.matched_by_fallback.to_string(),
        c.unbilled.to_string(),
        c.unlogged.to_string(),
        c.differing.to_string(),
        usd(c.usd_over),
        usd(c.usd_under),
    ]
}

/// The summary for a terminal.
pub fn table(r: &Reconciliation, style: Style) -> String {
    let mut out =
        format!("tokaudit reconcile · {} · join {:?}\n\n", r.engine, r.join).to_lowercase();
    let mut t = grid(&["source", "files", "bytes", "records", "malformed"], style);
    for s in &r.sources {
        t.add_row(vec![
            s.table.to_string(),
            s.staged.files.to_string(),
            bytes(s.staged.bytes),
            s.staged.rows.to_string(),
            s.staged.malformed.to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    for c in &r.comparisons {
        let [
            logged,
            matched,
            by_id,
            by_fallback,
            unbilled,
            unlogged,
            differing,
            over,
            under,
        ] = comparison_cells(c);
        let line = format!(
            "{logged} against {}: {matched} matched ({by_id} by request id, {by_fallback} by time, model and prompt), {unbilled} unbilled, {unlogged} unlogged, {differing} differing; logged {over} over and {under} under the bill",
            c.billed
        );
        out.push('\n');
        out.push_str(&wrap(&line, style.width.map(usize::from), 2));
    }
    if !r.classes.is_empty() {
        let mut t = grid(
            &["logged", "finding", "field", "records", "tokens", "USD"],
            style,
        );
        for c in &r.classes {
            t.add_row(vec![
                c.logged_table.clone(),
                c.class.clone(),
                c.field.clone(),
                c.records.to_string(),
                c.tokens.to_string(),
                usd(c.usd),
            ]);
        }
        let _ = writeln!(out, "\nfindings\n{t}");
        out.push_str(&worst(r, style));
        for (name, groups) in [
            ("model", &r.by_model),
            ("day", &r.by_day),
            ("API key", &r.by_api_key),
        ] {
            out.push_str(&groups_table(name, groups, style));
        }
    }
    out.push_str(&checks_and_malformed(r, style));
    let _ = writeln!(out, "\n{}", r.verdict.to_string().to_uppercase());
    out
}

/// Columns below which the worst offenders are a list: their ids, models and paths cannot
/// share a row without being cut.
const WORST_TABLE_MIN_WIDTH: u16 = 160;

fn worst(r: &Reconciliation, style: Style) -> String {
    let n = |v: Option<i64>| v.map_or("—".into(), |v| v.to_string());
    let at = |f: &crate::reconcile::engine::Finding| match (
        &f.file,
        f.line,
        &f.billed_file,
        f.billed_line,
    ) {
        (Some(file), Some(line), _, _) | (_, _, Some(file), Some(line)) => format!("{file}:{line}"),
        _ => "—".into(),
    };
    if style.width.is_some_and(|w| w < WORST_TABLE_MIN_WIDTH) {
        let mut out = String::from("\nworst offenders\n");
        for (i, f) in r.worst.iter().enumerate() {
            let request = f.request_id.as_deref().unwrap_or("—");
            let _ = writeln!(
                out,
                "{:>3}. {} {}: {}, logged {}, billed {}\n     request {request}\n     {}\n     {}",
                i + 1,
                f.class,
                f.field,
                usd(f.usd),
                n(f.logged),
                n(f.billed),
                f.model,
                at(f)
            );
        }
        return out;
    }
    let mut t = grid(
        &[
            "finding",
            "request id",
            "model",
            "logged",
            "billed",
            "USD",
            "record",
        ],
        style,
    );
    for f in &r.worst {
        t.add_row(vec![
            format!("{} {}", f.class, f.field),
            f.request_id.clone().unwrap_or_else(|| "—".into()),
            f.model.clone(),
            n(f.logged),
            n(f.billed),
            usd(f.usd),
            at(f),
        ]);
    }
    format!("\nworst offenders\n{t}\n")
}

fn groups_table(name: &str, groups: &[Group], style: Style) -> String {
    if groups.is_empty() {
        return String::new();
    }
    let mut t = grid(&[name, "findings", "USD over", "USD under"], style);
    for g in groups {
        let key = if g.key.is_empty() { "—" } else { &g.key };
        t.add_row(vec![
            key.to_string(),
            g.findings.to_string(),
            usd(g.usd_over),
            usd(g.usd_under),
        ]);
    }
    format!("\nby {name}\n{t}\n")
}

fn checks_and_malformed(r: &Reconciliation, style: Style) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let _ = writeln!(
            out,
            "\ncheck {}: {} row{}",
            c.file,
            c.rows,
            if c.rows == 1 { "" } else { "s" }
        );
        for row in &c.sample {
            let _ = writeln!(out, "  {}", serde_json::Value::Object(row.clone()));
        }
    }
    if r.malformed_total > 0 {
        let _ = writeln!(
            out,
            "\n{} malformed record{} (not audited):",
            r.malformed_total,
            if r.malformed_total == 1 { "" } else { "s" }
        );
        for m in r.malformed.iter().take(MALFORMED_SHOWN) {
            let line = format!("  {}:{}: {}", m.file, m.line, m.reason);
            out.push_str(&wrap(&line, style.width.map(usize::from), 4));
        }
        let more = r.malformed_total.saturating_sub(MALFORMED_SHOWN as u64);
        if more > 0 {
            let _ = writeln!(
                out,
                "  … and {more} more (--format json lists {}, --out DIR writes them to malformed.csv)",
                r.malformed.len()
            );
        }
    }
    if let Some(m) = &r.memory {
        let _ = writeln!(
            out,
            "\nmemory pool: peak {} of {} (--memory-limit)",
            bytes(m.peak_bytes),
            bytes(m.limit_bytes)
        );
    }
    for w in &r.written {
        let _ = writeln!(out, "wrote {w}");
    }
    out
}

/// Markdown for CI summaries.
pub fn markdown(r: &Reconciliation) -> String {
    let mut out = format!(
        "## tokaudit reconcile: {}\n\n",
        r.verdict.to_string().to_uppercase()
    );
    out.push_str("| source | files | records | malformed |\n|---|---:|---:|---:|\n");
    for s in &r.sources {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            s.table, s.staged.files, s.staged.rows, s.staged.malformed
        );
    }
    out.push_str("\n| logged | matched | by request id | by fallback | unbilled | unlogged | differing | USD over | USD under |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &r.comparisons {
        let mut cells = comparison_cells(c);
        cells[0] = format!("`{}`", cells[0]);
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if !r.classes.is_empty() {
        out.push_str("\n| logged | finding | field | records | tokens | USD |\n|---|---|---|---:|---:|---:|\n");
        for c in &r.classes {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} | {} | {} |",
                c.logged_table,
                c.class,
                c.field,
                c.records,
                c.tokens,
                usd(c.usd)
            );
        }
    }
    if r.malformed_total > 0 {
        let _ = writeln!(
            out,
            "\n{} malformed records; the first:\n",
            r.malformed_total
        );
        for m in r.malformed.iter().take(MALFORMED_SHOWN) {
            let _ = writeln!(out, "- `{}:{}`: {}", m.file, m.line, m.reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::Verdict;
    use crate::reconcile::checks::JoinMode;
    use crate::reconcile::engine::{ClassTotal, Comparison, Finding, PoolUse, SourceSummary};
    use crate::reconcile::row::{Malformed, SourceKind};
    use crate::reconcile::stage::Staged;

    /// A reconciliation as LiteLLM 1.63.14's records give it (numbers from
    /// `tests/data/reconcile/litellm-1.63.14`), with one malformed record added.
    fn sample() -> Reconciliation {
        let source = |kind: SourceKind, files, rows| SourceSummary {
            kind,
            table: kind.table(),
            locations: vec![format!("s3://logs/{}/", kind.table())],
            staged: Staged {
                files,
                bytes: files * 5_000,
                rows,
                malformed: 0,
            },
        };
        let class = |class: &str, field: &str, records, tokens, usd| ClassTotal {
            logged_table: "gateway_logs".into(),
            class: class.into(),
            field: field.into(),
            records,
            tokens,
            usd,
        };
        Reconciliation {
            schema_version: 1,
            engine: "datafusion".into(),
            join: JoinMode::Auto,
            sources: vec![
                source(SourceKind::InvocationLogs, 2, 22),
                source(SourceKind::GatewayLogs, 22, 22),
            ],
            comparisons: vec![Comparison {
                logged: "gateway_logs".into(),
                billed: "invocation_logs".into(),
                matched: 22,
                matched_by_fallback: 22,
                differing: 7,
                usd_over: 0.0110563,
                usd_under: -0.004731,
                ..Comparison::default()
            }],
            classes: vec![
                class("cache-read-differs", "cache_read", 6, 10_776, 0.0027838),
                class("output-differs", "output", 6, 2_328, 0.0082725),
            ],
            by_model: Vec::new(),
            by_day: Vec::new(),
            by_api_key: Vec::new(),
            worst: vec![Finding {
                class: "output-differs".into(),
                field: "output".into(),
                request_id: Some("70ca0d17-7a3c-4e1d-9b2f-000000000016".into()),
                model: "anthropic.claude-3-7-sonnet-20250219-v1:0".into(),
                file: Some("s3://logs/litellm/time-01-05-01_chatcmpl-c9bb.json".into()),
                line: Some(1),
                billed_file: None,
                billed_line: None,
                logged: Some(392),
                billed: Some(2),
                usd: 0.00585,
            }],
            checks: Vec::new(),
            malformed: vec![Malformed {
                source: SourceKind::GatewayLogs,
                file: "s3://logs/litellm/broken.json".into(),
                line: 3,
                reason: "prompt_tokens is a string, expected a non-negative integer".into(),
            }],
            malformed_total: 1,
            written: Vec::new(),
            memory: Some(PoolUse {
                limit_bytes: 2 << 30,
                peak_bytes: 150 << 20,
            }),
            verdict: Verdict::Mismatch,
        }
    }

    #[test]
    fn summary_at_80_columns() {
        let style = Style {
            width: Some(80),
            ..Style::default()
        };
        insta::assert_snapshot!(table(&sample(), style));
    }

    #[test]
    fn summary_at_120_columns() {
        let style = Style {
            width: Some(120),
            ..Style::default()
        };
        insta::assert_snapshot!(table(&sample(), style));
    }

    #[test]
    fn summary_in_markdown() {
        insta::assert_snapshot!(markdown(&sample()));
    }

    #[test]
    fn summary_in_json() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        insta::assert_json_snapshot!(v);
    }
}
