//! The vocabulary of the audit: every invariant, its stable id (what reports, JUnit test names
//! and suites use) and the one-line hint naming the probable bug class when it fails
//! (`shared/reference/bug-zoo.md`).

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
    /// A request sent with a trace id has a record (a span of that trace carrying usage).
    RecordPresent,
    /// What the system recorded for a request equals the usage on the wire for it.
    RecordParity,
    /// For a fixed prompt and model, total input equals the recorded baseline's (gate only).
    BaselineDrift,
    /// Each measured call costs at most the case's budget (gate only).
    CostBudget,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 26] = [
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
        Invariant::RecordPresent,
        Invariant::RecordParity,
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
            Invariant::RecordPresent => "record-present",
            Invariant::RecordParity => "record-parity",
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
            Invariant::RecordPresent => {
                "no span of this request's trace carried usage: the exporter is off or batching longer than --record-wait, the gateway started a new trace instead of continuing traceparent, or it never records this path (streamed calls, aborted streams)"
            }
            Invariant::RecordParity => {
                "the system recorded other usage than it returned for the same request: dashboards and budgets read the record (streamed usage recorded as 0, cache counted twice, a placeholder or an estimate recorded: LiteLLM #37923, Langfuse #5568, OpenInference #3016, dd-trace-py #18956 class)"
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
