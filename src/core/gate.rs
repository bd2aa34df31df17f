//! The report of a `tokaudit gate` run: one entry per suite case, each holding the audited
//! pairs of that case and its outcome after the suite's expectation, and a summary. Rendered
//! as JSON (`schema_version` 1, `"kind": "gate"`), JUnit, Markdown and the table.

use crate::core::audit::Verdict;
use crate::core::case::CaseReport;
use crate::core::policy::Expectation;
use crate::core::summary::{SCHEMA_VERSION, Tool};
use crate::exit;
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
    /// The outcome of a verdict, given an optional expectation and the violations seen.
    pub fn of(verdict: Verdict, expect: Option<&Expectation>, violations: &[String]) -> Outcome {
        // Expecting a pass is no expectation: the verdict speaks for itself.
        match (expect.filter(|e| e.verdict != Verdict::Pass), verdict) {
            (Some(_), Verdict::Pass) => Outcome::UnexpectedPass,
            (Some(e), v) if e.verdict == v && e.matches(violations) => Outcome::ExpectedFailure,
            (_, Verdict::Pass) => Outcome::Pass,
            (_, Verdict::Mismatch) => Outcome::Mismatch,
            (_, Verdict::Inconclusive) => Outcome::Inconclusive,
            (_, Verdict::Error) => Outcome::Error,
        }
    }

    /// What the outcome means for the run, on the verdict scale: an expected failure counts
    /// as a pass, an unexpected pass as a mismatch.
    pub fn verdict(self) -> Verdict {
        match self {
            Outcome::Pass | Outcome::ExpectedFailure => Verdict::Pass,
            Outcome::Mismatch | Outcome::UnexpectedPass => Verdict::Mismatch,
            Outcome::Inconclusive => Verdict::Inconclusive,
            Outcome::Error => Verdict::Error,
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

impl From<&Expectation> for ExpectReport {
    fn from(e: &Expectation) -> Self {
        ExpectReport {
            verdict: e.verdict,
            reason: e.reason.clone(),
            findings: e.findings.iter().map(|i| i.id().to_string()).collect(),
        }
    }
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
    /// The reconciliation of a `kind = "reconcile"` case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileCase>,
}

/// What a reconcile case found: the counts and the finding classes of its reconciliation
/// (`tokaudit reconcile`'s report, without the per-record lists).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReconcileCase {
    /// The reconciliation's own verdict.
    pub verdict: Verdict,
    /// Records joined, over every logged source.
    pub matched: u64,
    /// Logged, never billed.
    pub unbilled: u64,
    /// Billed, never logged.
    pub unlogged: u64,
    /// Joined records that differ.
    pub differing: u64,
    /// Dollars the logs count above the bill.
    pub usd_over: f64,
    /// Dollars the logs count below the bill (negative).
    pub usd_under: f64,
    /// Records that could not be read.
    pub malformed: u64,
    /// Findings per class and field.
    pub classes: Vec<ReconcileClass>,
}

/// One finding class of a reconcile case.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReconcileClass {
    /// The logged source's table.
    pub logged_table: String,
    /// `output-differs`, `unbilled`, …
    pub class: String,
    /// The field compared.
    pub field: String,
    /// Records.
    pub records: u64,
    /// Tokens, logged minus billed.
    pub tokens: i64,
    /// Dollars, logged minus billed.
    pub usd: f64,
}

impl ReconcileCase {
    /// One line for every renderer: the joins, the one-sided records, the differing ones and
    /// the dollars over and under the bill.
    pub fn summary_line(&self) -> String {
        format!(
            "{} matched, {} unbilled, {} unlogged, {} differing; {} over, {} under the bill; {} malformed",
            self.matched,
            self.unbilled,
            self.unlogged,
            self.differing,
            dollars(self.usd_over),
            dollars(self.usd_under),
            self.malformed
        )
    }
}

impl ReconcileClass {
    /// How JUnit and the Markdown report name it: `gateway_logs/output-differs/output`.
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.logged_table, self.class, self.field)
    }

    /// `6 records, 2340 tokens, $0.011100` (logged minus billed).
    pub fn detail(&self) -> String {
        format!(
            "{} record{}, {} tokens, {} (logged minus billed)",
            self.records,
            if self.records == 1 { "" } else { "s" },
            self.tokens,
            dollars(self.usd)
        )
    }
}

/// `$0.011100`, `-$0.004700`: dollars to a millionth, the sign before the symbol.
fn dollars(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}${:.6}", v.abs())
}

impl GateCase {
    /// Judge a finished case: its verdict is the worst of its pairs (an error of its own
    /// counts as `error`), its outcome follows from the expectation.
    pub fn judged(
        name: &str,
        line: usize,
        expect: Option<&Expectation>,
        error: Option<String>,
        reports: Vec<CaseReport>,
    ) -> Self {
        let verdict = Verdict::worst(
            reports
                .iter()
                .map(|r| r.verdict)
                .chain(error.as_ref().map(|_| Verdict::Error)),
        )
        .unwrap_or(Verdict::Error);
        GateCase::judge(name, line, verdict, expect, error, reports, None)
    }

    /// A case with its outcome after the expectation.
    fn judge(
        name: &str,
        line: usize,
        verdict: Verdict,
        expect: Option<&Expectation>,
        error: Option<String>,
        reports: Vec<CaseReport>,
        reconcile: Option<ReconcileCase>,
    ) -> Self {
        let mut case = GateCase {
            name: name.to_string(),
            line,
            verdict,
            outcome: Outcome::Error,
            expect: expect.map(ExpectReport::from),
            error,
            reports,
            reconcile,
        };
        case.outcome = Outcome::of(verdict, expect, &case.violations());
        case
    }

    /// Judge a reconcile case by its reconciliation's verdict (an error when it could not
    /// run); its violations are the finding classes.
    pub fn reconciled(
        name: &str,
        line: usize,
        expect: Option<&Expectation>,
        result: Result<ReconcileCase, String>,
    ) -> Self {
        let (verdict, error, reconcile) = match result {
            Ok(r) => (r.verdict, None, Some(r)),
            Err(e) => (Verdict::Error, Some(e), None),
        };
        GateCase::judge(name, line, verdict, expect, error, Vec::new(), reconcile)
    }

    /// Judge a case whose every pair carries its own exact expectation (a suite's
    /// `check_expect`: fixtures judged against their `expect` blocks). It passes when each
    /// pair ends as its expectation says (an expected failure when any of them was meant to
    /// fail); otherwise its error lists the pairs that did not.
    pub fn checked(name: &str, line: usize, pairs: Vec<(CaseReport, Option<Expectation>)>) -> Self {
        let mut deviations = Vec::new();
        let mut outcomes = Vec::new();
        for (r, e) in &pairs {
            let seen: Vec<String> = r.violations().iter().map(|i| i.id().to_string()).collect();
            let outcome = Outcome::of(r.verdict, e.as_ref(), &seen);
            if !matches!(outcome, Outcome::Pass | Outcome::ExpectedFailure) {
                let want = e.as_ref().map_or(Verdict::Pass, |e| e.verdict);
                deviations.push(format!(
                    "{}: expected {want}, got {} [{}]",
                    r.meta.name,
                    r.verdict,
                    seen.join(", ")
                ));
            }
            outcomes.push(outcome);
        }
        let reports: Vec<CaseReport> = pairs.into_iter().map(|(r, _)| r).collect();
        let verdict = Verdict::worst(reports.iter().map(|r| r.verdict)).unwrap_or(Verdict::Error);
        let expected_failure = outcomes.contains(&Outcome::ExpectedFailure);
        let outcome = match outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::Pass | Outcome::ExpectedFailure))
            .max_by_key(|o| o.verdict())
        {
            Some(worst) => *worst,
            None if expected_failure => Outcome::ExpectedFailure,
            None if reports.is_empty() => Outcome::Error,
            None => Outcome::Pass,
        };
        GateCase {
            name: name.to_string(),
            line,
            verdict,
            outcome,
            expect: expected_failure.then(|| ExpectReport {
                verdict,
                reason: "each fixture's expect block".into(),
                findings: Vec::new(),
            }),
            error: (!deviations.is_empty()).then(|| {
                format!(
                    "{} of {} fixtures did not end as their expect block says: {}",
                    deviations.len(),
                    reports.len(),
                    deviations.join("; ")
                )
            }),
            reports,
            reconcile: None,
        }
    }

    /// Violated invariant ids over all pairs (the finding classes of a reconcile case).
    pub fn violations(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .reports
            .iter()
            .flat_map(|r| r.violations())
            .map(|i| i.id().to_string())
            .chain(
                self.reconcile
                    .iter()
                    .flat_map(|r| r.classes.iter().map(|c| c.class.clone())),
            )
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
    /// Why no case ran: the suite was refused (exit 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl GateReport {
    /// The report of a run refused before any case (a bad suite): written all the same, so
    /// that a CI's artifact step finds a report that says why.
    pub fn refused(suite: &str, mode: &str, error: String) -> Self {
        let mut r = GateReport::start(suite, mode, 0);
        r.error = Some(error);
        r.complete = true;
        r.recount();
        r
    }

    /// An empty report for a run about to start.
    pub fn start(suite: &str, mode: &str, planned: usize) -> Self {
        let mut r = GateReport {
            schema_version: SCHEMA_VERSION,
            kind: "gate",
            tool: Tool::this(),
            suite: suite.to_string(),
            mode: mode.to_string(),
            complete: false,
            planned,
            exit_code: exit::RUNTIME,
            summary: GateSummary::default(),
            cases: Vec::new(),
            error: None,
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
        // Nothing run, or a run cut short, is never success: it counts as an error.
        let unfinished = (s.cases == 0 || !self.complete).then_some(Verdict::Error);
        let worst = Verdict::worst(
            self.cases
                .iter()
                .map(|c| c.outcome.verdict())
                .chain(unfinished),
        );
        self.exit_code = if self.error.is_some() {
            exit::USAGE
        } else {
            exit::for_worst(worst)
        };
        self.summary = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::Invariant;

    #[test]
    fn expectations_turn_failures_green_and_stale_ones_red() {
        let e = Expectation {
            verdict: Verdict::Mismatch,
            reason: "known".into(),
            findings: vec![Invariant::InputParity],
            exact: false,
        };
        let seen = vec!["input-parity".to_string()];
        assert_eq!(
            Outcome::of(Verdict::Mismatch, Some(&e), &seen),
            Outcome::ExpectedFailure
        );
        assert_eq!(
            Outcome::of(Verdict::Mismatch, Some(&e), &[]),
            Outcome::Mismatch,
            "an expected finding that did not show up is not the expected failure"
        );
        assert_eq!(
            Outcome::of(Verdict::Pass, Some(&e), &[]),
            Outcome::UnexpectedPass
        );
        assert_eq!(Outcome::UnexpectedPass.verdict(), Verdict::Mismatch);
    }

    #[test]
    fn an_unfinished_or_empty_run_is_never_success() {
        let mut r = GateReport::start("s.toml", "offline", 1);
        assert_eq!(r.exit_code, exit::RUNTIME);
        r.finish();
        assert_eq!(r.exit_code, exit::RUNTIME, "zero cases");
        let mut r = GateReport::start("s.toml", "offline", 1);
        r.push(GateCase::judged("a", 1, None, None, Vec::new()));
        assert_eq!(r.exit_code, exit::RUNTIME, "a case with no pairs errs");
    }
}
