//! Converse and ConverseStream.
//!
//! Usage is a `TokenUsage` object: in the body for Converse, on the trailing `metadata`
//! event (after `messageStop`) for ConverseStream. Cache fields come in two spellings
//! (`cacheReadInputTokens` and the undocumented `cacheReadInputTokenCount`); both are
//! accepted, never counted twice. `totalTokens` includes cache tokens.
//! See `shared/reference/wire-formats.md` §3.

use super::grammar::ConverseOrder;
use super::read::{
    NormalizeError, buffered_body, failed_exchange, field_err, frames, next_frame, parse_json,
    parts_sum, reported, required,
};
use super::{Field, Kind, Normalized, Obs, UsageSet};
use crate::core::capture::Capture;
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
        let kind = frame.type_name.as_str();
        let at = format!("frame[{index}] {kind}");
        // Payloads are the union member's JSON with no wrapping key, plus `p` padding.
        let event = parse_json(&frame.payload, format!("{at} payload"))?;
        let block = event.get("contentBlockIndex").and_then(Value::as_u64);
        if let Err(v) = self.order.event(&format!("frame[{index}]"), kind, block) {
            side.note_order(v);
        }
        apply_converse_event(index, kind, &at, &event, side)?;
        Ok(true)
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
