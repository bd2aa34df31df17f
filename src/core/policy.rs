//! Policy: what a suite (or, later, a flag) adds on top of the invariants, applied in the core
//! so that every job judges the same way. Three kinds:
//!
//! - **tolerance**: an explicit, per-invariant allowance; a violation whose difference is
//!   within it becomes a note (the default tolerance is zero);
//! - **baseline**: a recorded pair of the same case; `baseline-drift` when total input moved;
//! - **expectation**: a case known to be broken ends as an expected failure, and a stale
//!   expectation (the case passes) as an unexpected pass.

use crate::core::audit::{
    self, CaseAudit, Check, Finding, Invariant, Severity, SideId, Status, Verdict,
};
use crate::core::capture::Capture;
use crate::core::case::Costs;
use crate::core::normalize::{Normalized, normalize};
use crate::core::prices::Prices;
use crate::core::prices::usd;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Policy for one audited pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Allowed absolute differences per invariant (explicit only).
    pub tolerance: BTreeMap<Invariant, u64>,
    /// A baseline recording to hold total input to (gate `--baseline`).
    pub baseline: Option<Baseline>,
    /// The price table (the embedded one unless `--prices`).
    pub prices: Arc<Prices>,
    /// The model to price the case as, when the case's model id is a gateway alias the
    /// table does not know (`--price-model`).
    pub price_model: Option<String>,
    /// A cost budget per call, in USD (a suite case's `max_cost`).
    pub max_cost: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            tolerance: BTreeMap::new(),
            baseline: None,
            prices: Prices::embedded(),
            price_model: None,
            max_cost: None,
        }
    }
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
    /// The violations must be exactly `findings` (a fixture's `expect` block), not merely
    /// include them (a suite's `[case.expect]`).
    pub exact: bool,
}

impl Expectation {
    /// Whether the violations seen (ids) are the expected ones: all of them, and with
    /// [`exact`](Self::exact) nothing else.
    pub fn matches(&self, seen: &[String]) -> bool {
        let listed = |id: &String| self.findings.iter().any(|f| f.id() == id);
        self.findings
            .iter()
            .all(|f| seen.iter().any(|s| s == f.id()))
            && (!self.exact || seen.iter().all(listed))
    }
}

impl Policy {
    /// Apply the baseline and the tolerance to a finished audit (in that order: drift within a
    /// tolerance is tolerated too), and re-derive its verdict.
    pub fn apply(
        &self,
        audit: &mut CaseAudit,
        ns: &Normalized,
        st: &Normalized,
        costs: Option<&Costs>,
    ) {
        if let Some(b) = &self.baseline {
            b.check_drift(audit, ns, st);
        }
        if let Some(budget) = self.max_cost {
            check_budget(audit, budget, costs);
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

/// `cost-budget`: each measured call costs at most the case's budget.
fn check_budget(audit: &mut CaseAudit, budget: f64, costs: Option<&Costs>) {
    let inv = Invariant::CostBudget;
    let Some(costs) = costs else {
        audit.checks.push(Check {
            invariant: inv,
            side: None,
            status: Status::NotComparable,
        });
        audit.findings.push(Finding::new(inv, Severity::NotComparable, None,
            format!("the case has a budget of {} per call but its model has no price: pass --price-model or --prices", usd(budget))));
        return;
    };
    for (side, cost) in [
        (SideId::NonStreaming, &costs.non_streaming),
        (SideId::Streaming, &costs.streaming),
    ] {
        let Some(cost) = cost else { continue };
        if cost.usd <= budget {
            audit.checks.push(Check {
                invariant: inv,
                side: Some(side),
                status: Status::Held,
            });
            continue;
        }
        audit.checks.push(Check {
            invariant: inv,
            side: Some(side),
            status: Status::Violated,
        });
        let mut f = Finding::new(
            inv,
            Severity::Violation,
            Some(side),
            format!(
                "the {side} call costs {} at {} prices, over the case's budget of {} per call",
                usd(cost.usd),
                costs.model,
                usd(budget)
            ),
        );
        f.hint = inv.hint().to_string();
        audit.findings.push(f);
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
            audit.findings.push(Finding::new(
                Invariant::BaselineDrift,
                Severity::Note,
                None,
                format!(
                    "no usable baseline at {}; record one with --update-baseline",
                    self.source
                ),
            ));
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
