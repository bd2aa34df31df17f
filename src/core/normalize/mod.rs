//! Normalization: pure functions from a [`Capture`] to tagged usage observations.
//!
//! One normalizer per wire format (`invoke`, `invoke_stream`, `converse`, `converse_stream`).
//! Every number the wire carried is kept with its provenance and kind, grouped by the channel
//! it came from (body, headers, `message_start`, each `message_delta`, `invocationMetrics`,
//! Converse `metadata`). The normalized [`UsageSet`] of a side is then chosen by this
//! precedence, and documented in the README:
//!
//! | operation | input / cache | output | total |
//! |---|---|---|---|
//! | InvokeModel | body `usage`, else headers | body, else headers | derived |
//! | InvokeModelWithResponseStream | last `message_delta` carrying it, else `message_start`, else `invocationMetrics` | last `message_delta`, else `invocationMetrics`, else the `message_start` placeholder | derived |
//! | Converse | body `usage` | body `usage` | `totalTokens` |
//! | ConverseStream | `metadata.usage` | `metadata.usage` | `totalTokens` |
//! | Messages (Anthropic) | body `usage` | body `usage` | derived |
//! | Messages stream | as InvokeModelWithResponseStream, without `invocationMetrics` | | derived |
//! | Chat completions | body `usage` | body `usage` | `total_tokens` |
//! | Chat completions stream | the last chunk with a non-null `usage` | | `total_tokens` |
//!
//! Cache tokens stay separate. Bedrock and Anthropic count `input` *exclusive* of cache;
//! OpenAI's `prompt_tokens` *includes* `cached_tokens`. The OpenAI normalizer converts once,
//! in [`openai`], keeping the inclusive figure as `prompt_inclusive`; after that every
//! format is exclusive and [`UsageSet::input_total`] is the one place that adds them up.
//! Shapes: `shared/reference/wire-formats.md` §1–3 and §7.

mod anthropic;
mod converse;
mod invoke;
mod openai;

pub use anthropic::{messages, messages_stream};
pub use converse::{converse, converse_stream};
pub use invoke::{invoke, invoke_stream};
pub use openai::{chat, chat_stream};

use crate::core::capture::{Capture, FrameError, Operation, ResponseBody};
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// A usage field of the normalized record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Uncached input tokens.
    Input,
    /// Input tokens read from the prompt cache.
    CacheRead,
    /// Input tokens written to the prompt cache.
    CacheWrite,
    /// `input + cache_read + cache_write` (always derived).
    InputTotal,
    /// Output tokens.
    Output,
    /// The total, reported or derived.
    Total,
    /// Reasoning tokens, a subset of output (OpenAI-shaped usage only).
    Reasoning,
}

impl Field {
    /// Every field, in table order.
    pub const ALL: [Field; 7] = [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::InputTotal,
        Field::Output,
        Field::Total,
        Field::Reasoning,
    ];

    /// The field's name as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Field::Input => "input",
            Field::CacheRead => "cache_read",
            Field::CacheWrite => "cache_write",
            Field::InputTotal => "input_total",
            Field::Output => "output",
            Field::Total => "total",
            Field::Reasoning => "reasoning",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a number came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Carried on the wire as the final figure for its channel.
    Reported,
    /// Computed by tokaudit from reported numbers.
    Derived,
    /// Carried on the wire but documented as not final (`message_start.usage.output_tokens`).
    Placeholder,
}

/// One number with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Obs {
    /// The count.
    pub value: u64,
    /// Where it came from, e.g. `frame[4] message_delta.usage.output_tokens`.
    pub source: String,
    /// Reported, derived or placeholder.
    pub kind: Kind,
}

impl Obs {
    fn reported(value: u64, source: String) -> Self {
        Obs {
            value,
            source,
            kind: Kind::Reported,
        }
    }
}

/// The usage numbers of one channel (or the chosen usage of a side).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UsageSet {
    /// Uncached input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Obs>,
    /// Cache read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Obs>,
    /// Cache write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<Obs>,
    /// Output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Obs>,
    /// Total as reported (Converse) or derived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Obs>,
    /// Reasoning tokens (a subset of output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Obs>,
    /// OpenAI-shaped `prompt_tokens` as reported: input *including* cache tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_inclusive: Option<Obs>,
}

impl UsageSet {
    /// The observation of a stored field (`InputTotal` is computed, see [`Self::input_total`]).
    pub fn get(&self, field: Field) -> Option<&Obs> {
        match field {
            Field::Input => self.input.as_ref(),
            Field::CacheRead => self.cache_read.as_ref(),
            Field::CacheWrite => self.cache_write.as_ref(),
            Field::Output => self.output.as_ref(),
            Field::Total => self.total.as_ref(),
            Field::Reasoning => self.reasoning.as_ref(),
            Field::InputTotal => None,
        }
    }

    /// The value of any field, `InputTotal` included.
    pub fn value(&self, field: Field) -> Option<u64> {
        match field {
            Field::InputTotal => self.input_total(),
            f => self.get(f).map(|o| o.value),
        }
    }

    /// Total input: uncached input plus both cache fields (absent cache fields count as 0).
    /// This is the one place where the cache-exclusive Bedrock convention is folded.
    pub fn input_total(&self) -> Option<u64> {
        let input = self.input.as_ref()?.value;
        Some(
            input
                + self.cache_read.as_ref().map_or(0, |o| o.value)
                + self.cache_write.as_ref().map_or(0, |o| o.value),
        )
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.input.is_none()
            && self.cache_read.is_none()
            && self.cache_write.is_none()
            && self.output.is_none()
            && self.total.is_none()
            && self.prompt_inclusive.is_none()
    }

    fn set(&mut self, field: Field, obs: Obs) {
        match field {
            Field::Input => self.input = Some(obs),
            Field::CacheRead => self.cache_read = Some(obs),
            Field::CacheWrite => self.cache_write = Some(obs),
            Field::Output => self.output = Some(obs),
            Field::Total => self.total = Some(obs),
            Field::Reasoning => self.reasoning = Some(obs),
            Field::InputTotal => {}
        }
    }

    /// Fill `total` with a derived sum when the wire did not report one.
    fn derive_total(&mut self) {
        if self.total.is_none()
            && let (Some(input_total), Some(out)) = (self.input_total(), self.output.as_ref())
        {
            self.total = Some(Obs {
                value: input_total + out.value,
                source: "derived: input + cache_read + cache_write + output".into(),
                kind: Kind::Derived,
            });
        }
    }
}

/// Every usage channel one response can carry. Unused channels stay `None` / empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Channels {
    /// InvokeModel / Converse body `usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<UsageSet>,
    /// InvokeModel `X-Amzn-Bedrock-*-Token-Count` headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<UsageSet>,
    /// `message_start.message.usage` (its `output` is a placeholder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_start: Option<UsageSet>,
    /// Each `message_delta.usage`, in order (cumulative counters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub message_deltas: Vec<UsageSet>,
    /// `amazon-bedrock-invocationMetrics` on the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_metrics: Option<UsageSet>,
    /// ConverseStream `metadata.usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<UsageSet>,
    /// Chat-completions stream chunks that carried a non-null `usage`, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage_chunks: Vec<UsageSet>,
}

impl Channels {
    /// Every observation the wire carried, in channel order.
    pub fn observations(&self) -> Vec<(Field, &Obs)> {
        let sets = self
            .body
            .iter()
            .chain(&self.headers)
            .chain(&self.message_start)
            .chain(&self.message_deltas)
            .chain(&self.invocation_metrics)
            .chain(&self.metadata)
            .chain(&self.usage_chunks);
        let mut out = Vec::new();
        for set in sets {
            for field in [
                Field::Input,
                Field::CacheRead,
                Field::CacheWrite,
                Field::Output,
                Field::Total,
                Field::Reasoning,
            ] {
                if let Some(o) = set.get(field) {
                    out.push((field, o));
                }
            }
            if let Some(o) = &set.prompt_inclusive {
                out.push((Field::InputTotal, o));
            }
        }
        out
    }
}

/// A fixed-size digest of the completion text: enough to tell whether two texts are identical
/// without keeping a long stream's text in memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextDigest {
    /// Characters seen.
    pub chars: usize,
    /// FNV-1a 64 over the UTF-8 bytes.
    pub hash: u64,
    /// The first characters, for display.
    pub preview: String,
}

const PREVIEW_CHARS: usize = 60;

impl TextDigest {
    /// Append a piece of text.
    pub fn push(&mut self, text: &str) {
        if self.chars == 0 && self.hash == 0 {
            self.hash = 0xcbf2_9ce4_8422_2325;
        }
        for b in text.bytes() {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
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
    /// An in-band error event of a stream (`{"type": …|"code": …, "message": …}`).
    fn in_band(index: usize, err: &Value) -> Failure {
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
}

impl Normalized {
    fn new(capture: &Capture) -> Self {
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
        }
    }
}

/// Malformed input: the capture cannot be audited. Each message names the frame or field.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormalizeError {
    /// A frame failed to decode.
    #[error("frame {index}: {source}")]
    Frame {
        /// Frame index (0-based).
        index: usize,
        /// What was wrong.
        #[source]
        source: FrameError,
    },
    /// Bytes that should be JSON are not.
    #[error("{at}: invalid JSON ({detail})")]
    Json {
        /// Where.
        at: String,
        /// The parser's message.
        detail: String,
    },
    /// A count that is missing, negative or not an integer; or any other bad shape.
    #[error("{at}: {problem}")]
    Field {
        /// Field path, e.g. `frame[4] message_delta.usage.output_tokens`.
        at: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The capture does not match its operation (e.g. frames on a buffered operation).
    #[error("{0}")]
    Shape(String),
}

fn field_err(at: impl Into<String>, problem: impl Into<String>) -> NormalizeError {
    NormalizeError::Field {
        at: at.into(),
        problem: problem.into(),
    }
}

fn parse_json(bytes: &[u8], at: impl Into<String>) -> Result<Value, NormalizeError> {
    serde_json::from_slice(bytes).map_err(|e| NormalizeError::Json {
        at: at.into(),
        detail: e.to_string(),
    })
}

/// Read an optional token count: absent or `null` is `None`; anything but a non-negative
/// integer is an error naming the field.
fn count(obj: &Value, key: &str, at: &str) -> Result<Option<u64>, NormalizeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else if n.as_i64().is_some() {
                Err(field_err(
                    format!("{at}.{key}"),
                    format!("negative count {n}; token counts are never negative"),
                ))
            } else {
                Err(field_err(
                    format!("{at}.{key}"),
                    format!("{n} is not an integer token count"),
                ))
            }
        }
        Some(other) => Err(field_err(
            format!("{at}.{key}"),
            format!("{other} is not an integer token count"),
        )),
    }
}

/// Like [`count`], but absence is an error: the format says the field is always present.
fn required(obj: &Value, key: &str, at: &str) -> Result<u64, NormalizeError> {
    count(obj, key, at)?.ok_or_else(|| {
        field_err(
            format!("{at}.{key}"),
            "missing; the format requires this count whenever a usage object is present",
        )
    })
}

fn put(set: &mut UsageSet, field: Field, value: Option<u64>, source: String, kind: Kind) {
    if let Some(value) = value {
        set.set(
            field,
            Obs {
                value,
                source,
                kind,
            },
        );
    }
}

/// Handle what every operation shares: a transport failure, or an HTTP error status.
/// Returns `Some(side)` when the exchange failed before any usage could be carried.
fn failed_exchange(capture: &Capture, side: &mut Normalized) -> Option<()> {
    let Some(resp) = &capture.response else {
        let err = capture.transport_error.clone().unwrap_or_else(|| {
            crate::core::capture::TransportError {
                kind: "no-response".into(),
                message: "the capture holds neither a response nor an error".into(),
            }
        });
        side.failure = Some(Failure {
            kind: "transport",
            name: err.kind,
            message: err.message,
            frame: None,
            status: None,
        });
        return Some(());
    };
    if (200..300).contains(&resp.status) {
        if let Some(err) = &capture.transport_error {
            // A 200 whose body failed mid-way (e.g. a read timeout while streaming).
            side.failure = Some(Failure {
                kind: "transport",
                name: err.kind.clone(),
                message: err.message.clone(),
                frame: None,
                status: Some(resp.status),
            });
        }
        return None;
    }
    // AWS errors: `x-amzn-errortype: ThrottlingException:http://…`, body `{"message": …}`.
    // OpenAI and Anthropic errors: `{"error": {"type"|"code", "message"}}`.
    let json = match &resp.body {
        ResponseBody::Buffered(b) => serde_json::from_slice::<Value>(b).ok(),
        _ => None,
    };
    let inner = json
        .as_ref()
        .and_then(|v| v.get("error"))
        .filter(|e| e.is_object());
    let name = resp
        .header("x-amzn-errortype")
        .map(|v| v.split(':').next().unwrap_or(v).to_string())
        .or_else(|| {
            inner
                .and_then(|e| e.get("type").or_else(|| e.get("code")))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("HTTP{}", resp.status));
    let message = json
        .as_ref()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .or_else(|| inner.and_then(|e| e.get("message")))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| match &resp.body {
            ResponseBody::Buffered(b) => {
                Some(String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
            }
            _ => None,
        })
        .unwrap_or_default();
    side.failure = Some(Failure {
        kind: "http",
        name,
        message,
        frame: None,
        status: Some(resp.status),
    });
    Some(())
}

/// Normalize one capture with the normalizer for its operation.
pub fn normalize(capture: &Capture) -> Result<Normalized, NormalizeError> {
    match capture.operation {
        Operation::InvokeModel => invoke(capture),
        Operation::InvokeModelWithResponseStream => invoke_stream(capture),
        Operation::Converse => converse(capture),
        Operation::ConverseStream => converse_stream(capture),
        Operation::ChatCompletions => chat(capture),
        Operation::ChatCompletionsStream => chat_stream(capture),
        Operation::Messages => messages(capture),
        Operation::MessagesStream => messages_stream(capture),
    }
}

/// Count one SSE event into the stream facts and parse it; a cut or non-UTF-8 event is
/// malformed input naming the event index.
fn next_sse(
    side: &mut Normalized,
    index: usize,
    raw: &bytes::Bytes,
) -> Result<(String, crate::core::capture::SseEvent), NormalizeError> {
    let facts = side.stream.get_or_insert_default();
    facts.frames += 1;
    facts.bytes += raw.len();
    let at = format!("event[{index}]");
    let sse = crate::core::capture::parse_sse(raw)
        .map_err(|e| field_err(&at, format!("not UTF-8 ({e})")))?;
    if !sse.complete {
        // The connection closed mid-event: what arrived is not a complete event.
        return Err(field_err(
            &at,
            "truncated event (the stream was cut mid-event)",
        ));
    }
    Ok((at, sse))
}

fn sse_events(capture: &Capture) -> Result<&[bytes::Bytes], NormalizeError> {
    match capture.response.as_ref().map(|r| &r.body) {
        Some(ResponseBody::Sse(e)) => Ok(e),
        _ => Err(NormalizeError::Shape(format!(
            "{} response is not a server-sent-event stream",
            capture.operation
        ))),
    }
}

fn buffered_body(capture: &Capture) -> Result<&[u8], NormalizeError> {
    match capture.response.as_ref().map(|r| &r.body) {
        Some(ResponseBody::Buffered(b)) => Ok(b),
        _ => Err(NormalizeError::Shape(format!(
            "{} response is a stream, expected a buffered JSON body",
            capture.operation
        ))),
    }
}

fn frames(capture: &Capture) -> Result<&[bytes::Bytes], NormalizeError> {
    match capture.response.as_ref().map(|r| &r.body) {
        Some(ResponseBody::Frames(f)) => Ok(f),
        _ => Err(NormalizeError::Shape(format!(
            "{} response has a buffered body, expected event-stream frames",
            capture.operation
        ))),
    }
}

/// Turn an exception or error frame into a [`Failure`].
fn frame_failure(index: usize, frame: &crate::core::capture::DecodedFrame) -> Failure {
    let message = serde_json::from_slice::<Value>(&frame.payload)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .or_else(|| {
            frame
                .headers
                .iter()
                .find(|(k, _)| k == ":error-message")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_default();
    Failure {
        kind: if frame.message_type == "exception" {
            "exception"
        } else {
            "error"
        },
        name: frame.type_name.clone(),
        message,
        frame: Some(index),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_reject_negative_fractional_and_text() {
        let v = json!({"a": -3, "b": 2.5, "c": "7", "d": null, "e": 4});
        assert!(
            count(&v, "a", "x")
                .unwrap_err()
                .to_string()
                .contains("x.a: negative")
        );
        assert!(
            count(&v, "b", "x")
                .unwrap_err()
                .to_string()
                .contains("not an integer")
        );
        assert!(count(&v, "c", "x").is_err());
        assert_eq!(count(&v, "d", "x").unwrap(), None);
        assert_eq!(count(&v, "e", "x").unwrap(), Some(4));
        assert!(
            required(&v, "zz", "x")
                .unwrap_err()
                .to_string()
                .contains("x.zz: missing")
        );
    }

    #[test]
    fn input_total_adds_cache_exactly_once() {
        let mut u = UsageSet::default();
        put(&mut u, Field::Input, Some(3), "a".into(), Kind::Reported);
        put(
            &mut u,
            Field::CacheWrite,
            Some(25037),
            "b".into(),
            Kind::Reported,
        );
        put(&mut u, Field::Output, Some(5), "c".into(), Kind::Reported);
        assert_eq!(u.input_total(), Some(25040));
        u.derive_total();
        assert_eq!(u.value(Field::Total), Some(25045));
        assert_eq!(u.total.unwrap().kind, Kind::Derived);
    }

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
}
