//! Gateways (OpenAI-compatible targets and the upstream ledger): a stream sent with
//! `include_usage` carries exactly one usage chunk, cache tokens fit inside `prompt_tokens`, and
//! what the gateway reported equals what its upstream reported for the same request.

use super::{Auditor, Invariant, Severity, SideId, Status, show};
use crate::core::count;
use crate::core::ledger::UpstreamSide;
use crate::core::normalize::{Field, Normalized, UsageSet};

pub(super) fn include_usage_honored(a: &mut Auditor, id: SideId, side: &Normalized) {
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
                count::sum(chunks.iter().filter_map(|c| c.value(Field::Output)))
                    .map_or("more than 2^64".to_string(), |s| s.to_string())
            ),
        ),
    }
}

pub(super) fn cached_within_prompt(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::CachedWithinPrompt;
    let u = &side.usage;
    let Some(prompt) = u.prompt_inclusive.as_ref() else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    let cached = count::sum([
        u.value(Field::CacheRead).unwrap_or(0),
        u.value(Field::CacheWrite).unwrap_or(0),
    ])
    .unwrap_or(u64::MAX);
    if cached <= prompt.value {
        a.check(inv, Some(id), Status::Held);
    } else {
        a.violated(
            inv,
            Some(id),
            Some(Field::CacheRead),
            format!(
                "cache tokens {cached} (read {}, write {}) exceed {}: prompt_tokens must include them",
                show(u.cache_read.as_ref()),
                show(u.cache_write.as_ref()),
                show(Some(prompt))
            ),
        );
    }
}

pub(super) fn ledger_parity(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    upstream: Option<&UpstreamSide>,
) {
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
    let g = &side.usage;
    // Each comparison runs (so every differing field is reported), then the check holds only
    // when none differed.
    let held = [
        count_vs_upstream(a, (id, Field::Output, ""), g, truth, up),
        input_vs_upstream(a, id, g, truth, up),
        cache_vs_upstream(a, id, g, truth, up),
        // A gateway that counts the thinking text itself (the upstream wire may not carry
        // the count) reports an estimate, not the bill.
        count_vs_upstream(a, (id, Field::Reasoning, REASONING_WHY), g, truth, up),
        super::cache::ttl_forwarded(a, id, side, truth),
    ]
    .iter()
    .all(|&ok| ok);
    if held {
        a.check(inv, Some(id), Status::Held);
    }
}

/// What the upstream billed for a stream tokaudit closed: the figure its record is held to.
pub(super) fn aborted_bill(a: &mut Auditor, id: SideId, up: &UpstreamSide) {
    let Some(u) = up.usage.as_ref() else { return };
    let (input, output) = (
        u.input_total().unwrap_or(0),
        u.value(Field::Output).unwrap_or(0),
    );
    a.find(Invariant::LedgerParity, Severity::Note, Some(id), None, format!(
        "for the aborted stream the upstream billed total input {input} and output {output} (ledger {}): what it generated until the gateway let go of it",
        up.request_id));
}

/// Why a gateway's reasoning differs from its upstream's, most often.
const REASONING_WHY: &str = ": an estimate from the thinking text, or a lost detail";

fn upstream_source(up: &UpstreamSide, f: Field) -> String {
    format!("ledger {} {} {}", up.request_id, up.operation, f)
}

/// One count the gateway passes on with no convention (output, reasoning), when it reports
/// it; `why` names the probable cause of a difference.
fn count_vs_upstream(
    a: &mut Auditor,
    (id, field, why): (SideId, Field, &str),
    g: &UsageSet,
    truth: &UsageSet,
    up: &UpstreamSide,
) -> bool {
    let (Some(gv), Some(tv)) = (g.value(field), truth.value(field)) else {
        return true;
    };
    if gv == tv {
        return true;
    }
    a.violated_by(
        Invariant::LedgerParity,
        Some(id),
        Some(field),
        format!(
            "the gateway reported {field} {} but its upstream reported {tv} ({}){why}",
            show(g.get(field)),
            upstream_source(up, field)
        ),
        gv,
        tv,
    );
    false
}

/// Total input, with the documented gateway conventions recognised.
fn input_vs_upstream(
    a: &mut Auditor,
    id: SideId,
    g: &UsageSet,
    truth: &UsageSet,
    up: &UpstreamSide,
) -> bool {
    let inv = Invariant::LedgerParity;
    let (Some(gv), Some(tv)) = (g.input_total(), truth.input_total()) else {
        return true;
    };
    if gv == tv {
        return true;
    }
    let up_input = truth.value(Field::Input).unwrap_or(0);
    let up_read = truth.value(Field::CacheRead).unwrap_or(0);
    // An OpenAI-shaped gateway's own prompt count, before any conversion.
    let prompt = g.prompt_inclusive.as_ref().map_or(gv, |p| p.value);
    if count::sum([up_input, up_read]) == Some(prompt) && prompt != tv {
        let gv = prompt;
        a.find(inv, Severity::Note, Some(id), Some(Field::InputTotal), format!(
            "the gateway's prompt counts cache reads but not cache writes ({gv} = input {up_input} + cache_read {up_read}; upstream total {tv}): an older LiteLLM convention (PR #9838)"));
        return true;
    }
    a.violated_by(inv, Some(id), Some(Field::InputTotal), format!(
        "the gateway reported total input {gv} but its upstream reported {tv} (input {up_input}, cache_read {up_read}, cache_write {}) for the same request ({})",
        truth.value(Field::CacheWrite).unwrap_or(0), up.request_id), gv, tv);
    false
}

/// Cache fields, when the gateway reports them at all.
fn cache_vs_upstream(
    a: &mut Auditor,
    id: SideId,
    g: &UsageSet,
    truth: &UsageSet,
    up: &UpstreamSide,
) -> bool {
    let mut ok = true;
    for f in [
        Field::CacheRead,
        Field::CacheWrite,
        Field::CacheWrite5m,
        Field::CacheWrite1h,
    ] {
        let Some(gv) = g.value(f) else { continue };
        let tv = truth.value(f).unwrap_or(0);
        if gv != tv {
            ok = false;
            a.violated_by(
                Invariant::LedgerParity,
                Some(id),
                Some(f),
                format!(
                    "the gateway reported {f} {} but its upstream reported {tv} ({})",
                    show(g.get(f)),
                    upstream_source(up, f)
                ),
                gv,
                tv,
            );
        }
    }
    ttl_unreported_note(a, id, g, truth);
    ok
}

/// The gateway reports a cache write without its TTL split while the upstream kept (part of)
/// it for an hour: whoever prices the gateway's numbers prices it as a 5-minute write.
fn ttl_unreported_note(a: &mut Auditor, id: SideId, g: &UsageSet, truth: &UsageSet) {
    let hour = truth.value(Field::CacheWrite1h).unwrap_or(0);
    let split = g.cache_write_5m.is_some() || g.cache_write_1h.is_some();
    if hour > 0 && !split && g.value(Field::CacheWrite).is_some_and(|w| w > 0) {
        a.find(Invariant::LedgerParity, Severity::Note, Some(id), Some(Field::CacheWrite1h), format!(
            "the gateway reports the cache write without its TTL, but its upstream kept {hour} tokens for 1 hour: whoever prices the gateway's numbers prices them as 5-minute writes"));
    }
}
