//! One finished case: its metadata, verdict, findings, checks, both normalized sides, and the
//! diff table laid out row by row. The pipeline builds it; renderers only read it.

use crate::core::audit::{
    CaseAudit, Check, Finding, Invariant, PriceEntry, Severity, SideId, Verdict,
};
use crate::core::capture::Api;
use crate::core::ledger::{Upstream, UpstreamSide};
use crate::core::normalize::{Field, Kind, Normalized, RecordedPair, RecordedSide};
use crate::core::prices::{Cost, Prices};
use serde::Serialize;

/// What a case is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseMeta {
    /// Case name (`run-001-invoke`; a replayed fixture keeps the name it was recorded with).
    pub name: String,
    /// Target (`bedrock`, `openai`, `anthropic`).
    pub target: String,
    /// API family; `None` for a file that did not load as a recording (never guessed).
    pub api: Option<Api>,
    /// Model id (account ids in ARNs redacted).
    pub model: String,
    /// Region.
    pub region: String,
    /// The built-in emulator answered (`--offline`), not the provider: said in every header.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub emulator: bool,
}

impl CaseMeta {
    /// What a report says of metadata it does not know (a file that did not load).
    pub const UNKNOWN: &'static str = "unknown";

    /// The API family's name, or [`UNKNOWN`](Self::UNKNOWN).
    pub fn api_name(&self) -> String {
        self.api
            .map_or_else(|| Self::UNKNOWN.to_string(), |a| a.to_string())
    }
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
    /// tokaudit closed a side's stream on purpose (`--abort-after`): its figures are partial
    /// by design, and the record and the upstream's bill are what is checked.
    Aborted,
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
            RowStatus::Aborted => "aborted",
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
    /// What the system recorded for the non-streaming request (with records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_non_streaming: Option<u64>,
    /// What the system recorded for the streaming request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_streaming: Option<u64>,
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
    /// The warm-up call `--cache` sent first (a setup call, not compared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Normalized>,
    /// Upstream ground truth from `--ledger`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// What the system recorded (`--otlp-listen`, `--records-file`), read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<RecordedPair>,
    /// What each call cost at the model's prices (absent when the table has no price).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub costs: Option<Costs>,
}

/// The normalized calls of one case.
#[derive(Debug, Clone)]
pub struct Sides {
    /// The non-streaming call.
    pub ns: Normalized,
    /// The streaming call.
    pub st: Normalized,
    /// The warm-up call, if one was sent.
    pub warmup: Option<Normalized>,
    /// What the system recorded for both requests, read.
    pub records: Option<RecordedPair>,
}

/// The cost of every call of a case, recomputed from its usage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Costs {
    /// The price-table entry used.
    pub model: String,
    /// The price table: its source and the date its prices were taken.
    pub prices: String,
    /// The non-streaming call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_streaming: Option<Cost>,
    /// The streaming call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<Cost>,
    /// The warm-up call (a setup cost of the case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Cost>,
}

impl Costs {
    /// Price every call of a case at one table entry.
    pub fn of(
        entry: PriceEntry,
        table: &Prices,
        ns: &Normalized,
        st: &Normalized,
        warmup: Option<&Normalized>,
    ) -> Costs {
        let cost = |s: &Normalized| entry.rates.cost(entry.model, &s.billed_usage());
        Costs {
            model: entry.model.to_string(),
            prices: format!("{} of {}", table.source, table.retrieved),
            non_streaming: cost(ns),
            streaming: cost(st),
            warmup: warmup.and_then(cost),
        }
    }

    /// Every call's cost, the warm-up included; `None` when a call could not be priced.
    pub fn total(&self) -> Option<f64> {
        let measured = [&self.non_streaming, &self.streaming]
            .into_iter()
            .map(|c| c.as_ref().map(|c| c.usd))
            .sum::<Option<f64>>()?;
        Some(measured + self.warmup.as_ref().map_or(0.0, |c| c.usd))
    }
}

impl CaseReport {
    /// A finished audit of two sides, with its diff table laid out.
    pub fn audited(
        meta: CaseMeta,
        sides: Sides,
        upstream: Option<Upstream>,
        audit: CaseAudit,
        costs: Option<Costs>,
    ) -> Self {
        let Sides {
            ns,
            st,
            warmup,
            records,
        } = sides;
        let rows = rows(
            &ns,
            &st,
            &audit.findings,
            (upstream.as_ref(), records.as_ref()),
        );
        CaseReport {
            meta,
            verdict: audit.verdict,
            error: None,
            rows,
            findings: audit.findings,
            checks: audit.checks,
            non_streaming: Some(ns),
            streaming: Some(st),
            warmup,
            upstream,
            records,
            costs,
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
            warmup: None,
            upstream: None,
            records: None,
            costs: None,
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
fn rows(ns: &Normalized, st: &Normalized, findings: &[Finding], others: Others) -> Vec<Row> {
    Field::ALL
        .iter()
        .map(|&field| row(field, ns, st, findings, others))
        .filter(|r| !r.field.optional_row() || shown(r))
        .collect()
}

/// An optional row is shown when a side reports a non-zero figure, or a finding concerns it.
fn shown(r: &Row) -> bool {
    let nonzero = |c: &Option<Cell>| c.as_ref().is_some_and(|c| c.value > 0);
    nonzero(&r.non_streaming) || nonzero(&r.streaming) || !r.invariants.is_empty()
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

/// The figures beside the two sides: the upstream's (`--ledger`) and the record's.
type Others<'a> = (Option<&'a Upstream>, Option<&'a RecordedPair>);

fn row(
    field: Field,
    ns: &Normalized,
    st: &Normalized,
    findings: &[Finding],
    (upstream, records): Others,
) -> Row {
    let up = |side: Option<&UpstreamSide>| {
        side.and_then(|s| s.usage.as_ref())
            .and_then(|u| u.value(field))
    };
    let (upstream_non_streaming, upstream_streaming) = match upstream {
        Some(u) => (up(u.non_streaming.as_ref()), up(u.streaming.as_ref())),
        None => (None, None),
    };
    let rec = |side: &RecordedSide| match &side.reading {
        Ok(Some(r)) => r.usage.value(field),
        _ => None,
    };
    let (recorded_non_streaming, recorded_streaming) = match records {
        Some(r) => (rec(&r.non_streaming), rec(&r.streaming)),
        None => (None, None),
    };
    let (a, b) = (cell(ns, field), cell(st, field));
    let delta = match (&a, &b) {
        (Some(a), Some(b)) => i64::try_from(i128::from(b.value) - i128::from(a.value)).ok(),
        _ => None,
    };
    let mine: Vec<&Finding> = findings
        .iter()
        // The warm-up is not a column of the table: its findings stand on their own.
        .filter(|f| f.side != Some(SideId::Warmup))
        .filter(|f| f.field == Some(field) || f.related.contains(&field))
        .collect();
    let mut invariants: Vec<Invariant> = mine.iter().map(|f| f.invariant).collect();
    invariants.sort();
    invariants.dedup();
    let worst = mine.iter().map(|f| f.severity).min();
    let failed = ns.failure.is_some() || st.failure.is_some();
    let aborted = [ns, st]
        .iter()
        .any(|s| s.failure.as_ref().is_some_and(|f| f.aborted()));
    let status = match worst {
        None if aborted => RowStatus::Aborted,
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
        recorded_non_streaming,
        recorded_streaming,
        invariants,
        status,
    }
}
