//! InvokeModel and InvokeModelWithResponseStream (Anthropic Messages bodies on Bedrock).
//!
//! Non-streaming usage lives in the body `usage` and in the unmodelled
//! `X-Amzn-Bedrock-*-Token-Count` headers. Streaming usage lives in `message_start` (input,
//! cache, and an `output_tokens` placeholder), in every `message_delta` (cumulative counters:
//! the last one wins, they are never summed), and in `amazon-bedrock-invocationMetrics` on
//! the last chunk. See `shared/reference/wire-formats.md` §1, §2.

use super::grammar::{AnthropicOrder, FrameAt};
use super::read::{
    NormalizeError, buffered_body, count, failed_exchange, field_err, fields_sum, frames,
    next_frame, parse_json, put, reported, required,
};
use super::{Field, Kind, Normalized, Obs, UsageSet};
use crate::core::capture::Capture;
use crate::core::wire::eventstream::DecodedFrame;
use base64::Engine;
use serde_json::Value;

/// The part of an Anthropic stream event the text path reads, borrowed from the chunk.
#[derive(serde::Deserialize)]
pub(super) struct EventHead<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    index: Option<u64>,
    #[serde(borrow)]
    delta: Option<DeltaHead<'a>>,
}

#[derive(serde::Deserialize)]
pub(super) struct DeltaHead<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    thinking: Option<std::borrow::Cow<'a, str>>,
}

/// A text delta exactly as Bedrock writes one,
/// `{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}`, with
/// no escape in the text: its block index and text. Anything else is `None` (and read by
/// serde).
fn bedrock_text_delta(chunk: &[u8]) -> Option<(u64, &str)> {
    let rest = chunk.strip_prefix(b"{\"type\":\"content_block_delta\",\"index\":")?;
    let (block, digits) = super::read::json_index(rest)?;
    let rest = rest[digits..].strip_prefix(b",\"delta\":{\"type\":\"text_delta\",\"text\":\"")?;
    let text = rest.strip_suffix(b"\"}}")?;
    if memchr::memchr2(b'"', b'\\', text).is_some() || !super::read::plain_json_text(text) {
        return None;
    }
    Some((block, std::str::from_utf8(text).ok()?))
}

/// The base64 `bytes` of an InvokeModel stream chunk's payload, decoded (`p` is padding).
pub fn chunk_bytes(index: usize, payload: &[u8]) -> Result<Vec<u8>, NormalizeError> {
    #[derive(serde::Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow)]
        bytes: Option<std::borrow::Cow<'a, str>>,
    }
    let at = format!("frame[{index}]");
    let outer: Chunk = serde_json::from_slice(payload)
        .map_err(|e| field_err(format!("{at} payload"), format!("invalid JSON ({e})")))?;
    let b64 = outer.bytes.ok_or_else(|| {
        field_err(
            format!("{at} payload.bytes"),
            "missing; a chunk must carry base64 `bytes`",
        )
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| {
            field_err(
                format!("{at} payload.bytes"),
                format!("invalid base64 ({e})"),
            )
        })
}

/// Header names of the token counts (lower-case, as recorded).
pub const HEADER_INPUT: &str = "x-amzn-bedrock-input-token-count";
/// Output-count header.
pub const HEADER_OUTPUT: &str = "x-amzn-bedrock-output-token-count";
/// Cache-read header (weaker evidence: third-party parsers only).
pub const HEADER_CACHE_READ: &str = "x-amzn-bedrock-cache-read-input-token-count";
/// Cache-write header (weaker evidence: third-party parsers only).
pub const HEADER_CACHE_WRITE: &str = "x-amzn-bedrock-cache-write-input-token-count";

/// Parse an Anthropic `usage` object. `placeholder_output` marks `output_tokens` as the
/// `message_start` placeholder; `input_required` is false for `message_delta`, whose usage
/// may carry only the (cumulative) output.
pub(super) fn anthropic_usage(
    usage: &Value,
    at: &str,
    placeholder_output: bool,
    input_required: bool,
) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a usage object")));
    }
    let mut set = UsageSet::default();
    if input_required {
        required(usage, "input_tokens", at)?;
    }
    put(
        &mut set,
        Field::Input,
        count(usage, "input_tokens", at)?,
        format!("{at}.input_tokens"),
        Kind::Reported,
    );
    set.set_either(
        Field::CacheRead,
        reported(usage, "cache_read_input_tokens", at)?,
        None,
    );
    // `cache_creation` splits the cache write by TTL: its parts must add up to the whole.
    set.set_either(
        Field::CacheWrite,
        reported(usage, "cache_creation_input_tokens", at)?,
        fields_sum(usage, "cache_creation", &CACHE_CREATION_PARTS, at)?,
    );
    ttl_split(usage, "cache_creation", at, &mut set)?;
    let kind = if placeholder_output {
        Kind::Placeholder
    } else {
        Kind::Reported
    };
    put(
        &mut set,
        Field::Output,
        Some(required(usage, "output_tokens", at)?),
        format!("{at}.output_tokens"),
        kind,
    );
    // Anthropic's API reports the thinking inside the output (newer SDKs' `output_tokens_details`).
    if let Some(d) = usage.get("output_tokens_details").filter(|d| d.is_object()) {
        set.reasoning = reported(d, "thinking_tokens", &format!("{at}.output_tokens_details"))?;
    }
    Ok(set)
}

/// The per-TTL parts of Anthropic's `usage.cache_creation` (LiteLLM copies them into
/// `prompt_tokens_details.cache_creation_token_details`).
pub(super) const CACHE_CREATION_PARTS: [&str; 2] =
    ["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"];

/// The 5-minute and 1-hour parts of the cache write, from the object `obj[object]`.
pub(super) fn ttl_split(
    obj: &Value,
    object: &str,
    at: &str,
    set: &mut UsageSet,
) -> Result<(), NormalizeError> {
    let Some(parts) = obj.get(object).filter(|v| v.is_object()) else {
        return Ok(());
    };
    let here = format!("{at}.{object}");
    let [five, hour] = CACHE_CREATION_PARTS;
    set.cache_write_5m = reported(parts, five, &here)?;
    set.cache_write_1h = reported(parts, hour, &here)?;
    Ok(())
}

/// Read an Anthropic Messages body (text, stop reason, `usage` into the body channel): the
/// same on Bedrock InvokeModel and on `/v1/messages`.
pub(super) fn read_anthropic_body(
    capture: &Capture,
    side: &mut Normalized,
) -> Result<(), NormalizeError> {
    let body = parse_json(buffered_body(capture)?, "body")?;
    text_of_content(body.get("content"), side);
    side.stop_reason = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        side.channels.body = Some(anthropic_usage(usage, "body:usage", false, true)?);
    }
    Ok(())
}

/// The generated text of a Messages body: thinking blocks and text blocks, in order (the
/// stream carries the same, so identical completions digest the same).
fn text_of_content(content: Option<&Value>, side: &mut Normalized) {
    for block in content.and_then(Value::as_array).into_iter().flatten() {
        let text = match block.get("type").and_then(Value::as_str) {
            Some("text") => block.get("text"),
            Some("thinking") => block.get("thinking"),
            _ => None,
        };
        if let Some(t) = text.and_then(Value::as_str) {
            side.text.push(t);
        }
    }
}

/// Normalize an InvokeModel exchange.
pub fn invoke(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let resp = capture
        .response
        .as_ref()
        .expect("checked by failed_exchange");
    read_anthropic_body(capture, &mut side)?;

    let mut headers = UsageSet::default();
    for (field, name) in [
        (Field::Input, HEADER_INPUT),
        (Field::Output, HEADER_OUTPUT),
        (Field::CacheRead, HEADER_CACHE_READ),
        (Field::CacheWrite, HEADER_CACHE_WRITE),
    ] {
        if let Some(raw) = resp.header(name) {
            let at = format!("header:{name}");
            let value = crate::core::count::from_text(raw, &at)?;
            headers.set(field, Obs::reported(value, at));
        }
    }
    if !headers.is_empty() {
        side.channels.headers = Some(headers);
    }

    let mut usage = side
        .channels
        .body
        .clone()
        .or_else(|| side.channels.headers.clone())
        .unwrap_or_default();
    usage.derive_total();
    side.usage = usage;
    Ok(side)
}

/// Normalize an InvokeModelWithResponseStream exchange.
pub fn invoke_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let mut reducer = AnthropicStream::default();
    for (index, raw) in frames(capture)?.iter().enumerate() {
        if !reducer.push(index, raw, &mut side)? {
            break;
        }
    }
    reducer.finish(&mut side);
    Ok(side)
}

/// Incremental reducer over the events of one Anthropic stream: the chunks of an
/// InvokeModelWithResponseStream response, or the SSE events of `/v1/messages`. Memory is
/// bounded by the largest frame: text goes into a digest, counters into channels, order into
/// a constant-size grammar state.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    order: AnthropicOrder,
}

impl AnthropicStream {
    /// Consume one raw InvokeModel stream frame. Returns `false` once the stream has failed
    /// (exception frame).
    pub fn push(
        &mut self,
        index: usize,
        raw: &bytes::Bytes,
        side: &mut Normalized,
    ) -> Result<bool, NormalizeError> {
        let Some(frame) = next_frame(side, index, raw)? else {
            return Ok(false);
        };
        self.push_event_frame(index, &frame, None, side)
    }

    /// Consume one decoded, accepted event frame; `chunk` is its payload's `bytes` already
    /// base64-decoded, when the caller has it (a replay checks the chunk view with it).
    pub(super) fn push_event_frame(
        &mut self,
        index: usize,
        frame: &DecodedFrame,
        chunk: Option<&[u8]>,
        side: &mut Normalized,
    ) -> Result<bool, NormalizeError> {
        if frame.type_name != "chunk" {
            side.stream.get_or_insert_default().ignored_events += 1;
            return Ok(true);
        }
        let decoded;
        let inner = match chunk {
            Some(c) => c,
            None => {
                decoded = chunk_bytes(index, frame.payload)?;
                &decoded
            }
        };
        // Text deltas are most of a long stream: read them without building a JSON tree, as
        // Bedrock lays them out when it can, through serde's typed reader otherwise.
        if let Some((block, text)) = bedrock_text_delta(inner) {
            if let Err(v) = self
                .order
                .event(&FrameAt(index), "content_block_delta", Some(block))
            {
                side.note_order(v);
            }
            side.text.push(text);
            return Ok(true);
        }
        if let Ok(head) = serde_json::from_slice::<EventHead>(inner)
            && head.kind == "content_block_delta"
        {
            return Ok(self.text_delta(index, &head, side));
        }
        let at = format!("frame[{index}]");
        let event = parse_json(inner, format!("{at} chunk"))?;
        self.apply(index, &at, &event, side)
    }

    /// A `content_block_delta`: its place in the grammar, and its text into the digest.
    fn text_delta(&mut self, index: usize, head: &EventHead, side: &mut Normalized) -> bool {
        if let Err(v) = self.order.event(&FrameAt(index), &head.kind, head.index) {
            side.note_order(v);
        }
        let delta = head.delta.as_ref();
        let text = match delta.and_then(|d| d.kind.as_deref()) {
            Some("text_delta") => delta.and_then(|d| d.text.as_deref()),
            Some("thinking_delta") => delta.and_then(|d| d.thinking.as_deref()),
            _ => None,
        };
        if let Some(t) = text {
            side.text.push(t);
        }
        true
    }

    /// Consume one decoded Anthropic event (from a Bedrock chunk or an SSE `data:` line).
    /// Returns `false` once the stream has failed (an in-band `error` event).
    pub(super) fn apply(
        &mut self,
        index: usize,
        at: &str,
        event: &Value,
        side: &mut Normalized,
    ) -> Result<bool, NormalizeError> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        let block = event.get("index").and_then(Value::as_u64);
        if let Err(v) = self.order.event(&at, kind, block) {
            side.note_order(v);
        }
        apply_anthropic_event(index, at, event, side)
    }

    /// Choose the side's usage by the documented precedence.
    pub fn finish(self, side: &mut Normalized) {
        let ch = &side.channels;
        let mut usage = UsageSet::default();
        for field in [
            Field::Input,
            Field::CacheRead,
            Field::CacheWrite,
            Field::CacheWrite5m,
            Field::CacheWrite1h,
        ] {
            let pick = ch
                .message_deltas
                .iter()
                .rev()
                .find_map(|d| d.get(field))
                .or_else(|| ch.message_start.as_ref().and_then(|s| s.get(field)))
                .or_else(|| ch.invocation_metrics.as_ref().and_then(|m| m.get(field)));
            if let Some(o) = pick {
                usage.set(field, o.clone());
            }
        }
        let output = ch
            .message_deltas
            .iter()
            .rev()
            .find_map(|d| d.output.as_ref())
            .or_else(|| {
                ch.invocation_metrics
                    .as_ref()
                    .and_then(|m| m.output.as_ref())
            })
            .or_else(|| ch.message_start.as_ref().and_then(|s| s.output.as_ref()));
        if let Some(o) = output {
            usage.output = Some(o.clone());
        }
        // The thinking count is cumulative like output: the last delta carrying it.
        usage.reasoning = ch
            .message_deltas
            .iter()
            .rev()
            .find_map(|d| d.reasoning.clone());
        usage.derive_total();
        side.usage = usage;
    }
}

/// What one Anthropic event says about usage, text and the stream's end.
fn apply_anthropic_event(
    index: usize,
    at: &str,
    event: &Value,
    side: &mut Normalized,
) -> Result<bool, NormalizeError> {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "message_start" => {
            let message = event.get("message").unwrap_or(&Value::Null);
            if let Some(usage) = message.get("usage").filter(|u| !u.is_null()) {
                side.channels.message_start = Some(anthropic_usage(
                    usage,
                    &format!("{at} message_start.message.usage"),
                    true,
                    true,
                )?);
            }
        }
        "content_block_delta" => {
            let delta = event.get("delta").unwrap_or(&Value::Null);
            let text = match delta.get("type").and_then(Value::as_str) {
                Some("text_delta") => delta.get("text"),
                Some("thinking_delta") => delta.get("thinking"),
                _ => None,
            };
            if let Some(t) = text.and_then(Value::as_str) {
                side.text.push(t);
            }
        }
        "message_delta" => {
            if let Some(r) = event
                .get("delta")
                .and_then(|d| d.get("stop_reason"))
                .and_then(Value::as_str)
            {
                side.stop_reason = Some(r.to_string());
            }
            if let Some(usage) = event.get("usage").filter(|u| !u.is_null()) {
                side.channels.message_deltas.push(anthropic_usage(
                    usage,
                    &format!("{at} message_delta.usage"),
                    false,
                    false,
                )?);
            }
        }
        "message_stop" => {
            side.stream.get_or_insert_default().terminal_frame = Some(index);
            if let Some(m) = event
                .get("amazon-bedrock-invocationMetrics")
                .filter(|m| !m.is_null())
            {
                let at = format!("{at} message_stop.amazon-bedrock-invocationMetrics");
                let mut set = UsageSet::default();
                for (field, key) in [
                    (Field::Input, "inputTokenCount"),
                    (Field::Output, "outputTokenCount"),
                    (Field::CacheRead, "cacheReadInputTokenCount"),
                    (Field::CacheWrite, "cacheWriteInputTokenCount"),
                ] {
                    put(
                        &mut set,
                        field,
                        count(m, key, &at)?,
                        format!("{at}.{key}"),
                        Kind::Reported,
                    );
                }
                side.channels.invocation_metrics = Some(set);
            }
        }
        "error" => {
            let err = event.get("error").unwrap_or(&Value::Null);
            side.failure = Some(super::Failure::in_band(index, err));
            return Ok(false);
        }
        "content_block_start" | "content_block_stop" => {}
        _ => side.stream.get_or_insert_default().ignored_events += 1,
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Bedrock-layout reader of text deltas takes exactly what it can read right, and says
    /// what serde says of it; anything else it leaves to serde.
    #[test]
    fn the_fast_text_delta_reader_agrees_with_serde_or_declines() {
        let take = [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":"héllo wörld"}}"#,
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":""}}"#,
        ];
        for chunk in take {
            let (block, text) = bedrock_text_delta(chunk.as_bytes()).unwrap();
            let v: Value = serde_json::from_str(chunk).unwrap();
            assert_eq!(Some(block), v["index"].as_u64());
            assert_eq!(Some(text), v["delta"]["text"].as_str());
        }
        let decline = [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"b"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a
b"}}"#,
            r#"{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}"#,
            r#"{"type":"content_block_delta", "index":0,"delta":{"type":"text_delta","text":"x"}}"#,
            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\u{1}b\"}}",
        ];
        for chunk in decline {
            assert_eq!(bedrock_text_delta(chunk.as_bytes()), None, "{chunk}");
        }
    }
    use crate::core::capture::{Operation, RecordedResponse, ResponseBody};
    use crate::core::wire::eventstream::{encode_event, encode_frame};
    use serde_json::json;

    fn capture(
        op: Operation,
        status: u16,
        headers: &[(&str, &str)],
        body: ResponseBody,
    ) -> Capture {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Capture::answered(op, status, headers, body)
    }

    fn chunk(event: &Value) -> bytes::Bytes {
        let b64 = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        encode_event("chunk", json!({"bytes": b64, "p": "abcdef"}).to_string())
    }

    fn stream(events: &[Value]) -> Capture {
        capture(
            Operation::InvokeModelWithResponseStream,
            200,
            &[],
            ResponseBody::Frames(events.iter().map(chunk).collect()),
        )
    }

    fn start(input: u64, placeholder: u64) -> Value {
        json!({"type":"message_start","message":{"usage":{"input_tokens":input,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":placeholder}}})
    }

    #[test]
    fn invoke_reads_body_and_headers_separately() {
        let body = json!({"content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn",
            "usage":{"input_tokens":10,"output_tokens":2,"cache_read_input_tokens":null}});
        let c = capture(
            Operation::InvokeModel,
            200,
            &[(HEADER_INPUT, "12"), (HEADER_OUTPUT, "2")],
            ResponseBody::Buffered(body.to_string().into()),
        );
        let n = invoke(&c).unwrap();
        assert_eq!(n.usage.value(Field::Input), Some(10));
        assert_eq!(
            n.usage.input.as_ref().unwrap().source,
            "body:usage.input_tokens"
        );
        assert_eq!(
            n.channels.headers.as_ref().unwrap().value(Field::Input),
            Some(12)
        );
        assert_eq!(
            n.usage.value(Field::CacheRead),
            None,
            "null cache counts stay absent"
        );
        assert_eq!(n.usage.total.as_ref().unwrap().kind, Kind::Derived);
        assert_eq!(n.text.preview, "Hi!");
    }

    #[test]
    fn invoke_falls_back_to_headers_and_rejects_bad_ones() {
        let c = capture(
            Operation::InvokeModel,
            200,
            &[(HEADER_INPUT, "7"), (HEADER_OUTPUT, "3")],
            ResponseBody::Buffered(json!({"content":[]}).to_string().into()),
        );
        let n = invoke(&c).unwrap();
        assert_eq!(
            n.usage.input.as_ref().unwrap().source,
            format!("header:{HEADER_INPUT}")
        );
        let c = capture(
            Operation::InvokeModel,
            200,
            &[(HEADER_INPUT, "ten")],
            ResponseBody::Buffered(json!({"content":[]}).to_string().into()),
        );
        let e = invoke(&c).unwrap_err().to_string();
        assert!(e.contains(HEADER_INPUT) && e.contains("\"ten\""), "{e}");
    }

    /// A body whose only text block is empty and a stream with no text delta produced the
    /// same (empty) completion: their output counts are comparable.
    #[test]
    fn an_empty_text_block_and_no_text_are_the_same_completion() {
        let body = json!({"content":[{"type":"text","text":""}],"stop_reason":"end_turn",
            "usage":{"input_tokens":10,"output_tokens":1}});
        let buffered = invoke(&capture(
            Operation::InvokeModel,
            200,
            &[],
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap();
        let streamed = invoke_stream(&stream(&[
            start(10, 1),
            json!({"type":"message_delta","usage":{"output_tokens":1}}),
            json!({"type":"message_stop"}),
        ]))
        .unwrap();
        assert_eq!(buffered.text, streamed.text);
        let audit = crate::core::audit::audit(&buffered, &streamed, &Default::default());
        assert!(
            audit.checks.iter().any(
                |c| c.invariant == crate::core::audit::Invariant::OutputParity
                    && c.status == crate::core::audit::Status::Held
            ),
            "{:?}",
            audit.findings
        );
    }

    #[test]
    fn http_errors_become_failures_not_usage() {
        let c = capture(
            Operation::InvokeModel,
            429,
            &[(
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/coral/",
            )],
            ResponseBody::Buffered(r#"{"message":"slow down"}"#.into()),
        );
        let f = invoke(&c).unwrap().failure.unwrap();
        assert_eq!(
            (f.name.as_str(), f.message.as_str(), f.status),
            ("ThrottlingException", "slow down", Some(429))
        );
    }

    #[test]
    fn stream_takes_the_last_cumulative_counter() {
        let n = invoke_stream(&stream(&[
            start(10, 1),
            json!({"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}),
            json!({"type":"message_delta","usage":{"output_tokens":8}}),
            json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}),
            json!({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":10,"outputTokenCount":15}}),
        ]))
        .unwrap();
        let out = n.usage.output.as_ref().unwrap();
        assert_eq!((out.value, out.kind), (15, Kind::Reported));
        assert_eq!(out.source, "frame[3] message_delta.usage.output_tokens");
        assert_eq!(n.channels.message_deltas.len(), 2);
        assert_eq!(
            n.channels
                .invocation_metrics
                .as_ref()
                .unwrap()
                .value(Field::Output),
            Some(15)
        );
        assert_eq!(n.stream.as_ref().unwrap().terminal_frame, Some(4));
        assert_eq!(n.stop_reason.as_deref(), Some("end_turn"));
    }

    #[test]
    fn stream_input_grows_with_server_tools() {
        let n = invoke_stream(&stream(&[
            start(2679, 1),
            json!({"type":"message_delta","usage":{"input_tokens":10682,"output_tokens":20}}),
            json!({"type":"message_stop"}),
        ]))
        .unwrap();
        assert_eq!(n.usage.value(Field::Input), Some(10682));
    }

    #[test]
    fn without_a_delta_the_output_is_only_the_placeholder() {
        let n = invoke_stream(&stream(&[start(10, 1), json!({"type":"message_stop"})])).unwrap();
        assert_eq!(n.usage.output.as_ref().unwrap().kind, Kind::Placeholder);
    }

    #[test]
    fn exception_frames_end_the_stream_as_a_failure() {
        let mut c = stream(&[start(10, 1)]);
        if let Some(RecordedResponse {
            body: ResponseBody::Frames(f),
            ..
        }) = &mut c.response
        {
            f.push(encode_frame(
                &[
                    (":message-type", "exception"),
                    (":exception-type", "throttlingException"),
                    (":content-type", "application/json"),
                ],
                r#"{"message":"Too many tokens"}"#,
            ));
        }
        let f = invoke_stream(&c).unwrap().failure.unwrap();
        assert_eq!(
            (f.kind, f.name.as_str(), f.frame),
            ("exception", "throttlingException", Some(1))
        );
        assert_eq!(f.message, "Too many tokens");
    }

    #[test]
    fn malformed_frames_name_the_frame_and_field() {
        let bad_json = encode_event("chunk", "{not json");
        let mut c = stream(&[start(10, 1)]);
        if let Some(RecordedResponse {
            body: ResponseBody::Frames(f),
            ..
        }) = &mut c.response
        {
            f.push(bad_json);
        }
        let e = invoke_stream(&c).unwrap_err().to_string();
        assert!(e.starts_with("frame[1] payload: invalid JSON"), "{e}");

        let e = invoke_stream(&stream(&[
            json!({"type":"message_delta","usage":{"output_tokens":-4}}),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("frame[0] message_delta.usage.output_tokens: negative count -4"),
            "{e}"
        );

        let cut = stream(&[start(10, 1)]);
        let Some(RecordedResponse {
            body: ResponseBody::Frames(f),
            ..
        }) = &cut.response
        else {
            unreachable!()
        };
        let short = capture(
            Operation::InvokeModelWithResponseStream,
            200,
            &[],
            ResponseBody::Frames(vec![f[0].slice(..40)]),
        );
        let e = invoke_stream(&short).unwrap_err().to_string();
        assert!(e.starts_with("frame 0: truncated frame: 40 of"), "{e}");
    }
}
