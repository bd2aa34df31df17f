//! In one streamed response: the stream ended with its terminal event, carried final usage,
//! did not leave the `message_start` placeholder as the final output, and kept its cumulative
//! counters cumulative (`shared/reference/wire-formats.md` §2.5, §5.3).

use super::{Auditor, Invariant, SideId, Status, show};
use crate::core::capture::Operation;
use crate::core::normalize::{Field, Kind, Normalized, Obs};

pub(super) fn stream_complete(a: &mut Auditor, id: SideId, side: &Normalized) {
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
