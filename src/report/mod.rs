//! Renderers: each format is one file that takes a finished report and returns text, behind
//! the one seam [`Render`] (as hyperfine's exporters are). They decide nothing: verdicts,
//! row statuses, findings and exit codes are already in the report the core built.

pub mod json;
pub mod junit;
pub mod markdown;
#[cfg(feature = "reconcile")]
pub mod reconcile;
pub mod stream;
pub mod table;

use crate::core::audit::{Finding, FindingCost};
use crate::core::case::CaseReport;
use crate::core::gate::GateReport;
use crate::core::prices::usd;
use crate::core::summary::Report;

/// Rendering options decided by the caller (terminal, `NO_COLOR`, `--color`, `COLUMNS`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Use colour.
    pub color: bool,
    /// The columns the table must fit in (`None`: no limit, e.g. a pipe).
    pub width: Option<u16>,
    /// Full provenance paths in the table (`--sources`) instead of short ones.
    pub full_sources: bool,
    /// How many of the cases the table prints.
    pub detail: Detail,
}

/// How many of a run's cases the table prints (the other formats always carry every case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every case that did not pass, and the first
    /// [`PASSING_SHOWN`](table::PASSING_SHOWN) passing ones.
    #[default]
    Cases,
    /// Only the cases that did not pass: repeated runs, where the spread says the rest.
    Failing,
    /// The spread and the summary line only (`-q`).
    Summary,
}

/// A provenance path as the table shows it by default: where the number came from, not the
/// whole path (`body`, `hdr`, `f5 message_delta`, `f6 metrics`, `e3 chunk`, `derived`,
/// `ledger`). JSON always carries the whole path; `--sources` shows it in the table too.
pub fn short_source(source: &str) -> String {
    if source.starts_with("derived") {
        return "derived".into();
    }
    for (prefix, short) in [("body", "body"), ("header", "hdr"), ("ledger", "ledger")] {
        if source.starts_with(prefix) {
            return short.into();
        }
    }
    let Some((at, path)) = source.split_once(' ') else {
        return source.to_string();
    };
    let place = at
        .replace("frame[", "f")
        .replace("event[", "e")
        .replace(']', "");
    if path.contains("invocationMetrics") {
        return format!("{place} metrics");
    }
    let event = path
        .split_once(".usage")
        .map_or(path, |(head, _)| head)
        .trim_end_matches(".response")
        .trim_end_matches(".message");
    format!("{place} {event}")
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The diff table (the default on a terminal).
    #[default]
    Table,
    /// The JSON report (`schema_version` 1).
    Json,
    /// Markdown, for CI summaries and pull-request comments.
    Markdown,
    /// JUnit XML, for CI test reports.
    Junit,
}

impl Format {
    /// Every format, in the order the help lists them.
    pub const ALL: [Format; 4] = [Format::Table, Format::Json, Format::Markdown, Format::Junit];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
        }
    }

    /// One line for the help.
    pub fn help(self) -> &'static str {
        match self {
            Format::Table => "the diff table, with findings and hints",
            Format::Json => "the whole report as JSON (schema_version 1)",
            Format::Markdown => "Markdown tables, for CI summaries",
            Format::Junit => "JUnit XML, one test case per invariant check",
        }
    }
}

/// A report format: a finished report in, text out.
pub trait Render {
    /// Render the report of a `compare` or `replay`.
    fn report(&self, report: &Report) -> String;
    /// Render the report of a `gate` run.
    fn gate(&self, report: &GateReport) -> String;
}

/// The renderer for a format.
pub fn renderer(format: Format, style: Style) -> Box<dyn Render> {
    match format {
        Format::Table => Box::new(table::Table { style }),
        Format::Json => Box::new(json::Json),
        Format::Markdown => Box::new(markdown::Markdown),
        Format::Junit => Box::new(junit::Junit),
    }
}

/// What a violation costs, in words: "streaming bills ≈ $2.18 more per million calls at
/// <model> prices", or for a one-sided finding "≈ $2.18 per million calls at …".
pub fn finding_price(f: &Finding) -> Option<String> {
    let c = f.cost.as_ref()?;
    let amount = usd(c.usd_per_call * FindingCost::CALLS);
    let what = match c.over_billed {
        Some(side) => format!("{side} bills ≈ {amount} more"),
        None => format!("≈ {amount}"),
    };
    Some(format!("{what} per million calls at {} prices", c.model))
}

/// A finding's message with its price appended, when it has one.
pub fn priced_message(f: &Finding) -> String {
    match finding_price(f) {
        Some(p) => format!("{} ({p})", f.message),
        None => f.message.clone(),
    }
}

/// The case's cost line: what each call cost at the model's prices (the warm-up as a setup
/// call), what the target itself reported, and where the prices come from.
pub fn cost_line(case: &CaseReport) -> Option<String> {
    let c = case.costs.as_ref()?;
    let show =
        |x: &Option<crate::core::prices::Cost>| x.as_ref().map_or("—".into(), |c| usd(c.usd));
    let mut line = format!(
        "cost: non-streaming {} · streaming {}",
        show(&c.non_streaming),
        show(&c.streaming)
    );
    if c.warmup.is_some() {
        line.push_str(&format!(" · warm-up (setup) {}", show(&c.warmup)));
    }
    let reported = |s: Option<&crate::core::normalize::Normalized>| {
        s.and_then(|s| s.usage.reported_cost.as_ref())
            .map(|r| usd(r.usd))
    };
    let (rn, rs) = (
        reported(case.non_streaming.as_ref()),
        reported(case.streaming.as_ref()),
    );
    if rn.is_some() || rs.is_some() {
        let r = |x: Option<String>| x.unwrap_or_else(|| "—".into());
        line.push_str(&format!("; reported {} · {}", r(rn), r(rs)));
    }
    line.push_str(&format!(" (priced as {}, {})", c.model, c.prices));
    Some(line)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Reports built from the committed fixtures, for the renderers' snapshot tests.

    use crate::core::gate::{GateCase, GateReport, ReconcileCase, ReconcileClass};
    use crate::core::pipeline::{self, Pair};
    use crate::core::policy::{Expectation, Policy};
    use crate::core::summary::Report;
    use crate::fixture::Fixture;

    /// One fixture through the pipeline, as `replay` does it.
    pub fn case(name: &str) -> crate::core::case::CaseReport {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        let fx = Fixture::load(&path).unwrap();
        let (ns, st) = fx.captures().unwrap();
        let warmup = fx.warmup_capture().unwrap();
        let pair = Pair {
            non_streaming: &ns,
            streaming: &st,
            warmup: warmup.as_ref(),
            origin: Some(&path),
            records: fx.records.as_ref(),
        };
        pipeline::audit_pair(fx.meta(), pair, fx.upstream(), &Policy::default())
    }

    /// What a reconcile case of LiteLLM 1.63.14's records finds (`tests/data/reconcile/`).
    pub fn reconciled() -> ReconcileCase {
        let class = |class: &str, field: &str, records, tokens, usd| ReconcileClass {
            logged_table: "gateway_logs".into(),
            class: class.into(),
            field: field.into(),
            records,
            tokens,
            usd,
        };
        ReconcileCase {
            verdict: crate::core::audit::Verdict::Mismatch,
            matched: 22,
            unbilled: 0,
            unlogged: 0,
            differing: 7,
            usd_over: 0.0111,
            usd_under: -0.0047,
            malformed: 0,
            classes: vec![
                class("cache-read-differs", "cache_read", 6, 10_776, 0.0026943),
                class("output-differs", "output", 6, 2_340, 0.002925),
                class("input-differs", "input", 1, -1_554, -0.004662),
            ],
        }
    }

    /// A report of fixtures.
    pub fn report(names: &[&str]) -> Report {
        Report::new(names.iter().map(|n| case(n)).collect())
    }

    /// A finished gate run: a passing case, an expected failure, an unexpected mismatch, and a
    /// reconcile case whose records disagree.
    pub fn gate() -> GateReport {
        let mut g = GateReport::start("tokaudit.toml", "offline", 4);
        g.push(GateCase::judged(
            "good",
            3,
            None,
            None,
            vec![case("invoke-write-hi.json")],
        ));
        let known = Expectation {
            verdict: crate::core::audit::Verdict::Mismatch,
            reason: "LiteLLM #9577".into(),
            findings: vec![crate::core::audit::Invariant::InputParity],
            exact: false,
        };
        g.push(GateCase::judged(
            "litellm",
            7,
            Some(&known),
            None,
            vec![case("litellm-1.63.14-proxy-write-hi.json")],
        ));
        g.push(GateCase::judged(
            "headers",
            12,
            None,
            None,
            vec![case("invoke-headers-disagree.json")],
        ));
        g.push(GateCase::reconciled(
            "billing-records",
            16,
            None,
            Ok(reconciled()),
        ));
        g.finish();
        g
    }
}
