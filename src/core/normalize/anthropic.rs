//! The Anthropic Messages API (`/v1/messages`), direct or through a gateway.
//!
//! The body and the events are the same as on Bedrock InvokeModel (usage exclusive of cache,
//! `message_start` placeholder, cumulative `message_delta`), carried as JSON and SSE instead
//! of an AWS event stream, and without `invocationMetrics`. `ping` is ignored; an `error`
//! event ends the stream as a runtime failure. See `shared/reference/wire-formats.md` §5.

use super::Normalized;
use super::invoke::{AnthropicStream, read_anthropic_body};
use super::read::{NormalizeError, failed_exchange, next_sse, parse_json, sse_events};
use crate::core::capture::Capture;

/// Normalize a buffered `/v1/messages` exchange.
pub fn messages(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    read_anthropic_body(capture, &mut side)?;
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
    let mut reducer = AnthropicStream::default();
    for (index, raw) in sse_events(capture)?.iter().enumerate() {
        let (at, sse) = next_sse(&mut side, index, raw)?;
        if sse.data.is_empty() {
            continue;
        }
        let event = parse_json(sse.data.as_bytes(), format!("{at} data"))?;
        if !reducer.apply(index, &at, &event, &mut side)? {
            break;
        }
    }
    reducer.finish(&mut side);
    Ok(side)
}
