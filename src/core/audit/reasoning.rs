//! Reasoning (thinking) tokens: billed as output and counted inside it, so they must fit in
//! the output count, and the same completion must report the same reasoning on both paths
//! (LiteLLM #10554: reasoning 0 only when streaming; anthropic-sdk-python #1703: the stream
//! accumulator never copies the output details).

use super::{Auditor, Invariant, Severity, SideId, Status, show};
use crate::core::normalize::{Field, Normalized};

/// `reasoning-within-output` on one side.
pub(super) fn reasoning_within_output(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::ReasoningWithinOutput;
    let u = &side.usage;
    let (Some(r), Some(out)) = (u.reasoning.as_ref(), u.value(Field::Output)) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    if r.value <= out {
        a.check(inv, Some(id), Status::Held);
    } else {
        a.violated_by(inv, Some(id), Some(Field::Reasoning), format!(
            "reasoning {} ({}) exceeds output {out}: reasoning is part of output, so output lost the thoughts or they were counted twice",
            r.value, r.source), r.value, out);
    }
}

/// `reasoning-parity` across the paths: comparable when the completions (thinking text
/// included, where the wire shows it) are identical.
pub(super) fn reasoning_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized) {
    let inv = Invariant::ReasoningParity;
    let (x, y) = (ns.usage.reasoning.as_ref(), st.usage.reasoning.as_ref());
    if x.is_none() && y.is_none() {
        a.check(inv, None, Status::NotApplicable);
        return;
    }
    if ns.text != st.text {
        let msg = "the completions differ, so their reasoning counts are not comparable";
        a.not_comparable(inv, Field::Reasoning, msg.into());
        return;
    }
    if let (Some(present), None) | (None, Some(present)) = (x, y)
        && present.value > 0
    {
        let missing = if x.is_none() {
            "non-streaming"
        } else {
            "streaming"
        };
        a.check(inv, None, Status::NotApplicable);
        a.find(inv, Severity::Note, None, Some(Field::Reasoning), format!(
            "only one side reports reasoning ({}); the {missing} side carries no reasoning count, which some APIs never send on that path, so it is not compared",
            show(Some(present))));
        return;
    }
    let (xv, yv) = (x.map_or(0, |o| o.value), y.map_or(0, |o| o.value));
    if xv == yv {
        a.check(inv, None, Status::Held);
        return;
    }
    let lost = if yv < xv {
        "streaming"
    } else {
        "non-streaming"
    };
    a.violated_by(inv, None, Some(Field::Reasoning), format!(
        "identical completions but reasoning differs: non-streaming {}, streaming {}; {lost} reports {} fewer reasoning tokens",
        show(x), show(y), xv.abs_diff(yv)), xv, yv);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{obs, side, usage, violated};
    use super::super::{Context, audit};
    use super::*;
    use crate::core::capture::Operation;
    use crate::core::normalize::Kind;

    fn with_reasoning(op: Operation, reasoning: Option<u64>, output: u64) -> Normalized {
        let mut s = side(op, usage(10, 0, 0, output), "Hi!");
        s.usage.reasoning = reasoning.and_then(|r| obs(r, "r", Kind::Reported));
        s
    }

    #[test]
    fn reasoning_must_match_across_paths_and_fit_in_output() {
        let (ns_op, st_op) = (Operation::ChatCompletions, Operation::ChatCompletionsStream);
        let run = |a, b, out| {
            audit(
                &with_reasoning(ns_op, a, out),
                &with_reasoning(st_op, b, out),
                &Context::default(),
            )
        };
        assert!(violated(&run(Some(28), Some(28), 30)).is_empty());
        assert_eq!(
            violated(&run(Some(28), Some(0), 30)),
            vec![Invariant::ReasoningParity]
        );
        let one_sided = run(Some(28), None, 30);
        assert!(violated(&one_sided).is_empty(), "absent is not compared");
        assert!(
            one_sided
                .findings
                .iter()
                .any(|f| f.invariant == Invariant::ReasoningParity && f.severity == Severity::Note)
        );
        assert_eq!(
            violated(&run(Some(40), Some(40), 30)),
            vec![Invariant::ReasoningWithinOutput]
        );
    }
}
