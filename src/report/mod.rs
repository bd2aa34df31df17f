//! Renderers: each format is one file that takes a finished report and returns text, behind
//! the one seam [`Render`] (as hyperfine's exporters are). They decide nothing: verdicts,
//! row statuses, findings and exit codes are already in the report the core built.

pub mod json;
pub mod junit;
pub mod markdown;
pub mod table;

use crate::core::gate::GateReport;
use crate::core::summary::Report;

/// Rendering options decided by the caller (terminal, `NO_COLOR`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Use colour.
    pub color: bool,
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

#[cfg(test)]
pub(crate) mod testing {
    //! Reports built from the committed fixtures, for the renderers' snapshot tests.

    use crate::core::gate::{GateCase, GateReport};
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
        let pair = Pair {
            non_streaming: &ns,
            streaming: &st,
            origin: Some(&path),
        };
        pipeline::audit_pair(fx.meta(), pair, fx.upstream(), &Policy::default())
    }

    /// A report of fixtures.
    pub fn report(names: &[&str]) -> Report {
        Report::new(names.iter().map(|n| case(n)).collect())
    }

    /// A finished gate run: a passing case, an expected failure, an unexpected mismatch.
    pub fn gate() -> GateReport {
        let mut g = GateReport::start("tokaudit.toml", "offline", 3);
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
        g.finish();
        g
    }
}
