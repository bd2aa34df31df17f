//! The AWS event-stream framing (`application/vnd.amazon.eventstream`), decoded and encoded
//! with `aws-smithy-eventstream` (both CRCs checked).
//!
//! A message is a 12-byte prelude (total length, headers length, prelude CRC), the headers,
//! the payload and a 4-byte message CRC, all big-endian. See
//! `shared/reference/wire-formats.md` §2.2.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;

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

/// A decoded event-stream message, borrowed from its raw bytes: the two types the audit
/// dispatches on, the header block (iterated on demand) and the payload. Decoding allocates
/// nothing for string headers, which is all Bedrock sends.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame<'a> {
    /// `:message-type` (`event`, `exception`, `error`).
    pub message_type: Cow<'a, str>,
    /// `:event-type`, `:exception-type` or `:error-code`, whichever applies.
    pub type_name: Cow<'a, str>,
    /// The header block, already validated.
    header_block: &'a [u8],
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl<'a> DecodedFrame<'a> {
    /// Whether this is an ordinary event (not an exception or an error).
    pub fn is_event(&self) -> bool {
        self.message_type == "event"
    }

    /// The headers in wire order, values rendered as text.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + use<'a> {
        let mut rest = self.header_block;
        std::iter::from_fn(move || {
            let (h, used) = read_header(rest).ok()?;
            rest = &rest[used..];
            Some(h)
        })
    }

    /// The headers as owned pairs (for views and messages, not the hot path).
    pub fn header_list(&self) -> Vec<(String, String)> {
        self.headers()
            .map(|(k, v)| (k.to_string(), v.into_owned()))
            .collect()
    }

    /// The raw header block (two frames with equal blocks have equal headers).
    pub fn header_block(&self) -> &'a [u8] {
        self.header_block
    }
}

/// The `total_length` prefix of a frame, when four bytes are there to read it.
fn total_length(raw: &[u8]) -> Option<usize> {
    raw.get(..4)
        .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decode one raw frame, checking its length prefix and both CRCs.
///
/// The frame is read in place (no copy, no allocation for string headers), following the
/// framing rules of `aws-smithy-eventstream` exactly; when a frame is refused, the SDK's own
/// decoder is run on it for the reason, so the message is the SDK's. A differential fuzz target
/// (`fuzz/fuzz_targets/frame_decoder.rs`) holds both decoders to the same verdicts.
pub fn decode_frame(raw: &[u8]) -> Result<DecodedFrame<'_>, FrameError> {
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
    read_in_place(raw).ok_or_else(|| sdk_reason(raw))?
}

/// Why the SDK's decoder refuses a frame.
fn sdk_reason(raw: &[u8]) -> FrameError {
    match aws_smithy_eventstream::frame::read_message_from(Bytes::copy_from_slice(raw)) {
        Err(e) => FrameError::Invalid(e.to_string()),
        Ok(_) => FrameError::Invalid("malformed headers".into()),
    }
}

/// The frame's structure read in place; `None` when anything is off (the SDK then says what).
fn read_in_place(raw: &[u8]) -> Option<Result<DecodedFrame<'_>, FrameError>> {
    let total = raw.len();
    let header_len = be32(&raw[4..8]) as usize;
    if crc32fast::hash(&raw[..8]) != be32(&raw[8..12]) {
        return None;
    }
    if header_len == 1 || header_len > total - MIN_FRAME_LEN {
        return None;
    }
    let body_end = total - MESSAGE_CRC_LEN;
    if crc32fast::hash(&raw[..body_end]) != be32(&raw[body_end..]) {
        return None;
    }
    let header_block = &raw[PRELUDE_LEN..PRELUDE_LEN + header_len];
    let mut rest = header_block;
    let (mut message_type, mut event, mut exception, mut code) = (None, None, None, None);
    while !rest.is_empty() {
        let ((name, value), used) = read_header(rest).ok()?;
        rest = &rest[used..];
        match name {
            ":message-type" => message_type = Some(value),
            ":event-type" => event = Some(value),
            ":exception-type" => exception = Some(value),
            ":error-code" => code = Some(value),
            _ => {}
        }
    }
    let payload = &raw[PRELUDE_LEN + header_len..body_end];
    let frame = |message_type, type_name| DecodedFrame {
        message_type,
        type_name,
        header_block,
        payload,
    };
    Some(match message_type {
        None => Err(FrameError::MissingHeader(":message-type")),
        Some(m) if m == "event" => event
            .map(|t| frame(m, t))
            .ok_or(FrameError::MissingHeader(":event-type")),
        Some(m) if m == "exception" => exception
            .map(|t| frame(m, t))
            .ok_or(FrameError::MissingHeader(":exception-type")),
        Some(m) => Ok(frame(m, code.unwrap_or_default())),
    })
}

/// Header value types (the event-stream specification).
const TYPE_TRUE: u8 = 0;
const TYPE_FALSE: u8 = 1;
const TYPE_BYTE: u8 = 2;
const TYPE_INT16: u8 = 3;
const TYPE_INT32: u8 = 4;
const TYPE_INT64: u8 = 5;
const TYPE_BYTE_ARRAY: u8 = 6;
const TYPE_STRING: u8 = 7;
const TYPE_TIMESTAMP: u8 = 8;
const TYPE_UUID: u8 = 9;

/// One header at the start of `b`: its name, its value rendered as text, and the bytes used.
type HeaderAt<'a> = ((&'a str, Cow<'a, str>), usize);

/// Text that is valid UTF-8.
fn text(b: &[u8]) -> Result<&str, ()> {
    std::str::from_utf8(b).map_err(|_| ())
}

fn read_header(b: &[u8]) -> Result<HeaderAt<'_>, ()> {
    let name_len = *b.first().ok_or(())? as usize;
    let name = text(b.get(1..1 + name_len).ok_or(())?)?;
    let at = 1 + name_len;
    let kind = *b.get(at).ok_or(())?;
    let v = &b[at + 1..];
    let fixed = |n: usize| v.get(..n).ok_or(());
    let (value, len): (Cow<str>, usize) = match kind {
        TYPE_TRUE => ("true".into(), 0),
        TYPE_FALSE => ("false".into(), 0),
        TYPE_BYTE => ((fixed(1)?[0] as i8).to_string().into(), 1),
        TYPE_INT16 => (
            i16::from_be_bytes(fixed(2)?.try_into().map_err(|_| ())?)
                .to_string()
                .into(),
            2,
        ),
        TYPE_INT32 => (
            i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| ())?)
                .to_string()
                .into(),
            4,
        ),
        TYPE_INT64 => (
            i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| ())?)
                .to_string()
                .into(),
            8,
        ),
        TYPE_BYTE_ARRAY | TYPE_STRING => {
            let n = u16::from_be_bytes(fixed(2)?.try_into().map_err(|_| ())?) as usize;
            let bytes = v.get(2..2 + n).ok_or(())?;
            let value: Cow<str> = if kind == TYPE_STRING {
                text(bytes)?.into()
            } else {
                format!("{n} bytes").into()
            };
            (value, 2 + n)
        }
        TYPE_TIMESTAMP => {
            let ms = i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| ())?);
            (
                aws_smithy_types::DateTime::from_millis(ms)
                    .to_string()
                    .into(),
                8,
            )
        }
        TYPE_UUID => {
            let u = u128::from_be_bytes(fixed(16)?.try_into().map_err(|_| ())?);
            (format!("{u:032x}").into(), 16)
        }
        _ => return Err(()),
    };
    Ok(((name, value), at + 1 + len))
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
        let raw = worked_example();
        let f = decode_frame(&raw).unwrap();
        assert!(f.is_event());
        assert_eq!(f.type_name, "chunk");
        assert_eq!(f.headers().count(), 3);
        assert!(f.payload.starts_with(b"{\"bytes\""));
    }

    /// The SDK's header values rendered the way the in-place reader renders them.
    fn header_text(value: &HeaderValue) -> String {
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

    /// The in-place reader and the SDK's decoder agree on every frame: the same verdict, and
    /// for frames both accept, the same headers and payload. Checked on a frame with every
    /// header type and on each of its single-bit corruptions (the fuzz target goes further).
    #[test]
    fn the_in_place_reader_agrees_with_the_sdk_decoder() {
        let mut message = Message::new(Bytes::from_static(br#"{"a":1}"#));
        for (name, value) in [
            (":message-type", HeaderValue::String("event".into())),
            (":event-type", HeaderValue::String("chunk".into())),
            ("t", HeaderValue::Bool(true)),
            ("f", HeaderValue::Bool(false)),
            ("b", HeaderValue::Byte(-3)),
            ("s", HeaderValue::Int16(-300)),
            ("i", HeaderValue::Int32(70_000)),
            ("l", HeaderValue::Int64(-1)),
            ("ba", HeaderValue::ByteArray(Bytes::from_static(b"xyz"))),
            (
                "ts",
                HeaderValue::Timestamp(aws_smithy_types::DateTime::from_millis(1_700_000_000_123)),
            ),
            (
                "u",
                HeaderValue::Uuid(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            ),
        ] {
            message = message.add_header(Header::new(name, value));
        }
        let mut good = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&message, &mut good).unwrap();
        let sdk = |raw: &[u8]| {
            aws_smithy_eventstream::frame::read_message_from(Bytes::copy_from_slice(raw))
        };
        let mine = decode_frame(&good).unwrap();
        let theirs = sdk(&good).unwrap();
        let rendered: Vec<(String, String)> = theirs
            .headers()
            .iter()
            .map(|h| (h.name().as_str().to_string(), header_text(h.value())))
            .collect();
        assert_eq!(mine.header_list(), rendered);
        assert_eq!(mine.payload, &theirs.payload()[..]);
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            if total_length(&bad) != Some(bad.len()) {
                continue;
            }
            let (m, t) = (decode_frame(&bad), sdk(&bad));
            let missing = matches!(m, Err(FrameError::MissingHeader(_)));
            assert_eq!(m.is_ok() || missing, t.is_ok(), "bit {bit}: {m:?} vs {t:?}");
        }
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
