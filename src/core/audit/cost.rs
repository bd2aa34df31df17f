//! Cost as an audited quantity. Where a gateway reports what a call cost (LiteLLM's
//! `x-litellm-response-cost` header, `usage.cost`), that cost must be the usage priced at the
//! model's prices, the same on both paths when the usage agrees, and never charge a cache read
//! as much as uncached input. Every violation is also priced, so a report can say what a
//! mismatch costs per million calls.
//!
//! Tolerance: two costs agree when they differ by at most [`COST_RELATIVE_TOLERANCE`] of the
//! larger or [`COST_ABSOLUTE_TOLERANCE_USD`], whichever is more: gateways round what they
//! print, and their price table may trail ours by a release.

use super::{
    Auditor, Context, Finding, FindingCost, Invariant, PriceEntry, Severity, SideId, Status,
};
use crate::core::normalize::{Field, Normalized, UsageSet};
use crate::core::prices::{Rates, usd};

/// The share of a cost two costs may differ by and still agree.
pub const COST_RELATIVE_TOLERANCE: f64 = 0.01;
/// The absolute difference, in USD, two costs may have and still agree.
pub const COST_ABSOLUTE_TOLERANCE_USD: f64 = 1e-8;

/// Whether two costs agree within the documented tolerance.
pub fn agrees(a: f64, b: f64) -> bool {
    let scale = a.abs().max(b.abs());
    (a - b).abs() <= COST_ABSOLUTE_TOLERANCE_USD.max(COST_RELATIVE_TOLERANCE * scale)
}

/// `reported-cost` and `cache-read-discount` on one side.
pub(super) fn reported_cost(a: &mut Auditor, id: SideId, side: &Normalized, ctx: &Context) {
    let Some(reported) = side.usage.reported_cost.as_ref() else {
        a.check(Invariant::ReportedCost, Some(id), Status::NotApplicable);
        a.check(
            Invariant::CacheReadDiscount,
            Some(id),
            Status::NotApplicable,
        );
        return;
    };
    let priced = ctx.prices.and_then(|p| {
        p.rates
            .cost(p.model, &side.billed_usage())
            .map(|c| (p, c.usd))
    });
    let Some((entry, expected)) = priced else {
        for inv in [Invariant::ReportedCost, Invariant::CacheReadDiscount] {
            a.check(inv, Some(id), Status::NotApplicable);
        }
        a.find(Invariant::ReportedCost, Severity::Note, Some(id), None, format!(
            "the {id} side reports a cost of {} ({}) but the price table has no price for this model: pass --price-model or --prices to check it",
            usd(reported.usd), reported.source));
        return;
    };
    let inv = Invariant::ReportedCost;
    if agrees(reported.usd, expected) {
        a.check(inv, Some(id), Status::Held);
    } else {
        let why = if reported.usd == 0.0 {
            format!(
                " for {} billed tokens",
                side.usage.value(Field::Total).unwrap_or(0)
            )
        } else {
            String::new()
        };
        a.violated(
            inv,
            Some(id),
            None,
            format!(
                "reported cost {} ({}){why}, but this usage at {} prices costs {}",
                usd(reported.usd),
                reported.source,
                entry.model,
                usd(expected)
            ),
        );
    }
    cache_read_discount(a, id, side, entry, reported.usd);
}

/// A reported cost that is at least what the same tokens would cost uncached.
fn cache_read_discount(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    p: PriceEntry,
    reported: f64,
) {
    let inv = Invariant::CacheReadDiscount;
    let read = side.usage.value(Field::CacheRead).unwrap_or(0);
    let discounted = p.rates.unit(Field::CacheRead) < p.rates.input;
    let uncached = as_uncached(&side.billed_usage());
    let full = p.rates.cost(p.model, &uncached).map(|c| c.usd);
    let (true, true, Some(full)) = (read > 0, discounted, full) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    if reported < full && !agrees(reported, full) {
        a.check(inv, Some(id), Status::Held);
        return;
    }
    a.violated(inv, Some(id), Some(Field::CacheRead), format!(
        "reported cost {} is what the usage costs with its {read} cache-read tokens priced as uncached input ({}): the cache hit was priced as a miss",
        usd(reported), usd(full)));
}

/// The same usage with its cache reads moved to uncached input.
fn as_uncached(u: &UsageSet) -> UsageSet {
    let read = u.value(Field::CacheRead).unwrap_or(0);
    let mut v = u.clone();
    if let Some(input) = v.input.as_mut() {
        input.value = input.value.saturating_add(read);
    }
    v.cache_read = None;
    v
}

/// `cost-parity`: reported costs equal on both paths when the usage agrees.
pub(super) fn cost_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized) {
    let inv = Invariant::CostParity;
    let (x, y) = (
        ns.usage.reported_cost.as_ref(),
        st.usage.reported_cost.as_ref(),
    );
    let (Some(x), Some(y)) = (x, y) else {
        a.check(inv, None, Status::NotApplicable);
        if let Some(one) = x.or(y) {
            let (has, lacks) = if x.is_some() {
                ("non-streaming", "streaming")
            } else {
                ("streaming", "non-streaming")
            };
            a.find(inv, Severity::Note, None, None, format!(
                "only the {has} side reports a cost ({} from {}); the {lacks} side's cost is recorded elsewhere, if at all", usd(one.usd), one.source));
        }
        return;
    };
    if priced_usage(&ns.usage) != priced_usage(&st.usage) {
        a.check(inv, None, Status::NotApplicable);
        return;
    }
    if agrees(x.usd, y.usd) {
        a.check(inv, None, Status::Held);
    } else {
        a.violated(inv, None, None, format!(
            "identical usage but different reported costs: non-streaming {} ({}), streaming {} ({})",
            usd(x.usd), x.source, usd(y.usd), y.source));
    }
}

/// Everything a price applies to.
fn priced_usage(u: &UsageSet) -> [Option<u64>; 7] {
    [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::CacheWrite5m,
        Field::CacheWrite1h,
        Field::Output,
        Field::Reasoning,
    ]
    .map(|f| u.value(f))
}

/// What the input side of a usage costs at the base tier: uncached input, cache read and
/// the write's two TTLs (a write with no split priced as 5-minute, as it is billed).
fn input_cost(u: &UsageSet, r: &Rates) -> f64 {
    let [input, read, _, five, hour] = super::cache::split(u);
    input as f64 * r.unit(Field::Input)
        + read as f64 * r.unit(Field::CacheRead)
        + five as f64 * r.unit(Field::CacheWrite5m)
        + hour as f64 * r.unit(Field::CacheWrite1h)
}

/// What the output side costs at the base tier (reasoning at its own price where it has one).
fn output_cost(u: &UsageSet, r: &Rates) -> f64 {
    let out = u.value(Field::Output).unwrap_or(0);
    let reasoning = u.value(Field::Reasoning).unwrap_or(0).min(out);
    (out - reasoning) as f64 * r.unit(Field::Output) + reasoning as f64 * r.unit(Field::Reasoning)
}

/// The part of a usage's cost a cross-path invariant compares, so that two findings on one
/// pair never price the same difference twice.
fn compared_cost(inv: Invariant, u: &UsageSet, r: &Rates) -> Option<f64> {
    match inv {
        Invariant::InputParity | Invariant::CacheSplitParity => Some(input_cost(u, r)),
        Invariant::OutputParity | Invariant::ReasoningParity => Some(output_cost(u, r)),
        _ => None,
    }
}

/// What one more token of `field` adds to a bill: its price, except reasoning, which is
/// already inside output and only costs its premium over output, and a total, which nobody
/// is billed by (its parts are).
fn marginal(r: &Rates, field: Field) -> f64 {
    match field {
        Field::Reasoning => (r.unit(Field::Reasoning) - r.unit(Field::Output)).abs(),
        Field::Total => 0.0,
        f => r.unit(f),
    }
}

/// Put a price on every violation that has one: a cross-path one costs the difference of
/// the part of the two sides' costs it compares (and names the side that bills more); a
/// one-sided one its token difference at the field's price. Base-tier prices throughout.
pub(super) fn price_findings(
    findings: &mut [Finding],
    ns: &Normalized,
    st: &Normalized,
    p: PriceEntry,
) {
    for f in findings
        .iter_mut()
        .filter(|f| f.severity == Severity::Violation)
    {
        let cross = compared_cost(f.invariant, &ns.usage, p.rates)
            .zip(compared_cost(f.invariant, &st.usage, p.rates))
            .filter(|_| f.side.is_none());
        let priced = if let Some((n, s)) = cross {
            let over = if s > n {
                SideId::Streaming
            } else {
                SideId::NonStreaming
            };
            Some(((s - n).abs(), Some(over)))
        } else if f.invariant == Invariant::CacheTtlHonored {
            // Mislabelled writes cost the difference between the two TTLs' prices.
            let step = p.rates.unit(Field::CacheWrite1h) - p.rates.unit(Field::CacheWrite5m);
            f.delta.map(|d| (d as f64 * step.abs(), None))
        } else {
            f.field
                .zip(f.delta)
                .map(|(field, d)| (d as f64 * marginal(p.rates, field), None))
        };
        if let Some((usd_per_call, over_billed)) = priced.filter(|(u, _)| *u > 0.0) {
            f.cost = Some(FindingCost {
                usd_per_call,
                model: p.model.to_string(),
                over_billed,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{side, usage, violated};
    use super::super::{Context, audit};
    use super::*;
    use crate::core::capture::Operation;
    use crate::core::normalize::ReportedCost;
    use crate::core::prices::Prices;

    const MODEL: &str = "claude-sonnet-4-5-20250929";

    fn costed(op: Operation, u: UsageSet, usd: Option<f64>) -> Normalized {
        let mut s = side(op, u, "Hi!");
        s.usage.reported_cost = usd.map(|usd| ReportedCost {
            usd,
            source: "t".into(),
        });
        s
    }

    #[test]
    fn costs_agree_within_one_percent_or_a_hundred_millionth_of_a_dollar() {
        assert!(agrees(1.0, 1.009) && !agrees(1.0, 1.011));
        assert!(agrees(0.0, 0.000_000_01) && !agrees(0.0, 0.000_000_02));
    }

    #[test]
    fn reported_costs_are_checked_against_the_table_and_each_other() {
        let table = Prices::embedded();
        let (model, rates) = table.lookup(MODEL).unwrap();
        let ctx = Context {
            prices: Some(PriceEntry { model, rates }),
            ..Context::default()
        };
        let u = usage(7, 2803, 0, 2);
        let right = rates.cost(model, &u).unwrap().usd;
        let uncached = rates.cost(model, &as_uncached(&u)).unwrap().usd;
        let (ns, st) = (Operation::ChatCompletions, Operation::ChatCompletionsStream);
        let run = |a, b| audit(&costed(ns, u.clone(), a), &costed(st, u.clone(), b), &ctx);
        assert!(violated(&run(Some(right), Some(right))).is_empty());
        assert_eq!(
            violated(&run(Some(right), Some(0.0))),
            vec![Invariant::CostParity, Invariant::ReportedCost]
        );
        assert_eq!(
            violated(&run(Some(uncached), Some(uncached))),
            vec![Invariant::ReportedCost, Invariant::CacheReadDiscount]
        );
        assert!(
            violated(&run(Some(right), None)).is_empty(),
            "one-sided is a note"
        );
    }

    #[test]
    fn two_findings_on_one_pair_never_price_the_same_difference() {
        let table = Prices::embedded();
        let (model, rates) = table.lookup(MODEL).unwrap();
        let ctx = Context {
            prices: Some(PriceEntry { model, rates }),
            ..Context::default()
        };
        // LiteLLM v1.63.14's hard-coded stream: input and output both differ.
        let a = audit(
            &side(Operation::Converse, usage(10, 0, 0, 2), "Hi!"),
            &side(Operation::ConverseStream, usage(3, 1796, 0, 392), "Hi!"),
            &ctx,
        );
        let price = |inv| {
            a.findings
                .iter()
                .find(|f| f.invariant == inv)
                .unwrap()
                .cost
                .clone()
                .unwrap()
        };
        let (i, o) = (
            price(Invariant::InputParity),
            price(Invariant::OutputParity),
        );
        let whole = rates.cost(model, &usage(3, 1796, 0, 392)).unwrap().usd
            - rates.cost(model, &usage(10, 0, 0, 2)).unwrap().usd;
        assert!(
            (i.usd_per_call + o.usd_per_call - whole).abs() < 1e-12,
            "{i:?} {o:?} {whole}"
        );
        assert_eq!(o.over_billed, Some(SideId::Streaming));
    }
}
