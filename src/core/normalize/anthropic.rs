//! The Anthropic Messages API (`/v1/messages`), direct or through a gateway.
//!
//! The body and the events are the same as on Bedrock InvokeModel (usage exclusive of cache,
//! `message_start` placeholder, cumulative `message_delta`), carried as JSON and SSE instead
//! of an AWS event stream, and without `invocationMetrics`. `ping` is ignored; an `error`
//! event ends the stream as a runtime failure. See `shared/reference/wire-formats.md` §5.

use super::invoke::{InvokeStreamReducer, anthropic_usage, apply_anthropic_event, text_of_content};
use super::{
    NormalizeError, Normalized, buffered_body, failed_exchange, field_err, parse_json, sse_events,
};
use crate::core::capture::{Capture, parse_sse};
use serde_json::Value;

/// Normalize a buffered `/v1/messages` exchange.
pub fn messages(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let body = parse_json(buffered_body(capture)?, "body")?;
    text_of_content(body.get("content"), &mut side);
    side.stop_reason = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        side.channels.body = Some(anthropic_usage(usage, "body:usage", false, true)?);
    }
    let mut usage = side.channels.body.clone().unwrap_or_default();
    usage.derive_total();
    side.usage = usage;
    Ok(side)
}

/// Normalize a streamed `/v1/messages` exchange (SSE).
pub fn messages_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    for (index, raw) in sse_events(capture)?.iter().enumerate() {
        let facts = side.stream.get_or_insert_default();
        facts.frames += 1;
        facts.bytes += raw.len();
        let at = format!("event[{index}]");
        let sse = parse_sse(raw).map_err(|e| field_err(&at, format!("not UTF-8 ({e})")))?;
        if !sse.complete {
            // The connection closed mid-event: what arrived is not a complete event.
            return Err(field_err(
                &at,
                "truncated event (the stream was cut mid-event)",
            ));
        }
        if sse.data.is_empty() {
            continue;
        }
        let event = parse_json(sse.data.as_bytes(), format!("{at} data"))?;
        if !apply_anthropic_event(index, &at, &event, &mut side)? {
            break;
        }
    }
    InvokeStreamReducer.finish(&mut side);
    Ok(side)
}
