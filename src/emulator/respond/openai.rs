//! OpenAI-compatible chat completions (`/v1/chat/completions`), as a gateway in front of the
//! model would answer: `prompt_tokens` inclusive of cache tokens, streamed usage only with
//! `stream_options.include_usage` on a final `choices: []` chunk, then `data: [DONE]`
//! (`wire-formats.md` §6).

use super::{
    Generation, json_body, reported_cost, sse, stream_exception, streamed_usage, streaming_body,
};
use crate::core::ledger::Usage;
use crate::emulator::faults::Fault;
use axum::http::HeaderValue;
use axum::response::Response;
use serde_json::{Value, json};

/// The `created` timestamp of every completion: fixed, so recordings are reproducible.
const CREATED: u64 = 1_767_225_600;
/// Tokens the `total-mismatch` fault adds to `total_tokens`.
const TOTAL_SKEW: u64 = 5;
/// Tokens by which the `cached-over-prompt` fault makes `cached_tokens` exceed the prompt.
const CACHED_OVER: u64 = 10;

/// OpenAI's `usage` object for a usage the emulator reports (`prompt_tokens` is inclusive),
/// with LiteLLM's cache-write fields and its per-TTL split, the reasoning inside the
/// completion, and the gateway's `cost` where it prices the model.
fn usage(g: &Generation, u: &Usage, faults: &[Fault], streaming: bool) -> Value {
    let prompt = u.input + u.cache_read + u.cache_write;
    let skew = if faults.contains(&Fault::TotalMismatch) {
        TOTAL_SKEW
    } else {
        0
    };
    let cached = if faults.contains(&Fault::CachedOverPrompt) {
        prompt + CACHED_OVER
    } else {
        u.cache_read
    };
    let mut details = json!({"cached_tokens": cached});
    if u.cache_write > 0 {
        details["cache_write_tokens"] = u.cache_write.into();
        details["cache_creation_token_details"] = json!({
            "ephemeral_5m_input_tokens": u.cache_write_5m(),
            "ephemeral_1h_input_tokens": u.cache_write_1h,
        });
    }
    let mut v = json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output + skew,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    });
    // LiteLLM #39088: the stream's usage arrives without its prompt details at all.
    if streaming && faults.contains(&Fault::StreamDropsCache) {
        v.as_object_mut().map(|o| o.remove("prompt_tokens_details"));
    }
    if let Some(cost) = reported_cost(g, u, faults, streaming) {
        v["cost"] = cost.into();
    }
    v
}

use crate::core::normalize::COST_HEADER;

/// The assistant message, with the thinking as LiteLLM's `reasoning_content`.
fn message(g: &Generation) -> Value {
    let mut m = json!({"role": "assistant", "content": g.text()});
    if !g.thinking.is_empty() {
        m["reasoning_content"] = g.thought().into();
    }
    m
}

fn finish_reason(g: &Generation) -> &'static str {
    if g.stop == "max_tokens" {
        "length"
    } else {
        "stop"
    }
}

/// `POST /v1/chat/completions` without `stream`.
pub(in crate::emulator) fn chat(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let body = json!({
        "id": format!("chatcmpl-{}", g.short_id()),
        "object": "chat.completion",
        "created": CREATED,
        "model": g.model,
        "choices": [{"index": 0, "message": message(g), "finish_reason": finish_reason(g)}],
        "usage": usage(g, &g.reported, faults, false),
    });
    let (mut resp, with_usage) = json_body(body, faults);
    if let Some(cost) = reported_cost(g, &g.reported, faults, false).filter(|_| with_usage) {
        resp.headers_mut().insert(
            COST_HEADER,
            HeaderValue::from_str(&cost.to_string()).expect("a number"),
        );
    }
    (resp, with_usage.then_some(g.reported))
}

/// `POST /v1/chat/completions` with `"stream": true`.
pub(in crate::emulator) fn chat_stream(
    g: &Generation,
    faults: &[Fault],
    include_usage: bool,
) -> (Response, Option<Usage>) {
    let has = |f: &Fault| faults.contains(f);
    let id = format!("chatcmpl-{}", g.short_id());
    let chunk = |choices: Value, usage: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": g.model,
               "choices": choices, "usage": usage})
        .to_string()
    };
    let sse_body = |out| streaming_body(out, faults, "text/event-stream", None);
    let mut out = vec![sse(
        None,
        &chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
            Value::Null,
        ),
    )];
    for piece in &g.thinking {
        out.push(sse(
            None,
            &chunk(
                json!([{"index": 0, "delta": {"reasoning_content": piece}, "finish_reason": null}]),
                Value::Null,
            ),
        ));
    }
    for (i, piece) in g.pieces.iter().enumerate() {
        if stream_exception(faults).is_some() && i == 1 {
            let err = json!({"error": {"message": "The upstream model stream failed", "type": "server_error"}});
            out.push(sse(None, &err.to_string()));
            return (sse_body(out), None);
        }
        out.push(sse(
            None,
            &chunk(
                json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
                Value::Null,
            ),
        ));
    }
    if has(&Fault::CutStream) {
        return (sse_body(out), None);
    }
    let reported = streamed_usage(g, faults);
    let usage = usage(g, &reported, faults, true);
    let finish_choice = json!([{"index": 0, "delta": {}, "finish_reason": finish_reason(g)}]);
    let send_usage = include_usage && !has(&Fault::NoFinalUsage);
    if send_usage && has(&Fault::UsageOnChoices) {
        out.push(sse(None, &chunk(finish_choice, usage.clone())));
    } else {
        out.push(sse(None, &chunk(finish_choice, Value::Null)));
        if send_usage {
            out.push(sse(None, &chunk(json!([]), usage.clone())));
            if has(&Fault::DuplicateUsage) {
                out.push(sse(None, &chunk(json!([]), usage)));
            }
        }
    }
    out.push(sse(None, "[DONE]"));
    (sse_body(out), send_usage.then_some(reported))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{body, generation};
    use super::*;

    #[tokio::test]
    async fn the_usage_chunk_has_empty_choices_and_done_comes_last() {
        let truth = Usage {
            input: 3,
            cache_read: 7,
            output: 2,
            ..Usage::default()
        };
        let (resp, reported) = chat_stream(&generation(&["Hi", "!"], truth), &[], true);
        assert_eq!(reported, Some(truth));
        let text = String::from_utf8(body(resp).await.to_vec()).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.last(), Some(&"data: [DONE]"));
        let usage_chunk: Value =
            serde_json::from_str(events[events.len() - 2].trim_start_matches("data: ")).unwrap();
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(
            usage_chunk["usage"]["prompt_tokens"], 10,
            "inclusive of cache"
        );
        let (resp, reported) = chat_stream(&generation(&["Hi"], truth), &[], false);
        assert_eq!(reported, None, "no usage without include_usage");
        assert!(!String::from_utf8_lossy(&body(resp).await).contains("prompt_tokens"));
    }
}
