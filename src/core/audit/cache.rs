//! The prompt cache: whether both paths split the same input the same way (uncached input,
//! cache read, cache write and the write's TTL parts), and whether a write requested with one
//! TTL is reported under it. The split is only decidable when the cache state is known: after
//! a warm-up call both measured calls must read the prefix, and with `--ledger` the
//! upstream's own split for each request decides. Without either, a differing split is a note,
//! since one call may legitimately have written the prefix that the other read.

use super::{Auditor, Context, Invariant, Severity, SideId, Status};
use crate::core::ledger::UpstreamSide;
use crate::core::normalize::{Field, Normalized, UsageSet};

/// The split compared, in the order differences are reported.
const SPLIT: [Field; 5] = [
    Field::Input,
    Field::CacheRead,
    Field::CacheWrite,
    Field::CacheWrite5m,
    Field::CacheWrite1h,
];

/// A usage's effective split: absent cache fields read as 0, and a write with no TTL split
/// counts as a 5-minute write (how it is billed when nobody says otherwise).
pub(super) fn split(u: &UsageSet) -> [u64; 5] {
    let v = |f: Field| u.value(f).unwrap_or(0);
    let write = v(Field::CacheWrite);
    let hour = v(Field::CacheWrite1h);
    let five = u
        .value(Field::CacheWrite5m)
        .unwrap_or(write.saturating_sub(hour));
    [v(Field::Input), v(Field::CacheRead), write, five, hour]
}

/// `field a vs b` for each differing field of two splits.
fn differences(x: &[u64; 5], y: &[u64; 5]) -> Vec<(Field, u64, u64)> {
    SPLIT
        .iter()
        .zip(x.iter().zip(y))
        .filter(|(_, (a, b))| a != b)
        .map(|(f, (a, b))| (*f, *a, *b))
        .collect()
}

fn describe(diffs: &[(Field, u64, u64)], left: &str, right: &str) -> String {
    diffs
        .iter()
        .map(|(f, a, b)| format!("{f} {left} {a}, {right} {b}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `cache-split-parity`, for two sides whose total input agrees (a differing total is
/// `input-parity`'s finding).
pub(super) fn cache_split_parity(a: &mut Auditor, ns: &Normalized, st: &Normalized, ctx: &Context) {
    let inv = Invariant::CacheSplitParity;
    if ns.usage.input_total() != st.usage.input_total() {
        a.check(inv, None, Status::NotApplicable);
        return;
    }
    let (sx, sy) = (split(&ns.usage), split(&st.usage));
    let diffs = differences(&sx, &sy);
    if let Some(up) = ctx.upstream {
        let sides = [
            (SideId::NonStreaming, ns, up.non_streaming.as_ref()),
            (SideId::Streaming, st, up.streaming.as_ref()),
        ];
        if sides
            .iter()
            .all(|(_, _, u)| u.is_some_and(|u| u.usage.is_some()))
        {
            against_upstream(a, &sides, !diffs.is_empty());
            cache_unused_note(a, ns, st, ctx);
            return;
        }
    }
    if diffs.is_empty() {
        a.check(inv, None, Status::Held);
        cache_unused_note(a, ns, st, ctx);
        return;
    }
    let what = describe(&diffs, "non-streaming", "streaming");
    let (field, x, y) = primary(&diffs);
    match ctx.warmup.filter(|w| w.failure.is_none()) {
        Some(_) => a.violated_by(
            inv,
            None,
            Some(field),
            format!(
                "after the warm-up call both calls should split the input alike, but {what}: {}",
                consequence(&sx, &sy)
            ),
            x,
            y,
        ),
        None => {
            a.check(inv, None, Status::NotApplicable);
            a.find(inv, Severity::Note, None, Some(field), format!(
                "total input agrees but the cache split differs ({what}); without a warm-up the cache state is unknown (one call may have written what the other read): rerun with --cache to decide"));
        }
    }
    relate(a, &diffs);
}

/// The field a differing split is reported on: the first cache field that differs (where
/// the bug is), else uncached input.
fn primary(diffs: &[(Field, u64, u64)]) -> (Field, u64, u64) {
    *diffs
        .iter()
        .find(|d| d.0 != Field::Input)
        .unwrap_or(&diffs[0])
}

/// Every other differing field of the split is named on the finding just made.
fn relate(a: &mut Auditor, diffs: &[(Field, u64, u64)]) {
    if let Some(f) = a.findings.last_mut() {
        let main = f.field;
        f.related = diffs
            .iter()
            .map(|d| d.0)
            .filter(|d| Some(*d) != main)
            .collect();
    }
}

/// What a differing split costs the user, in words: which side bills cached tokens as
/// uncached input (or 1-hour writes as 5-minute ones).
fn consequence(ns: &[u64; 5], st: &[u64; 5]) -> String {
    let (more_input, side) = if st[0] > ns[0] {
        (st[0] - ns[0], "streaming")
    } else {
        (ns[0] - st[0], "non-streaming")
    };
    if more_input > 0 {
        format!("{side} bills {more_input} cached tokens as uncached input")
    } else if ns[4] != st[4] {
        let side = if st[4] < ns[4] {
            "streaming"
        } else {
            "non-streaming"
        };
        format!(
            "{side} reports {} fewer 1-hour cache-write tokens (priced as 5-minute writes)",
            ns[4].abs_diff(st[4])
        )
    } else {
        "one side reports a cache write where the other reports a read".into()
    }
}

/// With the upstream's split for both requests: each side must report its own request's
/// split, whatever the other side did.
fn against_upstream(
    a: &mut Auditor,
    sides: &[(SideId, &Normalized, Option<&UpstreamSide>); 2],
    sides_differ: bool,
) {
    let inv = Invariant::CacheSplitParity;
    let mut held = true;
    for (id, side, up) in sides {
        let Some((up, truth)) = up.and_then(|u| u.usage.as_ref().map(|t| (u, t))) else {
            continue;
        };
        let diffs = differences(&split(&side.usage), &split(truth));
        if !diffs.is_empty() {
            let (field, x, y) = primary(&diffs);
            held = false;
            let what = describe(&diffs, "reported", "upstream");
            a.violated_by(
                inv,
                Some(*id),
                Some(field),
                format!(
                    "the {id} side's cache split is not its upstream request's ({}): {what}",
                    up.request_id
                ),
                x,
                y,
            );
            relate(a, &diffs);
        }
    }
    if held {
        a.check(inv, None, Status::Held);
        if sides_differ {
            a.find(inv, Severity::Note, None, None,
                "the two calls split the input differently, as their upstream requests did (one wrote the cache, the other read it)".into());
        }
    }
}

/// `--cache` asked for caching, and nothing was read or written anywhere.
fn cache_unused_note(a: &mut Auditor, ns: &Normalized, st: &Normalized, ctx: &Context) {
    let asked = ns.request.cache_points > 0 || st.request.cache_points > 0;
    let sides = [Some(ns), Some(st), ctx.warmup];
    let touched = sides
        .into_iter()
        .flatten()
        .any(|s| split(&s.usage)[1..3].iter().any(|n| *n > 0));
    if asked && !touched {
        a.find(Invariant::CacheSplitParity, Severity::Note, None, None,
            "the requests mark a cache prefix but no call read or wrote the cache: the model does not cache on this route, the prefix is below its minimum (1,024 to 4,096 tokens depending on the model), or a gateway did not forward the cache marker".into());
    }
}

/// `cache-ttl-honored` on one side (the warm-up included): a write requested with one TTL is
/// reported under it.
pub(super) fn cache_ttl_honored(a: &mut Auditor, id: SideId, side: &Normalized) {
    let inv = Invariant::CacheTtlHonored;
    let u = &side.usage;
    let write = u.value(Field::CacheWrite).unwrap_or(0);
    let asked = side.request.cache_ttl.as_deref();
    let (Some(ttl @ ("5m" | "1h")), true) = (asked, write > 0) else {
        a.check(inv, Some(id), Status::NotApplicable);
        return;
    };
    let (five, hour) = (u.value(Field::CacheWrite5m), u.value(Field::CacheWrite1h));
    if five.is_none() && hour.is_none() {
        a.check(inv, Some(id), Status::NotApplicable);
        if ttl == "1h" {
            a.find(inv, Severity::Note, Some(id), Some(Field::CacheWrite), format!(
                "a 1-hour cache write of {write} tokens was requested but the response carries no TTL split: a reader that prices it will price it as a 5-minute write"));
        }
        return;
    }
    let (wrong_field, wrong) = match ttl {
        "1h" => (
            Field::CacheWrite5m,
            five.unwrap_or(write.saturating_sub(hour.unwrap_or(0))),
        ),
        _ => (Field::CacheWrite1h, hour.unwrap_or(0)),
    };
    if wrong == 0 {
        a.check(inv, Some(id), Status::Held);
        return;
    }
    let other = if ttl == "1h" { "5-minute" } else { "1-hour" };
    a.violated_by(inv, Some(id), Some(wrong_field), format!(
        "the request asked for a {ttl} cache TTL but {wrong} of the {write} written tokens are reported as {other} writes ({wrong_field})"), wrong, 0);
}

/// With the upstream's own split: a write the request asked to keep for one TTL was kept by
/// the upstream for that TTL (a gateway that drops or rewrites `ttl` on the way fails it).
/// `cache-ttl-honored` again, on what the upstream did rather than what the gateway said.
pub(super) fn ttl_forwarded(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    truth: &UsageSet,
) -> bool {
    let write = truth.value(Field::CacheWrite).unwrap_or(0);
    let hour = truth.value(Field::CacheWrite1h).unwrap_or(0);
    let kept = match side.request.cache_ttl.as_deref() {
        Some("1h") if write > 0 && hour < write => Some(("1h", "5 minutes", write - hour)),
        Some("5m") if hour > 0 => Some(("5m", "1 hour", hour)),
        _ => None,
    };
    let Some((asked, kept_for, tokens)) = kept else {
        return true;
    };
    a.violated_by(Invariant::CacheTtlHonored, Some(id), Some(Field::CacheWrite1h), format!(
        "the request asked for a {asked} cache TTL but the upstream kept {tokens} of the {write} written tokens for {kept_for}: the gateway did not forward the TTL"), tokens, 0);
    false
}

#[cfg(test)]
mod tests {
    use super::super::tests::{obs, side, usage, violated};
    use super::super::{Context, audit};
    use super::*;
    use crate::core::capture::Operation;
    use crate::core::normalize::Kind;

    /// A Converse pair where one call wrote 1,500 tokens and the other read them.
    fn write_then_read() -> (Normalized, Normalized) {
        (
            side(Operation::Converse, usage(7, 0, 1500, 2), "Hi!"),
            side(Operation::ConverseStream, usage(7, 1500, 0, 2), "Hi!"),
        )
    }

    #[test]
    fn a_differing_split_is_a_note_without_a_warmup_and_a_violation_after_one() {
        let (ns, st) = write_then_read();
        let cold = audit(&ns, &st, &Context::default());
        assert_eq!(cold.verdict, super::super::Verdict::Pass);
        let warm = side(Operation::Converse, usage(7, 0, 1500, 2), "Hi!");
        let ctx = Context {
            warmup: Some(&warm),
            ..Context::default()
        };
        let a = audit(&ns, &st, &ctx);
        assert_eq!(violated(&a), vec![Invariant::CacheSplitParity]);
        let f = a
            .findings
            .iter()
            .find(|f| f.invariant == Invariant::CacheSplitParity)
            .unwrap();
        assert_eq!(
            f.field,
            Some(Field::CacheRead),
            "reported on the cache field"
        );
        assert!(f.related.contains(&Field::CacheWrite), "{:?}", f.related);
    }

    #[test]
    fn with_a_ledger_each_side_answers_to_its_own_upstream_request() {
        let (ns, st) = write_then_read();
        let up = |u: UsageSet| UpstreamSide {
            request_id: "r".into(),
            operation: "Converse".into(),
            requests: 1,
            usage: Some(u),
        };
        let truthful = crate::core::ledger::Upstream {
            non_streaming: Some(up(usage(7, 0, 1500, 2))),
            streaming: Some(up(usage(7, 1500, 0, 2))),
            warmup: None,
        };
        let ctx = Context {
            upstream: Some(&truthful),
            ..Context::default()
        };
        assert!(!violated(&audit(&ns, &st, &ctx)).contains(&Invariant::CacheSplitParity));
        let both_read = crate::core::ledger::Upstream {
            non_streaming: Some(up(usage(7, 1500, 0, 2))),
            ..truthful.clone()
        };
        let ctx = Context {
            upstream: Some(&both_read),
            ..Context::default()
        };
        let a = audit(&ns, &st, &ctx);
        let f: Vec<_> = a
            .findings
            .iter()
            .filter(|f| f.invariant == Invariant::CacheSplitParity)
            .collect();
        assert_eq!((f.len(), f[0].side), (1, Some(SideId::NonStreaming)));
    }

    #[test]
    fn a_write_is_held_to_the_ttl_it_asked_for() {
        let mut s = side(Operation::InvokeModel, usage(7, 0, 1500, 2), "Hi!");
        s.request.cache_ttl = Some("1h".into());
        let mut a = Auditor {
            checks: vec![],
            findings: vec![],
        };
        cache_ttl_honored(&mut a, SideId::Warmup, &s);
        assert_eq!(
            a.checks[0].status,
            Status::NotApplicable,
            "no split reported"
        );
        assert!(a.findings[0].message.contains("no TTL split"));
        s.usage.cache_write_5m = obs(1500, "5m", Kind::Reported);
        s.usage.cache_write_1h = obs(0, "1h", Kind::Reported);
        let mut a = Auditor {
            checks: vec![],
            findings: vec![],
        };
        cache_ttl_honored(&mut a, SideId::Warmup, &s);
        assert_eq!(a.checks[0].status, Status::Violated);
        assert_eq!(a.findings[0].field, Some(Field::CacheWrite5m));
        s.usage.cache_write_5m = obs(0, "5m", Kind::Reported);
        s.usage.cache_write_1h = obs(1500, "1h", Kind::Reported);
        let mut a = Auditor {
            checks: vec![],
            findings: vec![],
        };
        cache_ttl_honored(&mut a, SideId::Warmup, &s);
        assert_eq!(a.checks[0].status, Status::Held);
    }
}
