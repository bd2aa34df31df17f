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

/// The whole report. Cases come first and what they add up to last, so that a report can be
/// written case by case as they finish ([`Tally`]), in memory that does not grow with them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Report format version.
    pub schema_version: u32,
    /// The tool.
    pub tool: Tool,
    /// The cases.
    pub cases: Vec<CaseReport>,
    /// What the cases add up to.
    #[serde(flatten)]
    pub closing: Closing,
}

/// What a report's cases add up to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Closing {
    /// Per-field spread over runs (only over repeated runs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<FieldSpread>,
    /// Over runs of cached requests: the pairs whose two paths split the input differently
    /// (an intermittent split is still a finding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_split_differs: Option<usize>,
    /// Counts per verdict.
    pub summary: Summary,
    /// The overall verdict (the most serious case verdict; `error` when nothing was audited).
    pub verdict: Verdict,
    /// The process exit code this report maps to.
    pub exit_code: i32,
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

    fn build(cases: Vec<CaseReport>, over_runs: bool) -> Self {
        let mut tally = Tally::new(over_runs);
        cases.iter().for_each(|c| tally.add(c));
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::this(),
            cases,
            closing: tally.close(),
        }
    }

    /// The overall verdict.
    pub fn verdict(&self) -> Verdict {
        self.closing.verdict
    }

    /// The exit code.
    pub fn exit_code(&self) -> i32 {
        self.closing.exit_code
    }
}

/// One field's (min, max, pairs disagreeing) so far.
type Spread = (Option<u64>, Option<u64>, usize);

/// A report's closing figures, added up case by case.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    summary: Summary,
    worst: Option<Verdict>,
    /// Over repeated runs: per field, in [`Field::ALL`] order.
    spread: Option<Vec<Spread>>,
    cached: bool,
    split_differs: usize,
}

impl Tally {
    /// An empty tally; `over_runs` adds the spread and the count of differing splits.
    pub fn new(over_runs: bool) -> Self {
        Tally {
            spread: over_runs.then(|| vec![(None, None, 0); Field::ALL.len()]),
            ..Tally::default()
        }
    }

    /// Count one case in.
    pub fn add(&mut self, c: &CaseReport) {
        self.summary.add(c.verdict);
        self.worst = Verdict::worst(self.worst.into_iter().chain([c.verdict]));
        self.cached |= c
            .non_streaming
            .as_ref()
            .is_some_and(|s| s.request.cache_points > 0);
        if split_differs(c) {
            self.split_differs += 1;
        }
        let Some(spread) = self.spread.as_mut() else {
            return;
        };
        for (acc, field) in spread.iter_mut().zip(Field::ALL) {
            for r in c.rows.iter().filter(|r| r.field == field) {
                for v in [&r.non_streaming, &r.streaming].into_iter().flatten() {
                    acc.0 = Some(acc.0.map_or(v.value, |m| m.min(v.value)));
                    acc.1 = Some(acc.1.map_or(v.value, |m| m.max(v.value)));
                }
                if r.delta.is_some_and(|d| d != 0) {
                    acc.2 += 1;
                }
            }
        }
    }

    /// The cases counted so far.
    pub fn cases(&self) -> usize {
        self.summary.cases
    }

    /// What the cases added up to.
    pub fn close(self) -> Closing {
        let over_runs = self.spread.is_some();
        Closing {
            spread: self
                .spread
                .into_iter()
                .flatten()
                .zip(Field::ALL)
                .map(|((min, max, pairs_disagreeing), field)| FieldSpread {
                    field,
                    min,
                    max,
                    pairs_disagreeing,
                })
                .collect(),
            cache_split_differs: (over_runs && self.cached).then_some(self.split_differs),
            summary: self.summary,
            verdict: self.worst.unwrap_or(Verdict::Error),
            exit_code: exit::for_worst(self.worst),
        }
    }
}

/// Whether a pair's split differed: a `cache-split-parity` finding that names a field (a
/// violation, or the note of an unknown cache state; not the field-less notes that nothing
/// was cached or that the upstream's own splits differed).
fn split_differs(c: &CaseReport) -> bool {
    c.findings
        .iter()
        .any(|f| f.invariant == Invariant::CacheSplitParity && f.field.is_some())
}
