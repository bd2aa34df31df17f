//! The OpenAI Responses API (`/v1/responses`), direct or through a gateway.
//!
//! Usage is `input_tokens` (inclusive of `input_tokens_details.cached_tokens`, as chat
//! completions' `prompt_tokens` is), `output_tokens` (inclusive of
//! `output_tokens_details.reasoning_tokens`) and `total_tokens`; the conversion to the
//! exclusive convention happens here, once. A stream carries usage only on its terminal event,
//! `response.completed`, or `response.incomplete` / `response.failed`, inside `response`;
//! events carry a `sequence_number` and there is no `[DONE]`.
//! See `shared/reference/billing-and-records.md` §4.

use super::grammar::ResponsesOrder;
use super::read::{
    NormalizeError, buffered_body, failed_exchange, field_err, next_sse, parse_json, reported,
    reported_cost, required, sse_events,
};
use super::{Duplicate, Field, Kind, Normalized, Obs, UsageSet};
use crate::core::capture::Capture;
use serde_json::Value;

/// Parse a Responses `usage` object into the exclusive convention.
fn responses_usage(usage: &Value, at: &str) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a usage object")));
    }
    let input = required(usage, "input_tokens", at)?;
    let output = required(usage, "output_tokens", at)?;
    let mut set = UsageSet::default();
    let details_at = format!("{at}.input_tokens_details");
    if let Some(d) = usage.get("input_tokens_details").filter(|d| d.is_object()) {
        set.cache_read = reported(d, "cached_tokens", &details_at)?;
        // Not in OpenAI's schema; gateways that bridge Anthropic add a cache-write count.
        let mut writes = [
            reported(d, "cache_write_tokens", &details_at)?,
            reported(d, "cache_creation_tokens", &details_at)?,
        ]
        .into_iter()
        .flatten();
        set.cache_write = writes.next();
        for other in writes {
            set.duplicates.push(Duplicate {
                field: Field::CacheWrite,
                other,
            });
        }
    }
    let cached = set.value(Field::CacheRead).unwrap_or(0);
    let written = set.value(Field::CacheWrite).unwrap_or(0);
    set.prompt_inclusive = Some(Obs::reported(input, format!("{at}.input_tokens")));
    set.input = Some(Obs {
        // Cache beyond the input leaves no uncached input: cached-within-prompt reports it.
        value: input.saturating_sub(cached.saturating_add(written)),
        source: format!("derived: {at}.input_tokens − cached − cache_write"),
        kind: Kind::Derived,
    });
    set.output = Some(Obs::reported(output, format!("{at}.output_tokens")));
    set.total = reported(usage, "total_tokens", at)?;
    set.reported_cost = reported_cost(usage, "cost", at)?;
    if let Some(d) = usage.get("output_tokens_details").filter(|d| d.is_object()) {
        set.reasoning = reported(
            d,
            "reasoning_tokens",
            &format!("{at}.output_tokens_details"),
        )?;
    }
    Ok(set)
}

/// The text of a response object's `output` items (`output_text` parts of messages; a
/// `reasoning` item's text is left out, as the stream's `response.output_text.delta` events
/// leave it out).
fn output_text(response: &Value, side: &mut Normalized) {
    let items = response.get("output").and_then(Value::as_array);
    let messages = items.into_iter().flatten().filter(|i| {
        i.get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| t == "message")
    });
    for item in messages {
        let parts = item.get("content").and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            if part.get("type").and_then(Value::as_str) == Some("output_text")
                && let Some(t) = part.get("text").and_then(Value::as_str)
            {
                side.text.push(t);
            }
        }
    }
}

/// Normalize a buffered `/v1/responses` exchange.
pub fn responses(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let body = parse_json(buffered_body(capture)?, "body")?;
    output_text(&body, &mut side);
    side.stop_reason = body
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        let mut set = responses_usage(usage, "body:usage")?;
        if set.reported_cost.is_none() {
            set.reported_cost = super::openai::header_cost(capture)?;
        }
        side.channels.body = Some(set.clone());
        side.usage = set;
        side.usage.derive_total();
    }
    Ok(side)
}

/// The events that end a Responses stream.
const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// Normalize a streamed `/v1/responses` exchange (SSE, usage on the terminal event).
pub fn responses_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let mut order = ResponsesOrder::default();
    for (index, raw) in sse_events(capture)?.iter().enumerate() {
        let (at, sse) = next_sse(&mut side, index, raw)?;
        if sse.data.is_empty() {
            continue;
        }
        // Not part of the Responses protocol (a chat-completions habit some gateways keep):
        // after the terminal event a note, before it an order violation (the stream was cut).
        if sse.data.trim() == "[DONE]" {
            let facts = side.stream.get_or_insert_default();
            if facts.terminal_frame.is_some() {
                facts.trailing_done = Some(index);
            } else if let Err(v) = order.event(&at, "data: [DONE]", None) {
                side.note_order(v);
            }
            continue;
        }
        let event = parse_json(sse.data.as_bytes(), format!("{at} data"))?;
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        let seq = event.get("sequence_number").and_then(Value::as_u64);
        if let Err(v) = order.event(&at, kind, seq) {
            side.note_order(v);
        }
        if !apply_event(index, &at, kind, &event, &mut side)? {
            break;
        }
    }
    if let Some(last) = side.channels.usage_chunks.last() {
        side.usage = last.clone();
        side.usage.derive_total();
    }
    Ok(side)
}

/// What one Responses stream event says; `false` once the stream has failed.
fn apply_event(
    index: usize,
    at: &str,
    kind: &str,
    event: &Value,
    side: &mut Normalized,
) -> Result<bool, NormalizeError> {
    match kind {
        "response.output_text.delta" => {
            if let Some(t) = event.get("delta").and_then(Value::as_str) {
                side.text.push(t);
            }
        }
        "error" => {
            side.failure = Some(super::Failure::in_band(index, event));
            return Ok(false);
        }
        k if TERMINAL.contains(&k) => {
            side.stream.get_or_insert_default().terminal_frame = Some(index);
            let response = event.get("response").unwrap_or(&Value::Null);
            side.stop_reason = response
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(usage) = response.get("usage").filter(|u| !u.is_null()) {
                let set = responses_usage(usage, &format!("{at} {k}.response.usage"))?;
                side.channels.usage_chunks.push(set);
            }
            if k == "response.failed" {
                let err = response.get("error").unwrap_or(&Value::Null);
                side.failure = Some(super::Failure::in_band(index, err));
                return Ok(false);
            }
        }
        _ => {}
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::capture::{Operation, ResponseBody};
    use crate::core::wire::sse::split_sse;
    use serde_json::json;

    #[test]
    fn usage_is_inclusive_and_converted_once() {
        let body = json!({"status":"completed",
            "output":[{"type":"message","content":[{"type":"output_text","text":"Hi!"}]}],
            "usage":{"input_tokens":2006,"input_tokens_details":{"cached_tokens":1920},
                     "output_tokens":300,"output_tokens_details":{"reasoning_tokens":128},
                     "total_tokens":2306}});
        let c = Capture::answered(
            Operation::Responses,
            200,
            vec![],
            ResponseBody::Buffered(body.to_string().into()),
        );
        let n = responses(&c).unwrap();
        assert_eq!(n.usage.value(Field::Input), Some(86));
        assert_eq!(n.usage.input_total(), Some(2006));
        assert_eq!(n.usage.value(Field::Reasoning), Some(128));
        assert_eq!(n.text.preview, "Hi!");
    }

    #[test]
    fn stream_usage_comes_from_the_terminal_event() {
        let events = [
            json!({"type":"response.created","sequence_number":0,"response":{"status":"in_progress"}}),
            json!({"type":"response.output_text.delta","sequence_number":1,"delta":"Hi"}),
            json!({"type":"response.completed","sequence_number":2,"response":{"status":"completed",
                "usage":{"input_tokens":10,"output_tokens":2,"total_tokens":12}}}),
        ];
        let text: String = events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect();
        let c = Capture::answered(
            Operation::ResponsesStream,
            200,
            vec![],
            ResponseBody::Sse(split_sse(text.as_bytes())),
        );
        let n = responses_stream(&c).unwrap();
        assert_eq!(n.usage.value(Field::Output), Some(2));
        assert_eq!(
            n.usage.output.as_ref().unwrap().source,
            "event[2] response.completed.response.usage.output_tokens"
        );
        assert_eq!(n.stream.as_ref().unwrap().terminal_frame, Some(2));
        assert_eq!(n.stream.as_ref().unwrap().order_violation, None);
    }
}
