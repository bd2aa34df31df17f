//! The whole report of a `compare` or `replay`: the cases, the counts per verdict, the spread
//! of every field over repeated runs, the overall verdict and the exit code it maps to.

use crate::core::audit::{Invariant, Verdict};
use crate::core::case::CaseReport;
use crate::core::normalize::Field;
use crate::exit;
use serde::Serialize;

/// Version of the JSON report format.
pub const SCHEMA_VERSION: u32 = 1;

/// Who made the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tool {
    /// Always `tokaudit`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
}

impl Tool {
    /// This build.
    pub fn this() -> Self {
        Tool {
            name: "tokaudit",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Cases audited.
    pub cases: usize,
    /// Passed.
    pub pass: usize,
    /// Mismatched.
    pub mismatch: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Errored.
    pub error: usize,
}

impl Summary {
    /// Count one more case.
    pub fn add(&mut self, verdict: Verdict) {
        self.cases += 1;
        match verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Mismatch => self.mismatch += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
            Verdict::Error => self.error += 1,
        }
    }
}

/// Min / max / disagreements of one field over many runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldSpread {
    /// The field.
    pub field: Field,
    /// Smallest value seen on either path.
    pub min: Option<u64>,
    /// Largest value seen on either path.
    pub max: Option<u64>,
    /// Pairs whose two paths disagreed on this field.
    pub pairs_disagreeing: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Report format version.
    pub schema_version: u32,
    /// The tool.
    pub tool: Tool,
    /// The overall verdict (the most serious case verdict; `error` when nothing was audited).
    pub verdict: Verdict,
    /// The process exit code this report maps to.
    pub exit_code: i32,
    /// Counts per verdict.
    pub summary: Summary,
    /// Per-field spread over runs (only with more than one case).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<FieldSpread>,
    /// Over runs of cached requests: the pairs whose two paths split the input differently
    /// (an intermittent split is still a finding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_split_differs: Option<usize>,
    /// The cases.
    pub cases: Vec<CaseReport>,
}

impl Report {
    /// Assemble a report from audited cases.
    pub fn new(cases: Vec<CaseReport>) -> Self {
        Self::build(cases, false)
    }

    /// Assemble a report over repeated runs, with the per-field spread.
    pub fn over_runs(cases: Vec<CaseReport>) -> Self {
        Self::build(cases, true)
    }

    fn build(cases: Vec<CaseReport>, with_spread: bool) -> Self {
        let mut summary = Summary::default();
        for c in &cases {
            summary.add(c.verdict);
        }
        let worst = Verdict::worst(cases.iter().map(|c| c.verdict));
        let spread = if with_spread {
            spread(&cases)
        } else {
            Vec::new()
        };
        let cached = cases.iter().any(|c| {
            c.non_streaming
                .as_ref()
                .is_some_and(|s| s.request.cache_points > 0)
        });
        let cache_split_differs = (with_spread && cached).then(|| split_differs(&cases));
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::this(),
            verdict: worst.unwrap_or(Verdict::Error),
            exit_code: exit::for_worst(worst),
            summary,
            spread,
            cache_split_differs,
            cases,
        }
    }
}

/// Pairs whose split differed: a `cache-split-parity` finding that names a field (a
/// violation, or the note of an unknown cache state; not the field-less notes that nothing
/// was cached or that the upstream's own splits differed).
fn split_differs(cases: &[CaseReport]) -> usize {
    cases
        .iter()
        .filter(|c| {
            c.findings
                .iter()
                .any(|f| f.invariant == Invariant::CacheSplitParity && f.field.is_some())
        })
        .count()
}

fn spread(cases: &[CaseReport]) -> Vec<FieldSpread> {
    Field::ALL
        .iter()
        .map(|&field| {
            let rows = cases
                .iter()
                .flat_map(|c| c.rows.iter().filter(|r| r.field == field));
            let mut min = None::<u64>;
            let mut max = None::<u64>;
            let mut pairs_disagreeing = 0;
            for r in rows {
                for v in [&r.non_streaming, &r.streaming].into_iter().flatten() {
                    min = Some(min.map_or(v.value, |m| m.min(v.value)));
                    max = Some(max.map_or(v.value, |m| m.max(v.value)));
                }
                if r.delta.is_some_and(|d| d != 0) {
                    pairs_disagreeing += 1;
                }
            }
            FieldSpread {
                field,
                min,
                max,
                pairs_disagreeing,
            }
        })
        .collect()
}
