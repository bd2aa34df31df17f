//! Policy: what a suite (or, later, a flag) adds on top of the invariants, applied in the core
//! so that every job judges the same way. Three kinds:
//!
//! - **tolerance**: an explicit, per-invariant allowance; a violation whose difference is
//!   within it becomes a note (the default tolerance is zero);
//! - **baseline**: a recorded pair of the same case; `baseline-drift` when total input moved;
//! - **expectation**: a case known to be broken ends as an expected failure, and a stale
//!   expectation (the case passes) as an unexpected pass.

use crate::core::audit::{self, CaseAudit, Finding, Invariant, Severity, SideId, Status, Verdict};
use crate::core::capture::Capture;
use crate::core::normalize::{Normalized, normalize};
use std::collections::BTreeMap;

/// Policy for one audited pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Allowed absolute differences per invariant (explicit only).
    pub tolerance: BTreeMap<Invariant, u64>,
    /// A baseline recording to hold total input to (gate `--baseline`).
    pub baseline: Option<Baseline>,
}

/// The recorded baseline of one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Where it was read from (shown in findings).
    pub source: String,
    /// Its two captures, or why there are none.
    pub captures: Result<(Capture, Capture), String>,
}

/// A case known to be broken.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The verdict it is expected to end with.
    pub verdict: Verdict,
    /// Why (shown in every report).
    pub reason: String,
    /// The violations that are expected, if listed.
    pub findings: Vec<Invariant>,
}

impl Policy {
    /// Apply the baseline and the tolerance to a finished audit (in that order: drift within a
    /// tolerance is tolerated too), and re-derive its verdict.
    pub fn apply(&self, audit: &mut CaseAudit, ns: &Normalized, st: &Normalized) {
        if let Some(b) = &self.baseline {
            b.check_drift(audit, ns, st);
        }
        self.tolerate(audit);
        audit.findings.sort_by_key(|f| f.severity);
        audit.verdict = audit::verdict_of(&audit.checks);
    }

    /// Downgrade violations whose difference is within an explicit per-invariant tolerance to
    /// notes, and mark their checks held when nothing else violates them.
    fn tolerate(&self, audit: &mut CaseAudit) {
        if self.tolerance.is_empty() {
            return;
        }
        for f in &mut audit.findings {
            if f.severity != Severity::Violation {
                continue;
            }
            if let (Some(tol), Some(d)) = (self.tolerance.get(&f.invariant), f.delta)
                && d <= *tol
            {
                f.severity = Severity::Note;
                f.message = format!("{} (within the suite's tolerance of {tol})", f.message);
                f.hint.clear();
            }
        }
        let findings = &audit.findings;
        for c in &mut audit.checks {
            let still_violated = findings.iter().any(|f| {
                f.severity == Severity::Violation && f.invariant == c.invariant && f.side == c.side
            });
            if c.status == Status::Violated && !still_violated {
                c.status = Status::Held;
            }
        }
    }
}

impl Baseline {
    /// Compare each side's total input with the baseline recording of the same pair.
    fn check_drift(&self, audit: &mut CaseAudit, ns: &Normalized, st: &Normalized) {
        let base = self
            .captures
            .as_ref()
            .ok()
            .map(|(a, b)| (normalize(a).ok(), normalize(b).ok()));
        let Some((base_ns, base_st)) = base else {
            audit.findings.push(Finding {
                invariant: Invariant::BaselineDrift,
                severity: Severity::Note,
                side: None,
                field: None,
                message: format!(
                    "no usable baseline at {}; record one with --update-baseline",
                    self.source
                ),
                hint: String::new(),
                delta: None,
            });
            return;
        };
        for (side, now, then) in [
            (SideId::NonStreaming, ns, base_ns),
            (SideId::Streaming, st, base_st),
        ] {
            if let Some(then) = then
                && let Some((check, finding)) =
                    audit::baseline_drift(side, now, &then, &self.source)
            {
                audit.checks.push(check);
                audit.findings.extend(finding);
            }
        }
    }
}
