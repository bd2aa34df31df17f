//! Bedrock InvokeModel and InvokeModelWithResponseStream: the Anthropic body with the
//! `X-Amzn-Bedrock-*-Token-Count` headers, and the Anthropic events as base64 chunks in
//! event-stream frames, `invocationMetrics` on the last one (`wire-formats.md` §1, §2).

use super::stream_exception;
use super::{Generation, anthropic, chunk_frame, event_stream, exception_frame, json_body};
use crate::core::ledger::Usage;
use crate::emulator::faults::Fault;
use axum::response::Response;
use bytes::Bytes;

/// Tokens the `header-skew` fault adds to the input-count header.
const HEADER_SKEW: u64 = 2;

/// `POST /model/{id}/invoke`.
pub(in crate::emulator) fn invoke(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let u = g.reported;
    let (mut resp, with_usage) = json_body(anthropic::body(g, true), faults);
    let h = resp.headers_mut();
    h.insert("x-amzn-bedrock-invocation-latency", g.latency().into());
    if with_usage {
        let skew = if faults.contains(&Fault::HeaderSkew) {
            HEADER_SKEW
        } else {
            0
        };
        h.insert("x-amzn-bedrock-input-token-count", (u.input + skew).into());
        h.insert("x-amzn-bedrock-output-token-count", u.output.into());
        if u.cache_read + u.cache_write > 0 {
            h.insert(
                "x-amzn-bedrock-cache-read-input-token-count",
                u.cache_read.into(),
            );
            h.insert(
                "x-amzn-bedrock-cache-write-input-token-count",
                u.cache_write.into(),
            );
        }
    }
    (resp, with_usage.then_some(u))
}

/// `POST /model/{id}/invoke-with-response-stream`.
pub(in crate::emulator) fn invoke_stream(
    g: &Generation,
    faults: &[Fault],
) -> (Response, Option<Usage>) {
    let ev = anthropic::events(g, faults, true);
    let mut frames: Vec<Bytes> = ev
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| chunk_frame(i, e))
        .collect();
    if let Some(kind) = stream_exception(faults).filter(|_| ev.exception) {
        frames.push(exception_frame(kind));
    }
    (
        event_stream(frames, faults, Some("application/json")),
        ev.reported,
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{body, generation};
    use super::*;
    use crate::core::wire::eventstream::{decode_frame, split_frames};

    #[tokio::test]
    async fn stream_frames_decode_with_their_crcs_and_end_with_the_metrics() {
        let truth = Usage {
            input: 10,
            output: 2,
            ..Usage::default()
        };
        let (resp, reported) = invoke_stream(&generation(&["Hi", "!"], truth), &[]);
        assert_eq!(reported, Some(truth));
        let bytes = body(resp).await;
        let frames = split_frames(&bytes);
        assert_eq!(
            frames.len(),
            7,
            "start, block start, 2 deltas, block stop, delta, stop"
        );
        for f in &frames {
            assert!(decode_frame(f).unwrap().is_event());
        }
        let last = decode_frame(frames.last().unwrap()).unwrap();
        let payload: serde_json::Value = serde_json::from_slice(last.payload).unwrap();
        assert!(payload["p"].is_string(), "padding field present");
    }

    #[tokio::test]
    async fn the_header_skew_fault_moves_the_input_header_only() {
        let truth = Usage {
            input: 10,
            output: 2,
            ..Usage::default()
        };
        let (resp, _) = invoke(&generation(&["Hi", "!"], truth), &[Fault::HeaderSkew]);
        assert_eq!(resp.headers()["x-amzn-bedrock-input-token-count"], "12");
        let v: serde_json::Value = serde_json::from_slice(&body(resp).await).unwrap();
        assert_eq!(v["usage"]["input_tokens"], 10);
    }
}
