//! In one streamed response: the stream ended with its terminal event, carried final usage,
//! did not leave the `message_start` placeholder as the final output, and kept its cumulative
//! counters cumulative (`shared/reference/wire-formats.md` §2.5, §5.3).

use super::{Auditor, Invariant, Severity, SideId, Status, show};
use crate::core::capture::Operation;
use crate::core::count;
use crate::core::normalize::{Field, Kind, Normalized, Obs, UsageSet};

pub(super) fn stream_complete(a: &mut Auditor, id: SideId, side: &Normalized) {
    let facts = side.stream.clone().unwrap_or_default();
    if facts.terminal_frame.is_some() {
        a.check(Invariant::StreamComplete, Some(id), Status::Held);
    } else {
        let terminal = match side.operation {
            Operation::ConverseStream => "messageStop",
            Operation::ChatCompletionsStream => "data: [DONE]",
            Operation::ResponsesStream => "response.completed (or incomplete / failed)",
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

pub(super) fn usage_present(a: &mut Auditor, id: SideId, side: &Normalized) {
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
        Operation::ResponsesStream => !ch.usage_chunks.is_empty(),
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
            Operation::ResponsesStream => "no `response.usage` on its terminal event".into(),
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

pub(super) fn no_placeholder(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    reference: Option<&Obs>,
) {
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

pub(super) fn stream_order(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::StreamOrder;
    if let Some(i) = side.stream.as_ref().and_then(|f| f.trailing_done) {
        a.find(inv, Severity::Note, Some(id), None, format!(
            "event[{i}] data: [DONE] follows the terminal event: not part of the Responses protocol (a chat-completions habit); clients stop at it, usage is unaffected"));
    }
    match side
        .stream
        .as_ref()
        .and_then(|f| f.order_violation.as_ref())
    {
        Some(v) => a.violated(
            inv,
            Some(id),
            None,
            format!("{} out of order: {v}", side.operation),
        ),
        None => a.check(inv, Some(id), Status::Held),
    }
}

pub(super) fn cumulative_not_summed(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    reference: Option<&Obs>,
) {
    let inv = Invariant::CumulativeNotSummed;
    let ch = &side.channels;
    if ch.message_deltas.is_empty() {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    }
    if let Some((field, before, after)) = decreasing_counter(&ch.message_deltas) {
        let msg = format!(
            "cumulative counter decreased from {} to {}: the deltas are not cumulative",
            show(Some(before)),
            show(Some(after))
        );
        a.violated(inv, Some(id), Some(field), msg);
        return;
    }
    let start = ch
        .message_start
        .as_ref()
        .and_then(|s| s.output.as_ref())
        .map(|o| o.value);
    match reference.and_then(|r| summing_signature(&ch.message_deltas, start, r)) {
        Some(msg) => a.violated(inv, Some(id), Some(Field::Output), msg),
        None => a.check(inv, Some(id), Status::Held),
    }
}

/// The first counter that goes down between two `message_delta`s, if any.
fn decreasing_counter(deltas: &[UsageSet]) -> Option<(Field, &Obs, &Obs)> {
    for field in [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::Output,
    ] {
        let mut prev: Option<&Obs> = None;
        for o in deltas.iter().filter_map(|d| d.get(field)) {
            if let Some(p) = prev.filter(|p| o.value < p.value) {
                return Some((field, p, o));
            }
            prev = Some(o);
        }
    }
    None
}

/// With an independent reference for the output, recognise the two summing signatures: the
/// counters add up to the reference (they were increments), or the last one is the previous
/// figure plus the reference (a relay summed snapshots).
fn summing_signature(deltas: &[UsageSet], start: Option<u64>, r: &Obs) -> Option<String> {
    let outs: Vec<u64> = deltas
        .iter()
        .filter_map(|d| d.output.as_ref().map(|o| o.value))
        .collect();
    let &last = outs.last()?;
    if last == r.value {
        return None;
    }
    if outs.len() >= 2 && count::sum(outs.iter().copied()) == Some(r.value) {
        return Some(format!(
            "message_delta output counters {outs:?} sum to {} ({}): they were emitted as increments, not cumulative totals",
            r.value, r.source
        ));
    }
    let before = if outs.len() >= 2 {
        Some(outs[outs.len() - 2])
    } else {
        start
    };
    let b = before.filter(|b| last.checked_sub(*b) == Some(r.value))?;
    Some(format!(
        "the final output counter {last} is the previous figure {b} plus the real count {} ({}): cumulative counters were summed",
        r.value, r.source
    ))
}
