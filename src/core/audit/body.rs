//! In one response, where a format carries usage in several channels: InvokeModel headers
//! against the body, `invocationMetrics` against the Anthropic events, and a reported total
//! against its parts (`shared/reference/wire-formats.md` §1.4, §2.6, §3.2, §7.3).

use super::{Auditor, Invariant, Severity, SideId, Status, show};
use crate::core::count;
use crate::core::normalize::{Channels, Field, Kind, Normalized, Obs};

/// The counts a secondary channel carries (headers, metrics) against the primary one.
const CHANNEL_FIELDS: [Field; 4] = [
    Field::Input,
    Field::CacheRead,
    Field::CacheWrite,
    Field::Output,
];

/// Record `field` of a secondary channel disagreeing with the primary one, `what` naming it
/// ("body says", "the events say"); an absent primary count is read as 0.
fn channel_differs(
    a: &mut Auditor,
    inv: Invariant,
    id: SideId,
    field: Field,
    secondary: &Obs,
    primary: Option<&Obs>,
    what: &str,
) {
    let pv = primary.map_or(0, |o| o.value);
    let msg = format!(
        "{field}: {} but {what} {}",
        show(Some(secondary)),
        show(primary).replace("absent", "absent (0)")
    );
    a.violated_by(inv, Some(id), Some(field), msg, secondary.value, pv);
}

pub(super) fn headers_match_body(a: &mut Auditor, id: SideId, side: &Normalized) {
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
    for field in CHANNEL_FIELDS {
        if let Some(hv) = h.get(field)
            && hv.value != b.value(field).unwrap_or(0)
        {
            ok = false;
            channel_differs(a, inv, id, field, hv, b.get(field), "body says");
        }
    }
    if ok {
        a.check(inv, Some(id), Status::Held);
    }
}

/// The Anthropic events' figure for a field: the last `message_delta` carrying it, else (for
/// input and cache) `message_start`.
fn event_figure(ch: &Channels, field: Field) -> Option<&Obs> {
    let last_delta = ch.message_deltas.iter().rev().find_map(|d| d.get(field));
    match field {
        Field::Output => last_delta,
        f => last_delta.or_else(|| ch.message_start.as_ref().and_then(|s| s.get(f))),
    }
}

pub(super) fn metrics_match_events(a: &mut Auditor, id: SideId, side: &Normalized) {
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
    let mut ok = true;
    for field in CHANNEL_FIELDS {
        let Some(mv) = m.get(field) else { continue };
        let ev = event_figure(ch, field);
        // No output or input event at all is usage-present's finding, not a disagreement.
        if ev.is_none() && matches!(field, Field::Output | Field::Input) {
            continue;
        }
        if mv.value != ev.map_or(0, |o| o.value) {
            ok = false;
            channel_differs(a, inv, id, field, mv, ev, "the events say");
        }
    }
    if ok {
        a.check(inv, Some(id), Status::Held);
    }
}

pub(super) fn total_is_sum(a: &mut Auditor, id: SideId, side: &Normalized) {
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
    let Some(sum) = count::sum([input_total, out]) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    if total.value == sum {
        a.check(inv, Some(id), Status::Held);
        return;
    }
    let parts = match &u.prompt_inclusive {
        Some(p) => format!("prompt {} + output {out}", p.value),
        None => format!(
            "input {} + cache_read {} + cache_write {} + output {out}",
            u.value(Field::Input).unwrap_or(0),
            u.value(Field::CacheRead).unwrap_or(0),
            u.value(Field::CacheWrite).unwrap_or(0),
        ),
    };
    let reasoning = u.value(Field::Reasoning).unwrap_or(0);
    let why = if reasoning > 0 && count::sum([sum, reasoning]) == Some(total.value) {
        format!(
            ": the total counts the {reasoning} reasoning tokens a second time (they are inside output)"
        )
    } else {
        String::new()
    };
    a.violated_by(
        inv,
        Some(id),
        Some(Field::Total),
        format!("{} but {parts} = {sum}{why}", show(Some(total))),
        total.value,
        sum,
    );
}

/// Every channel's usage objects: where one carries a quantity twice, both figures agree.
pub(super) fn usage_self_consistent(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::UsageSelfConsistent;
    let mut seen = false;
    let mut ok = true;
    for set in side.channels.sets() {
        for d in &set.duplicates {
            seen = true;
            let Some(used) = set.get(d.field) else {
                continue;
            };
            if used.value != d.other.value {
                ok = false;
                let msg = format!(
                    "{}: {} but the same object also says {} ({} is the one used)",
                    d.field,
                    show(Some(used)),
                    show(Some(&d.other)),
                    used.source
                );
                a.violated_by(inv, Some(id), Some(d.field), msg, used.value, d.other.value);
            }
        }
    }
    if !seen {
        a.check(inv, Some(id), Status::NotApplicable);
    } else if ok {
        a.check(inv, Some(id), Status::Held);
    }
}
