//! Process exit codes, documented as named constants (PRODUCT.md §5).
//!
//! When several apply, the most serious wins in the order of [`Verdict`]: [`MISMATCH`], then
//! [`RUNTIME`], then [`INCONCLUSIVE`]. Zero audited cases is never success.

use crate::core::audit::Verdict;

/// Every check held.
pub const SUCCESS: i32 = 0;
/// A mismatch or violated invariant was found.
pub const MISMATCH: i32 = 1;
/// Command-line usage error (clap's own code).
pub const USAGE: i32 = 2;
/// Runtime error: auth, network, exception frame, malformed fixture, nothing to audit.
pub const RUNTIME: i32 = 3;
/// Nothing contradicted, but something could not be compared.
pub const INCONCLUSIVE: i32 = 4;

/// Stopped by SIGINT (Ctrl-C): 128 + 2, as shells report it.
pub const SIGINT: i32 = 130;
/// Stopped by SIGTERM: 128 + 15, as shells report it.
pub const SIGTERM: i32 = 143;

/// The exit code of one verdict.
pub fn of(verdict: Verdict) -> i32 {
    match verdict {
        Verdict::Pass => SUCCESS,
        Verdict::Inconclusive => INCONCLUSIVE,
        Verdict::Error => RUNTIME,
        Verdict::Mismatch => MISMATCH,
    }
}

/// The exit code of the worst verdict of a run; `None` (nothing audited) is a runtime error.
pub fn for_worst(worst: Option<Verdict>) -> i32 {
    worst.map_or(RUNTIME, of)
}

/// The exit code for a set of case verdicts.
pub fn for_verdicts(verdicts: impl IntoIterator<Item = Verdict>) -> i32 {
    for_worst(Verdict::worst(verdicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn precedence_is_mismatch_then_error_then_inconclusive() {
        assert_eq!(
            for_verdicts([Pass, Inconclusive, Error, Mismatch]),
            MISMATCH
        );
        assert_eq!(for_verdicts([Pass, Inconclusive, Error]), RUNTIME);
        assert_eq!(for_verdicts([Pass, Inconclusive]), INCONCLUSIVE);
        assert_eq!(for_verdicts([Pass, Pass]), SUCCESS);
        assert_eq!(for_verdicts([]), RUNTIME);
    }
}
