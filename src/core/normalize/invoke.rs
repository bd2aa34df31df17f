//! InvokeModel and InvokeModelWithResponseStream (Anthropic Messages bodies on Bedrock).
//!
//! Non-streaming usage lives in the body `usage` and in the unmodelled
//! `X-Amzn-Bedrock-*-Token-Count` headers. Streaming usage lives in `message_start` (input,
//! cache, and an `output_tokens` placeholder), in every `message_delta` (cumulative counters:
//! the last one wins, they are never summed), and in `amazon-bedrock-invocationMetrics` on
//! the last chunk. See `shared/reference/wire-formats.md` §1, §2.

use super::{
    Field, Kind, NormalizeError, Normalized, Obs, UsageSet, buffered_body, count, failed_exchange,
    field_err, frame_failure, frames, parse_json, put, required,
};
use crate::core::capture::{Capture, decode_frame};
use base64::Engine;
use serde_json::Value;

/// Header names of the token counts (lower-case, as recorded).
pub const HEADER_INPUT: &str = "x-amzn-bedrock-input-token-count";
/// Output-count header.
pub const HEADER_OUTPUT: &str = "x-amzn-bedrock-output-token-count";
/// Cache-read header (weaker evidence: third-party parsers only).
pub const HEADER_CACHE_READ: &str = "x-amzn-bedrock-cache-read-input-token-count";
/// Cache-write header (weaker evidence: third-party parsers only).
pub const HEADER_CACHE_WRITE: &str = "x-amzn-bedrock-cache-write-input-token-count";

/// Parse an Anthropic `usage` object. `placeholder_output` marks `output_tokens` as the
/// `message_start` placeholder; `output_required` is false for `message_delta`-style partial
/// objects only when the caller allows it.
fn anthropic_usage(
    usage: &Value,
    at: &str,
    placeholder_output: bool,
    input_required: bool,
) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a usage object")));
    }
    let mut set = UsageSet::default();
    let input = if input_required {
        Some(required(usage, "input_tokens", at)?)
    } else {
        count(usage, "input_tokens", at)?
    };
    put(&mut set, Field::Input, input, format!("{at}.input_tokens"), Kind::Reported);
    put(
        &mut set,
        Field::CacheRead,
        count(usage, "cache_read_input_tokens", at)?,
        format!("{at}.cache_read_input_tokens"),
        Kind::Reported,
    );
    put(
        &mut set,
        Field::CacheWrite,
        count(usage, "cache_creation_input_tokens", at)?,
        format!("{at}.cache_creation_input_tokens"),
        Kind::Reported,
    );
    let kind = if placeholder_output {
        Kind::Placeholder
    } else {
        Kind::Reported
    };
    put(
        &mut set,
        Field::Output,
        Some(required(usage, "output_tokens", at)?),
        format!("{at}.output_tokens"),
        kind,
    );
    Ok(set)
}

fn text_of_content(content: Option<&Value>, side: &mut Normalized) {
    for block in content.and_then(Value::as_array).into_iter().flatten() {
        if block.get("type").and_then(Value::as_str) == Some("text")
            && let Some(t) = block.get("text").and_then(Value::as_str)
        {
            side.text.push(t);
        }
    }
}

/// Normalize an InvokeModel exchange.
pub fn invoke(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let resp = capture.response.as_ref().expect("checked by failed_exchange");
    let body = parse_json(buffered_body(capture)?, "body")?;
    text_of_content(body.get("content"), &mut side);
    side.stop_reason = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        side.channels.body = Some(anthropic_usage(usage, "body:usage", false, true)?);
    }

    let mut headers = UsageSet::default();
    for (field, name) in [
        (Field::Input, HEADER_INPUT),
        (Field::Output, HEADER_OUTPUT),
        (Field::CacheRead, HEADER_CACHE_READ),
        (Field::CacheWrite, HEADER_CACHE_WRITE),
    ] {
        if let Some(raw) = resp.header(name) {
            let value = raw.trim().parse::<u64>().map_err(|_| {
                field_err(
                    format!("header:{name}"),
                    format!("{raw:?} is not a non-negative integer token count"),
                )
            })?;
            headers.set(field, Obs::reported(value, format!("header:{name}")));
        }
    }
    if !headers.is_empty() {
        side.channels.headers = Some(headers);
    }

    let mut usage = side
        .channels
        .body
        .clone()
        .or_else(|| side.channels.headers.clone())
        .unwrap_or_default();
    usage.derive_total();
    side.usage = usage;
    Ok(side)
}

/// Normalize an InvokeModelWithResponseStream exchange.
pub fn invoke_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let mut reducer = InvokeStreamReducer::default();
    for (index, raw) in frames(capture)?.iter().enumerate() {
        if !reducer.push(index, raw, &mut side)? {
            break;
        }
    }
    reducer.finish(&mut side);
    Ok(side)
}

/// Incremental reducer over the frames of one InvokeModelWithResponseStream response.
/// Memory is bounded by the largest frame: text goes into a digest, counters into channels.
#[derive(Default)]
pub struct InvokeStreamReducer;

impl InvokeStreamReducer {
    /// Consume one raw frame. Returns `false` once the stream has failed (exception frame).
    pub fn push(
        &mut self,
        index: usize,
        raw: &bytes::Bytes,
        side: &mut Normalized,
    ) -> Result<bool, NormalizeError> {
        let facts = side.stream.get_or_insert_default();
        facts.frames += 1;
        facts.bytes += raw.len();
        let frame = decode_frame(raw).map_err(|source| NormalizeError::Frame { index, source })?;
        if frame.message_type != "event" {
            side.failure = Some(frame_failure(index, &frame));
            return Ok(false);
        }
        if frame.type_name != "chunk" {
            side.stream.get_or_insert_default().ignored_events += 1;
            return Ok(true);
        }
        let at = format!("frame[{index}]");
        let outer = parse_json(&frame.payload, format!("{at} payload"))?;
        // `p` is size-hiding padding: ignored on purpose.
        let b64 = outer
            .get("bytes")
            .and_then(Value::as_str)
            .ok_or_else(|| field_err(format!("{at} payload.bytes"), "missing; a chunk must carry base64 `bytes`"))?;
        let inner_bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| field_err(format!("{at} payload.bytes"), format!("invalid base64 ({e})")))?;
        let event = parse_json(&inner_bytes, format!("{at} chunk"))?;
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "message_start" => {
                let message = event.get("message").unwrap_or(&Value::Null);
                if let Some(usage) = message.get("usage").filter(|u| !u.is_null()) {
                    side.channels.message_start = Some(anthropic_usage(
                        usage,
                        &format!("{at} message_start.message.usage"),
                        true,
                        true,
                    )?);
                }
            }
            "content_block_delta" => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                if delta.get("type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(t) = delta.get("text").and_then(Value::as_str)
                {
                    side.text.push(t);
                }
            }
            "message_delta" => {
                if let Some(r) = event
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    side.stop_reason = Some(r.to_string());
                }
                if let Some(usage) = event.get("usage").filter(|u| !u.is_null()) {
                    side.channels.message_deltas.push(anthropic_usage(
                        usage,
                        &format!("{at} message_delta.usage"),
                        false,
                        false,
                    )?);
                }
            }
            "message_stop" => {
                side.stream.get_or_insert_default().terminal_frame = Some(index);
                if let Some(m) = event
                    .get("amazon-bedrock-invocationMetrics")
                    .filter(|m| !m.is_null())
                {
                    let at = format!("{at} message_stop.amazon-bedrock-invocationMetrics");
                    let mut set = UsageSet::default();
                    for (field, key) in [
                        (Field::Input, "inputTokenCount"),
                        (Field::Output, "outputTokenCount"),
                        (Field::CacheRead, "cacheReadInputTokenCount"),
                        (Field::CacheWrite, "cacheWriteInputTokenCount"),
                    ] {
                        put(&mut set, field, count(m, key, &at)?, format!("{at}.{key}"), Kind::Reported);
                    }
                    side.channels.invocation_metrics = Some(set);
                }
            }
            "error" => {
                let err = event.get("error").unwrap_or(&Value::Null);
                side.failure = Some(super::Failure {
                    kind: "error",
                    name: err
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_string(),
                    message: err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    frame: Some(index),
                    status: None,
                });
                return Ok(false);
            }
            _ => side.stream.get_or_insert_default().ignored_events += 1,
        }
        Ok(true)
    }

    /// Choose the side's usage by the documented precedence.
    pub fn finish(self, side: &mut Normalized) {
        let ch = &side.channels;
        let mut usage = UsageSet::default();
        for field in [Field::Input, Field::CacheRead, Field::CacheWrite] {
            let pick = ch
                .message_deltas
                .iter()
                .rev()
                .find_map(|d| d.get(field))
                .or_else(|| ch.message_start.as_ref().and_then(|s| s.get(field)))
                .or_else(|| ch.invocation_metrics.as_ref().and_then(|m| m.get(field)));
            if let Some(o) = pick {
                usage.set(field, o.clone());
            }
        }
        let output = ch
            .message_deltas
            .iter()
            .rev()
            .find_map(|d| d.output.as_ref())
            .or_else(|| ch.invocation_metrics.as_ref().and_then(|m| m.output.as_ref()))
            .or_else(|| ch.message_start.as_ref().and_then(|s| s.output.as_ref()));
        if let Some(o) = output {
            usage.output = Some(o.clone());
        }
        usage.derive_total();
        side.usage = usage;
    }
}
