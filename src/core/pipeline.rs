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
use crate::core::normalize::{NormalizeError, Normalized, RecordedPair, normalize};
use crate::core::policy::Policy;
use crate::core::record::Records;
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
    /// What the system under test recorded for both requests, when it was listened to.
    pub records: Option<&'a Records>,
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
    audit_prepared(meta, pair, Prenormalized::default(), upstream, policy)
}

/// Sides a reader already normalized on the way (non-streaming, streaming, warm-up), e.g. a
/// long stream replayed frame by frame; `None` where the capture is to be normalized here.
pub type Prenormalized = [Option<Result<Normalized, NormalizeError>>; 3];

/// [`audit_pair`] for a pair some of whose sides were normalized while they were read (by the
/// same normalizers): everything else is the same pipeline.
pub fn audit_prepared(
    meta: CaseMeta,
    pair: Pair<'_>,
    pre: Prenormalized,
    upstream: Option<Upstream>,
    policy: &Policy,
) -> CaseReport {
    if let Err(e) = validate::pair(&meta, &pair) {
        return malformed(meta, pair.origin, &e);
    }
    let sides = normalize_all(&pair, pre);
    let (ns, st, warmup) = match sides {
        Ok(sides) => sides,
        Err(e) => return malformed(meta, pair.origin, &e),
    };
    let model = policy.price_model.as_deref().unwrap_or(&meta.model);
    let entry = policy
        .prices
        .lookup(model)
        .map(|(model, rates)| audit::PriceEntry { model, rates });
    let records = pair.records.map(RecordedPair::read);
    let ctx = audit::Context {
        upstream: upstream.as_ref(),
        warmup: warmup.as_ref(),
        prices: entry,
        records: records.as_ref(),
    };
    let mut audit = audit::audit(&ns, &st, &ctx);
    let costs = entry.map(|e| Costs::of(e, &policy.prices, &ns, &st, warmup.as_ref()));
    policy.apply(&mut audit, &ns, &st, costs.as_ref());
    let sides = Sides {
        ns,
        st,
        warmup,
        records,
    };
    CaseReport::audited(meta, sides, upstream, audit, costs)
}

/// Both sides and the warm-up, normalized (or taken as they were normalized while read); an
/// error names the side.
fn normalize_all(
    pair: &Pair,
    pre: Prenormalized,
) -> Result<(Normalized, Normalized, Option<Normalized>), String> {
    let [pre_ns, pre_st, pre_w] = pre;
    let side = |name: &str, c: &Capture, pre: Option<Result<Normalized, NormalizeError>>| {
        let mut side = pre
            .unwrap_or_else(|| normalize(c))
            .map_err(|e| format!("{name}: {e}"))?;
        side.settle_abort();
        Ok::<_, String>(side)
    };
    let ns = side("non_streaming", pair.non_streaming, pre_ns)?;
    let st = side("streaming", pair.streaming, pre_st)?;
    let warmup = pair.warmup.map(|w| side("warmup", w, pre_w)).transpose()?;
    Ok((ns, st, warmup))
}

/// A case whose input could not be read at all (or whose captures do not decode). For a
/// replayed file the message starts with the file and says what to do.
pub fn malformed(meta: CaseMeta, origin: Option<&Path>, error: &str) -> CaseReport {
    malformed_because(meta, origin, error, true)
}

/// A file that is not a damaged recording (something else, a newer format, unreadable):
/// an `error` case like [`malformed`], without the advice to re-record.
pub fn unreadable(meta: CaseMeta, origin: Option<&Path>, error: &str) -> CaseReport {
    malformed_because(meta, origin, error, false)
}

fn malformed_because(
    meta: CaseMeta,
    origin: Option<&Path>,
    error: &str,
    damaged: bool,
) -> CaseReport {
    let message = match origin {
        Some(path) if damaged => format!("{}: {error}; {MALFORMED_HINT}", path.display()),
        Some(path) => format!("{}: {error}", path.display()),
        None => error.to_string(),
    };
    CaseReport::malformed(meta, message)
}
