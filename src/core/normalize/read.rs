//! Reading the wire strictly: JSON, counts, the shape of a capture, and the failures that end
//! an exchange. Every error names the frame or field it is about.

use super::side::{Failure, Normalized};
use super::usage::{Field, Kind, Obs, ReportedCost, UsageSet};
use crate::core::capture::{Capture, ResponseBody};
use crate::core::wire::eventstream::{DecodedFrame, FrameError, decode_frame};
use serde_json::Value;

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

impl From<crate::core::count::CountError> for NormalizeError {
    fn from(e: crate::core::count::CountError) -> Self {
        NormalizeError::Field {
            at: e.at,
            problem: e.problem,
        }
    }
}

pub(super) fn field_err(at: impl Into<String>, problem: impl Into<String>) -> NormalizeError {
    NormalizeError::Field {
        at: at.into(),
        problem: problem.into(),
    }
}

pub(super) fn parse_json(bytes: &[u8], at: impl Into<String>) -> Result<Value, NormalizeError> {
    serde_json::from_slice(bytes).map_err(|e| NormalizeError::Json {
        at: at.into(),
        detail: e.to_string(),
    })
}

/// Read an optional token count with the one strict reader ([`crate::core::count`]): absent
/// or `null` is `None`; anything but a non-negative integer within range is an error naming
/// the field.
pub(super) fn count(obj: &Value, key: &str, at: &str) -> Result<Option<u64>, NormalizeError> {
    Ok(crate::core::count::field(obj, key, at)?)
}

/// An optional cost in USD at `obj[key]`, read strictly.
pub(super) fn reported_cost(
    obj: &Value,
    key: &str,
    at: &str,
) -> Result<Option<ReportedCost>, NormalizeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let source = format!("{at}.{key}");
            let usd = crate::core::count::cost(v, &source)?;
            Ok(Some(ReportedCost { usd, source }))
        }
    }
}

/// An optional count as a reported observation whose source is `{at}.{key}`.
pub(super) fn reported(obj: &Value, key: &str, at: &str) -> Result<Option<Obs>, NormalizeError> {
    Ok(count(obj, key, at)?.map(|v| Obs::reported(v, format!("{at}.{key}"))))
}

/// The sum of the counts at `key` in every element of the array `obj[list]`, as a derived
/// observation: the parts a usage object splits one quantity into. `None` when the list is
/// absent; an element that is not an object, or a bad count, is an error naming it.
pub(super) fn parts_sum(
    obj: &Value,
    list: &str,
    key: &str,
    at: &str,
) -> Result<Option<Obs>, NormalizeError> {
    let Some(items) = obj.get(list).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = items
        .as_array()
        .ok_or_else(|| field_err(format!("{at}.{list}"), format!("{items} is not a list")))?;
    let mut total = 0u64;
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}.{list}[{i}]");
        if !item.is_object() {
            return Err(field_err(&here, format!("{item} is not an object")));
        }
        let v = count(item, key, &here)?.unwrap_or(0);
        total = crate::core::count::sum([total, v])
            .ok_or_else(|| field_err(&here, "the parts add up beyond any real usage"))?;
    }
    Ok(Some(Obs {
        value: total,
        source: format!("derived: sum of {at}.{list}[*].{key}"),
        kind: Kind::Derived,
    }))
}

/// The sum of the counts `keys` of the object `obj[object]`, as a derived observation (parts
/// of one quantity); `None` when the object is absent.
pub(super) fn fields_sum(
    obj: &Value,
    object: &str,
    keys: &[&str],
    at: &str,
) -> Result<Option<Obs>, NormalizeError> {
    let Some(parts) = obj.get(object).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let here = format!("{at}.{object}");
    if !parts.is_object() {
        return Err(field_err(&here, format!("{parts} is not an object")));
    }
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        values.push(count(parts, key, &here)?.unwrap_or(0));
    }
    let total = crate::core::count::sum(values)
        .ok_or_else(|| field_err(&here, "the parts add up beyond any real usage"))?;
    Ok(Some(Obs {
        value: total,
        source: format!("derived: {here}.{}", keys.join(" + ")),
        kind: Kind::Derived,
    }))
}

/// Like [`count`], but absence is an error: the format says the field is always present.
pub(super) fn required(obj: &Value, key: &str, at: &str) -> Result<u64, NormalizeError> {
    count(obj, key, at)?.ok_or_else(|| {
        field_err(
            format!("{at}.{key}"),
            "missing; the format requires this count whenever a usage object is present",
        )
    })
}

pub(super) fn put(
    set: &mut UsageSet,
    field: Field,
    value: Option<u64>,
    source: String,
    kind: Kind,
) {
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
pub(super) fn failed_exchange(capture: &Capture, side: &mut Normalized) -> Option<()> {
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

/// Count one SSE event into the stream facts and parse it; a cut or non-UTF-8 event is
/// malformed input naming the event index.
pub(super) fn next_sse(
    side: &mut Normalized,
    index: usize,
    raw: &bytes::Bytes,
) -> Result<(String, crate::core::wire::sse::SseEvent), NormalizeError> {
    let facts = side.stream.get_or_insert_default();
    facts.frames += 1;
    facts.bytes += raw.len();
    let at = format!("event[{index}]");
    let sse = crate::core::wire::sse::parse_sse(raw)
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

pub(super) fn sse_events(capture: &Capture) -> Result<&[bytes::Bytes], NormalizeError> {
    match capture.response.as_ref().map(|r| &r.body) {
        Some(ResponseBody::Sse(e)) => Ok(e),
        _ => Err(NormalizeError::Shape(format!(
            "{} response is not a server-sent-event stream",
            capture.operation
        ))),
    }
}

pub(super) fn buffered_body(capture: &Capture) -> Result<&[u8], NormalizeError> {
    match capture.response.as_ref().map(|r| &r.body) {
        Some(ResponseBody::Buffered(b)) => Ok(b),
        _ => Err(NormalizeError::Shape(format!(
            "{} response is a stream, expected a buffered JSON body",
            capture.operation
        ))),
    }
}

pub(super) fn frames(capture: &Capture) -> Result<&[bytes::Bytes], NormalizeError> {
    match capture.response.as_ref().map(|r| &r.body) {
        Some(ResponseBody::Frames(f)) => Ok(f),
        _ => Err(NormalizeError::Shape(format!(
            "{} response has a buffered body, expected event-stream frames",
            capture.operation
        ))),
    }
}

/// A JSON array index at the start of `b` (no sign, no leading zero, at most nine digits):
/// its value and its length. For the fast paths that read events as Bedrock lays them out.
pub(super) fn json_index(b: &[u8]) -> Option<(u64, usize)> {
    let digits = b.iter().take(10).take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 9 || (digits > 1 && b[0] == b'0') {
        return None;
    }
    let value = b[..digits]
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some((value, digits))
}

/// Whether string content needs no unescaping: no control character (which JSON forbids
/// unescaped). The caller has ruled out quotes and backslashes.
pub(super) fn plain_json_text(b: &[u8]) -> bool {
    b.iter().fold(true, |ok, &c| ok & (c >= 0x20))
}

/// Count one event-stream frame into the stream facts and decode it (length and both CRCs
/// checked). An exception or error frame ends the stream: it becomes the side's failure and
/// `None` is returned.
pub(super) fn next_frame<'a>(
    side: &mut Normalized,
    index: usize,
    raw: &'a bytes::Bytes,
) -> Result<Option<DecodedFrame<'a>>, NormalizeError> {
    let frame = decode_frame(raw).map_err(|source| NormalizeError::Frame { index, source })?;
    Ok(accept_frame(side, index, raw.len(), &frame).then_some(frame))
}

/// Count one decoded frame of `raw_len` bytes into the stream facts; an exception or error
/// frame becomes the side's failure and `false` is returned.
pub(super) fn accept_frame(
    side: &mut Normalized,
    index: usize,
    raw_len: usize,
    frame: &DecodedFrame,
) -> bool {
    let facts = side.stream.get_or_insert_default();
    facts.frames += 1;
    facts.bytes += raw_len;
    if !frame.is_event() {
        side.failure = Some(frame_failure(index, frame));
        return false;
    }
    true
}

/// Turn an exception or error frame into a [`Failure`].
fn frame_failure(index: usize, frame: &DecodedFrame) -> Failure {
    let message = serde_json::from_slice::<Value>(frame.payload)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .or_else(|| {
            frame
                .headers()
                .find(|(k, _)| *k == ":error-message")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    Failure {
        kind: if frame.message_type == "exception" {
            "exception"
        } else {
            "error"
        },
        name: frame.type_name.to_string(),
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
}
