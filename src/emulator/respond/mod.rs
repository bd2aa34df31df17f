//! One responder per API, mirroring `core::normalize`: each turns a [`Generation`] and the
//! request's faults into the HTTP response, and says which usage that response reported on its
//! final channel (the ledger's `reported`). What they share is here: the generation, frames
//! and streaming bodies.

pub(super) mod anthropic;
pub(super) mod converse;
pub(super) mod invoke;
pub(super) mod openai;
pub(super) mod responses;

use super::faults::Fault;
use crate::core::ledger::Usage;
use crate::core::wire::eventstream::{encode_event, encode_frame};
use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use std::time::Duration;

/// Bytes per write under the `tiny-writes` fault: small enough that frames straddle writes.
const TINY_WRITE: usize = 7;
/// The `message_start` output placeholder (Anthropic's docs show 1 to 3).
pub(super) const PLACEHOLDER: u64 = 1;

/// What the synthetic model produced for one request.
pub(super) struct Generation {
    /// The thinking, one token per piece (empty without thinking).
    pub thinking: Vec<String>,
    /// The answer, one token per piece.
    pub pieces: Vec<String>,
    /// `end_turn` or `max_tokens`.
    pub stop: &'static str,
    /// The true usage.
    pub truth: Usage,
    /// What every response reports before the stream-only faults: the truth, with the faults
    /// that hit both paths applied (see [`reported_usage`]).
    pub reported: Usage,
    /// The request id.
    pub rid: String,
    /// The model id, as the request named it.
    pub model: String,
}

impl Generation {
    pub fn text(&self) -> String {
        self.pieces.concat()
    }

    /// The thinking text.
    pub fn thought(&self) -> String {
        self.thinking.concat()
    }

    /// A plausible latency for the metrics: fixed overhead plus a little per output token.
    pub fn latency(&self) -> u64 {
        120 + 9 * self.truth.output
    }

    /// The short id suffix the response ids carry.
    pub fn short_id(&self) -> &str {
        &self.rid[..8]
    }
}

/// The literal usage block LiteLLM v1.63.14 substituted on every streamed call.
pub(super) const HARDCODED: Usage = Usage {
    input: 3,
    cache_read: 1796,
    cache_write: 0,
    cache_write_1h: 0,
    output: 392,
    reasoning: 0,
};

/// The usage every response reports: the truth, with the faults that hit both paths applied
/// (`ttl-split-lost`: the write that matters is usually the warm-up's, a non-streaming call).
pub(in crate::emulator) fn reported_usage(truth: Usage, faults: &[Fault]) -> Usage {
    let mut u = truth;
    if faults.contains(&Fault::TtlSplitLost) {
        u.cache_write_1h = 0;
    }
    u
}

/// The usage a streamed response reports: [`reported_usage`], with the stream-only faults
/// applied.
pub(super) fn streamed_usage(g: &Generation, faults: &[Fault]) -> Usage {
    if faults.contains(&Fault::HardcodedUsage) {
        return HARDCODED;
    }
    let mut u = g.reported;
    for f in faults {
        match f {
            Fault::StreamDropsCache => {
                u.input += u.cache_read;
                u.cache_read = 0;
            }
            Fault::StreamCachedZero => u.cache_read = 0,
            Fault::ReasoningLost => u.reasoning = 0,
            _ => {}
        }
    }
    u
}

/// The cost a gateway reports for a usage (`usage.cost`, `x-litellm-response-cost`), with the
/// cost faults applied; `None` for models without a price.
pub(super) fn reported_cost(
    g: &Generation,
    usage: &Usage,
    faults: &[Fault],
    streaming: bool,
) -> Option<f64> {
    if streaming && faults.contains(&Fault::StreamCostZero) {
        return Some(0.0);
    }
    let mut priced = *usage;
    if faults.contains(&Fault::CacheHitFullPrice) {
        priced.input += priced.cache_read;
        priced.cache_read = 0;
    }
    let prices = crate::core::prices::Prices::embedded();
    prices
        .cost(&g.model, &priced.usage_set("emulator"))
        .map(|c| c.usd)
}

/// Size-hiding padding, deterministic per frame.
pub(super) fn padding(n: usize) -> String {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456";
    ALPHABET[..(n * 7 + 3) % ALPHABET.len() + 1].to_string()
}

/// An event frame whose payload is JSON.
pub(super) fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    encode_event(event_type, serde_json::to_vec(payload).expect("json"))
}

/// An exception frame of a stream (`:message-type: exception`).
pub(super) fn exception_frame(kind: &str) -> Bytes {
    let payload = if kind == "modelStreamErrorException" {
        json!({"message": "Model Stream Error", "originalStatusCode": 500, "originalMessage": "The model stream failed."})
    } else {
        json!({"message": format!("{kind} raised mid-stream by the tokaudit emulator")})
    };
    encode_frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        serde_json::to_vec(&payload).expect("json"),
    )
}

/// The exception type a `stream-exception` fault asks for.
pub(super) fn stream_exception(faults: &[Fault]) -> Option<&str> {
    faults.iter().find_map(|f| match f {
        Fault::StreamException(t) => Some(t.as_str()),
        _ => None,
    })
}

/// An InvokeModel chunk frame: the event's JSON, base64, with padding.
pub(super) fn chunk_frame(index: usize, event: &Value) -> Bytes {
    let inner = serde_json::to_vec(event).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    event_frame("chunk", &json!({"bytes": b64, "p": padding(index)}))
}

/// One SSE event.
pub(super) fn sse(event: Option<&str>, data: &str) -> Bytes {
    match event {
        Some(e) => Bytes::from(format!("event: {e}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

/// An event-stream body.
pub(super) fn event_stream(
    frames: Vec<Bytes>,
    faults: &[Fault],
    inner_type: Option<&str>,
) -> Response {
    streaming_body(
        frames,
        faults,
        "application/vnd.amazon.eventstream",
        inner_type,
    )
}

/// A streamed body, with the write-size and latency faults applied.
pub(super) fn streaming_body(
    frames: Vec<Bytes>,
    faults: &[Fault],
    content_type: &'static str,
    inner_type: Option<&str>,
) -> Response {
    use futures_util::StreamExt;
    let chunks: Vec<Bytes> = if faults.contains(&Fault::TinyWrites) {
        let all: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        all.chunks(TINY_WRITE).map(Bytes::copy_from_slice).collect()
    } else {
        frames
    };
    let delay = faults.iter().find_map(|f| match f {
        Fault::TokenLatency(ms) => Some(Duration::from_millis(*ms)),
        _ => None,
    });
    let stream = futures_util::stream::iter(chunks).then(move |chunk| async move {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        Ok::<_, std::convert::Infallible>(chunk)
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Some(ct) = inner_type {
        h.insert(
            "x-amzn-bedrock-content-type",
            HeaderValue::from_str(ct).expect("ascii"),
        );
    }
    resp
}

/// A buffered JSON response, minus its `usage` under the `no-body-usage` fault. Returns the
/// response and whether it carries usage.
pub(super) fn json_body(mut body: Value, faults: &[Fault]) -> (Response, bool) {
    let no_usage = faults.contains(&Fault::NoBodyUsage);
    if no_usage && let Some(o) = body.as_object_mut() {
        o.remove("usage");
    }
    use axum::response::IntoResponse;
    (
        (axum::http::StatusCode::OK, axum::Json(body)).into_response(),
        !no_usage,
    )
}

#[cfg(test)]
pub(super) mod testing {
    //! Reading responses back in tests.

    use super::*;

    /// A generation for "Write Hi"-sized tests.
    pub fn generation(text: &[&str], truth: Usage) -> Generation {
        Generation {
            thinking: Vec::new(),
            pieces: text.iter().map(|s| s.to_string()).collect(),
            stop: "end_turn",
            truth,
            reported: truth,
            rid: "70ca0d17-7a3c-4e1d-9b2f-000000000001".into(),
            model: "m".into(),
        }
    }

    /// The whole body of a response.
    pub async fn body(resp: Response) -> Bytes {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
    }
}
