//! One side of a pair after normalization: its chosen usage, every channel, the completion
//! text as a digest, stream facts, and the failure that ended it, if any.

use super::request::RequestFacts;
use super::usage::{Channels, Kind, Obs, UsageSet};
use crate::core::capture::{Capture, Operation};
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// A fixed-size digest of the completion text: enough to tell whether two texts are identical
/// without keeping a long stream's text in memory.
/// An empty text and no text at all digest the same: a response with an empty text block is
/// not a different completion from one with none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextDigest {
    /// Characters seen.
    pub chars: usize,
    /// FNV-1a 64 over the UTF-8 bytes.
    pub hash: u64,
    /// The first characters, for display.
    pub preview: String,
}

/// Characters kept for display.
const PREVIEW_CHARS: usize = 60;
/// FNV-1a 64-bit offset basis and prime (Fowler, Noll, Vo).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Default for TextDigest {
    fn default() -> Self {
        TextDigest {
            chars: 0,
            hash: FNV_OFFSET,
            preview: String::new(),
        }
    }
}

impl TextDigest {
    /// Append a piece of text.
    pub fn push(&mut self, text: &str) {
        for b in text.bytes() {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        for c in text.chars() {
            if self.chars < PREVIEW_CHARS {
                self.preview.push(c);
            }
            self.chars += 1;
        }
    }
}

impl Serialize for TextDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("TextDigest", 3)?;
        st.serialize_field("chars", &self.chars)?;
        st.serialize_field("fnv1a64", &format!("{:016x}", self.hash))?;
        st.serialize_field("preview", &self.preview)?;
        st.end()
    }
}

/// A runtime failure of the exchange: not a mismatch, but the reason a side has no usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// `http`, `exception`, `error` (unmodelled error frame or in-band error event) or `transport`.
    pub kind: &'static str,
    /// The error type, e.g. `ThrottlingException` or `modelStreamErrorException`.
    pub name: String,
    /// The message the service gave.
    pub message: String,
    /// The frame index, for failures inside a stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<usize>,
    /// The HTTP status, for HTTP failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl Failure {
    /// A stream tokaudit closed on purpose (`--abort-after`), not a failure of the service.
    pub fn aborted(&self) -> bool {
        self.kind == "transport" && self.name == crate::core::capture::ABORTED
    }

    /// An in-band error event of a stream (`{"type": …|"code": …, "message": …}`).
    pub(super) fn in_band(index: usize, err: &Value) -> Failure {
        let text = |k: &str| err.get(k).and_then(Value::as_str);
        Failure {
            kind: "error",
            name: text("type").or(text("code")).unwrap_or("error").to_string(),
            message: text("message").unwrap_or_default().to_string(),
            frame: Some(index),
            status: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.frame, self.status) {
            (Some(i), _) => write!(f, "{} in frame {i}: {}", self.name, self.message),
            (None, Some(s)) => write!(f, "HTTP {s} {}: {}", self.name, self.message),
            _ => write!(f, "{}: {}", self.name, self.message),
        }
    }
}

/// Facts about an event stream that the in-response invariants need.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StreamFacts {
    /// Frames received (including a cut tail).
    pub frames: usize,
    /// Bytes received.
    pub bytes: usize,
    /// The frame index of the terminal event (`message_stop` / `messageStop`), if seen.
    pub terminal_frame: Option<usize>,
    /// Unknown event types that were ignored (`ping` and future additions).
    pub ignored_events: usize,
    /// A usage object found at the wrong nesting level (where a reader would see zeros).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misplaced_usage: Option<String>,
    /// Chat-completions streams: whether the request asked for `stream_options.include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_usage_requested: Option<bool>,
    /// Chat-completions streams: usage chunks whose `choices` was not empty (LiteLLM style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_chunks_with_choices: Option<usize>,
    /// The first event out of its format's order, with its place (`stream-order`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_violation: Option<String>,
    /// Responses streams: the index of a `data: [DONE]` after the terminal event (not part of
    /// the protocol, harmless to usage; clients stop at it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trailing_done: Option<usize>,
}

/// The normalized view of one side of a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Normalized {
    /// The operation.
    pub operation: Operation,
    /// HTTP attempts the SDK made.
    pub attempts: u32,
    /// HTTP status of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Usage chosen by the documented precedence.
    pub usage: UsageSet,
    /// Every usage channel the wire carried.
    pub channels: Channels,
    /// The completion text (digest).
    pub text: TextDigest,
    /// `stop_reason` / `stopReason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Stream facts (streaming operations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamFacts>,
    /// A runtime failure, if the exchange failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What the request asked for (cache breakpoints and TTL, thinking).
    #[serde(skip_serializing_if = "RequestFacts::is_empty")]
    pub request: RequestFacts,
}

impl Normalized {
    /// The usage as the provider bills it: a cache write reported without its TTL split is
    /// billed at the TTL the request asked for (a 1-hour write stays a 1-hour write even when
    /// a gateway's shape has no field for it).
    pub fn billed_usage(&self) -> UsageSet {
        let mut u = self.usage.clone();
        let unsplit = u.cache_write_5m.is_none() && u.cache_write_1h.is_none();
        if unsplit
            && self.request.cache_ttl.as_deref() == Some("1h")
            && let Some(w) = u.cache_write.clone()
        {
            u.cache_write_1h = Some(Obs {
                source: format!("derived: {} at the requested 1h TTL", w.source),
                kind: Kind::Derived,
                ..w
            });
        }
        u
    }

    /// A stream closed on purpose after its terminal event had arrived was not cut short:
    /// the abort came too late, and the stream is audited as the complete one it is (so an
    /// "aborted" marker cannot excuse a finished stream from the wire audit).
    pub fn settle_abort(&mut self) {
        let finished = self
            .stream
            .as_ref()
            .is_some_and(|s| s.terminal_frame.is_some());
        if finished && self.failure.as_ref().is_some_and(Failure::aborted) {
            self.failure = None;
        }
    }

    /// Keep the first event that broke the stream's grammar.
    pub(super) fn note_order(&mut self, violation: String) {
        let facts = self.stream.get_or_insert_default();
        if facts.order_violation.is_none() {
            facts.order_violation = Some(violation);
        }
    }

    /// A side of `operation` with nothing read yet (a reducer's scratch before the head of its
    /// capture is known).
    pub(super) fn empty(operation: Operation) -> Self {
        Normalized {
            operation,
            attempts: 0,
            status: None,
            usage: UsageSet::default(),
            channels: Channels::default(),
            text: TextDigest::default(),
            stop_reason: None,
            stream: operation.is_streaming().then(StreamFacts::default),
            failure: None,
            request: RequestFacts::default(),
        }
    }

    pub(super) fn new(capture: &Capture) -> Self {
        Normalized {
            operation: capture.operation,
            attempts: capture.attempts,
            status: capture.response.as_ref().map(|r| r.status),
            usage: UsageSet::default(),
            channels: Channels::default(),
            text: TextDigest::default(),
            stop_reason: None,
            stream: capture.operation.is_streaming().then(StreamFacts::default),
            failure: None,
            request: super::request::facts(capture.operation, &capture.request.body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_tells_texts_apart_and_keeps_a_preview() {
        let (mut a, mut b) = (TextDigest::default(), TextDigest::default());
        a.push("Hi");
        a.push("!");
        b.push("Hi!");
        assert_eq!(a, b);
        b.push(" ");
        assert_ne!(a, b);
        assert_eq!(a.preview, "Hi!");
    }

    #[test]
    fn an_empty_text_block_is_the_same_text_as_none() {
        let mut empty = TextDigest::default();
        empty.push("");
        assert_eq!(empty, TextDigest::default());
    }
}
