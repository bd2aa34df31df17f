//! Upstream ground truth: the emulator's ledger. The emulator writes [`LedgerEntry`]s and the
//! auditor reads the same type (from a live `GET /_tokaudit/ledger` or from a recording), so
//! the two can never drift apart on a field name. Pure, so live runs and replays of a recorded
//! gateway run share it.
//!
//! **Correlation.** With `--ledger`, tokaudit sends a fixed-width marker `[tokaudit:<16 hex>]`
//! (a different one per request) as an extra system block, placed after the cache breakpoint
//! so it never changes a cached prefix. Every gateway forwards the system prompt, so the
//! upstream sees the marker, and the emulator records it in the ledger entry
//! (`correlation`). Matching on it is exact even with `--concurrency` > 1 and whatever the
//! gateway does to ids and headers. The marker costs the same number of tokens on both paths
//! under the emulator's tokenizer, so it never causes a parity difference there.

use crate::core::count;
use crate::core::normalize::{Kind, Obs, UsageSet};
use serde::{Deserialize, Serialize};

/// Bytes of a marker: `[tokaudit:` + 16 hex digits + `]`.
pub const MARKER_LEN: usize = 27;
const MARKER_PREFIX: &str = "[tokaudit:";

/// Token counts the emulator computed or reported for one response. Read back with the one
/// strict count reader: a string, a negative, a fraction or a count beyond 2^53 makes the
/// ledger unusable, never a silently skipped comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Uncached input.
    #[serde(deserialize_with = "count::strict")]
    pub input: u64,
    /// Cache read.
    #[serde(deserialize_with = "count::strict")]
    pub cache_read: u64,
    /// Cache write.
    #[serde(deserialize_with = "count::strict")]
    pub cache_write: u64,
    /// The part of the cache write kept for 1 hour (the rest is kept 5 minutes).
    #[serde(default, deserialize_with = "count::strict")]
    pub cache_write_1h: u64,
    /// Output.
    #[serde(deserialize_with = "count::strict")]
    pub output: u64,
    /// The part of the output that was thinking.
    #[serde(default, deserialize_with = "count::strict")]
    pub reasoning: u64,
}

impl Usage {
    /// Every token billed: input, both cache fields and output.
    pub fn total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write + self.output
    }

    /// The 5-minute part of the cache write.
    pub fn cache_write_5m(&self) -> u64 {
        self.cache_write.saturating_sub(self.cache_write_1h)
    }

    /// The same counts as a usage set whose sources start with `source`.
    pub fn usage_set(&self, source: &str) -> UsageSet {
        let obs = |value: u64, key: &str| {
            Some(Obs {
                value,
                source: format!("{source}.{key}"),
                kind: Kind::Reported,
            })
        };
        UsageSet {
            input: obs(self.input, "input"),
            cache_read: obs(self.cache_read, "cache_read"),
            cache_write: obs(self.cache_write, "cache_write"),
            cache_write_5m: obs(self.cache_write_5m(), "cache_write_5m"),
            cache_write_1h: obs(self.cache_write_1h, "cache_write_1h"),
            output: obs(self.output, "output"),
            reasoning: obs(self.reasoning, "reasoning"),
            ..UsageSet::default()
        }
    }
}

/// One request the emulator answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `x-amzn-requestid` of the response.
    pub request_id: String,
    /// The operation (`InvokeModel`, …, `CountTokens`).
    pub operation: String,
    /// The model id (account ids in ARNs redacted).
    pub model: String,
    /// HTTP status returned.
    pub status: u16,
    /// The synthetic model's true usage (absent for rejected requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<Usage>,
    /// The usage the response carried on its final channel (differs from `truth` under faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Usage>,
    /// Faults applied.
    #[serde(default)]
    pub faults: Vec<String>,
    /// The `[tokaudit:…]` marker found in the request, for `--ledger` correlation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
    /// The client closed the stream after this many frames had been produced: `truth` is
    /// then what was generated until the disconnect, which is what is billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_after_frames: Option<u64>,
}

/// The ledger document served at `/_tokaudit/ledger`: one page of it, or (as read by
/// [`fetch_ledger`](crate::provider::fetch_ledger)) every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LedgerDoc {
    /// Entries, oldest first.
    pub entries: Vec<LedgerEntry>,
    /// The sequence number to ask for next (`?since=`).
    #[serde(default)]
    pub next: u64,
    /// Whether entries remain after this page.
    #[serde(default)]
    pub more: bool,
    /// Entries dropped by the server's ring before they were read.
    #[serde(default)]
    pub dropped: u64,
}

impl LedgerDoc {
    /// The entries that carry `marker`.
    pub fn entries_for(&self, marker: &str) -> Vec<LedgerEntry> {
        self.entries
            .iter()
            .filter(|e| e.correlation.as_deref() == Some(marker))
            .cloned()
            .collect()
    }
}

/// What the upstream reported for the request one side forwarded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamSide {
    /// The upstream request id (`x-amzn-requestid`).
    pub request_id: String,
    /// The upstream operation.
    pub operation: String,
    /// How many upstream requests carried this side's marker (more than one: the gateway retried).
    pub requests: usize,
    /// The usage the upstream response carried, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageSet>,
}

/// Upstream ground truth for both sides of a pair (from `--ledger`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Upstream {
    /// For the non-streaming request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_streaming: Option<UpstreamSide>,
    /// For the streaming request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<UpstreamSide>,
    /// For the warm-up call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<UpstreamSide>,
}

impl Upstream {
    /// The upstream truth of a pair from the ledger entries carrying each request's marker.
    pub fn from_entries(
        non_streaming: &[LedgerEntry],
        streaming: &[LedgerEntry],
        warmup: &[LedgerEntry],
    ) -> Self {
        Upstream {
            non_streaming: upstream_side(non_streaming),
            streaming: upstream_side(streaming),
            warmup: upstream_side(warmup),
        }
    }
}

/// The marker for request number `n` of a run identified by `run_id`.
pub fn marker(run_id: u64, n: u64) -> String {
    let mixed = run_id ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{MARKER_PREFIX}{mixed:016x}]")
}

/// Find the marker in a request text, if any.
pub fn find_marker(text: &str) -> Option<String> {
    let start = text.find(MARKER_PREFIX)?;
    let candidate = text.get(start..start + MARKER_LEN)?;
    let hex = &candidate[MARKER_PREFIX.len()..MARKER_LEN - 1];
    (candidate.ends_with(']') && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| candidate.to_string())
}

/// Reduce the ledger entries that carry one request's marker to an [`UpstreamSide`]; `None`
/// when no entry matched. The last entry is the one whose answer the gateway used.
pub fn upstream_side(entries: &[LedgerEntry]) -> Option<UpstreamSide> {
    let last = entries.last()?;
    let id = &last.request_id;
    // A stream its client abandoned was never reported in full: what it was billed (the
    // output generated until the disconnect) is the truth the emulator rewrote.
    let usage = match last.aborted_after_frames {
        Some(_) => last
            .truth
            .map(|t| t.usage_set(&format!("ledger:{id}.truth"))),
        None => last
            .reported
            .map(|r| r.usage_set(&format!("ledger:{id}.reported"))),
    };
    Some(UpstreamSide {
        request_id: id.clone(),
        operation: last.operation.clone(),
        requests: entries.len(),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markers_are_fixed_width_and_found_again() {
        let m = marker(42, 7);
        assert_eq!(m.len(), MARKER_LEN);
        assert_ne!(m, marker(42, 8));
        assert_eq!(find_marker(&format!("You are terse.\n{m}")), Some(m));
        assert_eq!(find_marker("[tokaudit:nothex]"), None);
        assert_eq!(find_marker("[tokaudit:0123"), None);
    }

    /// An abandoned stream was never reported in full: its bill is the rewritten truth.
    #[test]
    fn an_aborted_stream_is_held_to_what_it_was_billed() {
        let doc: LedgerDoc = serde_json::from_value(json!({"entries": [
            {"request_id":"a","operation":"ConverseStream","model":"m","status":200,"faults":[],
             "correlation":"x","aborted_after_frames":5,
             "truth":{"input":21,"cache_read":0,"cache_write":0,"output":3},
             "reported":{"input":21,"cache_read":0,"cache_write":0,"output":54}},
        ]}))
        .unwrap();
        let up = upstream_side(&doc.entries_for("x")).unwrap();
        let output = up.usage.unwrap().output.unwrap();
        assert_eq!(
            (output.value, output.source.as_str()),
            (3, "ledger:a.truth.output")
        );
    }

    #[test]
    fn the_last_entry_wins_and_retries_are_counted() {
        let doc: LedgerDoc = serde_json::from_value(json!({"entries": [
            {"request_id":"a","operation":"Converse","model":"m","status":429,"faults":[],"correlation":"x"},
            {"request_id":"b","operation":"Converse","model":"m","status":200,"faults":[],"correlation":"x",
             "reported":{"input":10,"cache_read":0,"cache_write":0,"output":2}},
        ]}))
        .unwrap();
        let entries = doc.entries_for("x");
        let up = upstream_side(&entries).unwrap();
        assert_eq!((up.request_id.as_str(), up.requests), ("b", 2));
        assert_eq!(
            up.usage.unwrap().output.unwrap().source,
            "ledger:b.reported.output"
        );
        assert!(upstream_side(&[]).is_none());
        assert!(doc.entries_for("y").is_empty());
    }

    #[test]
    fn ledger_counts_are_read_strictly() {
        for bad in [
            json!("999"),
            json!(-5),
            json!(2.5),
            json!(18446744073709551616.0_f64),
        ] {
            let entry = json!({"request_id":"a","operation":"Converse","model":"m","status":200,
                "reported":{"input":bad,"cache_read":0,"cache_write":0,"output":2}});
            assert!(
                serde_json::from_value::<LedgerEntry>(entry).is_err(),
                "{bad} accepted"
            );
        }
        let garbage = json!({"request_id":"a","operation":"Converse","model":"m","status":200,
            "reported":{"tokens":12}});
        assert!(serde_json::from_value::<LedgerEntry>(garbage).is_err());
    }
}
