//! JUnit XML for CI systems (via quick-junit): one test suite per suite case (per audited
//! pair for a `compare` report), one test case per invariant check of each audited pair
//! (`run-001-invoke: input-parity`). Violations are failures carrying the diff rows and the
//! finding; runtime errors are errors; checks that did not apply or could not compare are
//! skipped with the reason; an expected failure's violations are skipped with the suite's
//! reason.

use super::Render;
use crate::core::audit::{Check, Invariant, Severity, Status};
use crate::core::case::{CaseReport, Row};
use crate::core::gate::{GateReport, Outcome};
use crate::core::summary::Report;
use quick_junit::{NonSuccessKind, Report as Xml, TestCase, TestCaseStatus, TestSuite};

/// The JUnit renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Junit;

impl Render for Junit {
    fn report(&self, report: &Report) -> String {
        let mut xml = Xml::new("tokaudit");
        for case in &report.cases {
            let mut suite = TestSuite::new(case.meta.name.as_str());
            pair_cases(&mut suite, case, case.meta.name.as_str(), None);
            xml.add_test_suite(suite);
        }
        to_text(&xml)
    }

    fn gate(&self, report: &GateReport) -> String {
        render_gate(report)
    }
}

fn to_text(xml: &Xml) -> String {
    xml.to_string()
        .unwrap_or_else(|e| format!("<!-- cannot render JUnit: {e} -->\n"))
}

fn diff(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            let v = |c: &Option<crate::core::case::Cell>| {
                c.as_ref()
                    .map_or("—".to_string(), |c| format!("{} ({})", c.value, c.source))
            };
            format!(
                "{:<12} non-streaming {:<40} streaming {:<40} delta {}",
                r.field.name(),
                v(&r.non_streaming),
                v(&r.streaming),
                r.delta.map_or("—".into(), |d| format!("{d:+}"))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn findings_text(
    report: &CaseReport,
    invariant: Invariant,
    side: Option<crate::core::audit::SideId>,
) -> String {
    report
        .findings
        .iter()
        .filter(|f| {
            f.invariant == invariant && (side.is_none() || f.side == side || f.side.is_none())
        })
        .map(|f| {
            let side = f.side.map(|s| format!(" [{s}]")).unwrap_or_default();
            format!(
                "{}{side}: {}{}",
                f.invariant,
                super::priced_message(f),
                if f.hint.is_empty() {
                    String::new()
                } else {
                    format!("\nhint: {}", f.hint)
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_gate(gate: &GateReport) -> String {
    let mut xml = Xml::new("tokaudit");
    for case in &gate.cases {
        let mut suite = TestSuite::new(case.name.as_str());
        if let Some(err) = &case.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(err.as_str());
            suite.add_test_case(TestCase::new("set-up", status));
        }
        let expected = (case.outcome == Outcome::ExpectedFailure)
            .then(|| case.expect.as_ref().map_or("", |e| e.reason.as_str()));
        for r in &case.reports {
            pair_cases(&mut suite, r, case.name.as_str(), expected);
        }
        if case.outcome == Outcome::UnexpectedPass {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let reason = case.expect.as_ref().map_or("", |e| e.reason.as_str());
            status.set_message(format!(
                "expected to fail ({reason}) but passed: remove the expectation from the suite"
            ));
            suite.add_test_case(TestCase::new("expectation", status));
        }
        xml.add_test_suite(suite);
    }
    to_text(&xml)
}

/// One test case per check of an audited pair (or one error for malformed input). With
/// `expected` (the suite's reason), violations are skipped as the expected failure.
fn pair_cases(suite: &mut TestSuite, r: &CaseReport, classname: &str, expected: Option<&str>) {
    if let Some(err) = &r.error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(err.as_str());
        let mut tc = TestCase::new(format!("{}: input", r.meta.name), status);
        tc.set_classname(classname);
        suite.add_test_case(tc);
        return;
    }
    for check in &r.checks {
        let side = check.side.map(|s| format!(" [{s}]")).unwrap_or_default();
        let name = format!("{}: {}{side}", r.meta.name, check.invariant);
        let mut tc = TestCase::new(name, check_status(r, check, expected));
        tc.set_classname(classname);
        suite.add_test_case(tc);
    }
}

fn check_status(r: &CaseReport, check: &Check, expected: Option<&str>) -> TestCaseStatus {
    let text = findings_text(r, check.invariant, check.side);
    match check.status {
        Status::Held => TestCaseStatus::success(),
        Status::Violated if expected.is_some() => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!(
                "expected failure: {}",
                expected.unwrap_or_default()
            ));
            s.set_description(text);
            s
        }
        Status::Violated => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let first = r
                .findings
                .iter()
                .find(|f| f.invariant == check.invariant && f.severity == Severity::Violation)
                .map_or(String::new(), |f| f.message.clone());
            s.set_message(first);
            s.set_type(check.invariant.id());
            s.set_description(format!("{text}\n\n{}", diff(&r.rows)));
            s
        }
        Status::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(text);
            s
        }
        Status::NotApplicable => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("not applicable to this exchange");
            s
        }
        Status::NotComparable => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("not comparable: {text}"));
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn junit_of_a_gate_run() {
        insta::assert_snapshot!(Junit.gate(&testing::gate()));
    }

    #[test]
    fn junit_of_a_report() {
        insta::assert_snapshot!(Junit.report(&testing::report(&["invoke-metrics-disagree.json"])));
    }
}
