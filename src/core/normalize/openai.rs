//! OpenAI-compatible chat completions (`/v1/chat/completions`), as gateways such as the
//! LiteLLM proxy serve them.
//!
//! This is the one place where OpenAI's *inclusive* convention is converted: `prompt_tokens`
//! includes `prompt_tokens_details.cached_tokens` (and, where gateways report it, cache
//! writes), so the uncached `input` is derived as `prompt_tokens − cached − cache_write` and
//! the reported `prompt_tokens` is kept as `prompt_inclusive`. Cache-write figures are read
//! from `prompt_tokens_details.cache_write_tokens`, LiteLLM's `cache_creation_tokens`, or the
//! top-level `cache_creation_input_tokens` that LiteLLM adds, whichever is present.
//!
//! Streams carry usage only when `stream_options.include_usage` was sent: on one extra chunk,
//! which gateways put on an empty or (LiteLLM) a non-empty `choices`. A chunk is a usage chunk
//! when its `usage` is non-null. See `shared/reference/wire-formats.md` §6.

use super::grammar::ChatOrder;
use super::read::{
    NormalizeError, buffered_body, failed_exchange, field_err, next_sse, parse_json, reported,
    reported_cost, required, sse_events,
};
use super::{Duplicate, Field, Kind, Normalized, Obs, ReportedCost, UsageSet};

/// The header LiteLLM puts its computed cost in.
pub const COST_HEADER: &str = "x-litellm-response-cost";
use crate::core::capture::Capture;
use serde_json::Value;

/// Parse an OpenAI `usage` object into the exclusive convention.
fn openai_usage(usage: &Value, at: &str) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a usage object")));
    }
    let prompt = required(usage, "prompt_tokens", at)?;
    let completion = required(usage, "completion_tokens", at)?;
    let mut set = UsageSet::default();
    cache_fields(usage, at, &mut set)?;
    let (cr, cw) = (
        set.value(Field::CacheRead).unwrap_or(0),
        set.value(Field::CacheWrite).unwrap_or(0),
    );
    set.prompt_inclusive = Some(Obs::reported(prompt, format!("{at}.prompt_tokens")));
    set.input = Some(Obs {
        // Cache beyond the prompt leaves no uncached input: cached-within-prompt reports it.
        value: prompt.saturating_sub(cr.saturating_add(cw)),
        source: format!("derived: {at}.prompt_tokens − cached − cache_write"),
        kind: Kind::Derived,
    });
    set.output = Some(Obs::reported(completion, format!("{at}.completion_tokens")));
    set.total = reported(usage, "total_tokens", at)?;
    set.reported_cost = reported_cost(usage, "cost", at)?;
    if let Some(d) = usage
        .get("completion_tokens_details")
        .filter(|d| d.is_object())
    {
        set.reasoning = reported(
            d,
            "reasoning_tokens",
            &format!("{at}.completion_tokens_details"),
        )?;
    }
    Ok(set)
}

/// The cache fields, wherever a gateway put them: OpenAI's `prompt_tokens_details` first, then
/// the top-level Anthropic-style fields LiteLLM adds. A quantity found in two places is used
/// from the first and kept from the second for `usage-self-consistent`.
fn cache_fields(usage: &Value, at: &str, set: &mut UsageSet) -> Result<(), NormalizeError> {
    let details_at = format!("{at}.prompt_tokens_details");
    let details = usage.get("prompt_tokens_details").filter(|d| d.is_object());
    let detail = |key: &str| match details {
        Some(d) => reported(d, key, &details_at),
        None => Ok(None),
    };
    set.set_either(
        Field::CacheRead,
        detail("cached_tokens")?,
        reported(usage, "cache_read_input_tokens", at)?,
    );
    let mut writes = [
        detail("cache_write_tokens")?,
        detail("cache_creation_tokens")?,
        reported(usage, "cache_creation_input_tokens", at)?,
    ]
    .into_iter()
    .flatten();
    if let Some(d) = details {
        super::invoke::ttl_split(d, "cache_creation_token_details", &details_at, set)?;
    }
    if let Some(first) = writes.next() {
        set.set(Field::CacheWrite, first);
        for other in writes {
            set.duplicates.push(Duplicate {
                field: Field::CacheWrite,
                other,
            });
        }
    }
    Ok(())
}

/// Normalize a buffered chat-completions exchange.
pub fn chat(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let body = parse_json(buffered_body(capture)?, "body")?;
    for choice in body
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = choice.pointer("/message/content").and_then(Value::as_str) {
            side.text.push(t);
        }
        if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
            side.stop_reason = Some(r.to_string());
        }
    }
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        let mut set = openai_usage(usage, "body:usage")?;
        if set.reported_cost.is_none() {
            set.reported_cost = header_cost(capture)?;
        }
        side.channels.body = Some(set.clone());
        side.usage = set;
        side.usage.derive_total();
    }
    Ok(side)
}

/// The cost LiteLLM reports in a header (on buffered responses).
pub(super) fn header_cost(capture: &Capture) -> Result<Option<ReportedCost>, NormalizeError> {
    let resp = capture.response.as_ref();
    let Some(text) = resp.and_then(|r| r.header(COST_HEADER)) else {
        return Ok(None);
    };
    let source = format!("header:{COST_HEADER}");
    let usd = crate::core::count::cost(&Value::String(text.to_string()), &source)?;
    Ok(Some(ReportedCost { usd, source }))
}

/// Normalize a streamed chat-completions exchange (SSE `data:` chunks ending in `[DONE]`).
pub fn chat_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let requested = serde_json::from_slice::<Value>(&capture.request.body)
        .ok()
        .and_then(|b| {
            b.pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
        });
    let mut with_choices = 0;
    let mut order = ChatOrder::default();
    for (index, raw) in sse_events(capture)?.iter().enumerate() {
        let (at, sse) = next_sse(&mut side, index, raw)?;
        let done = sse.data.trim() == "[DONE]";
        if let Err(v) = order.event(&at, done) {
            side.note_order(v);
        }
        if done {
            side.stream.get_or_insert_default().terminal_frame = Some(index);
            continue;
        }
        if sse.data.is_empty() {
            continue;
        }
        let chunk = parse_json(sse.data.as_bytes(), format!("{at} data"))?;
        if let Some(err) = chunk.get("error").filter(|e| e.is_object()) {
            side.failure = Some(super::Failure::in_band(index, err));
            break;
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            if let Some(t) = choice.pointer("/delta/content").and_then(Value::as_str) {
                side.text.push(t);
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                side.stop_reason = Some(r.to_string());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            side.channels
                .usage_chunks
                .push(openai_usage(usage, &format!("{at} chunk.usage"))?);
            if choices.is_some_and(|c| !c.is_empty()) {
                with_choices += 1;
            }
        }
    }
    let facts = side.stream.get_or_insert_default();
    facts.include_usage_requested = requested;
    facts.usage_chunks_with_choices = Some(with_choices);
    if let Some(last) = side.channels.usage_chunks.last() {
        side.usage = last.clone();
        side.usage.derive_total();
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::capture::{Operation, ResponseBody};
    use crate::core::normalize::Field;
    use crate::core::wire::sse::split_sse;
    use serde_json::json;

    fn capture(op: Operation, request: Value, body: ResponseBody) -> Capture {
        Capture::answered(op, 200, vec![], body).with_request_body(request.to_string())
    }

    #[test]
    fn prompt_tokens_are_converted_to_the_exclusive_convention_once() {
        let body = json!({"choices":[{"message":{"content":"Hi"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
                     "prompt_tokens_details":{"cached_tokens":1920},
                     "completion_tokens_details":{"reasoning_tokens":128}}});
        let n = chat(&capture(
            Operation::ChatCompletions,
            json!({}),
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap();
        assert_eq!(n.usage.value(Field::Input), Some(86));
        assert_eq!(n.usage.input.as_ref().unwrap().kind, Kind::Derived);
        assert_eq!(n.usage.input_total(), Some(2006));
        assert_eq!(n.usage.value(Field::Reasoning), Some(128));
        assert_eq!(n.usage.total.as_ref().unwrap().kind, Kind::Reported);
    }

    #[test]
    fn litellm_cache_fields_are_read() {
        let body = json!({"usage":{"prompt_tokens":7520,"completion_tokens":386,"total_tokens":7906,
            "prompt_tokens_details":{"cached_tokens":0,"cache_creation_tokens":7502},
            "cache_creation_input_tokens":7502,"cache_read_input_tokens":0}});
        let n = chat(&capture(
            Operation::ChatCompletions,
            json!({}),
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap();
        assert_eq!(
            (
                n.usage.value(Field::Input),
                n.usage.value(Field::CacheWrite)
            ),
            (Some(18), Some(7502))
        );
    }

    #[test]
    fn the_usage_chunk_is_found_on_any_chunk_with_non_null_usage() {
        let stream = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":13,\"completion_tokens\":2,\"total_tokens\":15}}\n\n",
            "data: [DONE]\n\n"
        );
        let c = capture(
            Operation::ChatCompletionsStream,
            json!({"stream_options":{"include_usage":true}}),
            ResponseBody::Sse(split_sse(stream.as_bytes())),
        );
        let n = chat_stream(&c).unwrap();
        let f = n.stream.as_ref().unwrap();
        assert_eq!(
            (
                f.include_usage_requested,
                f.usage_chunks_with_choices,
                f.terminal_frame
            ),
            (Some(true), Some(1), Some(2))
        );
        assert_eq!(n.usage.value(Field::Output), Some(2));
        assert_eq!(
            n.usage.output.as_ref().unwrap().source,
            "event[1] chunk.usage.completion_tokens"
        );
        assert_eq!(n.text.preview, "Hi");
    }

    #[test]
    fn a_cut_event_is_malformed() {
        let c = capture(
            Operation::ChatCompletionsStream,
            json!({}),
            ResponseBody::Sse(split_sse(b"data: {\"choices\":[")),
        );
        assert!(
            chat_stream(&c)
                .unwrap_err()
                .to_string()
                .contains("event[0]: truncated event")
        );
    }
}
