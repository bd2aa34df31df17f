//! Property tests of the promise "a PASS means the accounting is right": valid pairs of every
//! wire format, built here independently of the emulator, pass; and every corruption that
//! changes a count, an order or a role never does. Case counts: `PROPTEST_CASES` (default 256
//! per property).

use proptest::prelude::*;
use serde_json::{Value, json};
use tokaudit::core::audit::Verdict;
use tokaudit::core::capture::{Api, Capture, Operation, ResponseBody};
use tokaudit::core::case::{CaseMeta, CaseReport};
use tokaudit::core::pipeline::{Pair, audit_pair};
use tokaudit::core::policy::Policy;
use tokaudit::core::wire::eventstream::encode_event;

/// The truth of one generated exchange.
#[derive(Debug, Clone)]
struct Truth {
    input: u64,
    cache_read: u64,
    cache_write: u64,
    pieces: Vec<String>,
}

impl Truth {
    fn output(&self) -> u64 {
        self.pieces.len() as u64
    }
    fn text(&self) -> String {
        self.pieces.concat()
    }
    fn prompt(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }
}

fn truth() -> impl Strategy<Value = Truth> {
    (
        1u64..5_000,
        0u64..3_000,
        0u64..3_000,
        prop::collection::vec("[a-z]{1,4}", 1..40),
    )
        .prop_map(|(input, cache_read, cache_write, pieces)| Truth {
            input,
            cache_read,
            cache_write,
            pieces,
        })
}

/// One stream event: its kind (for the order corruption) and its encoded bytes.
type Event = (String, bytes::Bytes);

fn buffered(op: Operation, headers: Vec<(String, String)>, body: Value) -> Capture {
    Capture::answered(
        op,
        200,
        headers,
        ResponseBody::Buffered(body.to_string().into()),
    )
}

fn anthropic_usage(t: &Truth, output: u64) -> Value {
    json!({"input_tokens": t.input, "cache_read_input_tokens": t.cache_read,
           "cache_creation_input_tokens": t.cache_write, "output_tokens": output})
}

/// The Anthropic event sequence (InvokeModel chunks and `/v1/messages` SSE share it).
fn anthropic_events(t: &Truth, metrics: bool) -> Vec<Value> {
    let mut ev =
        vec![json!({"type": "message_start", "message": {"usage": anthropic_usage(t, 1)}})];
    ev.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
    for p in &t.pieces {
        ev.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
    }
    ev.push(json!({"type": "content_block_stop", "index": 0}));
    ev.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": t.output()}}));
    let mut stop = json!({"type": "message_stop"});
    if metrics {
        stop["amazon-bedrock-invocationMetrics"] = json!({"inputTokenCount": t.input,
            "outputTokenCount": t.output(), "cacheReadInputTokenCount": t.cache_read,
            "cacheWriteInputTokenCount": t.cache_write});
    }
    ev.push(stop);
    ev
}

fn kind_of(e: &Value) -> String {
    e["type"].as_str().unwrap_or("").to_string()
}

/// Both sides of one pair in a format, the streaming side as events.
fn pair(api: Api, t: &Truth) -> (Capture, Vec<Event>) {
    match api {
        Api::Invoke => {
            let body = json!({"content": [{"type": "text", "text": t.text()}], "usage": anthropic_usage(t, t.output())});
            let headers = vec![
                (
                    "x-amzn-bedrock-input-token-count".into(),
                    t.input.to_string(),
                ),
                (
                    "x-amzn-bedrock-output-token-count".into(),
                    t.output().to_string(),
                ),
            ];
            let events = anthropic_events(t, true)
                .iter()
                .map(|e| {
                    let b64 = base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        e.to_string(),
                    );
                    (
                        kind_of(e),
                        encode_event("chunk", json!({"bytes": b64, "p": "abc"}).to_string()),
                    )
                })
                .collect();
            (buffered(Operation::InvokeModel, headers, body), events)
        }
        Api::Messages => {
            let body = json!({"content": [{"type": "text", "text": t.text()}], "usage": anthropic_usage(t, t.output())});
            let events = anthropic_events(t, false)
                .iter()
                .map(|e| {
                    (
                        kind_of(e),
                        format!("event: {}\ndata: {e}\n\n", kind_of(e)).into(),
                    )
                })
                .collect();
            (buffered(Operation::Messages, vec![], body), events)
        }
        Api::Converse => converse_pair(t),
        Api::Chat => chat_pair(t),
        Api::Responses => responses_pair(t),
    }
}

fn converse_usage(t: &Truth) -> Value {
    json!({"inputTokens": t.input, "outputTokens": t.output(),
           "totalTokens": t.prompt() + t.output(),
           "cacheReadInputTokens": t.cache_read, "cacheWriteInputTokens": t.cache_write})
}

fn converse_pair(t: &Truth) -> (Capture, Vec<Event>) {
    let body = json!({"output": {"message": {"content": [{"text": t.text()}]}}, "usage": converse_usage(t)});
    let mut events: Vec<(&str, Value)> = vec![("messageStart", json!({"role": "assistant"}))];
    for p in &t.pieces {
        events.push((
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": p}}),
        ));
    }
    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
    events.push(("messageStop", json!({"stopReason": "end_turn"})));
    events.push(("metadata", json!({"usage": converse_usage(t)})));
    let events = events
        .into_iter()
        .map(|(k, p)| (k.to_string(), encode_event(k, p.to_string())))
        .collect();
    (buffered(Operation::Converse, vec![], body), events)
}

fn chat_usage(t: &Truth) -> Value {
    json!({"prompt_tokens": t.prompt(), "completion_tokens": t.output(),
           "total_tokens": t.prompt() + t.output(),
           "prompt_tokens_details": {"cached_tokens": t.cache_read, "cache_write_tokens": t.cache_write}})
}

fn chat_pair(t: &Truth) -> (Capture, Vec<Event>) {
    let body = json!({"choices": [{"message": {"content": t.text()}, "finish_reason": "stop"}], "usage": chat_usage(t)});
    let sse = |kind: &str, v: Value| (kind.to_string(), format!("data: {v}\n\n").into());
    let mut events = Vec::new();
    for p in &t.pieces {
        events.push(sse(
            "delta",
            json!({"choices": [{"index": 0, "delta": {"content": p}}], "usage": null}),
        ));
    }
    events.push(sse(
        "finish",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": null}),
    ));
    events.push(sse("usage", json!({"choices": [], "usage": chat_usage(t)})));
    events.push(("[DONE]".into(), "data: [DONE]\n\n".into()));
    (buffered(Operation::ChatCompletions, vec![], body), events)
}

fn responses_usage(t: &Truth) -> Value {
    json!({"input_tokens": t.prompt(), "output_tokens": t.output(),
           "total_tokens": t.prompt() + t.output(),
           "input_tokens_details": {"cached_tokens": t.cache_read, "cache_write_tokens": t.cache_write}})
}

fn responses_pair(t: &Truth) -> (Capture, Vec<Event>) {
    let message =
        json!({"type": "message", "content": [{"type": "output_text", "text": t.text()}]});
    let body = json!({"status": "completed", "output": [message], "usage": responses_usage(t)});
    let mut events =
        vec![json!({"type": "response.created", "response": {"status": "in_progress"}})];
    for p in &t.pieces {
        events.push(json!({"type": "response.output_text.delta", "delta": p}));
    }
    events.push(json!({"type": "response.completed",
        "response": {"status": "completed", "usage": responses_usage(t)}}));
    let events = events
        .into_iter()
        .enumerate()
        .map(|(seq, mut e)| {
            e["sequence_number"] = json!(seq);
            let kind = kind_of(&e);
            let sse = format!("event: {kind}\ndata: {e}\n\n");
            (kind, sse.into())
        })
        .collect();
    (buffered(Operation::Responses, vec![], body), events)
}

fn streaming(api: Api, events: &[Event]) -> Capture {
    let raw: Vec<bytes::Bytes> = events.iter().map(|(_, b)| b.clone()).collect();
    let (_, op) = api.operations();
    let body = match op {
        Operation::ChatCompletionsStream
        | Operation::MessagesStream
        | Operation::ResponsesStream => ResponseBody::Sse(raw),
        _ => ResponseBody::Frames(raw),
    };
    let c = Capture::answered(op, 200, vec![], body);
    if api == Api::Chat {
        c.with_request_body(
            json!({"stream": true, "stream_options": {"include_usage": true}}).to_string(),
        )
    } else {
        c
    }
}

fn audit(api: Api, ns: &Capture, st: &Capture) -> CaseReport {
    let meta = CaseMeta {
        name: "generated".into(),
        target: api.target().into(),
        api: Some(api),
        model: "m".into(),
        region: "r".into(),
        emulator: false,
    };
    let pair = Pair {
        non_streaming: ns,
        streaming: st,
        warmup: None,
        origin: None,
        records: None,
    };
    audit_pair(meta, pair, None, &Policy::default())
}

fn api() -> impl Strategy<Value = Api> {
    prop_oneof![
        Just(Api::Invoke),
        Just(Api::Converse),
        Just(Api::Chat),
        Just(Api::Messages),
        Just(Api::Responses)
    ]
}

/// Events the grammar lets come anywhere: Anthropic's cumulative `message_delta`, and the
/// chat finish and usage chunks.
fn free(kind: &str) -> bool {
    matches!(kind, "message_delta" | "finish" | "usage")
}

/// The order of every event whose place matters.
fn fixed_order(events: &[Event]) -> Vec<bytes::Bytes> {
    events
        .iter()
        .filter(|(k, _)| !free(k))
        .map(|(_, b)| b.clone())
        .collect()
}

/// Events whose place the grammar fixes (moving one always breaks the order). Anthropic's
/// `message_delta` and chat's usage chunk may come anywhere, so they are not among them.
fn structural(kind: &str) -> bool {
    matches!(
        kind,
        "message_start"
            | "content_block_start"
            | "content_block_stop"
            | "message_stop"
            | "messageStart"
            | "contentBlockStop"
            | "messageStop"
            | "metadata"
            | "[DONE]"
            | "response.created"
            | "response.completed"
    )
}

proptest! {
    // Moves past free-floating events are rejected as no-ops (about 1 in 20).
    #![proptest_config(ProptestConfig {
        max_global_rejects: 1_000_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_pairs_of_every_format_pass(api in api(), t in truth()) {
        let (ns, events) = pair(api, &t);
        let report = audit(api, &ns, &streaming(api, &events));
        prop_assert_eq!(report.verdict, Verdict::Pass, "{:?}", report.findings);
    }

    /// Adding `delta` tokens to one count on one side, anywhere usage is carried.
    #[test]
    fn a_changed_count_never_passes(api in api(), t in truth(), side in 0..2usize, field in 0..4usize, delta in 1u64..1_000) {
        let mut bent = t.clone();
        match field {
            0 => bent.input += delta,
            1 => bent.cache_read += delta,
            2 => bent.cache_write += delta,
            _ => bent.pieces.push("x".to_string()),
        }
        // The text stays the truth's: only the count moves.
        let (ns_good, ev_good) = pair(api, &t);
        let (ns_bad, ev_bad) = pair(api, &bent);
        let (ns, st) = if side == 0 {
            (replace_usage_keep_text(api, &ns_bad, &t), streaming(api, &ev_good))
        } else {
            (ns_good, streaming(api, &keep_text(api, &ev_bad, &ev_good)))
        };
        let report = audit(api, &ns, &st);
        prop_assert_ne!(report.verdict, Verdict::Pass, "{:?}", report.rows);
    }

    /// Moving an event whose place the grammar fixes to any other place.
    #[test]
    fn a_moved_structural_event_never_passes(api in api(), t in truth(), pick in any::<prop::sample::Index>(), to in any::<prop::sample::Index>()) {
        let (ns, mut events) = pair(api, &t);
        let before = fixed_order(&events);
        let movable: Vec<usize> = (0..events.len()).filter(|&i| structural(&events[i].0)).collect();
        let from = movable[pick.index(movable.len())];
        let e = events.remove(from);
        let mut at = to.index(events.len() + 1);
        if at == from {
            at = (from + 1) % (events.len() + 1);
        }
        events.insert(at, e);
        // Moving past an event that may come anywhere changes nothing the grammar fixes.
        prop_assume!(fixed_order(&events) != before);
        let report = audit(api, &ns, &streaming(api, &events));
        prop_assert_ne!(report.verdict, Verdict::Pass, "moved {} from {} to {}", events[at].0, from, at);
    }

    /// Swapping the sides, or copying one over the other.
    #[test]
    fn a_side_in_the_wrong_role_never_passes(api in api(), t in truth(), how in 0..3usize) {
        let (ns, events) = pair(api, &t);
        let st = streaming(api, &events);
        let (a, b) = match how {
            0 => (st.clone(), ns.clone()),
            1 => (ns.clone(), ns.clone()),
            _ => (st.clone(), st.clone()),
        };
        let report = audit(api, &a, &b);
        prop_assert_eq!(report.verdict, Verdict::Error);
        prop_assert!(report.error.unwrap().contains(".operation: "));
    }
}

/// The non-streaming capture of `bent` usage with `t`'s text (only a count changes).
fn replace_usage_keep_text(api: Api, bent: &Capture, t: &Truth) -> Capture {
    let (good, _) = pair(api, t);
    let text_of = |c: &Capture| match &c.response.as_ref().unwrap().body {
        ResponseBody::Buffered(b) => serde_json::from_slice::<Value>(b).unwrap(),
        _ => unreachable!(),
    };
    let mut body = text_of(bent);
    let good_body = text_of(&good);
    for key in ["content", "output", "choices"] {
        if let Some(v) = good_body.get(key) {
            body[key] = v.clone();
        }
    }
    let mut c = bent.clone();
    c.response.as_mut().unwrap().body = ResponseBody::Buffered(body.to_string().into());
    c
}

/// The bent stream's usage-carrying events with the good stream's text events.
fn keep_text(api: Api, bent: &[Event], good: &[Event]) -> Vec<Event> {
    let text_kind = match api {
        Api::Invoke | Api::Messages => "content_block_delta",
        Api::Converse => "contentBlockDelta",
        Api::Chat => "delta",
        Api::Responses => "response.output_text.delta",
    };
    let mut out: Vec<Event> = Vec::new();
    let mut good_text = good.iter().filter(|(k, _)| k == text_kind);
    let mut pending_text = true;
    for e in bent {
        if e.0 == text_kind {
            if pending_text {
                out.extend(good_text.by_ref().cloned());
                pending_text = false;
            }
        } else {
            out.push(e.clone());
        }
    }
    out
}
