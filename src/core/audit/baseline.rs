//! `baseline-drift` (gate only): for a fixed prompt and model, total input must not move
//! between a recorded baseline and this run.

use super::{Check, Finding, Invariant, Severity, SideId, Status};
use crate::core::normalize::{Field, Normalized};

/// `baseline-drift` for one side: the total input of `current` against the recorded
/// `baseline` of the same case and API. `None` when either side carries no input.
pub fn baseline_drift(
    side: SideId,
    current: &Normalized,
    baseline: &Normalized,
    baseline_source: &str,
) -> Option<(Check, Option<Finding>)> {
    let (now, then) = (current.usage.input_total()?, baseline.usage.input_total()?);
    let inv = Invariant::BaselineDrift;
    if now == then {
        return Some((
            Check {
                invariant: inv,
                side: Some(side),
                status: Status::Held,
            },
            None,
        ));
    }
    Some((
        Check {
            invariant: inv,
            side: Some(side),
            status: Status::Violated,
        },
        Some(Finding {
            invariant: inv,
            severity: Severity::Violation,
            side: Some(side),
            field: Some(Field::InputTotal),
            related: Vec::new(),
            message: format!(
                "total input is {now} now but {then} in the baseline ({baseline_source})"
            ),
            hint: inv.hint().to_string(),
            delta: Some(now.abs_diff(then)),
            cost: None,
        }),
    ))
}
