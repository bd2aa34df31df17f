//! The one pipeline: a pair of captures (and the upstream's truth, when there is one) in, a
//! finished, policy-applied [`CaseReport`] out. `compare`, `replay`, `gate` and the tests all
//! call [`audit_pair`]; nothing else normalizes, audits or lays out a diff table.
//!
//! ```text
//! captures ──validate──normalize──► two Normalized sides ──audit──► CaseAudit ──policy──► CaseReport
//!   (+ upstream)                                     (+ baseline, tolerance)    (+ diff rows)
//! ```

use crate::core::audit;
use crate::core::capture::Capture;
use crate::core::case::{CaseMeta, CaseReport, Costs, Sides};
use crate::core::ledger::Upstream;
use crate::core::normalize::{Normalized, normalize};
use crate::core::policy::Policy;
use crate::core::validate;
use std::path::Path;

/// What re-recording means, for inputs whose bytes do not hold up.
const MALFORMED_HINT: &str =
    "the recording is corrupt or was edited: re-record it with `tokaudit compare --record DIR`";

/// One pair to audit.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The non-streaming exchange.
    pub non_streaming: &'a Capture,
    /// The streaming exchange.
    pub streaming: &'a Capture,
    /// The warm-up call `--cache` sent first, if any.
    pub warmup: Option<&'a Capture>,
    /// The file the pair was replayed from; malformed input is reported against it.
    pub origin: Option<&'a Path>,
}

/// Normalize both sides, audit them against each other (and the upstream), apply the policy
/// and lay out the diff table. Malformed input becomes an `error` case whose message names
/// the file (for replays), the side, the frame and the field.
pub fn audit_pair(
    meta: CaseMeta,
    pair: Pair<'_>,
    upstream: Option<Upstream>,
    policy: &Policy,
) -> CaseReport {
    if let Err(e) = validate::pair(&meta, &pair) {
        return malformed(meta, pair.origin, &e);
    }
    let sides = normalize_all(&pair);
    let (ns, st, warmup) = match sides {
        Ok(sides) => sides,
        Err(e) => return malformed(meta, pair.origin, &e),
    };
    let model = policy.price_model.as_deref().unwrap_or(&meta.model);
    let entry = policy
        .prices
        .lookup(model)
        .map(|(model, rates)| audit::PriceEntry { model, rates });
    let ctx = audit::Context {
        upstream: upstream.as_ref(),
        warmup: warmup.as_ref(),
        prices: entry,
    };
    let mut audit = audit::audit(&ns, &st, &ctx);
    let costs = entry.map(|e| Costs::of(e, &policy.prices, &ns, &st, warmup.as_ref()));
    policy.apply(&mut audit, &ns, &st, costs.as_ref());
    CaseReport::audited(meta, Sides { ns, st, warmup }, upstream, audit, costs)
}

/// Both sides and the warm-up, normalized; an error names the side.
fn normalize_all(pair: &Pair) -> Result<(Normalized, Normalized, Option<Normalized>), String> {
    let ns = normalize(pair.non_streaming).map_err(|e| format!("non_streaming: {e}"))?;
    let st = normalize(pair.streaming).map_err(|e| format!("streaming: {e}"))?;
    let warmup = pair
        .warmup
        .map(|w| normalize(w).map_err(|e| format!("warmup: {e}")))
        .transpose()?;
    Ok((ns, st, warmup))
}

/// A case whose input could not be read at all (or whose captures do not decode). For a
/// replayed file the message starts with the file and says what to do.
pub fn malformed(meta: CaseMeta, origin: Option<&Path>, error: &str) -> CaseReport {
    let message = match origin {
        Some(path) => format!("{}: {error}; {MALFORMED_HINT}", path.display()),
        None => error.to_string(),
    };
    CaseReport::malformed(meta, message)
}
