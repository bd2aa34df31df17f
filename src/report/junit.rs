//! JUnit XML for CI systems (via quick-junit): one test suite per suite case (per audited
//! pair for a `compare` report), one test case per invariant and side of each audited pair
//! (`run-001-invoke: input-parity [streaming]`), a violation split by field
//! (`… ledger-parity [streaming] output`) so that no name repeats and a CI counts each failure
//! once. Violations are failures carrying the diff rows and their findings; runtime errors
//! are errors; a gate run cut short adds a failing `incomplete` case; checks that did not
//! apply or could not compare are skipped with the reason; an expected failure's violations
//! are skipped with the suite's reason.

use super::Render;
use crate::core::audit::{Check, Finding, Severity, Status, Verdict};
use crate::core::case::{CaseReport, Row};
use crate::core::gate::{GateReport, Outcome, ReconcileCase};
use crate::core::normalize::Field;
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
        if let Some(rc) = &case.reconcile {
            reconcile_cases(&mut suite, rc, case.name.as_str(), expected);
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
    if let Some(err) = &gate.error {
        let mut suite = TestSuite::new("tokaudit");
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(err.as_str());
        suite.add_test_case(TestCase::new("suite", status));
        xml.add_test_suite(suite);
    }
    if !gate.complete {
        let mut suite = TestSuite::new("tokaudit");
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(format!(
            "the run ended after {} of {} cases: the verdict covers only those",
            gate.cases.len(),
            gate.planned
        ));
        status.set_type("incomplete");
        suite.add_test_case(TestCase::new("incomplete", status));
        xml.add_test_suite(suite);
    }
    to_text(&xml)
}

/// The test cases of an audited pair (or one error for malformed input): one per invariant
/// and side, the most serious status of its checks; a violation is split into one failure per
/// field its findings name, so each name is unique and each failure carries only its own
/// messages. With `expected` (the suite's reason), violations are skipped as the expected
/// failure.
fn pair_cases(suite: &mut TestSuite, r: &CaseReport, classname: &str, expected: Option<&str>) {
    if let Some(err) = &r.error {
        let status = match expected {
            Some(reason) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("expected failure: {reason}"));
                s.set_description(err.as_str());
                s
            }
            None => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(err.as_str());
                s
            }
        };
        let mut tc = TestCase::new(format!("{}: input", r.meta.name), status);
        tc.set_classname(classname);
        suite.add_test_case(tc);
        return;
    }
    for check in merged_checks(&r.checks) {
        let side = check.side.map(|s| format!(" [{s}]")).unwrap_or_default();
        let name = format!("{}: {}{side}", r.meta.name, check.invariant);
        let violations = violations_by_field(r, &check);
        if check.status != Status::Violated || expected.is_some() || violations.is_empty() {
            let mut tc = TestCase::new(name, check_status(r, &check, expected));
            tc.set_classname(classname);
            suite.add_test_case(tc);
            continue;
        }
        for (field, findings) in violations {
            let field = field.map(|f| format!(" {}", f.name())).unwrap_or_default();
            let mut tc = TestCase::new(format!("{name}{field}"), failure(r, &check, &findings));
            tc.set_classname(classname);
            suite.add_test_case(tc);
        }
    }
}

/// The test cases of a reconcile case: one per finding class (a failure, or skipped as the
/// expected failure), an error for malformed records, one passing case when nothing differs.
fn reconcile_cases(
    suite: &mut TestSuite,
    rc: &ReconcileCase,
    classname: &str,
    expected: Option<&str>,
) {
    let mut add = |name: String, status: TestCaseStatus| {
        let mut tc = TestCase::new(name, status);
        tc.set_classname(classname);
        suite.add_test_case(tc);
    };
    if rc.malformed > 0 {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(format!(
            "{} records could not be read: `tokaudit reconcile` lists each with its file and line",
            rc.malformed
        ));
        add("reconcile: malformed records".into(), s);
    }
    for c in &rc.classes {
        let status = match expected {
            Some(reason) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("expected failure: {reason}"));
                s.set_description(c.detail());
                s
            }
            None => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.detail());
                s.set_type(c.class.as_str());
                s
            }
        };
        add(format!("reconcile: {}", c.name()), status);
    }
    if rc.classes.is_empty() && rc.malformed == 0 {
        let status = if rc.verdict == Verdict::Inconclusive {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("inconclusive: {}", rc.summary_line()));
            s
        } else {
            TestCaseStatus::success()
        };
        add("reconcile".into(), status);
    }
}

/// How serious a status is, for merging the checks of one invariant and side.
fn rank(status: Status) -> u8 {
    match status {
        Status::NotApplicable => 0,
        Status::Held => 1,
        Status::NotComparable => 2,
        Status::Error => 3,
        Status::Violated => 4,
    }
}

/// One check per invariant and side, in first-seen order, with the most serious status.
fn merged_checks(checks: &[Check]) -> Vec<Check> {
    let mut merged: Vec<Check> = Vec::new();
    for c in checks {
        match merged
            .iter_mut()
            .find(|m| m.invariant == c.invariant && m.side == c.side)
        {
            Some(m) if rank(c.status) > rank(m.status) => m.status = c.status,
            Some(_) => {}
            None => merged.push(c.clone()),
        }
    }
    merged
}

fn concerns(f: &Finding, check: &Check) -> bool {
    f.invariant == check.invariant
        && (check.side.is_none() || f.side == check.side || f.side.is_none())
}

/// The violations of a check grouped by the field they name, in first-seen order.
fn violations_by_field<'a>(
    r: &'a CaseReport,
    check: &Check,
) -> Vec<(Option<Field>, Vec<&'a Finding>)> {
    let mut groups: Vec<(Option<Field>, Vec<&Finding>)> = Vec::new();
    let violations = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Violation && concerns(f, check));
    for f in violations {
        match groups.iter_mut().find(|(field, _)| *field == f.field) {
            Some((_, group)) => group.push(f),
            None => groups.push((f.field, vec![f])),
        }
    }
    groups
}

fn finding_text(f: &Finding) -> String {
    let side = f.side.map(|s| format!(" [{s}]")).unwrap_or_default();
    let hint = if f.hint.is_empty() {
        String::new()
    } else {
        format!("\nhint: {}", f.hint)
    };
    format!("{}{side}: {}{hint}", f.invariant, super::priced_message(f))
}

fn failure(r: &CaseReport, check: &Check, findings: &[&Finding]) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_message(findings.first().map_or("", |f| f.message.as_str()));
    s.set_type(check.invariant.id());
    let text: Vec<String> = findings.iter().map(|f| finding_text(f)).collect();
    s.set_description(format!("{}\n\n{}", text.join("\n"), diff(&r.rows)));
    s
}

fn check_status(r: &CaseReport, check: &Check, expected: Option<&str>) -> TestCaseStatus {
    let text = r
        .findings
        .iter()
        .filter(|f| concerns(f, check))
        .map(finding_text)
        .collect::<Vec<_>>()
        .join("\n");
    match check.status {
        Status::Held => TestCaseStatus::success(),
        Status::Violated | Status::Error if expected.is_some() => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!(
                "expected failure: {}",
                expected.unwrap_or_default()
            ));
            s.set_description(text);
            s
        }
        Status::Violated => {
            let all: Vec<&Finding> = r
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Violation && concerns(f, check))
                .collect();
            failure(r, check, &all)
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

    /// Every `<testcase name="…">` of the XML, per suite.
    fn names_per_suite(xml: &str) -> Vec<Vec<String>> {
        xml.split("<testsuite ")
            .skip(1)
            .map(|suite| {
                suite
                    .split("<testcase name=\"")
                    .skip(1)
                    .map(|t| t[..t.find('"').unwrap()].to_string())
                    .collect()
            })
            .collect()
    }

    /// A CI counts test cases by name: a repeated name (`ledger-parity [streaming]` three
    /// times, each with every message) inflated the failure count.
    #[test]
    fn no_test_case_name_repeats_for_any_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let xml = Junit.report(&testing::report(&refs));
        let mut failures = 0;
        for suite in names_per_suite(&xml) {
            let unique: std::collections::HashSet<&String> = suite.iter().collect();
            assert_eq!(unique.len(), suite.len(), "{suite:#?}");
            failures += suite.len();
        }
        assert!(failures > names.len(), "{xml}");
        // The gateway fixture with a ledger splits its ledger violation by field.
        let gateway = Junit.report(&testing::report(&["litellm-1.108.7-invoke-thinking.json"]));
        assert!(
            gateway.contains("ledger-parity [streaming] reasoning\""),
            "{gateway}"
        );
    }

    #[test]
    fn an_interrupted_gate_run_fails_in_junit() {
        let mut gate = testing::gate();
        gate.complete = false;
        gate.planned = 5;
        let xml = Junit.gate(&gate);
        assert!(xml.contains("<testcase name=\"incomplete\""), "{xml}");
        assert!(xml.contains("ended after 4 of 5 cases"), "{xml}");
        assert!(!Junit.gate(&testing::gate()).contains("incomplete"));
    }

    #[test]
    fn junit_of_a_report() {
        insta::assert_snapshot!(Junit.report(&testing::report(&["invoke-metrics-disagree.json"])));
    }
}
