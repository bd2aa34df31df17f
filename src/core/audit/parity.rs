//! Cross-path parity: the same request must bill the same input on both paths, and the same
//! output when both paths produced the same text (PRODUCT.md §4, "Cross-path").

use super::{Auditor, Context, Invariant, Severity, SideId, Status, cache, cost, reasoning, show};
use crate::core::normalize::{Field, Normalized};

/// Input and output parity, unless a side failed (nothing to compare) or a stream ended
/// without its terminal event (its usage is partial: comparing it would only repeat the
/// `stream-complete` finding as bogus mismatches).
pub(super) fn cross_path(a: &mut Auditor, ns: &Normalized, st: &Normalized, ctx: &Context) {
    if ns.failure.is_some() || st.failure.is_some() {
        return;
    }
    let incomplete = [ns, st].into_iter().find(|s| {
        s.stream
            .as_ref()
            .is_some_and(|f| f.terminal_frame.is_none())
    });
    let Some(cut) = incomplete else {
        input_parity(a, ns, st);
        cache::cache_split_parity(a, ns, st, ctx);
        output_parity(a, ns, st);
        reasoning::reasoning_parity(a, ns, st);
        cost::cost_parity(a, ns, st);
        return;
    };
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
}

fn input_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized) {
    let inv = Invariant::InputParity;
    let (x, y) = (ns.usage.input_total(), st.usage.input_total());
    let (Some(x), Some(y)) = (x, y) else {
        missing_side(a, inv, Field::InputTotal, x.is_none(), "input");
        return;
    };
    if x != y {
        a.violated_by(
            inv,
            None,
            Some(Field::InputTotal),
            format!(
                "total input differs: non-streaming {x}, streaming {y}; fresh input: non-streaming {}, streaming {}",
                show(ns.usage.input.as_ref()),
                show(st.usage.input.as_ref())
            ),
            x,
            y,
        );
        return;
    }
    a.check(inv, None, Status::Held);
}

fn output_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized) {
    let inv = Invariant::OutputParity;
    if ns.text != st.text {
        a.not_comparable(inv, Field::Output, format!(
            "completion texts differ ({} vs {} chars: {:?} vs {:?}), so output counts are not comparable",
            ns.text.chars, st.text.chars, ns.text.preview, st.text.preview
        ));
        return;
    }
    let (Some(x), Some(y)) = (ns.usage.output.as_ref(), st.usage.output.as_ref()) else {
        missing_side(a, inv, Field::Output, ns.usage.output.is_none(), "output");
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

/// A side carried no usage for `field`: the check is not comparable, and the finding says
/// which side (the non-streaming one when `non_streaming_missing`).
fn missing_side(
    a: &mut Auditor,
    inv: Invariant,
    field: Field,
    non_streaming_missing: bool,
    what: &str,
) {
    a.check(inv, None, Status::NotComparable);
    let missing = if non_streaming_missing {
        SideId::NonStreaming
    } else {
        SideId::Streaming
    };
    a.find(
        inv,
        Severity::NotComparable,
        Some(missing),
        Some(field),
        format!("the {missing} side carried no {what} usage, so {what} cannot be compared"),
    );
}
