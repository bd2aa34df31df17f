//! One finished case: its metadata, verdict, findings, checks, both normalized sides, and the
//! diff table laid out row by row. The pipeline builds it; renderers only read it.

use crate::core::audit::{CaseAudit, Check, Finding, Invariant, Severity, Verdict};
use crate::core::capture::Api;
use crate::core::ledger::{Upstream, UpstreamSide};
use crate::core::normalize::{Field, Kind, Normalized};
use serde::Serialize;

/// What a case is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseMeta {
    /// Case name (`run-001-invoke`; a replayed fixture keeps the name it was recorded with).
    pub name: String,
    /// Target (`bedrock`, `openai`, `anthropic`).
    pub target: String,
    /// API family.
    pub api: Api,
    /// Model id (account ids in ARNs redacted).
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

/// What a row of the diff table says, worst finding first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    /// Both paths agree and no finding concerns the field.
    Ok,
    /// A violation concerns the field.
    Mismatch,
    /// A runtime error concerns the field.
    Error,
    /// The field could not be compared.
    NotComparable,
    /// Only notes concern the field.
    Note,
    /// The values differ but no invariant applies to the difference.
    Differs,
    /// A side failed: its figures are what arrived before the failure.
    Partial,
    /// Neither side carries the field.
    Absent,
}

impl RowStatus {
    /// The name used in reports (the serialized form).
    pub fn name(self) -> &'static str {
        match self {
            RowStatus::Ok => "ok",
            RowStatus::Mismatch => "mismatch",
            RowStatus::Error => "error",
            RowStatus::NotComparable => "not-comparable",
            RowStatus::Note => "note",
            RowStatus::Differs => "differs",
            RowStatus::Partial => "partial",
            RowStatus::Absent => "absent",
        }
    }
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
    /// The row's status.
    pub status: RowStatus,
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
    /// A finished audit of two sides, with its diff table laid out.
    pub fn audited(
        meta: CaseMeta,
        ns: Normalized,
        st: Normalized,
        upstream: Option<Upstream>,
        audit: CaseAudit,
    ) -> Self {
        let rows = rows(&ns, &st, &audit.findings, upstream.as_ref());
        CaseReport {
            meta,
            verdict: audit.verdict,
            error: None,
            rows,
            findings: audit.findings,
            checks: audit.checks,
            non_streaming: Some(ns),
            streaming: Some(st),
            upstream,
        }
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

    /// Violated invariant ids, sorted and de-duplicated.
    pub fn violations(&self) -> Vec<Invariant> {
        let mut v: Vec<Invariant> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Violation)
            .map(|f| f.invariant)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The diff table: one row per field, reasoning only where a side reports it.
fn rows(
    ns: &Normalized,
    st: &Normalized,
    findings: &[Finding],
    upstream: Option<&Upstream>,
) -> Vec<Row> {
    Field::ALL
        .iter()
        .map(|&field| row(field, ns, st, findings, upstream))
        .filter(|r| {
            r.field != Field::Reasoning || r.non_streaming.is_some() || r.streaming.is_some()
        })
        .collect()
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
    let up = |side: Option<&UpstreamSide>| {
        side.and_then(|s| s.usage.as_ref())
            .and_then(|u| u.value(field))
    };
    let (upstream_non_streaming, upstream_streaming) = match upstream {
        Some(u) => (up(u.non_streaming.as_ref()), up(u.streaming.as_ref())),
        None => (None, None),
    };
    let (a, b) = (cell(ns, field), cell(st, field));
    let delta = match (&a, &b) {
        (Some(a), Some(b)) => i64::try_from(i128::from(b.value) - i128::from(a.value)).ok(),
        _ => None,
    };
    let mine: Vec<&Finding> = findings.iter().filter(|f| f.field == Some(field)).collect();
    let mut invariants: Vec<Invariant> = mine.iter().map(|f| f.invariant).collect();
    invariants.sort();
    invariants.dedup();
    let worst = mine.iter().map(|f| f.severity).min();
    let failed = ns.failure.is_some() || st.failure.is_some();
    let status = match worst {
        None if failed && (a.is_some() || b.is_some()) => RowStatus::Partial,
        Some(Severity::Violation) => RowStatus::Mismatch,
        Some(Severity::Error) => RowStatus::Error,
        Some(Severity::NotComparable) => RowStatus::NotComparable,
        Some(Severity::Note) => RowStatus::Note,
        None => match (&a, &b, delta) {
            (None, None, _) => RowStatus::Absent,
            (_, _, Some(0)) => RowStatus::Ok,
            _ => RowStatus::Differs,
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
