//! The AWS event-stream framing (`application/vnd.amazon.eventstream`), decoded and encoded
//! with `aws-smithy-eventstream` (both CRCs checked).
//!
//! A message is a 12-byte prelude (total length, headers length, prelude CRC), the headers,
//! the payload and a 4-byte message CRC, all big-endian. See
//! `shared/reference/wire-formats.md` §2.2.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};

/// Bytes of the prelude: total length, headers length and the prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// Bytes of the trailing message CRC.
pub const MESSAGE_CRC_LEN: usize = 4;
/// The smallest valid message: a prelude and a message CRC, no headers, no payload.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + MESSAGE_CRC_LEN;

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

impl DecodedFrame {
    /// Whether this is an ordinary event (not an exception or an error).
    pub fn is_event(&self) -> bool {
        self.message_type == "event"
    }
}

/// The `total_length` prefix of a frame, when four bytes are there to read it.
fn total_length(raw: &[u8]) -> Option<usize> {
    raw.get(..4)
        .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize)
}

/// Decode one raw frame, checking its length prefix and both CRCs.
pub fn decode_frame(raw: &Bytes) -> Result<DecodedFrame, FrameError> {
    if raw.len() < MIN_FRAME_LEN {
        return Err(FrameError::Truncated {
            have: raw.len(),
            need: total_length(raw)
                .unwrap_or(MIN_FRAME_LEN)
                .max(MIN_FRAME_LEN),
        });
    }
    let need = total_length(raw).expect("at least MIN_FRAME_LEN bytes");
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

/// Cuts a byte stream into frames by their `total_length` prefix as the bytes arrive. The
/// capture interceptor feeds it while the SDK decodes the same stream; [`split_frames`] feeds
/// it a whole body.
#[derive(Debug, Default)]
pub struct FrameSplitter {
    pending: BytesMut,
}

impl FrameSplitter {
    /// Add bytes; every frame they complete is appended to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        self.pending.extend_from_slice(data);
        while let Some(len) = total_length(&self.pending) {
            if len < MIN_FRAME_LEN || self.pending.len() < len {
                break;
            }
            out.push(self.pending.split_to(len).freeze());
        }
    }

    /// The bytes after the last complete frame (a cut stream), if any.
    pub fn tail(&self) -> Option<Bytes> {
        (!self.pending.is_empty()).then(|| Bytes::copy_from_slice(&self.pending))
    }
}

/// Split a byte stream into raw frames by their `total_length` prefix.
///
/// Bytes after the last complete frame become one short trailing element, so a cut stream is
/// visible (and reported) instead of silently dropped.
pub fn split_frames(bytes: &[u8]) -> Vec<Bytes> {
    let mut splitter = FrameSplitter::default();
    let mut frames = Vec::new();
    splitter.push(bytes, &mut frames);
    frames.extend(splitter.tail());
    frames
}

/// Encode one event-stream message with string headers (the emulator and tests use it).
pub fn encode_frame(headers: &[(&str, &str)], payload: impl Into<Bytes>) -> Bytes {
    let mut message = Message::new(payload);
    for (k, v) in headers {
        message = message.add_header(Header::new(
            k.to_string(),
            HeaderValue::String(v.to_string().into()),
        ));
    }
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .expect("string headers and in-memory payloads always encode");
    Bytes::from(out)
}

/// Encode an ordinary event (`:message-type: event`) with a JSON payload, headers in the order
/// real Bedrock captures show them.
pub fn encode_event(event_type: &str, payload: impl Into<Bytes>) -> Bytes {
    encode_frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of wire-formats.md §2.3, byte for byte.
    fn worked_example() -> Bytes {
        encode_event("chunk", r#"{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}"#)
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
        assert!(f.is_event());
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
    fn the_splitter_reassembles_frames_cut_into_small_writes() {
        let one = worked_example();
        let stream: Vec<u8> = one.iter().chain(one.iter()).copied().collect();
        let mut splitter = FrameSplitter::default();
        let mut frames = Vec::new();
        for piece in stream.chunks(7) {
            splitter.push(piece, &mut frames);
        }
        assert_eq!(frames, vec![one.clone(), one]);
        assert!(splitter.tail().is_none());
    }
}
