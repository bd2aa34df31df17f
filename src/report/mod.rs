//! The finished report and its renderers. Renderers take a [`Report`] and return text; they
//! decide nothing. Building a report from audited cases is pure as well.
//!
//! JSON schema (`schema_version` 1), see [`json`] for the field list.

pub mod gate;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod table;

use crate::core::audit::{self, CaseAudit, Check, Finding, Invariant, Severity, Upstream, Verdict};
use crate::core::capture::Api;
use crate::core::normalize::{Field, Kind, Normalized};
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

/// What a case is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseMeta {
    /// Case name (`run-001-invoke`; a replayed fixture keeps the name it was recorded with).
    pub name: String,
    /// Target (`bedrock`).
    pub target: String,
    /// API family.
    pub api: Api,
    /// Model id.
    pub model: String,
    /// Region.
    pub region: String,
}

/// One cell of the diff table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    /// The value.
    pub value: u64,
    /// Its provenance.
    pub source: String,
    /// Reported, derived or placeholder.
    pub kind: Kind,
}

/// One row of the diff table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// The field.
    pub field: Field,
    /// Non-streaming value.
    pub non_streaming: Option<Cell>,
    /// Streaming value.
    pub streaming: Option<Cell>,
    /// streaming − non-streaming.
    pub delta: Option<i64>,
    /// What the upstream reported for the non-streaming request (with `--ledger`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_non_streaming: Option<u64>,
    /// What the upstream reported for the streaming request (with `--ledger`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_streaming: Option<u64>,
    /// Invariants whose findings concern this field (violations, errors, not-comparable, notes).
    pub invariants: Vec<Invariant>,
    /// `ok`, `mismatch`, `note`, `not-comparable`, `differs`, `partial` (a side failed, its
    /// figures are what arrived before the failure) or `absent`.
    pub status: &'static str,
}

/// One audited case.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseReport {
    /// What the case is.
    #[serde(flatten)]
    pub meta: CaseMeta,
    /// The verdict.
    pub verdict: Verdict,
    /// A malformed input: one line naming file, frame and field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The diff table.
    pub rows: Vec<Row>,
    /// Findings, most serious first.
    pub findings: Vec<Finding>,
    /// Every check that ran.
    pub checks: Vec<Check>,
    /// The non-streaming side, with every observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_streaming: Option<Normalized>,
    /// The streaming side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<Normalized>,
    /// Upstream ground truth from `--ledger`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

impl CaseReport {
    /// Audit two normalized sides (and, with `--ledger`, the upstream's numbers) and lay out
    /// the diff table.
    pub fn audited(
        meta: CaseMeta,
        ns: Normalized,
        st: Normalized,
        upstream: Option<Upstream>,
    ) -> Self {
        let CaseAudit {
            checks,
            findings,
            verdict,
        } = audit::audit_with_upstream(&ns, &st, upstream.as_ref());
        let rows = Field::ALL
            .iter()
            .map(|&field| row(field, &ns, &st, &findings, upstream.as_ref()))
            // Reasoning is only reported by OpenAI-shaped usage: no empty row elsewhere.
            .filter(|r: &Row| {
                r.field != Field::Reasoning || r.non_streaming.is_some() || r.streaming.is_some()
            })
            .collect();
        CaseReport {
            meta,
            verdict,
            error: None,
            rows,
            findings,
            checks,
            non_streaming: Some(ns),
            streaming: Some(st),
            upstream,
        }
    }

    /// Re-derive the rows and the verdict after the gate changed findings or checks
    /// (baseline drift added, violations within an explicit tolerance downgraded).
    pub fn refresh(&mut self) {
        if let (Some(ns), Some(st)) = (&self.non_streaming, &self.streaming) {
            self.rows = Field::ALL
                .iter()
                .map(|&field| row(field, ns, st, &self.findings, self.upstream.as_ref()))
                .filter(|r: &Row| {
                    r.field != Field::Reasoning
                        || r.non_streaming.is_some()
                        || r.streaming.is_some()
                })
                .collect();
            self.verdict = audit::verdict_of(&self.checks);
        }
        self.findings.sort_by_key(|f| f.severity);
    }

    /// Downgrade violations whose difference is within an explicit per-invariant tolerance to
    /// notes, and mark their checks held when nothing else violates them.
    pub fn tolerate(&mut self, tolerance: &std::collections::BTreeMap<Invariant, u64>) {
        if tolerance.is_empty() {
            return;
        }
        for f in &mut self.findings {
            if f.severity != Severity::Violation {
                continue;
            }
            if let (Some(tol), Some(d)) = (tolerance.get(&f.invariant), f.delta)
                && d <= *tol
            {
                f.severity = Severity::Note;
                f.message = format!("{} (within the suite's tolerance of {tol})", f.message);
                f.hint.clear();
            }
        }
        for c in &mut self.checks {
            if c.status == audit::Status::Violated
                && !self.findings.iter().any(|f| {
                    f.severity == Severity::Violation
                        && f.invariant == c.invariant
                        && f.side == c.side
                })
            {
                c.status = audit::Status::Held;
            }
        }
        self.refresh();
    }

    /// A case whose input could not be audited at all.
    pub fn malformed(meta: CaseMeta, error: String) -> Self {
        CaseReport {
            meta,
            verdict: Verdict::Error,
            error: Some(error),
            rows: Vec::new(),
            findings: Vec::new(),
            checks: Vec::new(),
            non_streaming: None,
            streaming: None,
            upstream: None,
        }
    }
}

fn cell(side: &Normalized, field: Field) -> Option<Cell> {
    if field == Field::InputTotal {
        return side.usage.input_total().map(|value| Cell {
            value,
            source: "derived: input + cache_read + cache_write".into(),
            kind: Kind::Derived,
        });
    }
    side.usage.get(field).map(|o| Cell {
        value: o.value,
        source: o.source.clone(),
        kind: o.kind,
    })
}

fn row(
    field: Field,
    ns: &Normalized,
    st: &Normalized,
    findings: &[Finding],
    upstream: Option<&Upstream>,
) -> Row {
    let up = |side: Option<&crate::core::audit::UpstreamSide>| {
        side.and_then(|s| s.usage.as_ref())
            .and_then(|u| u.value(field))
    };
    let (upstream_non_streaming, upstream_streaming) = match upstream {
        Some(u) => (up(u.non_streaming.as_ref()), up(u.streaming.as_ref())),
        None => (None, None),
    };
    let (a, b) = (cell(ns, field), cell(st, field));
    let delta = match (&a, &b) {
        (Some(a), Some(b)) => Some(b.value as i64 - a.value as i64),
        _ => None,
    };
    let mine: Vec<&Finding> = findings.iter().filter(|f| f.field == Some(field)).collect();
    let mut invariants: Vec<Invariant> = mine.iter().map(|f| f.invariant).collect();
    invariants.sort();
    invariants.dedup();
    let worst = mine.iter().map(|f| f.severity).min();
    let failed = ns.failure.is_some() || st.failure.is_some();
    let status = match worst {
        None if failed && (a.is_some() || b.is_some()) => "partial",
        Some(Severity::Violation) => "mismatch",
        Some(Severity::Error) => "error",
        Some(Severity::NotComparable) => "not-comparable",
        Some(Severity::Note) => "note",
        None => match (&a, &b, delta) {
            (None, None, _) => "absent",
            (_, _, Some(0)) => "ok",
            _ => "differs",
        },
    };
    Row {
        field,
        non_streaming: a,
        streaming: b,
        delta,
        upstream_non_streaming,
        upstream_streaming,
        invariants,
        status,
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
        let mut summary = Summary {
            cases: cases.len(),
            ..Summary::default()
        };
        for c in &cases {
            match c.verdict {
                Verdict::Pass => summary.pass += 1,
                Verdict::Mismatch => summary.mismatch += 1,
                Verdict::Inconclusive => summary.inconclusive += 1,
                Verdict::Error => summary.error += 1,
            }
        }
        let exit_code = crate::exit::for_verdicts(cases.iter().map(|c| c.verdict));
        let verdict = Verdict::worst(cases.iter().map(|c| c.verdict)).unwrap_or(Verdict::Error);
        let spread = if with_spread {
            spread(&cases)
        } else {
            Vec::new()
        };
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "tokaudit",
                version: env!("CARGO_PKG_VERSION"),
            },
            verdict,
            exit_code,
            summary,
            spread,
            cases,
        }
    }
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
