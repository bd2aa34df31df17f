//! What the system recorded against what it answered: `record-present` (a request sent with
//! a trace id has a span of that trace carrying usage) and `record-parity` (that usage equals
//! the wire's for the same request, field by field). The wire audit and the record audit are
//! separate findings, so a clean wire with a wrong record puts the blame on the record.

use super::cost::agrees;
use super::{Auditor, Invariant, PriceEntry, Severity, SideId, Status, show};
use crate::core::normalize::recorded::{Recorded, RecordedSide};
use crate::core::normalize::{Field, Normalized, UsageSet};
use crate::core::prices::usd;

/// The fields a record is held to, when both the record and the wire carry them.
const RECORDED_FIELDS: [Field; 5] = [
    Field::InputTotal,
    Field::CacheRead,
    Field::CacheWrite,
    Field::Output,
    Field::Reasoning,
];

/// Both checks for one request.
pub(super) fn record_checks(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    record: &RecordedSide,
    (source, foreign): (&str, u64),
    (prices, billed): (Option<PriceEntry>, Option<&UsageSet>),
) {
    let trace = &record.trace_id;
    let recorded = match &record.reading {
        Err(e) => {
            a.violated(
                Invariant::RecordPresent,
                Some(id),
                None,
                format!("the record of trace {trace} cannot be read: {e}"),
            );
            return;
        }
        Ok(None) => {
            let others = match foreign {
                0 => String::new(),
                n => format!(
                    "; {n} spans of other traces arrived, so the system may start its own trace instead of continuing traceparent"
                ),
            };
            a.violated(Invariant::RecordPresent, Some(id), None, format!(
                "no span of trace {trace} carrying usage arrived at {source}: the request was not recorded, or not under the trace id it was sent with{others}"));
            return;
        }
        Ok(Some(r)) => r,
    };
    a.check(Invariant::RecordPresent, Some(id), Status::Held);
    match &side.failure {
        Some(f) if f.aborted() => return aborted_record(a, id, recorded, billed),
        Some(_) => return a.check(Invariant::RecordParity, Some(id), Status::NotApplicable),
        None => {}
    }
    let fields = fields_held(a, id, side, recorded);
    if cost_held(a, id, side, recorded, prices) && fields {
        a.check(Invariant::RecordParity, Some(id), Status::Held);
    }
    unsplit_cache_note(a, id, side, recorded);
}

/// Every recorded field the response also carries, equal to it; each that is not is a
/// violation naming the span and the convention.
fn fields_held(a: &mut Auditor, id: SideId, side: &Normalized, recorded: &Recorded) -> bool {
    let mut held = true;
    for field in RECORDED_FIELDS {
        let (Some(rv), Some(wv)) = (recorded.usage.value(field), side.usage.value(field)) else {
            continue;
        };
        if rv == wv {
            continue;
        }
        held = false;
        let rec = match field {
            Field::InputTotal => {
                format!("{rv} ({})", show(recorded.usage.prompt_inclusive.as_ref()))
            }
            f => show(recorded.usage.get(f)),
        };
        a.violated_by(
            Invariant::RecordParity,
            Some(id),
            Some(field),
            format!(
                "recorded {field} {rec} but the response carried {wv} (span {:?}, {} convention)",
                recorded.span,
                recorded.convention.name()
            ),
            rv,
            wv,
        );
    }
    held
}

/// The record of a stream tokaudit closed mid-way (`--abort-after`): what the system recorded
/// must be what was generated until the disconnect, which the upstream billed: not zero, not
/// the `message_start` placeholder, not an estimate, not more (LiteLLM PRs #36008 / #39893).
/// Without `--ledger` only zero and the placeholder can be told apart from the bill.
fn aborted_record(a: &mut Auditor, id: SideId, recorded: &Recorded, billed: Option<&UsageSet>) {
    let inv = Invariant::RecordParity;
    let out = recorded.usage.value(Field::Output);
    let at = |f: Field| show(recorded.usage.get(f));
    let truth = billed.and_then(|b| b.value(Field::Output));
    let problem = match (out, truth) {
        (None, _) => Some("carries no output count for the aborted stream".to_string()),
        (Some(0), _) => Some(format!(
            "records output {} for a stream that was generating when it was closed: the tokens generated until the disconnect went unrecorded",
            at(Field::Output)
        )),
        (Some(o), Some(t)) if o == t => None,
        (Some(1), t) => Some(format!(
            "records output {}, the message_start placeholder, as final{}",
            at(Field::Output),
            billed_text(t)
        )),
        (Some(o), Some(t)) if o > t => Some(format!(
            "records output {} but the upstream billed {t} until the disconnect",
            at(Field::Output)
        )),
        (Some(_), Some(t)) => Some(format!(
            "records output {} but the upstream billed {t} until the disconnect: an estimate or a count cut short",
            at(Field::Output)
        )),
        (Some(_), None) => None,
    };
    let input = aborted_input(recorded, billed);
    match (problem, input) {
        (None, None) => a.check(inv, Some(id), Status::Held),
        (p, i) => {
            for message in [p, i].into_iter().flatten() {
                let field = if message.contains("input") {
                    Field::InputTotal
                } else {
                    Field::Output
                };
                a.violated(
                    inv,
                    Some(id),
                    Some(field),
                    format!(
                        "the record of the aborted stream (span {:?}) {message}",
                        recorded.span
                    ),
                );
            }
        }
    }
}

fn billed_text(t: Option<u64>) -> String {
    t.map_or(String::new(), |t| {
        format!("; the upstream billed {t} until the disconnect")
    })
}

/// The recorded input of an aborted stream against the upstream's bill.
fn aborted_input(recorded: &Recorded, billed: Option<&UsageSet>) -> Option<String> {
    let (r, t) = (recorded.usage.input_total()?, billed?.input_total()?);
    (r != t).then(|| format!("records total input {r} but the upstream billed {t}"))
}

/// A record whose input includes cache tokens it does not name: its totals are right, but
/// whoever prices the record charges the cached tokens as fresh input.
fn unsplit_cache_note(a: &mut Auditor, id: SideId, side: &Normalized, recorded: &Recorded) {
    let cached = |u: &crate::core::normalize::UsageSet| {
        u.value(Field::CacheRead).unwrap_or(0) + u.value(Field::CacheWrite).unwrap_or(0)
    };
    let silent = recorded.usage.cache_read.is_none() && recorded.usage.cache_write.is_none();
    let wire = cached(&side.usage);
    if silent && wire > 0 {
        a.find(Invariant::RecordParity, Severity::Note, Some(id), Some(Field::CacheRead), format!(
            "the record (span {:?}) names no cache tokens while the response counted {wire}: its input total is right, but whoever prices the record alone charges them as fresh input",
            recorded.span));
    }
}

/// The recorded cost, where the record carries one, against the cost the response carried
/// and against what the request cost: its usage on the wire at the model's prices (a call
/// recorded at $0 is spend that vanished from budgets: LiteLLM #37923). The wire's usage, not
/// the record's, is priced: a record may state a right cost beside a usage without its cache
/// split.
fn cost_held(
    a: &mut Auditor,
    id: SideId,
    side: &Normalized,
    recorded: &Recorded,
    prices: Option<PriceEntry>,
) -> bool {
    let Some(cost) = &recorded.usage.reported_cost else {
        return true;
    };
    let mut held = true;
    if let Some(wire) = &side.usage.reported_cost
        && !agrees(cost.usd, wire.usd)
    {
        held = false;
        a.violated(
            Invariant::RecordParity,
            Some(id),
            None,
            format!(
                "recorded cost {} ({}) but the response carried {} ({})",
                usd(cost.usd),
                cost.source,
                usd(wire.usd),
                wire.source
            ),
        );
    }
    let priced = prices.and_then(|p| {
        p.rates
            .cost(p.model, &side.billed_usage())
            .map(|c| (p, c.usd))
    });
    if let Some((p, expected)) = priced
        && !agrees(cost.usd, expected)
    {
        held = false;
        a.violated(
            Invariant::RecordParity,
            Some(id),
            None,
            format!(
                "recorded cost {} ({}), but the request's usage at {} prices costs {}",
                usd(cost.usd),
                cost.source,
                p.model,
                usd(expected)
            ),
        );
    }
    held
}
