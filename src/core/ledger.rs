//! Upstream ground truth: the emulator's ledger entries for the requests a gateway forwarded,
//! turned into [`UpstreamSide`]s for `ledger-parity`. Pure, so live runs and replays of a
//! recorded gateway run share it.
//!
//! **Correlation.** With `--ledger`, tokaudit sends a fixed-width marker `[tokaudit:<16 hex>]`
//! (a different one per request) as an extra system block, placed after the cache breakpoint
//! so it never changes a cached prefix. Every gateway forwards the system prompt, so the
//! upstream sees the marker, and the emulator records it in the ledger entry (`correlation`). Matching on it is exact even with `--concurrency` > 1 and
//! whatever the gateway does to ids and headers. The marker costs the same number of tokens on
//! both paths under the emulator's tokenizer, so it never causes a parity difference there.

use crate::core::audit::UpstreamSide;
use crate::core::normalize::{Kind, Obs, UsageSet};
use serde_json::Value;

/// The marker for request number `n` of a run identified by `run_id`.
pub fn marker(run_id: u64, n: u64) -> String {
    let mixed = run_id ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("[tokaudit:{mixed:016x}]")
}

/// Find the marker in a request text, if any.
pub fn find_marker(text: &str) -> Option<String> {
    let start = text.find("[tokaudit:")?;
    let rest = &text[start..];
    let end = rest.find(']')?;
    let candidate = &rest[..=end];
    (candidate.len() == 27 && candidate[10..26].chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| candidate.to_string())
}

/// Reduce the ledger entries that carry one request's marker to an [`UpstreamSide`]; `None`
/// when no entry matched.
pub fn upstream_side(entries: &[Value]) -> Option<UpstreamSide> {
    let last = entries.last()?;
    let id = last
        .get("request_id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let usage = last.get("reported").filter(|r| r.is_object()).map(|r| {
        let obs = |key: &str| {
            r.get(key).and_then(Value::as_u64).map(|value| Obs {
                value,
                source: format!("ledger:{id}.reported.{key}"),
                kind: Kind::Reported,
            })
        };
        UsageSet {
            input: obs("input"),
            cache_read: obs("cache_read"),
            cache_write: obs("cache_write"),
            output: obs("output"),
            ..UsageSet::default()
        }
    });
    Some(UpstreamSide {
        request_id: id,
        operation: last
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        requests: entries.len(),
        usage,
    })
}

/// The entries of a ledger document (`{"entries": [...]}`) that carry `marker`.
pub fn entries_for(ledger: &Value, marker: &str) -> Vec<Value> {
    ledger
        .get("entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("correlation").and_then(Value::as_str) == Some(marker))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markers_are_fixed_width_and_found_again() {
        let m = marker(42, 7);
        assert_eq!(m.len(), 27);
        assert_ne!(m, marker(42, 8));
        assert_eq!(find_marker(&format!("You are terse.\n{m}")), Some(m));
        assert_eq!(find_marker("[tokaudit:nothex]"), None);
    }

    #[test]
    fn the_last_entry_wins_and_retries_are_counted() {
        let e = vec![
            json!({"request_id":"a","operation":"Converse","status":429}),
            json!({"request_id":"b","operation":"Converse","status":200,"reported":{"input":10,"cache_read":0,"cache_write":0,"output":2}}),
        ];
        let up = upstream_side(&e).unwrap();
        assert_eq!((up.request_id.as_str(), up.requests), ("b", 2));
        assert_eq!(
            up.usage.unwrap().output.unwrap().source,
            "ledger:b.reported.output"
        );
        assert!(upstream_side(&[]).is_none());
    }
}
