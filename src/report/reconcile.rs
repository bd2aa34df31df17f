//! Renderers of a reconciliation: the summary on a terminal (sources, matched and one-sided
//! records, dollars over and under, findings per class, worst offenders, per model / day /
//! API key, malformed records with file and line), Markdown for CI summaries, and JSON.

use super::Style;
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
        let _ = writeln!(
            out,
            "\n{} against {}: {} matched ({} by request id, {} by time, model and prompt), {} unbilled, {} unlogged, {} differing; logged {} over and {} under the bill",
            c.logged,
            c.billed,
            c.matched,
            c.matched_by_request_id,
            c.matched_by_fallback,
            c.unbilled,
            c.unlogged,
            c.differing,
            usd(c.usd_over),
            usd(c.usd_under)
        );
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
    out.push_str(&checks_and_malformed(r));
    let _ = writeln!(out, "\n{}", r.verdict.to_string().to_uppercase());
    out
}

fn worst(r: &Reconciliation, style: Style) -> String {
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
        let n = |v: Option<i64>| v.map_or("—".into(), |v| v.to_string());
        let at = match (&f.file, f.line, &f.billed_file, f.billed_line) {
            (Some(file), Some(line), _, _) => format!("{file}:{line}"),
            (_, _, Some(file), Some(line)) => format!("{file}:{line}"),
            _ => "—".into(),
        };
        t.add_row(vec![
            format!("{} {}", f.class, f.field),
            f.request_id.clone().unwrap_or_else(|| "—".into()),
            f.model.clone(),
            n(f.logged),
            n(f.billed),
            usd(f.usd),
            at,
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

fn checks_and_malformed(r: &Reconciliation) -> String {
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
            let _ = writeln!(out, "  {}:{}: {}", m.file, m.line, m.reason);
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
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.logged,
            c.matched,
            c.matched_by_request_id,
            c.matched_by_fallback,
            c.unbilled,
            c.unlogged,
            c.differing,
            usd(c.usd_over),
            usd(c.usd_under)
        );
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
