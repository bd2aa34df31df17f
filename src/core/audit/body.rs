//! In one response, where a format carries usage in several channels: InvokeModel headers
//! against the body, `invocationMetrics` against the Anthropic events, and a reported total
//! against its parts (`shared/reference/wire-formats.md` §1.4, §2.6, §3.2, §7.3).

use super::{Auditor, Invariant, Severity, SideId, Status, show};
use crate::core::normalize::{Field, Kind, Normalized};

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
