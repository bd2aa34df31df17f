//! Bedrock Converse and ConverseStream: the `TokenUsage` shape (totals include cache tokens,
//! `cacheDetails` splits the writes by TTL), and the stream's events with usage only on the
//! trailing `metadata` event, after `messageStop` (`wire-formats.md` §3).

use super::{
    Generation, event_frame, event_stream, exception_frame, json_body, padding, stream_exception,
    streamed_usage,
};
use crate::core::ledger::Usage;
use crate::emulator::faults::Fault;
use axum::response::Response;
use serde_json::{Value, json};

/// Events before a `stream-exception` cuts the stream: `messageStart` and the first delta.
const EVENTS_BEFORE_EXCEPTION: usize = 2;

/// A Converse `TokenUsage`.
fn usage(u: &Usage) -> Value {
    let mut v = json!({
        "inputTokens": u.input,
        "outputTokens": u.output,
        "totalTokens": u.total(),
    });
    if u.cache_read + u.cache_write > 0 {
        v["cacheReadInputTokens"] = u.cache_read.into();
        v["cacheWriteInputTokens"] = u.cache_write.into();
        // One entry per TTL written, 1h before 5m (the API reference's order).
        let details: Vec<Value> = [("1h", u.cache_write_1h), ("5m", u.cache_write_5m())]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(ttl, n)| json!({"ttl": ttl, "inputTokens": n}))
            .collect();
        if !details.is_empty() {
            v["cacheDetails"] = Value::Array(details);
        }
    }
    v
}

/// The reasoning block of a Converse message (extended thinking asked for through
/// `additionalModelRequestFields`).
fn reasoning_block(g: &Generation) -> Option<Value> {
    (!g.thinking.is_empty()).then(|| {
        json!({"reasoningContent": {"reasoningText": {"text": g.thought(), "signature": "tokaudit-emulator"}}})
    })
}

/// `POST /model/{id}/converse`.
pub(in crate::emulator) fn converse(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let mut content: Vec<Value> = reasoning_block(g).into_iter().collect();
    content.push(json!({"text": g.text()}));
    let body = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": g.stop,
        "usage": usage(&g.reported),
        "metrics": {"latencyMs": g.latency()},
    });
    let (resp, with_usage) = json_body(body, faults);
    (resp, with_usage.then_some(g.reported))
}

/// `POST /model/{id}/converse-stream`.
pub(in crate::emulator) fn converse_stream(
    g: &Generation,
    faults: &[Fault],
) -> (Response, Option<Usage>) {
    let has = |f: &Fault| faults.contains(f);
    let reported = streamed_usage(g, faults);
    let mut events: Vec<(&str, Value)> = vec![("messageStart", json!({"role": "assistant"}))];
    let text_block = usize::from(!g.thinking.is_empty());
    for piece in &g.thinking {
        events.push((
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": piece}}}),
        ));
    }
    if text_block == 1 {
        events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
    }
    for piece in &g.pieces {
        events.push((
            "contentBlockDelta",
            json!({"contentBlockIndex": text_block, "delta": {"text": piece}}),
        ));
    }
    events.push(("contentBlockStop", json!({"contentBlockIndex": text_block})));
    let cut = has(&Fault::CutStream);
    if !cut {
        events.push((
            "messageStop",
            json!({"stopReason": g.stop, "additionalModelResponseFields": {"delta": {"stop_sequence": null}}}),
        ));
    }
    let final_usage = !cut && !has(&Fault::NoFinalUsage);
    if final_usage {
        let meta = json!({"usage": usage(&reported), "metrics": {"latencyMs": g.latency()}});
        let meta = if has(&Fault::NestedUsage) {
            json!({"metadata": meta})
        } else {
            meta
        };
        events.push(("metadata", meta));
    }
    // ConverseStream has no modelTimeoutException member (wire-formats §3.3): a model that
    // times out mid-stream surfaces as modelStreamErrorException there.
    let exception = stream_exception(faults).map(|t| {
        if t == "modelTimeoutException" {
            "modelStreamErrorException"
        } else {
            t
        }
    });
    let mut frames = Vec::new();
    for (i, (kind, mut payload)) in events.into_iter().enumerate() {
        if let Some(kind) = exception.filter(|_| i == EVENTS_BEFORE_EXCEPTION) {
            frames.push(exception_frame(kind));
            break;
        }
        payload["p"] = padding(i).into();
        frames.push(event_frame(kind, &payload));
    }
    let reported =
        (final_usage && exception.is_none() && !has(&Fault::NestedUsage)).then_some(reported);
    (event_stream(frames, faults, None), reported)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{body, generation};
    use super::*;
    use crate::core::wire::eventstream::{decode_frame, split_frames};

    #[tokio::test]
    async fn usage_arrives_on_metadata_after_message_stop() {
        let truth = Usage {
            input: 10,
            output: 2,
            ..Usage::default()
        };
        let (resp, reported) = converse_stream(&generation(&["Hi", "!"], truth), &[]);
        assert_eq!(reported, Some(truth));
        let frames = split_frames(&body(resp).await);
        let kinds: Vec<String> = frames
            .iter()
            .map(|f| decode_frame(f).unwrap().type_name.into_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
    }

    #[test]
    fn totals_include_cache_tokens() {
        let u = Usage {
            input: 18,
            cache_read: 0,
            cache_write: 7502,
            output: 386,
            ..Usage::default()
        };
        let v = usage(&u);
        assert_eq!(v["totalTokens"], 7906);
        assert_eq!(v["cacheDetails"][0]["inputTokens"], 7502);
    }
}
