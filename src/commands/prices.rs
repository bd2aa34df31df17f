//! `tokaudit prices [MODEL]`: the prices a model is costed at, and where they come from, so a
//! user can check a cost line before trusting it.

use crate::cli::PricesArgs;
use crate::core::prices::{Prices, Rates};
use crate::exit;
use std::fmt::Write as _;

/// Tokens a displayed price is quoted for.
const PER: f64 = 1_000_000.0;

/// Run `prices`.
pub fn run(args: PricesArgs) -> anyhow::Result<i32> {
    let table = super::load_prices(args.prices.as_deref())?;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&*table)?;
        s.push('\n');
        s
    } else if let Some(model) = &args.model {
        let Some((key, rates)) = table.lookup(model) else {
            eprintln!(
                "tokaudit: error: no price for {model:?} in {}; list the table with `tokaudit prices`, price the case as a known model with --price-model, or pass --prices FILE",
                table.source
            );
            return Ok(exit::RUNTIME);
        };
        one_model(&table, model, key, rates)
    } else {
        all_models(&table)
    };
    super::print(&text)?;
    Ok(exit::SUCCESS)
}

fn per_million(usd_per_token: f64) -> String {
    format!("${:.4}", usd_per_token * PER)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

fn source_lines(table: &Prices) -> String {
    format!(
        "source:  {}\n         {} ({}), retrieved {}\n",
        table.source, table.source_url, table.licence, table.retrieved
    )
}

fn one_model(table: &Prices, asked: &str, key: &str, r: &Rates) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model:   {asked}");
    if key != asked {
        let _ = writeln!(out, "priced as: {key}");
    }
    let _ = writeln!(out, "USD per million tokens:");
    let row = |name: &str, p: Option<f64>, fallback: &str| match p {
        Some(p) => format!("  {name:<16}{}\n", per_million(p)),
        None => format!("  {name:<16}{fallback}\n"),
    };
    out += &row("input", Some(r.input), "");
    out += &row("output", Some(r.output), "");
    out += &row("cache read", r.cache_read, "(none: priced as input)");
    out += &row(
        "cache write 5m",
        r.cache_write_5m,
        "(none: priced as input)",
    );
    out += &row(
        "cache write 1h",
        r.cache_write_1h,
        "(none: priced as a 5m write)",
    );
    out += &row("reasoning", r.reasoning, "(priced as output)");
    if let Some(t) = &r.above_200k {
        let _ = writeln!(
            out,
            "  above 200k input tokens: input {}, output {}",
            t.input.map_or("-".into(), per_million),
            t.output.map_or("-".into(), per_million)
        );
    }
    if let Some(n) = &r.note {
        let _ = writeln!(out, "note:    {n}");
    }
    out + &source_lines(table)
}

fn all_models(table: &Prices) -> String {
    let mut out = format!(
        "{} models, USD per million tokens (input / output / cache read / cache write 5m / 1h):\n",
        table.models.len()
    );
    let opt = |p: Option<f64>| p.map_or("-".into(), per_million);
    for (model, r) in &table.models {
        let _ = writeln!(
            out,
            "  {model:<48} {} / {} / {} / {} / {}",
            per_million(r.input),
            per_million(r.output),
            opt(r.cache_read),
            opt(r.cache_write_5m),
            opt(r.cache_write_1h)
        );
    }
    out + &source_lines(table)
}
