//! The audit: pure checks over two normalized sides, each with a stable invariant id.
//!
//! The ids are the vocabulary of `shared/PRODUCT.md` §4 and never change: they appear in
//! reports, JUnit test names and suites. Each check yields a status; every status other than
//! "held" or "not applicable" comes with a [`Finding`] whose hint names the probable bug
//! class (see `shared/reference/bug-zoo.md`). The case verdict follows from the statuses:
//! any violation → `mismatch`; else any runtime failure → `error`; else anything not
//! comparable → `inconclusive`; else `pass`.

use crate::core::capture::Operation;
use crate::core::normalize::{Field, Kind, Normalized, Obs, UsageSet};
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
    /// Output equal on both paths when the texts are identical.
    OutputParity,
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
    /// The stream ended with its terminal event.
    StreamComplete,
    /// A chat-completions stream sent with `include_usage` carries exactly one usage chunk.
    IncludeUsageHonored,
    /// OpenAI-shaped cached (and cache-write) tokens fit inside `prompt_tokens`.
    CachedWithinPrompt,
    /// What the gateway reported equals what its upstream reported for the same request.
    LedgerParity,
    /// For a fixed prompt and model, total input equals the recorded baseline's (gate only).
    BaselineDrift,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 14] = [
        Invariant::Exchange,
        Invariant::InputParity,
        Invariant::OutputParity,
        Invariant::UsagePresent,
        Invariant::NoPlaceholder,
        Invariant::CumulativeNotSummed,
        Invariant::HeadersMatchBody,
        Invariant::MetricsMatchEvents,
        Invariant::TotalIsSum,
        Invariant::StreamComplete,
        Invariant::IncludeUsageHonored,
        Invariant::CachedWithinPrompt,
        Invariant::LedgerParity,
        Invariant::BaselineDrift,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        match self {
            Invariant::Exchange => "exchange",
            Invariant::InputParity => "input-parity",
            Invariant::OutputParity => "output-parity",
            Invariant::UsagePresent => "usage-present",
            Invariant::NoPlaceholder => "no-placeholder",
            Invariant::CumulativeNotSummed => "cumulative-not-summed",
            Invariant::HeadersMatchBody => "headers-match-body",
            Invariant::MetricsMatchEvents => "metrics-match-events",
            Invariant::TotalIsSum => "total-is-sum",
            Invariant::StreamComplete => "stream-complete",
            Invariant::IncludeUsageHonored => "include-usage-honored",
            Invariant::CachedWithinPrompt => "cached-within-prompt",
            Invariant::LedgerParity => "ledger-parity",
            Invariant::BaselineDrift => "baseline-drift",
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
}

impl fmt::Display for SideId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SideId::NonStreaming => "non-streaming",
            SideId::Streaming => "streaming",
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
    /// What was seen, with the numbers and their sources.
    pub message: String,
    /// The probable bug class / what to do.
    pub hint: String,
    /// The absolute difference behind a numeric violation (what a tolerance is compared with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<u64>,
}

/// The verdict of a case.
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
    /// The most serious of several verdicts (mismatch, then error, then inconclusive, then
    /// pass, the exit-code precedence); `None` for none.
    pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
        verdicts.into_iter().max_by_key(|v| match v {
            Verdict::Pass => 0,
            Verdict::Inconclusive => 1,
            Verdict::Error => 2,
            Verdict::Mismatch => 3,
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
            Verdict::Mismatch => "mismatch",
        })
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

struct Auditor {
    checks: Vec<Check>,
    findings: Vec<Finding>,
}

impl Auditor {
    fn check(&mut self, invariant: Invariant, side: Option<SideId>, status: Status) {
        self.checks.push(Check {
            invariant,
            side,
            status,
        });
    }

    fn find(
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
            message,
            hint,
            delta: None,
        });
    }

    /// Record the absolute difference behind the last finding.
    fn set_delta(&mut self, x: u64, y: u64) {
        if let Some(f) = self.findings.last_mut() {
            f.delta = Some(x.abs_diff(y));
        }
    }

    /// A violated check whose finding carries the absolute difference `a` vs `b`.
    fn violated_by(
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
    fn violated(
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

fn show(o: Option<&crate::core::normalize::Obs>) -> String {
    match o {
        Some(o) => format!("{} ({})", o.value, o.source),
        None => "absent".into(),
    }
}

/// What the upstream (the emulator's ledger) reported for the request one side forwarded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamSide {
    /// The upstream request id (`x-amzn-requestid`).
    pub request_id: String,
    /// The upstream operation.
    pub operation: String,
    /// How many upstream requests carried this side's marker (more than one: the gateway retried).
    pub requests: usize,
    /// The usage the upstream response carried, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageSet>,
}

/// Upstream ground truth for both sides of a pair (from `--ledger`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Upstream {
    /// For the non-streaming request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_streaming: Option<UpstreamSide>,
    /// For the streaming request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<UpstreamSide>,
}

/// Audit one pair, without upstream ground truth.
pub fn audit(ns: &Normalized, st: &Normalized) -> CaseAudit {
    audit_with_upstream(ns, st, None)
}

/// Audit one pair; with `upstream`, also check `ledger-parity` per side.
pub fn audit_with_upstream(
    ns: &Normalized,
    st: &Normalized,
    upstream: Option<&Upstream>,
) -> CaseAudit {
    let mut a = Auditor {
        checks: Vec::new(),
        findings: Vec::new(),
    };
    for (id, side) in [(SideId::NonStreaming, ns), (SideId::Streaming, st)] {
        exchange(&mut a, id, side);
    }
    let both_ok = ns.failure.is_none() && st.failure.is_none();
    let incomplete = [ns, st].into_iter().find(|s| {
        s.stream
            .as_ref()
            .is_some_and(|f| f.terminal_frame.is_none())
    });
    if let (true, Some(cut)) = (both_ok, incomplete) {
        // A stream without its terminal event carries partial usage: comparing it would only
        // repeat the stream-complete finding as bogus mismatches.
        for inv in [Invariant::InputParity, Invariant::OutputParity] {
            a.check(inv, None, Status::NotComparable);
            a.find(
                inv,
                Severity::NotComparable,
                Some(SideId::Streaming),
                None,
                format!(
                    "{} ended without its terminal event, so its usage is partial and not compared",
                    cut.operation
                ),
            );
        }
    } else if both_ok {
        input_parity(&mut a, ns, st);
        output_parity(&mut a, ns, st);
    }
    for (id, side, other) in [(SideId::NonStreaming, ns, st), (SideId::Streaming, st, ns)] {
        if side.failure.is_some() {
            continue;
        }
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
        match side.operation {
            Operation::InvokeModel => headers_match_body(&mut a, id, side),
            Operation::InvokeModelWithResponseStream => {
                stream_complete(&mut a, id, side);
                usage_present(&mut a, id, side);
                no_placeholder(&mut a, id, side, reference);
                cumulative_not_summed(&mut a, id, side, reference);
                metrics_match_events(&mut a, id, side);
            }
            Operation::Converse => total_is_sum(&mut a, id, side),
            Operation::ConverseStream => {
                stream_complete(&mut a, id, side);
                usage_present(&mut a, id, side);
                total_is_sum(&mut a, id, side);
            }
            Operation::ChatCompletions => {
                total_is_sum(&mut a, id, side);
                cached_within_prompt(&mut a, id, side);
            }
            Operation::ChatCompletionsStream => {
                stream_complete(&mut a, id, side);
                include_usage_honored(&mut a, id, side);
                usage_present(&mut a, id, side);
                total_is_sum(&mut a, id, side);
                cached_within_prompt(&mut a, id, side);
            }
            Operation::Messages => {}
            Operation::MessagesStream => {
                stream_complete(&mut a, id, side);
                usage_present(&mut a, id, side);
                no_placeholder(&mut a, id, side, reference);
                cumulative_not_summed(&mut a, id, side, reference);
            }
        }
        if let Some(up) = upstream {
            let mine = match id {
                SideId::NonStreaming => up.non_streaming.as_ref(),
                SideId::Streaming => up.streaming.as_ref(),
            };
            ledger_parity(&mut a, id, side, mine);
        }
    }
    let verdict = verdict_of(&a.checks);
    a.findings.sort_by_key(|f| f.severity);
    CaseAudit {
        checks: a.checks,
        findings: a.findings,
        verdict,
    }
}

fn exchange(a: &mut Auditor, id: SideId, side: &Normalized) {
    if side.attempts > 1 {
        a.find(
            Invariant::Exchange,
            Severity::Note,
            Some(id),
            None,
            format!(
                "{} took {} attempts (the SDK retried); each attempt that reached the model may have been billed",
                side.operation, side.attempts
            ),
        );
    }
    match &side.failure {
        None => a.check(Invariant::Exchange, Some(id), Status::Held),
        Some(f) => {
            a.check(Invariant::Exchange, Some(id), Status::Error);
            a.find(
                Invariant::Exchange,
                Severity::Error,
                Some(id),
                None,
                format!("{} failed: {f}", side.operation),
            );
            if let Some(last) = a.findings.last_mut() {
                last.hint = failure_hint(f).to_string();
            }
        }
    }
}

/// What to do about a runtime failure, by its type.
fn failure_hint(f: &crate::core::normalize::Failure) -> &'static str {
    let n = f.name.to_ascii_lowercase();
    if f.kind == "exception" || f.kind == "error" {
        "the model failed mid-stream, so that stream's usage is partial; retry the run (a persistent failure is the provider's)"
    } else if n.contains("throttl") || f.status == Some(429) {
        "throttled even after the SDK's retries: lower --concurrency, raise --max-attempts, or request a higher quota"
    } else if n.contains("accessdenied") {
        "access denied: grant bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream, and enable access to this model in the Bedrock console"
    } else if n.contains("resourcenotfound") {
        "model not found in this region: check --model and --region (newer models need an inference-profile id such as us.anthropic.…)"
    } else if n.contains("validation") {
        "the request was rejected: check --model, --max-tokens and the prompt"
    } else if n.contains("timeout") {
        "no complete response in time: raise --timeout, or check the endpoint"
    } else if f.kind == "transport" {
        "could not reach the endpoint: check --endpoint-url, the network, and your credentials"
    } else {
        Invariant::Exchange.hint()
    }
}

fn input_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized) {
    let inv = Invariant::InputParity;
    let (x, y) = (ns.usage.input_total(), st.usage.input_total());
    let (Some(x), Some(y)) = (x, y) else {
        a.check(inv, None, Status::NotComparable);
        let missing = if x.is_none() {
            SideId::NonStreaming
        } else {
            SideId::Streaming
        };
        a.find(
            inv,
            Severity::NotComparable,
            Some(missing),
            Some(Field::InputTotal),
            format!("the {missing} side carried no input usage, so input cannot be compared"),
        );
        return;
    };
    if x != y {
        a.violated_by(
            inv,
            None,
            Some(Field::InputTotal),
            format!(
                "total input differs: non-streaming {x} (input {}), streaming {y} (input {})",
                show(ns.usage.input.as_ref()),
                show(st.usage.input.as_ref())
            ),
            x,
            y,
        );
        return;
    }
    a.check(inv, None, Status::Held);
    let split = |u: &UsageSet| {
        [Field::Input, Field::CacheRead, Field::CacheWrite].map(|f| u.value(f).unwrap_or(0))
    };
    let (sx, sy) = (split(&ns.usage), split(&st.usage));
    if sx != sy {
        a.find(
            inv,
            Severity::Note,
            None,
            Some(Field::InputTotal),
            format!(
                "total input agrees ({x}) but the cache split differs: non-streaming input/read/write {}/{}/{}, streaming {}/{}/{} (one call wrote the cache, the other read it)",
                sx[0], sx[1], sx[2], sy[0], sy[1], sy[2]
            ),
        );
    }
}

fn output_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized) {
    let inv = Invariant::OutputParity;
    if ns.text != st.text {
        a.check(inv, None, Status::NotComparable);
        a.find(
            inv,
            Severity::NotComparable,
            None,
            Some(Field::Output),
            format!(
                "completion texts differ ({} vs {} chars: {:?} vs {:?}), so output counts are not comparable",
                ns.text.chars, st.text.chars, ns.text.preview, st.text.preview
            ),
        );
        return;
    }
    let (Some(x), Some(y)) = (ns.usage.output.as_ref(), st.usage.output.as_ref()) else {
        a.check(inv, None, Status::NotComparable);
        let missing = if ns.usage.output.is_none() {
            SideId::NonStreaming
        } else {
            SideId::Streaming
        };
        a.find(
            inv,
            Severity::NotComparable,
            Some(missing),
            Some(Field::Output),
            format!("the {missing} side carried no output usage, so output cannot be compared"),
        );
        return;
    };
    if x.value == y.value {
        a.check(inv, None, Status::Held);
    } else {
        a.violated_by(
            inv,
            None,
            Some(Field::Output),
            format!(
                "identical completion text ({} chars) but output differs: non-streaming {}, streaming {}",
                ns.text.chars,
                show(Some(x)),
                show(Some(y))
            ),
            x.value,
            y.value,
        );
    }
}

fn stream_complete(a: &mut Auditor, id: SideId, side: &Normalized) {
    let facts = side.stream.clone().unwrap_or_default();
    if facts.terminal_frame.is_some() {
        a.check(Invariant::StreamComplete, Some(id), Status::Held);
    } else {
        let terminal = match side.operation {
            Operation::ConverseStream => "messageStop",
            Operation::ChatCompletionsStream => "data: [DONE]",
            _ => "message_stop",
        };
        a.violated(
            Invariant::StreamComplete,
            Some(id),
            None,
            format!(
                "the stream ended after {} frames ({} bytes) without {terminal}",
                facts.frames, facts.bytes
            ),
        );
    }
}

fn usage_present(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::UsagePresent;
    let facts = side.stream.clone().unwrap_or_default();
    let Some(terminal) = facts.terminal_frame else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    let ch = &side.channels;
    if side.operation == Operation::ChatCompletionsStream && ch.usage_chunks.is_empty() {
        // Whether usage was due at all is include-usage-honored's question.
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    }
    let final_event = match side.operation {
        Operation::ConverseStream => ch.metadata.is_some(),
        Operation::ChatCompletionsStream => true,
        _ => {
            ch.message_deltas.iter().any(|d| d.output.is_some())
                || ch
                    .invocation_metrics
                    .as_ref()
                    .is_some_and(|m| m.output.is_some())
        }
    };
    if !final_event {
        let what = match side.operation {
            Operation::ConverseStream => match &facts.misplaced_usage {
                Some(at) => format!(
                    "no `metadata.usage` (a usage object sits at the wrong nesting level, {at}; typed SDKs read it as all zeros)"
                ),
                None => "no `metadata` event with usage after messageStop".into(),
            },
            _ => format!(
                "no message_delta usage and no invocationMetrics; the only output figure is {}",
                show(ch.message_start.as_ref().and_then(|s| s.output.as_ref()))
            ),
        };
        a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            format!("the stream completed (terminal event in frame {terminal}) but carried {what}"),
        );
        return;
    }
    if side.usage.input_total() == Some(0) {
        a.violated(
            inv,
            Some(id),
            Some(Field::Input),
            format!(
                "final usage reports 0 input tokens ({}); every request has input",
                show(side.usage.input.as_ref())
            ),
        );
        return;
    }
    if side.text.chars > 0 && side.usage.value(Field::Output) == Some(0) {
        a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            format!(
                "final usage reports 0 output tokens although {} characters were generated",
                side.text.chars
            ),
        );
        return;
    }
    a.check(inv, Some(id), Status::Held);
}

fn no_placeholder(a: &mut Auditor, id: SideId, side: &Normalized, reference: Option<&Obs>) {
    let inv = Invariant::NoPlaceholder;
    let ch = &side.channels;
    if side
        .stream
        .as_ref()
        .is_some_and(|f| f.terminal_frame.is_none())
    {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    }
    let Some(placeholder) = ch.message_start.as_ref().and_then(|s| s.output.as_ref()) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    let Some(out) = side.usage.output.as_ref() else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    if out.kind == Kind::Placeholder {
        a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            format!(
                "the final output count is the message_start placeholder {}",
                show(Some(out))
            ),
        );
        return;
    }
    if out.value == placeholder.value
        && let Some(m) = reference.filter(|m| m.value != out.value)
    {
        a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            format!(
                "the final output {} repeats the message_start placeholder ({}) while {}",
                show(Some(out)),
                placeholder.value,
                show(Some(m))
            ),
        );
        return;
    }
    a.check(inv, Some(id), Status::Held);
}

fn cumulative_not_summed(a: &mut Auditor, id: SideId, side: &Normalized, reference: Option<&Obs>) {
    let inv = Invariant::CumulativeNotSummed;
    let ch = &side.channels;
    if ch.message_deltas.is_empty() {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    }
    for field in [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::Output,
    ] {
        let mut prev: Option<&crate::core::normalize::Obs> = None;
        for d in &ch.message_deltas {
            if let Some(o) = d.get(field) {
                if let Some(p) = prev.filter(|p| o.value < p.value) {
                    a.violated(
                        inv,
                        Some(id),
                        Some(field),
                        format!(
                            "cumulative counter decreased from {} to {}: the deltas are not cumulative",
                            show(Some(p)),
                            show(Some(o))
                        ),
                    );
                    return;
                }
                prev = Some(o);
            }
        }
    }
    // With an independent reference, recognise the two summing signatures.
    let outs: Vec<u64> = ch
        .message_deltas
        .iter()
        .filter_map(|d| d.output.as_ref().map(|o| o.value))
        .collect();
    if let (Some(r), Some(&last)) = (reference, outs.last())
        && last != r.value
    {
        let sum: u64 = outs.iter().sum();
        let before = if outs.len() >= 2 {
            Some(outs[outs.len() - 2])
        } else {
            ch.message_start
                .as_ref()
                .and_then(|s| s.output.as_ref())
                .map(|o| o.value)
        };
        if outs.len() >= 2 && sum == r.value {
            a.violated(
                inv,
                Some(id),
                Some(Field::Output),
                format!(
                    "message_delta output counters {outs:?} sum to {} ({}): they were emitted as increments, not cumulative totals",
                    r.value, r.source
                ),
            );
            return;
        }
        if let Some(b) = before.filter(|b| last >= *b && last - b == r.value) {
            a.violated(
                inv,
                Some(id),
                Some(Field::Output),
                format!(
                    "the final output counter {last} is the previous figure {b} plus the real count {} ({}): cumulative counters were summed",
                    r.value, r.source
                ),
            );
            return;
        }
    }
    a.check(inv, Some(id), Status::Held);
}

fn headers_match_body(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::HeadersMatchBody;
    let (Some(h), Some(b)) = (&side.channels.headers, &side.channels.body) else {
        a.check(inv, Some(id), Status::NotApplicable);
        if side.channels.headers.is_none() && side.channels.body.is_some() {
            a.find(inv, Severity::Note, Some(id), None,
                "no X-Amzn-Bedrock-*-Token-Count headers (a gateway may strip them); the body is the only source".into());
        }
        return;
    };
    let mut ok = true;
    for field in [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::Output,
    ] {
        if let Some(hv) = h.get(field) {
            let bv = b.value(field).unwrap_or(0);
            if hv.value != bv {
                ok = false;
                a.violated(
                    inv,
                    Some(id),
                    Some(field),
                    format!(
                        "{field}: {} but body says {}",
                        show(Some(hv)),
                        show(b.get(field)).replace("absent", "absent (0)")
                    ),
                );
                a.set_delta(hv.value, bv);
            }
        }
    }
    if ok {
        a.check(inv, Some(id), Status::Held);
    }
}

fn metrics_match_events(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::MetricsMatchEvents;
    let ch = &side.channels;
    let Some(m) = &ch.invocation_metrics else {
        a.check(inv, Some(id), Status::NotApplicable);
        if side
            .stream
            .as_ref()
            .is_some_and(|s| s.terminal_frame.is_some())
        {
            a.find(inv, Severity::Note, Some(id), None,
                "the last chunk carries no amazon-bedrock-invocationMetrics (Bedrock sends them on message_stop); only the Anthropic events count".into());
        }
        return;
    };
    let event = |field: Field| -> Option<&crate::core::normalize::Obs> {
        match field {
            Field::Output => ch
                .message_deltas
                .iter()
                .rev()
                .find_map(|d| d.output.as_ref()),
            f => ch
                .message_deltas
                .iter()
                .rev()
                .find_map(|d| d.get(f))
                .or_else(|| ch.message_start.as_ref().and_then(|s| s.get(f))),
        }
    };
    let mut ok = true;
    for field in [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::Output,
    ] {
        let Some(mv) = m.get(field) else { continue };
        let ev = event(field);
        let evv = match (field, ev) {
            (_, Some(o)) => o.value,
            (Field::Output, None) => continue, // no message_delta: usage-present speaks to that
            (Field::Input, None) => continue,
            (_, None) => 0,
        };
        if mv.value != evv {
            ok = false;
            a.violated(
                inv,
                Some(id),
                Some(field),
                format!(
                    "{field}: {} but the events say {}",
                    show(Some(mv)),
                    show(ev).replace("absent", "absent (0)")
                ),
            );
            a.set_delta(mv.value, evv);
        }
    }
    if ok {
        a.check(inv, Some(id), Status::Held);
    }
}

fn include_usage_honored(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::IncludeUsageHonored;
    let facts = side.stream.clone().unwrap_or_default();
    if facts.include_usage_requested != Some(true) || facts.terminal_frame.is_none() {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    }
    let chunks = &side.channels.usage_chunks;
    match chunks.len() {
        0 => a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            "stream_options.include_usage was sent but no chunk carried usage".into(),
        ),
        1 => {
            a.check(inv, Some(id), Status::Held);
            if facts.usage_chunks_with_choices.unwrap_or(0) > 0 {
                a.find(inv, Severity::Note, Some(id), None,
                    "the usage chunk has a non-empty `choices` (LiteLLM style, not OpenAI's `choices: []`); clients that look for `choices == []` miss it".into());
            }
        }
        n => a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            format!(
                "{n} chunks carried usage ({}); include_usage promises one, and a client that sums them reports {}",
                chunks
                    .iter()
                    .filter_map(|c| c.output.as_ref().map(|o| format!("output {} at {}", o.value, o.source)))
                    .collect::<Vec<_>>()
                    .join(", "),
                chunks.iter().filter_map(|c| c.value(Field::Output)).sum::<u64>()
            ),
        ),
    }
}

fn cached_within_prompt(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::CachedWithinPrompt;
    let u = &side.usage;
    let Some(prompt) = u.prompt_inclusive.as_ref() else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    let cached = u.value(Field::CacheRead).unwrap_or(0) + u.value(Field::CacheWrite).unwrap_or(0);
    if cached <= prompt.value {
        a.check(inv, Some(id), Status::Held);
    } else {
        a.violated(
            inv,
            Some(id),
            Some(Field::CacheRead),
            format!(
                "cache tokens {} ({}) exceed {}: prompt_tokens must include them",
                cached,
                show(u.cache_read.as_ref().or(u.cache_write.as_ref())),
                show(Some(prompt))
            ),
        );
    }
}

fn ledger_parity(a: &mut Auditor, id: SideId, side: &Normalized, upstream: Option<&UpstreamSide>) {
    let inv = Invariant::LedgerParity;
    if side.failure.is_some() {
        return;
    }
    let Some(up) = upstream else {
        a.check(inv, Some(id), Status::NotComparable);
        a.find(inv, Severity::NotComparable, Some(id), None,
            "no upstream request in the ledger carries this request's marker: is --ledger the ledger of this gateway's upstream, and does the gateway forward the system prompt?".into());
        return;
    };
    if up.requests > 1 {
        a.find(inv, Severity::Note, Some(id), None, format!(
            "the gateway sent {} upstream requests for this one call (retries); the last is compared", up.requests));
    }
    let Some(truth) = up.usage.as_ref() else {
        a.check(inv, Some(id), Status::NotApplicable);
        a.find(
            inv,
            Severity::Note,
            Some(id),
            None,
            format!(
                "upstream request {} carried no usage, so there is nothing to hold the gateway to",
                up.request_id
            ),
        );
        return;
    };
    let mut ok = true;
    let g = &side.usage;
    let up_src = |f: Field| format!("ledger {} {} {}", up.request_id, up.operation, f);
    // Output: no convention applies.
    if let (Some(gv), Some(tv)) = (g.value(Field::Output), truth.value(Field::Output))
        && gv != tv
    {
        ok = false;
        a.violated(
            inv,
            Some(id),
            Some(Field::Output),
            format!(
                "the gateway reported output {} ({}) but its upstream reported {tv} ({})",
                gv,
                show(g.output.as_ref()),
                up_src(Field::Output)
            ),
        );
        a.set_delta(gv, tv);
    }
    // Total input, with the documented gateway conventions recognised.
    if let (Some(gv), Some(tv)) = (g.input_total(), truth.input_total()) {
        let up_input = truth.value(Field::Input).unwrap_or(0);
        let up_read = truth.value(Field::CacheRead).unwrap_or(0);
        if gv != tv {
            if gv == up_input + up_read && gv != up_input {
                a.find(inv, Severity::Note, Some(id), Some(Field::InputTotal), format!(
                    "the gateway's prompt counts cache reads but not cache writes ({gv} = input {up_input} + cache_read {up_read}; upstream total {tv}): an older LiteLLM convention (PR #9838)"));
            } else {
                ok = false;
                a.violated(inv, Some(id), Some(Field::InputTotal), format!(
                    "the gateway reported total input {gv} but its upstream reported {tv} (input {up_input}, cache_read {up_read}, cache_write {}) for the same request ({})",
                    truth.value(Field::CacheWrite).unwrap_or(0), up.request_id));
                a.set_delta(gv, tv);
            }
        }
    }
    // Cache fields, when the gateway reports them at all.
    for f in [Field::CacheRead, Field::CacheWrite] {
        if let Some(gv) = g.value(f) {
            let tv = truth.value(f).unwrap_or(0);
            if gv != tv {
                ok = false;
                a.violated(
                    inv,
                    Some(id),
                    Some(f),
                    format!(
                        "the gateway reported {f} {gv} ({}) but its upstream reported {tv} ({})",
                        show(g.get(f)),
                        up_src(f)
                    ),
                );
                a.set_delta(gv, tv);
            }
        }
    }
    if ok {
        a.check(inv, Some(id), Status::Held);
    }
}

fn total_is_sum(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::TotalIsSum;
    let u = &side.usage;
    let Some(total) = u.total.as_ref().filter(|t| t.kind == Kind::Reported) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    // OpenAI-shaped totals add the inclusive prompt_tokens; the others the three input fields.
    let input_total = u
        .prompt_inclusive
        .as_ref()
        .map(|p| p.value)
        .or(u.input_total());
    let (Some(input_total), Some(out)) = (input_total, u.value(Field::Output)) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    if total.value == input_total + out {
        a.check(inv, Some(id), Status::Held);
    } else {
        a.violated(
            inv,
            Some(id),
            Some(Field::Total),
            format!(
                "{} but input {} + cache_read {} + cache_write {} + output {} = {}",
                show(Some(total)),
                u.value(Field::Input).unwrap_or(0),
                u.value(Field::CacheRead).unwrap_or(0),
                u.value(Field::CacheWrite).unwrap_or(0),
                out,
                input_total + out
            ),
        );
        a.set_delta(total.value, input_total + out);
    }
}

/// `baseline-drift` for one side: the total input of `current` against the recorded
/// `baseline` of the same case and API. `None` when either side carries no input.
pub fn baseline_drift(
    side: SideId,
    current: &Normalized,
    baseline: &Normalized,
    baseline_source: &str,
) -> Option<(Check, Option<Finding>)> {
    let (now, then) = (current.usage.input_total()?, baseline.usage.input_total()?);
    let inv = Invariant::BaselineDrift;
    if now == then {
        return Some((
            Check {
                invariant: inv,
                side: Some(side),
                status: Status::Held,
            },
            None,
        ));
    }
    Some((
        Check {
            invariant: inv,
            side: Some(side),
            status: Status::Violated,
        },
        Some(Finding {
            invariant: inv,
            severity: Severity::Violation,
            side: Some(side),
            field: Some(Field::InputTotal),
            message: format!(
                "total input is {now} now but {then} in the baseline ({baseline_source})"
            ),
            hint: inv.hint().to_string(),
            delta: Some(now.abs_diff(then)),
        }),
    ))
}

/// The verdict a set of checks implies (the same rule as [`audit`]).
pub fn verdict_of(checks: &[Check]) -> Verdict {
    if checks.iter().any(|c| c.status == Status::Violated) {
        Verdict::Mismatch
    } else if checks.iter().any(|c| c.status == Status::Error) {
        Verdict::Error
    } else if checks.iter().any(|c| c.status == Status::NotComparable) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::normalize::{Obs, StreamFacts, TextDigest};

    fn obs(value: u64, source: &str, kind: Kind) -> Option<Obs> {
        Some(Obs {
            value,
            source: source.into(),
            kind,
        })
    }

    fn usage(input: u64, read: u64, write: u64, output: u64) -> UsageSet {
        UsageSet {
            input: obs(input, "in", Kind::Reported),
            cache_read: obs(read, "cr", Kind::Reported),
            cache_write: obs(write, "cw", Kind::Reported),
            output: obs(output, "out", Kind::Reported),
            ..UsageSet::default()
        }
    }

    fn side(op: Operation, u: UsageSet, text: &str) -> Normalized {
        let mut t = TextDigest::default();
        t.push(text);
        Normalized {
            operation: op,
            attempts: 1,
            status: Some(200),
            usage: u.clone(),
            channels: crate::core::normalize::Channels {
                body: (!op.is_streaming()).then(|| u.clone()),
                message_start: (op == Operation::InvokeModelWithResponseStream).then(|| UsageSet {
                    output: obs(1, "start", Kind::Placeholder),
                    ..u.clone()
                }),
                message_deltas: if op == Operation::InvokeModelWithResponseStream {
                    vec![UsageSet {
                        output: u.output.clone(),
                        ..UsageSet::default()
                    }]
                } else {
                    vec![]
                },
                metadata: (op == Operation::ConverseStream).then(|| u.clone()),
                ..Default::default()
            },
            text: t,
            stop_reason: None,
            stream: op.is_streaming().then(|| StreamFacts {
                terminal_frame: Some(5),
                ..Default::default()
            }),
            failure: None,
        }
    }

    fn violated(a: &CaseAudit) -> Vec<Invariant> {
        let mut v: Vec<Invariant> = a
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Violation)
            .map(|f| f.invariant)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn a_consistent_pair_passes() {
        let a = audit(
            &side(Operation::InvokeModel, usage(10, 0, 0, 2), "Hi!"),
            &side(
                Operation::InvokeModelWithResponseStream,
                usage(10, 0, 0, 2),
                "Hi!",
            ),
        );
        assert_eq!(a.verdict, Verdict::Pass, "{:?}", a.findings);
        assert!(
            a.checks
                .iter()
                .any(|c| c.invariant == Invariant::InputParity && c.status == Status::Held)
        );
    }

    #[test]
    fn a_cache_split_is_a_note_not_a_mismatch() {
        let a = audit(
            &side(Operation::Converse, usage(3, 0, 100, 2), "Hi!"),
            &side(Operation::ConverseStream, usage(3, 100, 0, 2), "Hi!"),
        );
        assert_eq!(a.verdict, Verdict::Pass);
        assert!(
            a.findings
                .iter()
                .any(|f| f.severity == Severity::Note && f.message.contains("cache split"))
        );
    }

    #[test]
    fn different_texts_make_output_not_comparable() {
        let a = audit(
            &side(Operation::Converse, usage(10, 0, 0, 2), "Hi!"),
            &side(Operation::ConverseStream, usage(10, 0, 0, 3), "Hello"),
        );
        assert_eq!(a.verdict, Verdict::Inconclusive);
        assert!(violated(&a).is_empty());
    }

    #[test]
    fn input_and_output_drift_are_mismatches() {
        let a = audit(
            &side(Operation::Converse, usage(10, 0, 0, 4), "Hi!"),
            &side(Operation::ConverseStream, usage(3, 1796, 0, 392), "Hi!"),
        );
        assert_eq!(a.verdict, Verdict::Mismatch);
        assert_eq!(
            violated(&a),
            vec![Invariant::InputParity, Invariant::OutputParity]
        );
    }

    #[test]
    fn a_decreasing_counter_violates_cumulative_not_summed() {
        let mut st = side(
            Operation::InvokeModelWithResponseStream,
            usage(10, 0, 0, 5),
            "x",
        );
        st.channels.message_deltas = vec![
            UsageSet {
                output: obs(9, "d1", Kind::Reported),
                ..Default::default()
            },
            UsageSet {
                output: obs(5, "d2", Kind::Reported),
                ..Default::default()
            },
        ];
        let a = audit(&side(Operation::InvokeModel, usage(10, 0, 0, 5), "x"), &st);
        assert!(violated(&a).contains(&Invariant::CumulativeNotSummed));
    }

    #[test]
    fn summed_counters_are_recognised_against_the_metrics() {
        let mut st = side(
            Operation::InvokeModelWithResponseStream,
            usage(10, 0, 0, 16),
            "x",
        );
        st.channels.message_deltas = vec![UsageSet {
            output: obs(16, "d", Kind::Reported),
            ..Default::default()
        }];
        st.channels.invocation_metrics = Some(UsageSet {
            input: obs(10, "m", Kind::Reported),
            output: obs(15, "m", Kind::Reported),
            ..Default::default()
        });
        let a = audit(&side(Operation::InvokeModel, usage(10, 0, 0, 15), "x"), &st);
        let v = violated(&a);
        assert!(
            v.contains(&Invariant::CumulativeNotSummed)
                && v.contains(&Invariant::MetricsMatchEvents),
            "{v:?}"
        );
    }

    #[test]
    fn converse_totals_must_include_cache() {
        let mut ns = side(Operation::Converse, usage(18, 0, 7502, 386), "x");
        ns.usage.total = obs(404, "body:usage.totalTokens", Kind::Reported);
        let a = audit(
            &ns,
            &side(Operation::ConverseStream, usage(18, 0, 7502, 386), "x"),
        );
        assert_eq!(violated(&a), vec![Invariant::TotalIsSum]);
    }

    #[test]
    fn runtime_failures_are_errors_and_skip_parity() {
        let mut st = side(Operation::ConverseStream, UsageSet::default(), "");
        st.failure = Some(crate::core::normalize::Failure {
            kind: "exception",
            name: "modelStreamErrorException".into(),
            message: "boom".into(),
            frame: Some(2),
            status: None,
        });
        let a = audit(&side(Operation::Converse, usage(10, 0, 0, 2), "Hi!"), &st);
        assert_eq!(a.verdict, Verdict::Error);
        assert!(
            !a.checks
                .iter()
                .any(|c| c.invariant == Invariant::InputParity)
        );
        assert!(
            a.findings[0]
                .message
                .contains("modelStreamErrorException in frame 2")
        );
    }

    #[test]
    fn ids_round_trip() {
        for i in Invariant::ALL {
            assert_eq!(Invariant::from_id(i.id()), Some(i));
        }
    }
}
