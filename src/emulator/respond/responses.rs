//! The OpenAI Responses API (`/v1/responses`) as a gateway would answer it: `input_tokens`
//! inclusive of `input_tokens_details.cached_tokens`, `output_tokens` inclusive of
//! `output_tokens_details.reasoning_tokens`, a `cost` where the gateway prices the model;
//! streamed as SSE events with increasing `sequence_number`, usage only on the terminal
//! `response.completed` (`billing-and-records.md` §4).

use super::streaming_body;
use super::{Generation, json_body, reported_cost, sse, stream_exception, streamed_usage};
use crate::core::ledger::Usage;
use crate::emulator::faults::Fault;
use axum::response::Response;
use serde_json::{Value, json};

/// The Responses `usage` object (and the gateway's `cost`).
fn usage(g: &Generation, u: &Usage, faults: &[Fault], streaming: bool) -> Value {
    let input = u.input + u.cache_read + u.cache_write;
    let mut details = json!({"cached_tokens": u.cache_read});
    if u.cache_write > 0 {
        details["cache_write_tokens"] = u.cache_write.into();
    }
    let mut v = json!({
        "input_tokens": input,
        "input_tokens_details": details,
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": input + u.output,
    });
    if let Some(cost) = reported_cost(g, u, faults, streaming) {
        v["cost"] = cost.into();
    }
    v
}

/// A response object in a given status, with usage when it has one.
fn response(g: &Generation, status: &str, output: Vec<Value>, usage: Option<Value>) -> Value {
    json!({
        "id": format!("resp_{}", g.short_id()),
        "object": "response",
        "status": status,
        "model": g.model,
        "output": output,
        "usage": usage,
    })
}

fn output_items(g: &Generation) -> Vec<Value> {
    let mut items = Vec::new();
    if !g.thinking.is_empty() {
        items.push(
            json!({"type": "reasoning", "id": format!("rs_{}", g.short_id()), "summary": []}),
        );
    }
    items.push(
        json!({"type": "message", "id": format!("msg_{}", g.short_id()), "role": "assistant",
        "content": [{"type": "output_text", "text": g.text(), "annotations": []}]}),
    );
    items
}

fn status(g: &Generation) -> &'static str {
    if g.stop == "max_tokens" {
        "incomplete"
    } else {
        "completed"
    }
}

/// `POST /v1/responses` without `stream`.
pub(in crate::emulator) fn responses(
    g: &Generation,
    faults: &[Fault],
) -> (Response, Option<Usage>) {
    let u = usage(g, &g.reported, faults, false);
    let body = response(g, status(g), output_items(g), Some(u));
    let (resp, with_usage) = json_body(body, faults);
    (resp, with_usage.then_some(g.reported))
}

/// `POST /v1/responses` with `"stream": true`.
pub(in crate::emulator) fn responses_stream(
    g: &Generation,
    faults: &[Fault],
) -> (Response, Option<Usage>) {
    let mut seq = 0u64;
    let mut out = Vec::new();
    let mut emit = |kind: &str, mut data: Value| {
        data["type"] = kind.into();
        data["sequence_number"] = seq.into();
        seq += 1;
        out.push(sse(Some(kind), &data.to_string()));
    };
    emit(
        "response.created",
        json!({"response": response(g, "in_progress", vec![], None)}),
    );
    for (i, piece) in g.pieces.iter().enumerate() {
        if stream_exception(faults).is_some() && i == 1 {
            emit(
                "error",
                json!({"code": "server_error", "message": "The upstream model stream failed"}),
            );
            return (streaming_body(out, faults, "text/event-stream", None), None);
        }
        emit(
            "response.output_text.delta",
            json!({"output_index": 0, "content_index": 0, "delta": piece}),
        );
    }
    if faults.contains(&Fault::CutStream) {
        return (streaming_body(out, faults, "text/event-stream", None), None);
    }
    let reported = streamed_usage(g, faults);
    let final_usage = !faults.contains(&Fault::NoFinalUsage);
    let u = final_usage.then(|| usage(g, &reported, faults, true));
    let terminal = format!("response.{}", status(g));
    emit(
        &terminal,
        json!({"response": response(g, status(g), output_items(g), u)}),
    );
    (
        streaming_body(out, faults, "text/event-stream", None),
        final_usage.then_some(reported),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{body, generation};
    use super::*;

    #[tokio::test]
    async fn usage_rides_only_the_terminal_event_and_sequence_numbers_increase() {
        let truth = Usage {
            input: 3,
            cache_read: 7,
            output: 2,
            ..Usage::default()
        };
        let (resp, reported) = responses_stream(&generation(&["Hi", "!"], truth), &[]);
        assert_eq!(reported, Some(truth));
        let text = String::from_utf8(body(resp).await.to_vec()).unwrap();
        let datas: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                serde_json::from_str(e.lines().nth(1).unwrap().trim_start_matches("data: "))
                    .unwrap()
            })
            .collect();
        let seqs: Vec<u64> = datas
            .iter()
            .map(|d| d["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, vec![0, 1, 2, 3]);
        let last = datas.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(
            last["response"]["usage"]["input_tokens"], 10,
            "inclusive of cache"
        );
        assert!(datas[..3].iter().all(|d| d["response"]["usage"].is_null()));
    }
}
