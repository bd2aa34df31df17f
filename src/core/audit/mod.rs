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
//! This file holds the vocabulary and decides which checks apply to which operation.

mod baseline;
mod body;
mod cache;
pub mod cost;
mod exchange;
mod gateway;
mod parity;
mod reasoning;
mod stream;

pub use baseline::baseline_drift;

use crate::core::capture::Operation;
use crate::core::ledger::Upstream;
use crate::core::normalize::{Field, Normalized};
use crate::core::prices::Rates;
use serde::Serialize;
use std::fmt;

/// An invariant of the audit. The serialized id is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// The call itself succeeded (no HTTP error, exception frame or transport failure).
    Exchange,
    /// Total input equal on both paths.
    InputParity,
    /// Under a known cache state, input, cache read, cache write and its TTL parts equal on
    /// both paths.
    CacheSplitParity,
    /// Output equal on both paths when the texts are identical.
    OutputParity,
    /// Reasoning equal on both paths when the completions are identical.
    ReasoningParity,
    /// Reported costs equal on both paths when the usage agrees.
    CostParity,
    /// A stream that completed normally carries final, non-zero usage.
    UsagePresent,
    /// The final output count is not the `message_start` placeholder.
    NoPlaceholder,
    /// Cumulative `message_delta` counters are taken last, never summed, and never decrease.
    CumulativeNotSummed,
    /// InvokeModel token-count headers equal the body usage.
    HeadersMatchBody,
    /// `invocationMetrics` equal the Anthropic events.
    MetricsMatchEvents,
    /// A reported total equals the sum of its parts.
    TotalIsSum,
    /// Where one usage object carries the same quantity twice, both agree.
    UsageSelfConsistent,
    /// Reasoning fits inside output.
    ReasoningWithinOutput,
    /// A cache write requested with one TTL is reported under it.
    CacheTtlHonored,
    /// A reported cost is the usage priced at the model's prices.
    ReportedCost,
    /// A reported cost never prices a cache read like uncached input.
    CacheReadDiscount,
    /// The stream ended with its terminal event.
    StreamComplete,
    /// The stream's events follow their format's grammar.
    StreamOrder,
    /// A chat-completions stream sent with `include_usage` carries exactly one usage chunk.
    IncludeUsageHonored,
    /// OpenAI-shaped cached (and cache-write) tokens fit inside `prompt_tokens`.
    CachedWithinPrompt,
    /// What the gateway reported equals what its upstream reported for the same request.
    LedgerParity,
    /// For a fixed prompt and model, total input equals the recorded baseline's (gate only).
    BaselineDrift,
    /// Each measured call costs at most the case's budget (gate only).
    CostBudget,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 24] = [
        Invariant::Exchange,
        Invariant::InputParity,
        Invariant::CacheSplitParity,
        Invariant::OutputParity,
        Invariant::ReasoningParity,
        Invariant::CostParity,
        Invariant::UsagePresent,
        Invariant::NoPlaceholder,
        Invariant::CumulativeNotSummed,
        Invariant::HeadersMatchBody,
        Invariant::MetricsMatchEvents,
        Invariant::TotalIsSum,
        Invariant::UsageSelfConsistent,
        Invariant::ReasoningWithinOutput,
        Invariant::CacheTtlHonored,
        Invariant::ReportedCost,
        Invariant::CacheReadDiscount,
        Invariant::StreamComplete,
        Invariant::StreamOrder,
        Invariant::IncludeUsageHonored,
        Invariant::CachedWithinPrompt,
        Invariant::LedgerParity,
        Invariant::BaselineDrift,
        Invariant::CostBudget,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        match self {
            Invariant::Exchange => "exchange",
            Invariant::InputParity => "input-parity",
            Invariant::CacheSplitParity => "cache-split-parity",
            Invariant::OutputParity => "output-parity",
            Invariant::ReasoningParity => "reasoning-parity",
            Invariant::CostParity => "cost-parity",
            Invariant::UsagePresent => "usage-present",
            Invariant::NoPlaceholder => "no-placeholder",
            Invariant::CumulativeNotSummed => "cumulative-not-summed",
            Invariant::HeadersMatchBody => "headers-match-body",
            Invariant::MetricsMatchEvents => "metrics-match-events",
            Invariant::TotalIsSum => "total-is-sum",
            Invariant::UsageSelfConsistent => "usage-self-consistent",
            Invariant::ReasoningWithinOutput => "reasoning-within-output",
            Invariant::CacheTtlHonored => "cache-ttl-honored",
            Invariant::ReportedCost => "reported-cost",
            Invariant::CacheReadDiscount => "cache-read-discount",
            Invariant::StreamComplete => "stream-complete",
            Invariant::StreamOrder => "stream-order",
            Invariant::IncludeUsageHonored => "include-usage-honored",
            Invariant::CachedWithinPrompt => "cached-within-prompt",
            Invariant::LedgerParity => "ledger-parity",
            Invariant::BaselineDrift => "baseline-drift",
            Invariant::CostBudget => "cost-budget",
        }
    }

    /// Parse a stable id.
    pub fn from_id(id: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.id() == id)
    }

    /// One line naming the probable bug class when this invariant fails.
    pub fn hint(self) -> &'static str {
        match self {
            Invariant::Exchange => {
                "the call failed: check credentials, model access, quotas and the endpoint, then retry"
            }
            Invariant::InputParity => {
                "the paths bill different input: a hard-coded or estimated usage block (LiteLLM v1.63.14), a dropped cache field, or summed counters"
            }
            Invariant::CacheSplitParity => {
                "with the cache state known, one path reports cached tokens as uncached input, a zero cache read, or a 1-hour write as a 5-minute one: a gateway or SDK dropped or renamed a cache field on that path (LiteLLM #39088, #34373, Bifrost #4746 class); the user pays up to 10x the cache-read price"
            }
            Invariant::ReasoningParity => {
                "the same completion reports different reasoning on the two paths: a stream accumulator dropped the output details (LiteLLM #10554, anthropic-sdk-python #1703 class)"
            }
            Invariant::CostParity => {
                "the same usage is priced differently on the two paths: the gateway's cost path treats streamed calls apart (LiteLLM #37923 class)"
            }
            Invariant::ReasoningWithinOutput => {
                "reasoning is a subset of output: output lost the thinking tokens, or they were added twice (opencode #21047, Kong #14816 class)"
            }
            Invariant::CacheTtlHonored => {
                "the cache write is reported under another TTL than requested: the per-TTL split was lost or defaulted, so 1-hour writes are priced at the 5-minute rate (LiteLLM #36762, #37104 class)"
            }
            Invariant::ReportedCost => {
                "the reported cost is not this usage at this model's prices: a cost path that drops streamed calls (LiteLLM #37923), double counts cache tokens (LiteLLM #31282), or a stale price table (compare with --prices)"
            }
            Invariant::CacheReadDiscount => {
                "cache reads are priced like uncached input: the cost path lost the cache split or priced hits twice (LiteLLM #14849, cloudflare/ai #550 class)"
            }
            Invariant::OutputParity => {
                "same text, different output count: a placeholder taken as final, cumulative counters summed, or a hard-coded usage block"
            }
            Invariant::UsagePresent => {
                "final usage was dropped, zeroed or put at the wrong nesting level (LiteLLM #14935, Effect #6237 class)"
            }
            Invariant::NoPlaceholder => {
                "the message_start output_tokens placeholder was taken as final (anthropic-sdk-python #424 class)"
            }
            Invariant::CumulativeNotSummed => {
                "message_delta usage is cumulative: take the last value, never sum (pydantic-ai #2770, TensorZero #5481 class)"
            }
            Invariant::HeadersMatchBody => {
                "X-Amzn-Bedrock-*-Token-Count headers disagree with body usage: one of them was rewritten"
            }
            Invariant::MetricsMatchEvents => {
                "invocationMetrics disagree with the Anthropic events: a channel was rewritten, dropped or double counted (langchain-aws #164, LiteLLM #34373 class)"
            }
            Invariant::TotalIsSum => {
                "the reported total is not input + cache_read + cache_write + output (Converse totals include cache tokens)"
            }
            Invariant::UsageSelfConsistent => {
                "one usage object carries the same quantity twice and the two disagree: a gateway filled one field from another source (a dropped, re-estimated or double-counted cache field), so the bill depends on which one a client reads"
            }
            Invariant::StreamOrder => {
                "the stream's events are out of their format's order: a relay reordered, spliced or replayed events, or ended the stream early; usage read from it may be partial or stale (Effect #6237, LiteLLM #20760 class)"
            }
            Invariant::StreamComplete => {
                "the stream ended without its terminal event: a cut connection or a proxy that stops early; its usage is partial"
            }
            Invariant::IncludeUsageHonored => {
                "stream_options.include_usage asks for exactly one final usage chunk: a gateway dropped it (LiteLLM #14935, Semantic Kernel #9751) or sent several (summing them double counts)"
            }
            Invariant::CachedWithinPrompt => {
                "OpenAI-shaped cached_tokens are a subset of prompt_tokens: cache tokens were added twice or the inclusive/exclusive conversion went wrong (LiteLLM #9812, Langfuse #5568 class)"
            }
            Invariant::LedgerParity => {
                "the gateway reported other numbers than its upstream did for the same request: the gateway rewrote, estimated or dropped usage (LiteLLM #7112, #36114 class)"
            }
            Invariant::CostBudget => {
                "a call costs more than the case's budget: the prompt, the model or its prices changed, or caching stopped working; raise max_cost if intended"
            }
            Invariant::BaselineDrift => {
                "input for the same prompt and model moved since the baseline: an SDK, gateway or model change; if intended, re-record with --update-baseline"
            }
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

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
        exchange::exchange(&mut a, SideId::Warmup, w);
        if w.failure.is_none() {
            cache::cache_ttl_honored(&mut a, SideId::Warmup, w);
        }
    }
    for (id, side) in [(SideId::NonStreaming, ns), (SideId::Streaming, st)] {
        exchange::exchange(&mut a, id, side);
    }
    parity::cross_path(&mut a, ns, st, ctx);
    for (id, side, other) in [(SideId::NonStreaming, ns, st), (SideId::Streaming, st, ns)] {
        if side.failure.is_some() {
            continue;
        }
        in_response(&mut a, id, side, other);
        cache::cache_ttl_honored(&mut a, id, side);
        reasoning::reasoning_within_output(&mut a, id, side);
        cost::reported_cost(&mut a, id, side, ctx);
        if let Some(up) = ctx.upstream {
            let mine = match id {
                SideId::Streaming => up.streaming.as_ref(),
                _ => up.non_streaming.as_ref(),
            };
            gateway::ledger_parity(&mut a, id, side, mine);
        }
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
