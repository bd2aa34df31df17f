//! Converse and ConverseStream.
//!
//! Usage is a `TokenUsage` object: in the body for Converse, on the trailing `metadata`
//! event (after `messageStop`) for ConverseStream. Cache fields come in two spellings
//! (`cacheReadInputTokens` and the undocumented `cacheReadInputTokenCount`); both are
//! accepted, never counted twice. `totalTokens` includes cache tokens.
//! See `shared/reference/wire-formats.md` §3.

use super::grammar::{ConverseOrder, FrameAt};
use super::read::{
    NormalizeError, buffered_body, failed_exchange, field_err, frames, next_frame, parse_json,
    parts_sum, reported, required,
};
use super::{Field, Kind, Normalized, Obs, UsageSet};
use crate::core::capture::Capture;
use crate::core::wire::eventstream::DecodedFrame;
use serde_json::Value;

/// Parse a Converse `TokenUsage` object.
fn token_usage(usage: &Value, at: &str) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a TokenUsage object")));
    }
    let mut set = UsageSet::default();
    for (field, key) in [
        (Field::Input, "inputTokens"),
        (Field::Output, "outputTokens"),
        (Field::Total, "totalTokens"),
    ] {
        let value = required(usage, key, at)?;
        set.set(field, Obs::reported(value, format!("{at}.{key}")));
    }
    // Both spellings are accepted; the documented one is used, the other kept to be checked.
    set.set_either(
        Field::CacheRead,
        reported(usage, "cacheReadInputTokens", at)?,
        reported(usage, "cacheReadInputTokenCount", at)?,
    );
    set.set_either(
        Field::CacheWrite,
        reported(usage, "cacheWriteInputTokens", at)?,
        reported(usage, "cacheWriteInputTokenCount", at)?,
    );
    // `cacheDetails` splits the cache writes by TTL: the parts must add up to the whole.
    if let Some(parts) = parts_sum(usage, "cacheDetails", "inputTokens", at)? {
        let write = set.cache_write.take();
        set.set_either(Field::CacheWrite, write, Some(parts));
        cache_details_by_ttl(usage, at, &mut set)?;
    }
    Ok(set)
}

/// `cacheDetails` per TTL: every entry's `inputTokens` added to its `ttl`'s part.
fn cache_details_by_ttl(usage: &Value, at: &str, set: &mut UsageSet) -> Result<(), NormalizeError> {
    let mut parts = [
        (Field::CacheWrite5m, "5m", 0u64, false),
        (Field::CacheWrite1h, "1h", 0, false),
    ];
    for (i, d) in usage["cacheDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let here = format!("{at}.cacheDetails[{i}]");
        let ttl = d.get("ttl").and_then(Value::as_str).unwrap_or_default();
        let part = parts.iter_mut().find(|p| p.1 == ttl).ok_or_else(|| {
            field_err(
                format!("{here}.ttl"),
                format!("{:?} is not a cache TTL (5m or 1h)", d.get("ttl")),
            )
        })?;
        let v = required(d, "inputTokens", &here)?;
        part.2 = crate::core::count::sum([part.2, v])
            .ok_or_else(|| field_err(&here, "the parts add up beyond any real usage"))?;
        part.3 = true;
    }
    for (field, ttl, value, seen) in parts {
        if seen {
            let source = format!("derived: sum of {at}.cacheDetails[ttl={ttl}].inputTokens");
            set.set(
                field,
                Obs {
                    value,
                    source,
                    kind: Kind::Derived,
                },
            );
        }
    }
    Ok(())
}

/// Normalize a Converse exchange.
pub fn converse(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let body = parse_json(buffered_body(capture)?, "body")?;
    let content = body
        .pointer("/output/message/content")
        .and_then(Value::as_array);
    for block in content.into_iter().flatten() {
        let text = block
            .get("text")
            .or_else(|| block.pointer("/reasoningContent/reasoningText/text"));
        if let Some(t) = text.and_then(Value::as_str) {
            side.text.push(t);
        }
    }
    side.stop_reason = body
        .get("stopReason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(usage) = body.get("usage").filter(|u| !u.is_null()) {
        let set = token_usage(usage, "body:usage")?;
        side.channels.body = Some(set.clone());
        side.usage = set;
    }
    Ok(side)
}

/// Normalize a ConverseStream exchange.
pub fn converse_stream(capture: &Capture) -> Result<Normalized, NormalizeError> {
    let mut side = Normalized::new(capture);
    if failed_exchange(capture, &mut side).is_some() {
        return Ok(side);
    }
    let mut reducer = ConverseStream::default();
    for (index, raw) in frames(capture)?.iter().enumerate() {
        if !reducer.push(index, raw, &mut side)? {
            break;
        }
    }
    reducer.finish(&mut side);
    Ok(side)
}

/// A text delta exactly as Bedrock writes one,
/// `{"contentBlockIndex":N,"delta":{"text":"…"},"p":"…"}` (the padding optional), with no
/// escape in the text: its block index and text. Anything else is `None` (and read by serde).
fn bedrock_text_delta(payload: &[u8]) -> Option<(u64, &str)> {
    let rest = payload.strip_prefix(b"{\"contentBlockIndex\":")?;
    let (block, digits) = super::read::json_index(rest)?;
    let rest = rest[digits..].strip_prefix(b",\"delta\":{\"text\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    let (text, tail) = rest.split_at(end);
    let tail = tail.strip_prefix(b"\"}")?;
    let padding_ok = tail == b"}"
        || tail
            .strip_prefix(b",\"p\":\"")
            .and_then(|t| t.strip_suffix(b"\"}"))
            .is_some_and(|p| p.iter().fold(true, |ok, c| ok & c.is_ascii_alphanumeric()));
    if !padding_ok || !super::read::plain_json_text(text) {
        return None;
    }
    Some((block, std::str::from_utf8(text).ok()?))
}

/// A `contentBlockDelta` payload, as far as the text path reads it (borrowed).
#[derive(serde::Deserialize)]
struct BlockDelta<'a> {
    #[serde(rename = "contentBlockIndex")]
    index: Option<u64>,
    #[serde(borrow)]
    delta: Option<DeltaText<'a>>,
}

#[derive(serde::Deserialize)]
struct DeltaText<'a> {
    #[serde(borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "reasoningContent", borrow)]
    reasoning: Option<ReasoningText<'a>>,
}

#[derive(serde::Deserialize)]
struct ReasoningText<'a> {
    #[serde(borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
}

/// Incremental reducer over the frames of one ConverseStream response, in memory bounded by
/// the largest frame.
#[derive(Debug, Default)]
pub struct ConverseStream {
    order: ConverseOrder,
}

impl ConverseStream {
    /// Consume one raw frame. Returns `false` once the stream has failed (exception frame).
    pub fn push(
        &mut self,
        index: usize,
        raw: &bytes::Bytes,
        side: &mut Normalized,
    ) -> Result<bool, NormalizeError> {
        let Some(frame) = next_frame(side, index, raw)? else {
            return Ok(false);
        };
        self.push_event_frame(index, &frame, side)?;
        Ok(true)
    }

    /// Consume one decoded, accepted event frame.
    pub(super) fn push_event_frame(
        &mut self,
        index: usize,
        frame: &DecodedFrame,
        side: &mut Normalized,
    ) -> Result<(), NormalizeError> {
        let kind: &str = &frame.type_name;
        // Text deltas are most of a long stream: read them without building a JSON tree, as
        // Bedrock lays them out when it can, through serde's typed reader otherwise.
        if kind == "contentBlockDelta"
            && let Some((block, text)) = bedrock_text_delta(frame.payload)
        {
            if let Err(v) = self.order.event(&FrameAt(index), kind, Some(block)) {
                side.note_order(v);
            }
            side.text.push(text);
            return Ok(());
        }
        if kind == "contentBlockDelta"
            && let Ok(delta) = serde_json::from_slice::<BlockDelta>(frame.payload)
        {
            if let Err(v) = self.order.event(&FrameAt(index), kind, delta.index) {
                side.note_order(v);
            }
            let d = delta.delta.as_ref();
            let text = d
                .and_then(|d| d.text.as_deref())
                .or_else(|| d.and_then(|d| d.reasoning.as_ref()?.text.as_deref()));
            if let Some(t) = text {
                side.text.push(t);
            }
            return Ok(());
        }
        let at = format!("frame[{index}] {kind}");
        // Payloads are the union member's JSON with no wrapping key, plus `p` padding.
        let event = parse_json(frame.payload, format!("{at} payload"))?;
        let block = event.get("contentBlockIndex").and_then(Value::as_u64);
        if let Err(v) = self.order.event(&FrameAt(index), kind, block) {
            side.note_order(v);
        }
        apply_converse_event(index, kind, &at, &event, side)
    }

    /// The side's usage: the `metadata` event's, the only one a ConverseStream carries.
    pub fn finish(self, side: &mut Normalized) {
        side.usage = side.channels.metadata.clone().unwrap_or_default();
    }
}

/// What one ConverseStream event says about usage, text and the stream's end.
fn apply_converse_event(
    index: usize,
    kind: &str,
    at: &str,
    event: &Value,
    side: &mut Normalized,
) -> Result<(), NormalizeError> {
    match kind {
        "contentBlockDelta" => {
            let text = event
                .pointer("/delta/text")
                .or_else(|| event.pointer("/delta/reasoningContent/text"));
            if let Some(t) = text.and_then(Value::as_str) {
                side.text.push(t);
            }
        }
        "messageStop" => {
            side.stream.get_or_insert_default().terminal_frame = Some(index);
            side.stop_reason = event
                .get("stopReason")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        "metadata" => match event.get("usage").filter(|u| !u.is_null()) {
            Some(usage) => {
                side.channels.metadata = Some(token_usage(usage, &format!("{at}.usage"))?);
            }
            None => {
                // A relay that wrapped the member (`{"metadata":{"usage":…}}`) puts usage one
                // level too deep: typed SDKs then report all zeros.
                side.stream.get_or_insert_default().misplaced_usage =
                    event.as_object().and_then(|o| {
                        o.iter()
                            .find(|(_, v)| v.get("usage").is_some())
                            .map(|(k, _)| format!("{at} payload.{k}.usage"))
                    });
            }
        },
        "messageStart" | "contentBlockStart" | "contentBlockStop" => {}
        _ => side.stream.get_or_insert_default().ignored_events += 1,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As for InvokeModel: the Bedrock-layout reader agrees with serde or declines.
    #[test]
    fn the_fast_text_delta_reader_agrees_with_serde_or_declines() {
        let take = [
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcdef"}"#,
            r#"{"contentBlockIndex":7,"delta":{"text":"wörld"}}"#,
        ];
        for payload in take {
            let (block, text) = bedrock_text_delta(payload.as_bytes()).unwrap();
            let v: Value = serde_json::from_str(payload).unwrap();
            assert_eq!(Some(block), v["contentBlockIndex"].as_u64());
            assert_eq!(Some(text), v["delta"]["text"].as_str());
        }
        for payload in [
            r#"{"contentBlockIndex":0,"delta":{"text":"a"b"},"p":"x"}"#,
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"a-b"}"#,
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"x"}}}"#,
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"ab","q":1}"#,
        ] {
            assert_eq!(bedrock_text_delta(payload.as_bytes()), None, "{payload}");
        }
    }
    use crate::core::capture::{Operation, ResponseBody};
    use crate::core::normalize::Kind;
    use crate::core::wire::eventstream::encode_event;
    use serde_json::json;

    fn capture(op: Operation, body: ResponseBody) -> Capture {
        Capture::answered(op, 200, vec![], body)
    }

    fn event(kind: &str, payload: Value) -> bytes::Bytes {
        encode_event(kind, payload.to_string())
    }

    #[test]
    fn both_cache_spellings_count_once() {
        let body = json!({"output":{"message":{"content":[{"text":"Hi."}]}},
            "usage":{"inputTokens":18,"outputTokens":386,"totalTokens":7906,
                     "cacheWriteInputTokens":7502,"cacheWriteInputTokenCount":7502,"cacheReadInputTokenCount":0}});
        let n = converse(&capture(
            Operation::Converse,
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap();
        assert_eq!(n.usage.input_total(), Some(18 + 7502));
        assert_eq!(
            n.usage.cache_read.as_ref().unwrap().source,
            "body:usage.cacheReadInputTokenCount"
        );
        assert_eq!(n.usage.total.as_ref().unwrap().kind, Kind::Reported);

        // Two spellings that disagree are kept for usage-self-consistent, not an error.
        let body = json!({"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":9,
            "cacheReadInputTokens":7,"cacheReadInputTokenCount":5}});
        let n = converse(&capture(
            Operation::Converse,
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap();
        assert_eq!(n.usage.value(Field::CacheRead), Some(7));
        let d = &n.usage.duplicates[0];
        assert_eq!((d.field, d.other.value), (Field::CacheRead, 5));
        assert_eq!(d.other.source, "body:usage.cacheReadInputTokenCount");
    }

    #[test]
    fn cache_details_must_add_up_to_the_cache_write() {
        let body = json!({"usage":{"inputTokens":18,"outputTokens":386,"totalTokens":7906,
            "cacheWriteInputTokens":7502,
            "cacheDetails":[{"ttl":"1h","inputTokens":7000},{"ttl":"5m","inputTokens":402}]}});
        let n = converse(&capture(
            Operation::Converse,
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap();
        let d = &n.usage.duplicates[0];
        assert_eq!((d.field, d.other.value), (Field::CacheWrite, 7402));
        assert_eq!(d.other.kind, Kind::Derived);
        let bad = json!({"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2,
            "cacheDetails":[{"ttl":"5m","inputTokens":-1}]}});
        let e = converse(&capture(
            Operation::Converse,
            ResponseBody::Buffered(bad.to_string().into()),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("body:usage.cacheDetails[0].inputTokens: negative"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_required_count_is_malformed() {
        let body = json!({"usage":{"inputTokens":1,"totalTokens":2}});
        let e = converse(&capture(
            Operation::Converse,
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "body:usage.outputTokens: missing; the format requires this count whenever a usage object is present"
        );
    }

    #[test]
    fn stream_usage_comes_from_metadata_after_message_stop() {
        let frames = vec![
            event("messageStart", json!({"role":"assistant","p":"abc"})),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex":0,"delta":{"text":"OK"},"p":"a"}),
            ),
            event("messageStop", json!({"stopReason":"end_turn"})),
            event(
                "metadata",
                json!({"usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17,"serverToolUsage":{}},"metrics":{"latencyMs":802}}),
            ),
        ];
        let n = converse_stream(&capture(
            Operation::ConverseStream,
            ResponseBody::Frames(frames),
        ))
        .unwrap();
        assert_eq!(n.usage.value(Field::Total), Some(17));
        assert_eq!(
            n.usage.output.as_ref().unwrap().source,
            "frame[3] metadata.usage.outputTokens"
        );
        assert_eq!(n.stream.as_ref().unwrap().terminal_frame, Some(2));
        assert_eq!(n.text.preview, "OK");
    }

    #[test]
    fn usage_at_the_wrong_nesting_level_is_noticed() {
        let frames = vec![
            event("messageStop", json!({"stopReason":"end_turn"})),
            event(
                "metadata",
                json!({"metadata":{"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}}),
            ),
        ];
        let n = converse_stream(&capture(
            Operation::ConverseStream,
            ResponseBody::Frames(frames),
        ))
        .unwrap();
        assert!(n.usage.is_empty());
        assert_eq!(
            n.stream.unwrap().misplaced_usage.as_deref(),
            Some("frame[1] metadata payload.metadata.usage")
        );
    }
}
