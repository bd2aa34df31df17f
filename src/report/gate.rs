//! The report of a `tokaudit gate` run: one entry per suite case, each holding the audited
//! pairs of that case, its outcome after tolerances, baseline drift and expectations, and a
//! summary. Rendered as JSON (`schema_version` 1, `"kind": "gate"`), JUnit and Markdown.

use super::{CaseReport, Tool};
use crate::core::audit::{Severity, Verdict};
use serde::Serialize;

/// The outcome of one suite case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// A violation.
    Mismatch,
    /// Something could not be compared.
    Inconclusive,
    /// A runtime error or malformed input.
    Error,
    /// Failed as the suite says it is known to (counts as success).
    ExpectedFailure,
    /// Expected to fail but passed: the expectation is stale (counts as failure).
    UnexpectedPass,
}

impl Outcome {
    /// The outcome of a verdict, given an optional expectation.
    pub fn of(verdict: Verdict, expect: Option<&ExpectReport>, violations: &[String]) -> Outcome {
        match (expect, verdict) {
            (Some(_), Verdict::Pass) => Outcome::UnexpectedPass,
            (Some(e), v) if e.verdict == v && e.findings.iter().all(|f| violations.contains(f)) => {
                Outcome::ExpectedFailure
            }
            (_, Verdict::Pass) => Outcome::Pass,
            (_, Verdict::Mismatch) => Outcome::Mismatch,
            (_, Verdict::Inconclusive) => Outcome::Inconclusive,
            (_, Verdict::Error) => Outcome::Error,
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Mismatch => "mismatch",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
            Outcome::ExpectedFailure => "expected-failure",
            Outcome::UnexpectedPass => "unexpected-pass",
        }
    }
}

/// A case's expectation, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExpectReport {
    /// Expected verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// Expected violation ids.
    pub findings: Vec<String>,
}

/// One suite case.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateCase {
    /// Case name.
    pub name: String,
    /// Line of the case in the suite.
    pub line: usize,
    /// The worst verdict of its pairs, after tolerances and drift.
    pub verdict: Verdict,
    /// The outcome after the expectation.
    pub outcome: Outcome,
    /// The expectation, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectReport>,
    /// A case-level error (set-up failed, no recordings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The audited pairs.
    pub reports: Vec<CaseReport>,
}

impl GateCase {
    /// Violated invariant ids over all pairs.
    pub fn violations(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .reports
            .iter()
            .flat_map(|r| r.findings.iter())
            .filter(|f| f.severity == Severity::Violation)
            .map(|f| f.invariant.id().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GateSummary {
    /// Cases run so far.
    pub cases: usize,
    /// Passed.
    pub pass: usize,
    /// Mismatched.
    pub mismatch: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Errored.
    pub error: usize,
    /// Failed as expected.
    pub expected_failures: usize,
    /// Passed although expected to fail.
    pub unexpected_passes: usize,
}

/// The whole gate report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateReport {
    /// Format version.
    pub schema_version: u32,
    /// Always `gate`.
    pub kind: &'static str,
    /// The tool.
    pub tool: Tool,
    /// The suite file.
    pub suite: String,
    /// `live`, `offline` or `replay`.
    pub mode: String,
    /// False while the run is going (or when it was cut short).
    pub complete: bool,
    /// Cases in the suite.
    pub planned: usize,
    /// The exit code this report maps to.
    pub exit_code: i32,
    /// Counts.
    pub summary: GateSummary,
    /// The cases run so far.
    pub cases: Vec<GateCase>,
}

impl GateReport {
    /// An empty report for a run about to start.
    pub fn start(suite: &str, mode: &str, planned: usize) -> Self {
        let mut r = GateReport {
            schema_version: super::SCHEMA_VERSION,
            kind: "gate",
            tool: Tool {
                name: "tokaudit",
                version: env!("CARGO_PKG_VERSION"),
            },
            suite: suite.to_string(),
            mode: mode.to_string(),
            complete: false,
            planned,
            exit_code: crate::exit::RUNTIME,
            summary: GateSummary::default(),
            cases: Vec::new(),
        };
        r.recount();
        r
    }

    /// Add a finished case and recount.
    pub fn push(&mut self, case: GateCase) {
        self.cases.push(case);
        self.recount();
    }

    /// Mark the run finished.
    pub fn finish(&mut self) {
        self.complete = true;
        self.recount();
    }

    fn recount(&mut self) {
        let mut s = GateSummary {
            cases: self.cases.len(),
            ..GateSummary::default()
        };
        for c in &self.cases {
            match c.outcome {
                Outcome::Pass => s.pass += 1,
                Outcome::Mismatch => s.mismatch += 1,
                Outcome::Inconclusive => s.inconclusive += 1,
                Outcome::Error => s.error += 1,
                Outcome::ExpectedFailure => s.expected_failures += 1,
                Outcome::UnexpectedPass => s.unexpected_passes += 1,
            }
        }
        // 1 (mismatch, stale expectation) > 3 (error) > 4 (inconclusive) > 0; nothing run is 3;
        // a run cut short is never success.
        self.exit_code = if s.mismatch + s.unexpected_passes > 0 {
            crate::exit::MISMATCH
        } else if s.error > 0 || s.cases == 0 || !self.complete {
            crate::exit::RUNTIME
        } else if s.inconclusive > 0 {
            crate::exit::INCONCLUSIVE
        } else {
            crate::exit::SUCCESS
        };
        self.summary = s;
    }

    /// The summary line printed at the end of a run.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        format!(
            "{} case{}: {} pass, {} mismatch, {} inconclusive, {} error, {} expected failure{}{} (exit {})",
            s.cases,
            if s.cases == 1 { "" } else { "s" },
            s.pass,
            s.mismatch,
            s.inconclusive,
            s.error,
            s.expected_failures,
            if s.expected_failures == 1 { "" } else { "s" },
            if s.unexpected_passes > 0 {
                format!(", {} unexpected pass", s.unexpected_passes)
            } else {
                String::new()
            },
            self.exit_code
        )
    }

    /// The JSON rendering.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("reports serialize");
        s.push('\n');
        s
    }
}
