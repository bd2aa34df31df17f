//! The raw exchange of one path, exactly as it crossed the wire.
//!
//! A [`Capture`] is where the three jobs meet: the live provider fills one from the SDK's
//! interceptor, the fixture loader rebuilds one from a file, and the emulator's responses are
//! captured the same way. Everything after this point is pure and never touches the network.
//!
//! Event-stream frames are kept as raw bytes, in order, and decoded here with
//! `aws-smithy-eventstream` (both CRCs checked): the chunk layout is the evidence.
//! Wire format: `shared/reference/wire-formats.md` §2.2.

use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four Bedrock Runtime operations that carry usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// `POST /model/{id}/invoke`: one JSON body, usage in the body and in headers.
    InvokeModel,
    /// `POST /model/{id}/invoke-with-response-stream`: Anthropic events inside event-stream chunks.
    InvokeModelWithResponseStream,
    /// `POST /model/{id}/converse`: one JSON body in the Converse shape.
    Converse,
    /// `POST /model/{id}/converse-stream`: Converse events, usage on the trailing `metadata`.
    ConverseStream,
    /// `POST /v1/chat/completions` (OpenAI-compatible gateways), one JSON body.
    ChatCompletions,
    /// The same with `"stream": true` and `stream_options.include_usage`: SSE chunks.
    ChatCompletionsStream,
    /// `POST /v1/messages` (Anthropic Messages API), one JSON body.
    Messages,
    /// The same with `"stream": true`: SSE events.
    MessagesStream,
}

impl Operation {
    /// Whether the response is an event stream.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Operation::InvokeModelWithResponseStream
                | Operation::ConverseStream
                | Operation::ChatCompletionsStream
                | Operation::MessagesStream
        )
    }

    /// The API family this operation belongs to.
    pub fn api(self) -> Api {
        match self {
            Operation::InvokeModel | Operation::InvokeModelWithResponseStream => Api::Invoke,
            Operation::Converse | Operation::ConverseStream => Api::Converse,
            Operation::ChatCompletions | Operation::ChatCompletionsStream => Api::Chat,
            Operation::Messages | Operation::MessagesStream => Api::Messages,
        }
    }

    /// The last segment of the REST path.
    pub fn path_suffix(self) -> &'static str {
        match self {
            Operation::InvokeModel => "invoke",
            Operation::InvokeModelWithResponseStream => "invoke-with-response-stream",
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse-stream",
            Operation::ChatCompletions | Operation::ChatCompletionsStream => "chat/completions",
            Operation::Messages | Operation::MessagesStream => "messages",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An API family: a non-streaming operation and its streaming twin, audited as one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// InvokeModel and InvokeModelWithResponseStream (Anthropic Messages bodies).
    Invoke,
    /// Converse and ConverseStream.
    Converse,
    /// OpenAI-compatible chat completions, buffered and streamed.
    Chat,
    /// Anthropic Messages, buffered and streamed.
    Messages,
}

impl Api {
    /// The (non-streaming, streaming) operations of this family.
    pub fn operations(self) -> (Operation, Operation) {
        match self {
            Api::Invoke => (
                Operation::InvokeModel,
                Operation::InvokeModelWithResponseStream,
            ),
            Api::Converse => (Operation::Converse, Operation::ConverseStream),
            Api::Chat => (Operation::ChatCompletions, Operation::ChatCompletionsStream),
            Api::Messages => (Operation::Messages, Operation::MessagesStream),
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::Invoke => "invoke",
            Api::Converse => "converse",
            Api::Chat => "chat",
            Api::Messages => "messages",
        })
    }
}

/// The raw exchange of one path (one logical call, possibly several attempts).
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Which operation was called.
    pub operation: Operation,
    /// How many HTTP attempts the SDK made (retries included); each may have been billed.
    pub attempts: u32,
    /// The request of the last attempt, already redacted.
    pub request: RecordedRequest,
    /// The response of the last attempt, if one arrived.
    pub response: Option<RecordedResponse>,
    /// A failure seen outside the response bytes (transport, timeout, SDK error).
    pub transport_error: Option<TransportError>,
}

/// A redacted HTTP request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query, as sent (model ids stay percent-encoded).
    pub path: String,
    /// Headers in wire order, with secrets replaced by [`REDACTED`].
    pub headers: Vec<(String, String)>,
    /// The request body (JSON for every Bedrock operation).
    pub body: Bytes,
}

/// An HTTP response, with the body either buffered or split into event-stream frames.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in wire order (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ResponseBody,
}

impl RecordedResponse {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response body.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// A buffered body (JSON, or an error page).
    Buffered(Bytes),
    /// Event-stream frames in arrival order. Each element is meant to be exactly one message;
    /// a cut stream leaves a short last element, which decoding reports as truncated.
    Frames(Vec<Bytes>),
    /// Server-sent events in arrival order, each the exact bytes of one event including its
    /// terminating blank line; a cut stream leaves an unterminated last element.
    Sse(Vec<Bytes>),
}

/// A failure outside the response bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransportError {
    /// A short class: `timeout`, `dispatch`, `throttling`, `service`, `stream`, …
    pub kind: String,
    /// The error as the SDK rendered it (never contains credentials).
    pub message: String,
}

/// The value that replaces every secret in a recorded request.
pub const REDACTED: &str = "<redacted>";

/// Request headers that never leave the process.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-amz-security-token",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-api-key",
    "cookie",
    "set-cookie",
    "proxy-authorization",
];

/// Replace secret header values by [`REDACTED`]; also catches bearer tokens under any name.
pub fn redact_headers(
    headers: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let secret = SECRET_HEADERS.contains(&lower.as_str())
                || v.trim_start().to_ascii_lowercase().starts_with("bearer ")
                || v.contains("AWS4-HMAC-SHA256");
            if !secret {
                return (lower, v);
            }
            // Keep the auth scheme (which one the SDK chose is evidence), never its value.
            let scheme = v.split_whitespace().next().unwrap_or("");
            let known = ["AWS4-HMAC-SHA256", "Bearer", "Basic"]
                .into_iter()
                .find(|s| s.eq_ignore_ascii_case(scheme));
            match known {
                Some(s) if lower == "authorization" || lower == "proxy-authorization" => {
                    (lower, format!("{REDACTED} ({s})"))
                }
                _ => (lower, REDACTED.to_string()),
            }
        })
        .collect()
}

/// Why a raw frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    /// Fewer bytes than the frame's own length prefix announces.
    #[error("truncated frame: {have} of {need} bytes (the stream was cut mid-frame)")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes announced by `total_length`.
        need: usize,
    },
    /// More bytes than one message.
    #[error(
        "{extra} bytes after the end of the message (frames were not split at their length prefix)"
    )]
    Trailing {
        /// Extra bytes.
        extra: usize,
    },
    /// CRC mismatch or a malformed prelude/header, as reported by `aws-smithy-eventstream`.
    #[error("invalid event-stream message: {0}")]
    Invalid(String),
    /// A header the protocol requires is missing.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
}

/// A decoded event-stream message, reduced to what the audit needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame {
    /// `:message-type` (`event`, `exception`, `error`).
    pub message_type: String,
    /// `:event-type`, `:exception-type` or `:error-code`, whichever applies.
    pub type_name: String,
    /// Every header, in wire order, values rendered as text.
    pub headers: Vec<(String, String)>,
    /// The payload bytes.
    pub payload: Bytes,
}

/// Decode one raw frame, checking its length prefix and both CRCs.
pub fn decode_frame(raw: &Bytes) -> Result<DecodedFrame, FrameError> {
    if raw.len() < 16 {
        let need = if raw.len() >= 4 {
            u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize
        } else {
            16
        };
        return Err(FrameError::Truncated {
            have: raw.len(),
            need: need.max(16),
        });
    }
    let need = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
    if raw.len() < need {
        return Err(FrameError::Truncated {
            have: raw.len(),
            need,
        });
    }
    if raw.len() > need {
        return Err(FrameError::Trailing {
            extra: raw.len() - need,
        });
    }
    let message = aws_smithy_eventstream::frame::read_message_from(raw.clone())
        .map_err(|e| FrameError::Invalid(e.to_string()))?;
    from_message(&message)
}

fn from_message(message: &Message) -> Result<DecodedFrame, FrameError> {
    let headers: Vec<(String, String)> = message
        .headers()
        .iter()
        .map(|h| (h.name().as_str().to_string(), header_text(h.value())))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let message_type = get(":message-type").ok_or(FrameError::MissingHeader(":message-type"))?;
    let type_name = match message_type.as_str() {
        "event" => get(":event-type").ok_or(FrameError::MissingHeader(":event-type"))?,
        "exception" => {
            get(":exception-type").ok_or(FrameError::MissingHeader(":exception-type"))?
        }
        _ => get(":error-code").unwrap_or_default(),
    };
    Ok(DecodedFrame {
        message_type,
        type_name,
        headers,
        payload: message.payload().clone(),
    })
}

/// Render a header value as text (Bedrock only uses strings; the rest is for completeness).
pub fn header_text(value: &HeaderValue) -> String {
    match value {
        HeaderValue::Bool(b) => b.to_string(),
        HeaderValue::Byte(v) => v.to_string(),
        HeaderValue::Int16(v) => v.to_string(),
        HeaderValue::Int32(v) => v.to_string(),
        HeaderValue::Int64(v) => v.to_string(),
        HeaderValue::ByteArray(b) => format!("{} bytes", b.len()),
        HeaderValue::String(s) => s.as_str().to_string(),
        HeaderValue::Timestamp(t) => t.to_string(),
        HeaderValue::Uuid(u) => format!("{u:032x}"),
        _ => "<unknown header type>".to_string(),
    }
}

/// Split a byte stream into raw frames by their `total_length` prefix.
///
/// Bytes after the last complete frame become one short trailing element, so a cut stream is
/// visible (and reported) instead of silently dropped.
pub fn split_frames(mut bytes: &[u8]) -> Vec<Bytes> {
    let mut frames = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len < 16 || len > bytes.len() {
            break;
        }
        frames.push(Bytes::copy_from_slice(&bytes[..len]));
        bytes = &bytes[len..];
    }
    if !bytes.is_empty() {
        frames.push(Bytes::copy_from_slice(bytes));
    }
    frames
}

/// Split an SSE byte stream into events at blank lines (`\n\n` or `\r\n\r\n`), keeping each
/// event's exact bytes; an unterminated tail becomes the last element.
pub fn split_sse(bytes: &[u8]) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = if bytes[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else if bytes[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else {
            None
        };
        match end {
            Some(e) => {
                events.push(Bytes::copy_from_slice(&bytes[start..e]));
                start = e;
                i = e;
            }
            None => i += 1,
        }
    }
    if start < bytes.len() && !bytes[start..].iter().all(u8::is_ascii_whitespace) {
        events.push(Bytes::copy_from_slice(&bytes[start..]));
    }
    events
}

/// One parsed SSE event: its `event:` name (if any), its joined `data:` lines, and whether it
/// was terminated by a blank line.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// Whether the event ended with a blank line (a cut stream leaves it `false`).
    pub complete: bool,
}

/// Parse one raw SSE event (comments and unknown fields ignored, per the SSE spec).
pub fn parse_sse(raw: &[u8]) -> Result<SseEvent, std::str::Utf8Error> {
    let text = std::str::from_utf8(raw)?;
    let complete = text.ends_with("\n\n") || text.ends_with("\r\n\r\n");
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    Ok(SseEvent {
        event,
        data: data.join("\n"),
        complete,
    })
}

/// Encode one event-stream message (used by the emulator and by tests).
pub fn encode_frame(headers: &[(&str, &str)], payload: impl Into<Bytes>) -> Bytes {
    let mut message = Message::new(payload);
    for (k, v) in headers {
        message = message.add_header(aws_smithy_types::event_stream::Header::new(
            k.to_string(),
            HeaderValue::String(v.to_string().into()),
        ));
    }
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .expect("string headers and in-memory payloads always encode");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of wire-formats.md §2.3, byte for byte.
    fn worked_example() -> Bytes {
        encode_frame(
            &[
                (":event-type", "chunk"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            r#"{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}"#,
        )
    }

    #[test]
    fn encodes_the_documented_worked_example() {
        let raw = worked_example();
        assert_eq!(raw.len(), 135);
        assert_eq!(
            &raw[..12],
            &[0, 0, 0, 0x87, 0, 0, 0, 0x4b, 0x87, 0xea, 0x2b, 0xf3]
        );
        assert_eq!(&raw[131..], &[0xba, 0x48, 0xab, 0x22]);
    }

    #[test]
    fn decodes_headers_and_payload() {
        let f = decode_frame(&worked_example()).unwrap();
        assert_eq!(f.message_type, "event");
        assert_eq!(f.type_name, "chunk");
        assert_eq!(f.headers.len(), 3);
        assert!(f.payload.starts_with(b"{\"bytes\""));
    }

    #[test]
    fn bad_crc_is_reported() {
        let mut raw = worked_example().to_vec();
        raw[60] ^= 0x01;
        let err = decode_frame(&Bytes::from(raw)).unwrap_err();
        assert!(
            matches!(err, FrameError::Invalid(ref m) if m.contains("checksum")),
            "{err}"
        );
    }

    #[test]
    fn truncation_is_reported_with_sizes() {
        let raw = worked_example().slice(..100);
        assert_eq!(
            decode_frame(&raw).unwrap_err(),
            FrameError::Truncated {
                have: 100,
                need: 135
            }
        );
        assert!(matches!(
            decode_frame(&Bytes::from_static(&[0, 0])),
            Err(FrameError::Truncated { .. })
        ));
    }

    #[test]
    fn split_keeps_a_cut_tail() {
        let one = worked_example();
        let mut stream = one.to_vec();
        stream.extend_from_slice(&one);
        stream.extend_from_slice(&one[..20]);
        let frames = split_frames(&stream);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2].len(), 20);
    }

    #[test]
    fn sse_splits_at_blank_lines_and_keeps_a_cut_tail() {
        let body = b"event: a\ndata: {\"x\":1}\n\ndata: [DONE]\r\n\r\ndata: {\"cut";
        let events = split_sse(body);
        assert_eq!(events.len(), 3);
        let a = parse_sse(&events[0]).unwrap();
        assert_eq!(
            (a.event.as_deref(), a.data.as_str(), a.complete),
            (Some("a"), "{\"x\":1}", true)
        );
        assert_eq!(parse_sse(&events[1]).unwrap().data, "[DONE]");
        assert!(!parse_sse(&events[2]).unwrap().complete);
        assert!(split_sse(b"\n\n").len() == 1 && split_sse(b"").is_empty());
    }

    #[test]
    fn redaction_covers_signatures_and_bearer_tokens() {
        let out = redact_headers(vec![
            (
                "Authorization".into(),
                "AWS4-HMAC-SHA256 Credential=AKID/…".into(),
            ),
            ("X-Amz-Security-Token".into(), "FwoGZX".into()),
            ("x-custom".into(), "Bearer abc".into()),
            ("content-type".into(), "application/json".into()),
        ]);
        assert_eq!(out[0].1, "<redacted> (AWS4-HMAC-SHA256)");
        assert!(out[1..3].iter().all(|(_, v)| v == REDACTED));
        assert!(
            out.iter()
                .all(|(_, v)| !v.contains("AKID") && !v.contains("abc"))
        );
        assert_eq!(out[3].1, "application/json");
    }
}
