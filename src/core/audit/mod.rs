//! The audit: pure checks over two normalized sides, each with a stable invariant id.
//!
//! The ids are the vocabulary of `shared/PRODUCT.md` §4 and never change: they appear in
//! reports, JUnit test names and suites. Each check yields a status; every status other than
//! "held" or "not applicable" comes with a [`Finding`] whose hint names the probable bug
//! class (see `shared/reference/bug-zoo.md`). The case verdict is the worst verdict its
//! checks imply ([`Status::verdict`]), in [`Verdict`]'s order: mismatch, then error, then
//! inconclusive, then pass. That order is the one precedence rule of the whole tool: exit
//! codes, gate outcomes and summaries derive from it.
//!
//! One file per invariant family: [`exchange`], [`parity`] (cross-path), [`cache`] (the
//! cache split and its TTLs), [`reasoning`], [`stream`], [`body`] (channels inside one
//! response), [`gateway`] (gateways and the upstream ledger), [`cost`] and [`baseline`].
//! [`invariant`] holds the ids and hints; this file the statuses, findings and verdicts, the
//! audit's context, and which checks apply to which operation.

mod baseline;
mod body;
mod cache;
pub mod cost;
mod exchange;
mod gateway;
mod invariant;
mod parity;
mod reasoning;
mod record;
mod stream;

pub use baseline::baseline_drift;
pub use invariant::Invariant;

use crate::core::capture::Operation;
use crate::core::ledger::{Upstream, UpstreamSide};
use crate::core::normalize::{Field, Normalized, RecordedPair};
use crate::core::prices::Rates;
use serde::Serialize;
use std::fmt;

/// Which side of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SideId {
    /// InvokeModel / Converse.
    NonStreaming,
    /// InvokeModelWithResponseStream / ConverseStream.
    Streaming,
    /// The setup call `--cache` sends first to put the prefix in the cache.
    Warmup,
}

impl fmt::Display for SideId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SideId::NonStreaming => "non-streaming",
            SideId::Streaming => "streaming",
            SideId::Warmup => "warm-up",
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The invariant held.
    Held,
    /// The invariant was violated.
    Violated,
    /// The invariant does not apply to this exchange.
    NotApplicable,
    /// A side carried nothing to compare.
    NotComparable,
    /// The exchange failed at runtime.
    Error,
}

impl Status {
    /// The verdict this status implies on its own.
    pub fn verdict(self) -> Verdict {
        match self {
            Status::Held | Status::NotApplicable => Verdict::Pass,
            Status::NotComparable => Verdict::Inconclusive,
            Status::Error => Verdict::Error,
            Status::Violated => Verdict::Mismatch,
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// An invariant was violated.
    Violation,
    /// A runtime error.
    Error,
    /// Something could not be compared.
    NotComparable,
    /// Worth knowing, not wrong.
    Note,
}

/// One check of one invariant (per side where it applies to one side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The invariant.
    pub invariant: Invariant,
    /// The side, for in-response checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<SideId>,
    /// The outcome.
    pub status: Status,
}

/// Something the audit wants a human to read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The invariant.
    pub invariant: Invariant,
    /// How serious.
    pub severity: Severity,
    /// The side, if one side is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<SideId>,
    /// The field concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    /// Other fields the same finding concerns (a differing cache split names each).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Field>,
    /// What was seen, with the numbers and their sources.
    pub message: String,
    /// The probable bug class / what to do.
    pub hint: String,
    /// The absolute difference behind a numeric violation (what a tolerance is compared with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<u64>,
    /// What the violation costs, when the model has a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<FindingCost>,
}

impl Finding {
    /// A finding without a hint, delta or price (the caller adds what applies).
    pub fn new(
        invariant: Invariant,
        severity: Severity,
        side: Option<SideId>,
        message: String,
    ) -> Self {
        Finding {
            invariant,
            severity,
            side,
            field: None,
            related: Vec::new(),
            message,
            hint: String::new(),
            delta: None,
            cost: None,
        }
    }
}

/// The price of a violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingCost {
    /// USD per call (the absolute difference).
    pub usd_per_call: f64,
    /// The price-table entry used.
    pub model: String,
    /// For a cross-path difference, the side that bills more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_billed: Option<SideId>,
}

impl FindingCost {
    /// Calls a "per million calls" figure is given for.
    pub const CALLS: f64 = 1_000_000.0;
}

/// What the audit knows besides the two sides.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The upstream's truth (`--ledger`).
    pub upstream: Option<&'a Upstream>,
    /// The warm-up call that put the prefix in the cache (`--cache`).
    pub warmup: Option<&'a Normalized>,
    /// The model's prices, when the table has them.
    pub prices: Option<PriceEntry<'a>>,
    /// What the system recorded for both requests (`--otlp-listen`, `--records-file`).
    pub records: Option<&'a RecordedPair>,
}

impl Context<'_> {
    /// The upstream's entry for one call (with `--ledger`).
    fn upstream_of(&self, id: SideId) -> Option<&UpstreamSide> {
        let up = self.upstream?;
        match id {
            SideId::NonStreaming => up.non_streaming.as_ref(),
            SideId::Streaming => up.streaming.as_ref(),
            SideId::Warmup => up.warmup.as_ref(),
        }
    }
}

/// One price-table entry.
#[derive(Debug, Clone, Copy)]
pub struct PriceEntry<'a> {
    /// The entry's model id.
    pub model: &'a str,
    /// Its prices.
    pub rates: &'a Rates,
}

/// The verdict of a case. The variants are declared in precedence order: when several
/// apply, the greatest wins ([`Verdict::worst`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// Nothing contradicted, but something could not be compared.
    Inconclusive,
    /// The exchange failed or the input was malformed.
    Error,
    /// A mismatch or violated invariant.
    Mismatch,
}

impl Verdict {
    /// The most serious of several verdicts; `None` for none.
    pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
        verdicts.into_iter().max()
    }

    /// The verdict of a name used in reports.
    pub fn from_name(name: &str) -> Option<Verdict> {
        [
            Verdict::Pass,
            Verdict::Inconclusive,
            Verdict::Error,
            Verdict::Mismatch,
        ]
        .into_iter()
        .find(|v| v.name() == name)
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
            Verdict::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The audit of one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseAudit {
    /// Every check that ran.
    pub checks: Vec<Check>,
    /// Findings, most serious first.
    pub findings: Vec<Finding>,
    /// The verdict.
    pub verdict: Verdict,
}

pub(crate) struct Auditor {
    checks: Vec<Check>,
    findings: Vec<Finding>,
}

impl Auditor {
    pub(super) fn check(&mut self, invariant: Invariant, side: Option<SideId>, status: Status) {
        self.checks.push(Check {
            invariant,
            side,
            status,
        });
    }

    pub(super) fn find(
        &mut self,
        invariant: Invariant,
        severity: Severity,
        side: Option<SideId>,
        field: Option<Field>,
        message: String,
    ) {
        let hint = match severity {
            Severity::Violation | Severity::Error => invariant.hint().to_string(),
            Severity::NotComparable => "compare again with identical completions (temperature 0, small max_tokens) or a target that reports usage on both paths".into(),
            Severity::Note => String::new(),
        };
        self.findings.push(Finding {
            invariant,
            severity,
            side,
            field,
            related: Vec::new(),
            message,
            hint,
            delta: None,
            cost: None,
        });
    }

    /// A violated check whose finding carries the absolute difference `a` vs `b`.
    pub(super) fn violated_by(
        &mut self,
        inv: Invariant,
        side: Option<SideId>,
        field: Option<Field>,
        msg: String,
        a: u64,
        b: u64,
    ) {
        self.violated(inv, side, field, msg);
        if let Some(f) = self.findings.last_mut() {
            f.delta = Some(a.abs_diff(b));
        }
    }

    /// A cross-path check that cannot compare (e.g. the completions differ), with its finding.
    pub(super) fn not_comparable(&mut self, inv: Invariant, field: Field, msg: String) {
        self.check(inv, None, Status::NotComparable);
        self.find(inv, Severity::NotComparable, None, Some(field), msg);
    }

    /// A violated check with its finding.
    pub(super) fn violated(
        &mut self,
        inv: Invariant,
        side: Option<SideId>,
        field: Option<Field>,
        msg: String,
    ) {
        self.check(inv, side, Status::Violated);
        self.find(inv, Severity::Violation, side, field, msg);
    }
}

pub(super) fn show(o: Option<&crate::core::normalize::Obs>) -> String {
    match o {
        Some(o) => format!("{} ({})", o.value, o.source),
        None => "absent".into(),
    }
}

/// Audit one pair in its context: the upstream's truth (`--ledger`) adds `ledger-parity` per
/// side, a warm-up call makes the cache split decidable, and prices put a cost on findings.
pub fn audit(ns: &Normalized, st: &Normalized, ctx: &Context) -> CaseAudit {
    let mut a = Auditor {
        checks: Vec::new(),
        findings: Vec::new(),
    };
    if let Some(w) = ctx.warmup {
        warmup_checks(&mut a, w, ns, ctx);
    }
    for (id, side) in [(SideId::NonStreaming, ns), (SideId::Streaming, st)] {
        exchange::exchange(&mut a, id, side);
    }
    parity::cross_path(&mut a, ns, st, ctx);
    for (id, side, other) in [(SideId::NonStreaming, ns, st), (SideId::Streaming, st, ns)] {
        if let Some(f) = &side.failure {
            if f.aborted() {
                aborted(&mut a, id, ctx);
            }
            continue;
        }
        one_call(&mut a, id, side, other, ctx);
        if ctx.upstream.is_some() {
            gateway::ledger_parity(&mut a, id, side, ctx.upstream_of(id));
        }
    }
    if let Some(r) = ctx.records {
        records(&mut a, (ns, st), r, ctx);
    }
    if let Some(p) = ctx.prices {
        cost::price_findings(&mut a.findings, ns, st, p);
    }
    let verdict = verdict_of(&a.checks);
    a.findings.sort_by_key(|f| f.severity);
    CaseAudit {
        checks: a.checks,
        findings: a.findings,
        verdict,
    }
}

/// What the system recorded for each request, against its response (and, for an aborted
/// stream, the upstream's bill).
fn records(a: &mut Auditor, (ns, st): (&Normalized, &Normalized), r: &RecordedPair, ctx: &Context) {
    for (id, side, rec) in [
        (SideId::NonStreaming, ns, &r.non_streaming),
        (SideId::Streaming, st, &r.streaming),
    ] {
        let billed = ctx.upstream_of(id).and_then(|s| s.usage.as_ref());
        let whence = (r.source.as_str(), r.foreign_spans);
        record::record_checks(a, id, side, rec, whence, (ctx.prices, billed));
    }
}

/// A stream tokaudit closed on purpose: its wire usage is partial by design, so only what the
/// system recorded for it can hold (the upstream's bill is shown). Without records nothing
/// does, and the case cannot pass.
fn aborted(a: &mut Auditor, id: SideId, ctx: &Context) {
    if let Some(up) = ctx.upstream_of(id) {
        gateway::aborted_bill(a, id, up);
    }
    if ctx.records.is_none() {
        let inv = Invariant::RecordPresent;
        a.check(inv, Some(id), Status::NotComparable);
        a.find(inv, Severity::NotComparable, Some(id), None,
            "the stream was closed on purpose, so its usage on the wire is partial and only its record can be checked, and there is none: run with --otlp-listen (or replay with --records-file)".into());
    }
}

/// The warm-up is a real, billed call: it gets every check one call can get (it is often the
/// only call that writes the cache), and, when its upstream request is in the ledger,
/// `ledger-parity`. Recordings made before warm-ups carried a marker have no entry for it.
fn warmup_checks(a: &mut Auditor, w: &Normalized, ns: &Normalized, ctx: &Context) {
    exchange::exchange(a, SideId::Warmup, w);
    if w.failure.is_some() {
        return;
    }
    one_call(a, SideId::Warmup, w, ns, ctx);
    if let Some(up) = ctx.upstream_of(SideId::Warmup) {
        gateway::ledger_parity(a, SideId::Warmup, w, Some(up));
    }
}

/// Every check that looks at one call on its own.
fn one_call(a: &mut Auditor, id: SideId, side: &Normalized, other: &Normalized, ctx: &Context) {
    in_response(a, id, side, other);
    cache::cache_ttl_honored(a, id, side);
    reasoning::reasoning_within_output(a, id, side);
    cost::reported_cost(a, id, side, ctx);
}

/// The in-response checks that apply to this side's operation.
fn in_response(a: &mut Auditor, id: SideId, side: &Normalized, other: &Normalized) {
    // An independent figure for this side's output: invocationMetrics, else the other
    // path's output when both produced the identical text.
    let reference = side
        .channels
        .invocation_metrics
        .as_ref()
        .and_then(|m| m.output.clone())
        .or_else(|| {
            (other.failure.is_none() && other.text == side.text)
                .then(|| other.usage.output.clone())
                .flatten()
        });
    let reference = reference.as_ref();
    body::usage_self_consistent(a, id, side);
    if side.stream.is_some() {
        stream::stream_order(a, id, side);
    }
    match side.operation {
        Operation::InvokeModel => body::headers_match_body(a, id, side),
        Operation::InvokeModelWithResponseStream => {
            stream::stream_complete(a, id, side);
            stream::usage_present(a, id, side);
            stream::no_placeholder(a, id, side, reference);
            stream::cumulative_not_summed(a, id, side, reference);
            body::metrics_match_events(a, id, side);
        }
        Operation::Converse => body::total_is_sum(a, id, side),
        Operation::ConverseStream => {
            stream::stream_complete(a, id, side);
            stream::usage_present(a, id, side);
            body::total_is_sum(a, id, side);
        }
        Operation::ChatCompletions => {
            body::total_is_sum(a, id, side);
            gateway::cached_within_prompt(a, id, side);
        }
        Operation::ChatCompletionsStream => {
            stream::stream_complete(a, id, side);
            gateway::include_usage_honored(a, id, side);
            stream::usage_present(a, id, side);
            body::total_is_sum(a, id, side);
            gateway::cached_within_prompt(a, id, side);
        }
        Operation::Messages => {}
        Operation::Responses => {
            body::total_is_sum(a, id, side);
            gateway::cached_within_prompt(a, id, side);
        }
        Operation::ResponsesStream => {
            stream::stream_complete(a, id, side);
            stream::usage_present(a, id, side);
            body::total_is_sum(a, id, side);
            gateway::cached_within_prompt(a, id, side);
        }
        Operation::MessagesStream => {
            stream::stream_complete(a, id, side);
            stream::usage_present(a, id, side);
            stream::no_placeholder(a, id, side, reference);
            stream::cumulative_not_summed(a, id, side, reference);
        }
    }
}

/// The verdict a set of checks implies: the worst of their statuses' verdicts.
pub fn verdict_of(checks: &[Check]) -> Verdict {
    Verdict::worst(checks.iter().map(|c| c.status.verdict())).unwrap_or(Verdict::Pass)
}

#[cfg(test)]
mod tests;
