//! Converse and ConverseStream.
//!
//! Usage is a `TokenUsage` object: in the body for Converse, on the trailing `metadata`
//! event (after `messageStop`) for ConverseStream. Cache fields come in two spellings
//! (`cacheReadInputTokens` and the undocumented `cacheReadInputTokenCount`); both are
//! accepted, never counted twice. `totalTokens` includes cache tokens.
//! See `shared/reference/wire-formats.md` §3.

use super::{
    Field, Kind, NormalizeError, Normalized, UsageSet, buffered_body, count, failed_exchange,
    field_err, frame_failure, frames, parse_json, put, required,
};
use crate::core::capture::{Capture, decode_frame};
use serde_json::Value;

/// Parse a Converse `TokenUsage` object.
fn token_usage(usage: &Value, at: &str) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a TokenUsage object")));
    }
    let mut set = UsageSet::default();
    put(&mut set, Field::Input, Some(required(usage, "inputTokens", at)?), format!("{at}.inputTokens"), Kind::Reported);
    put(&mut set, Field::Output, Some(required(usage, "outputTokens", at)?), format!("{at}.outputTokens"), Kind::Reported);
    put(&mut set, Field::Total, Some(required(usage, "totalTokens", at)?), format!("{at}.totalTokens"), Kind::Reported);
    for (field, documented, alias) in [
        (Field::CacheRead, "cacheReadInputTokens", "cacheReadInputTokenCount"),
        (Field::CacheWrite, "cacheWriteInputTokens", "cacheWriteInputTokenCount"),
    ] {
        let a = count(usage, documented, at)?;
        let b = count(usage, alias, at)?;
        if let (Some(x), Some(y)) = (a, b)
            && x != y
        {
            return Err(field_err(
                format!("{at}.{documented}"),
                format!("{x} disagrees with its duplicate {alias} = {y}"),
            ));
        }
        let (value, key) = match (a, b) {
            (Some(v), _) => (Some(v), documented),
            (None, v) => (v, alias),
        };
        put(&mut set, field, value, format!("{at}.{key}"), Kind::Reported);
    }
    Ok(set)
}

/// Normalize a Converse exchange.
pub fn converse(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let body = parse_json(buffered_body(capture)?, "body")?;
    let content = body
        .pointer("/output/message/content")
        .and_then(Value::as_array);
    for block in content.into_iter().flatten() {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            side.text.push(t);
        }
    }
    side.stop_reason = body
        .get("stopReason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        let set = token_usage(usage, "body:usage")?;
        side.channels.body = Some(set.clone());
        side.usage = set;
    }
    Ok(side)
}

/// Normalize a ConverseStream exchange.
pub fn converse_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    for (index, raw) in frames(capture)?.iter().enumerate() {
        let facts = side.stream.get_or_insert_default();
        facts.frames += 1;
        facts.bytes += raw.len();
        let frame = decode_frame(raw).map_err(|source| NormalizeError::Frame { index, source })?;
        if frame.message_type != "event" {
            side.failure = Some(frame_failure(index, &frame));
            break;
        }
        let at = format!("frame[{index}] {}", frame.type_name);
        // Payloads are the union member's JSON with no wrapping key, plus `p` padding.
        let event = parse_json(&frame.payload, format!("{at} payload"))?;
        match frame.type_name.as_str() {
            "contentBlockDelta" => {
                if let Some(t) = event.pointer("/delta/text").and_then(Value::as_str) {
                    side.text.push(t);
                }
            }
            "messageStop" => {
                side.stream.get_or_insert_default().terminal_frame = Some(index);
                side.stop_reason = event
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            "metadata" => match event.get("usage").filter(|u| !u.is_null()) {
                Some(usage) => {
                    let set = token_usage(usage, &format!("{at}.usage"))?;
                    side.channels.metadata = Some(set);
                }
                None => {
                    // A relay that wrapped the member (`{"metadata":{"usage":…}}`) puts usage one
                    // level too deep: typed SDKs then report all zeros.
                    side.stream.get_or_insert_default().misplaced_usage = event.as_object().and_then(|o| {
                        o.iter()
                            .find(|(_, v)| v.get("usage").is_some())
                            .map(|(k, _)| format!("{at} payload.{k}.usage"))
                    });
                }
            },
            "messageStart" | "contentBlockStart" | "contentBlockStop" => {}
            _ => side.stream.get_or_insert_default().ignored_events += 1,
        }
    }
    side.usage = side.channels.metadata.clone().unwrap_or_default();
    Ok(side)
}
