//! What the system recorded against what it answered: `record-present` (a request sent with
//! a trace id has a span of that trace carrying usage) and `record-parity` (that usage equals
//! the wire's for the same request, field by field). The wire audit and the record audit are
//! separate findings, so a clean wire with a wrong record puts the blame on the record.

use super::{Auditor, Invariant, SideId, Status, show};
use crate::core::normalize::recorded::RecordedSide;
use crate::core::normalize::{Field, Normalized};

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
    if side.failure.is_some() {
        a.check(Invariant::RecordParity, Some(id), Status::NotApplicable);
        return;
    }
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
    if held {
        a.check(Invariant::RecordParity, Some(id), Status::Held);
    }
}
