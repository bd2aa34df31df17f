//! The Anthropic Messages shape, shared by Bedrock InvokeModel and `/v1/messages`: the body,
//! and the event sequence (`message_start` with the placeholder, content deltas, cumulative
//! `message_delta`, `message_stop`), with the faults a relay or provider can introduce.
//! `/v1/messages` itself (JSON or SSE) is answered here too.

use super::{
    Generation, PLACEHOLDER, json_body, sse, stream_exception, streamed_usage, streaming_body,
};
use crate::core::ledger::Usage;
use crate::emulator::faults::Fault;
use axum::response::Response;
use serde_json::{Value, json};

/// A cumulative `message_delta` every this many output tokens, under `multi-delta` and
/// `summed-deltas`.
const DELTA_EVERY: u64 = 8;
/// Events before a `stream-exception` cuts the stream: `message_start`, the block start and
/// the first content delta.
const EVENTS_BEFORE_EXCEPTION: usize = 3;

/// An Anthropic `usage` object, the cache write split by TTL in `cache_creation`.
pub(super) fn usage(u: &Usage, output: u64) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_5m(),
            "ephemeral_1h_input_tokens": u.cache_write_1h,
        },
        "output_tokens": output,
    })
}

/// Anthropic's own API reports the thinking inside the output
/// (`output_tokens_details.thinking_tokens`, anthropic-sdk-python `types/usage.py`); whether
/// Bedrock does is unconfirmed (billing-and-records.md §3), so its routes never do.
fn thinking_detail(usage: &mut Value, g: &Generation, u: &Usage) {
    if !g.thinking.is_empty() {
        usage["output_tokens_details"] = json!({"thinking_tokens": u.reasoning});
    }
}

/// The content blocks: the thinking (when there is any), then the text.
fn content_blocks(g: &Generation) -> Vec<Value> {
    let mut blocks = Vec::new();
    if !g.thinking.is_empty() {
        blocks.push(json!({"type": "thinking", "thinking": g.thought(), "signature": SIGNATURE}));
    }
    blocks.push(json!({"type": "text", "text": g.text()}));
    blocks
}

/// The opaque signature every thinking block carries (the emulator's is fixed).
const SIGNATURE: &str = "dG9rYXVkaXQtZW11bGF0b3ItdGhpbmtpbmc=";

fn message_id(g: &Generation, bedrock: bool) -> String {
    format!("msg_{}{}", if bedrock { "bdrk_" } else { "" }, g.short_id())
}

/// An Anthropic Messages response body (`bedrock` picks the `msg_bdrk_` id prefix and leaves
/// the thinking count out).
pub(super) fn body(g: &Generation, bedrock: bool) -> Value {
    let mut u = usage(&g.reported, g.reported.output);
    if !bedrock {
        thinking_detail(&mut u, g, &g.reported);
    }
    json!({
        "id": message_id(g, bedrock),
        "type": "message",
        "role": "assistant",
        "model": g.model,
        "content": content_blocks(g),
        "stop_reason": g.stop,
        "stop_sequence": null,
        "usage": u,
    })
}

/// The stream events of a generation, with the faults applied. `bedrock` adds
/// `invocationMetrics` to `message_stop`.
pub(super) struct Events {
    /// The events, in order.
    pub events: Vec<Value>,
    /// Whether an exception replaces the rest of the stream.
    pub exception: bool,
    /// The usage the final channel reported, if the stream got that far.
    pub reported: Option<Usage>,
}

/// Build the event sequence of a generation.
pub(super) fn events(g: &Generation, faults: &[Fault], bedrock: bool) -> Events {
    let has = |f: &Fault| faults.contains(f);
    let reported = streamed_usage(g, faults);
    let mut events: Vec<Value> = vec![json!({
        "type": "message_start",
        "message": {
            "id": message_id(g, bedrock),
            "type": "message", "role": "assistant", "model": g.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": usage(&reported, PLACEHOLDER),
        }
    })];
    let mid = content(g, faults, &mut events);
    let final_output = counters(&mut events, &mid, reported.output, faults);
    let final_usage = !has(&Fault::NoFinalUsage);
    if final_usage {
        let mut u = json!({"output_tokens": final_output});
        if !bedrock {
            thinking_detail(&mut u, g, &reported);
        }
        events.push(json!({"type": "message_delta", "delta": {"stop_reason": g.stop, "stop_sequence": null}, "usage": u}));
    } else {
        events.retain(|e| e.get("type").and_then(Value::as_str) != Some("message_delta"));
    }
    let cut = has(&Fault::CutStream);
    if cut {
        events.retain(|e| {
            !matches!(
                e.get("type").and_then(Value::as_str),
                Some("message_delta" | "message_stop" | "content_block_stop")
            )
        });
    } else {
        events.push(stop_event(g, &reported, faults, bedrock && final_usage));
    }
    let exception = stream_exception(faults).is_some();
    if exception {
        events.truncate(EVENTS_BEFORE_EXCEPTION.min(events.len()));
    }
    Events {
        events,
        exception,
        reported: (final_usage && !cut && !exception).then_some(Usage {
            output: final_output,
            ..reported
        }),
    }
}

/// The content blocks with their deltas (thinking first, then text); returns where
/// mid-stream `message_delta`s go, with their cumulative output (placeholders in `events`
/// until [`counters`] fills them).
fn content(g: &Generation, faults: &[Fault], events: &mut Vec<Value>) -> Vec<(usize, u64)> {
    let many = faults.contains(&Fault::MultiDelta) || faults.contains(&Fault::SummedDeltas);
    let mut mid = Vec::new();
    let mut emitted = 0u64;
    let mut blocks: Vec<(&str, &[String])> = Vec::new();
    if !g.thinking.is_empty() {
        blocks.push(("thinking", &g.thinking));
    }
    blocks.push(("text", &g.pieces));
    for (index, (kind, pieces)) in blocks.into_iter().enumerate() {
        events.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": kind, kind: ""}}));
        for piece in pieces {
            let delta = match kind {
                "thinking" => json!({"type": "thinking_delta", "thinking": piece}),
                _ => json!({"type": "text_delta", "text": piece}),
            };
            events.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
            emitted += 1;
            if many && emitted.is_multiple_of(DELTA_EVERY) && emitted < g.truth.output {
                mid.push((events.len(), emitted));
                events.push(Value::Null);
            }
        }
        if kind == "thinking" {
            let sig = json!({"type": "signature_delta", "signature": SIGNATURE});
            events.push(json!({"type": "content_block_delta", "index": index, "delta": sig}));
        }
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    mid
}

/// Fill the mid-stream `message_delta`s with their counters, as the relay rewrote them, and
/// return the final output figure.
fn counters(events: &mut [Value], mid: &[(usize, u64)], output: u64, faults: &[Fault]) -> u64 {
    let mut values: Vec<u64> = mid.iter().map(|(_, c)| *c).collect();
    values.push(output);
    if faults.contains(&Fault::SummedDeltas) {
        let mut acc = PLACEHOLDER;
        for c in values.iter_mut() {
            acc += *c;
            *c = acc;
        }
    }
    for (k, (at, _)) in mid.iter().enumerate() {
        events[*at] = json!({"type": "message_delta", "delta": {"stop_reason": null, "stop_sequence": null}, "usage": {"output_tokens": values[k]}});
    }
    if faults.contains(&Fault::PlaceholderFinal) {
        PLACEHOLDER
    } else {
        *values.last().expect("the final counter")
    }
}

/// `message_stop`, with `amazon-bedrock-invocationMetrics` when `metrics` (and no fault
/// removes them).
fn stop_event(g: &Generation, reported: &Usage, faults: &[Fault], metrics: bool) -> Value {
    let mut stop = json!({"type": "message_stop"});
    if metrics && !faults.contains(&Fault::NoMetrics) {
        let skew = if faults.contains(&Fault::MetricsSkew) {
            3
        } else {
            0
        };
        let mut m = json!({
            "inputTokenCount": reported.input,
            "outputTokenCount": reported.output + skew,
            "invocationLatency": g.latency(),
            "firstByteLatency": 95,
        });
        if reported.cache_read + reported.cache_write > 0 {
            m["cacheReadInputTokenCount"] = reported.cache_read.into();
            m["cacheWriteInputTokenCount"] = reported.cache_write.into();
        }
        stop["amazon-bedrock-invocationMetrics"] = m;
    }
    stop
}

/// `POST /v1/messages` without `stream`.
pub(in crate::emulator) fn messages(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let (resp, with_usage) = json_body(body(g, false), faults);
    (resp, with_usage.then_some(g.reported))
}

/// `POST /v1/messages` with `"stream": true`: SSE, a `ping` after `message_start`, and an
/// in-band `error` event where Bedrock would send an exception frame.
pub(in crate::emulator) fn messages_stream(
    g: &Generation,
    faults: &[Fault],
) -> (Response, Option<Usage>) {
    let ev = events(g, faults, false);
    let mut out = Vec::with_capacity(ev.events.len() + 2);
    for (i, e) in ev.events.iter().enumerate() {
        let t = e.get("type").and_then(Value::as_str).unwrap_or("event");
        out.push(sse(Some(t), &e.to_string()));
        if i == 0 {
            out.push(sse(Some("ping"), r#"{"type":"ping"}"#));
        }
    }
    if ev.exception {
        out.push(sse(
            Some("error"),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ));
    }
    (
        streaming_body(out, faults, "text/event-stream", None),
        ev.reported,
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::generation;
    use super::*;

    fn truth() -> Usage {
        Usage {
            input: 10,
            output: 20,
            ..Usage::default()
        }
    }

    fn kinds(ev: &Events) -> Vec<&str> {
        ev.events
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_clean_stream_starts_with_the_placeholder_and_ends_with_the_truth() {
        let g = generation(&["a"; 20], truth());
        let ev = events(&g, &[], true);
        let k = kinds(&ev);
        assert_eq!(k.first(), Some(&"message_start"));
        assert_eq!(&k[k.len() - 2..], ["message_delta", "message_stop"]);
        assert_eq!(
            ev.events[0]["message"]["usage"]["output_tokens"],
            PLACEHOLDER
        );
        let last = ev.events.last().unwrap();
        assert_eq!(
            last["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
            20
        );
        assert_eq!(ev.reported, Some(truth()));
    }

    #[test]
    fn summed_deltas_add_up_the_cumulative_counters() {
        let g = generation(&["a"; 20], truth());
        let ev = events(&g, &[Fault::SummedDeltas], true);
        let outs: Vec<u64> = ev
            .events
            .iter()
            .filter(|e| e["type"] == "message_delta")
            .map(|e| e["usage"]["output_tokens"].as_u64().unwrap())
            .collect();
        assert_eq!(outs, vec![1 + 8, 1 + 8 + 16, 1 + 8 + 16 + 20]);
    }

    #[test]
    fn a_cut_stream_and_an_exception_report_no_final_usage() {
        let g = generation(&["a"; 20], truth());
        let cut = events(&g, &[Fault::CutStream], true);
        assert!(!kinds(&cut).contains(&"message_stop"));
        assert_eq!(cut.reported, None);
        let ex = events(&g, &[Fault::StreamException("x".into())], true);
        assert_eq!(ex.events.len(), EVENTS_BEFORE_EXCEPTION);
        assert!(ex.exception && ex.reported.is_none());
    }
}
