//! Converse and ConverseStream.
//!
//! Usage is a `TokenUsage` object: in the body for Converse, on the trailing `metadata`
//! event (after `messageStop`) for ConverseStream. Cache fields come in two spellings
//! (`cacheReadInputTokens` and the undocumented `cacheReadInputTokenCount`); both are
//! accepted, never counted twice. `totalTokens` includes cache tokens.
//! See `shared/reference/wire-formats.md` §3.

use super::read::{
    NormalizeError, buffered_body, count, failed_exchange, field_err, frames, next_frame,
    parse_json, put, required,
};
use super::{Field, Kind, Normalized, UsageSet};
use crate::core::capture::Capture;
use serde_json::Value;

/// Parse a Converse `TokenUsage` object.
fn token_usage(usage: &Value, at: &str) -> Result<UsageSet, NormalizeError> {
    if !usage.is_object() {
        return Err(field_err(at, format!("{usage} is not a TokenUsage object")));
    }
    let mut set = UsageSet::default();
    put(
        &mut set,
        Field::Input,
        Some(required(usage, "inputTokens", at)?),
        format!("{at}.inputTokens"),
        Kind::Reported,
    );
    put(
        &mut set,
        Field::Output,
        Some(required(usage, "outputTokens", at)?),
        format!("{at}.outputTokens"),
        Kind::Reported,
    );
    put(
        &mut set,
        Field::Total,
        Some(required(usage, "totalTokens", at)?),
        format!("{at}.totalTokens"),
        Kind::Reported,
    );
    for (field, documented, alias) in [
        (
            Field::CacheRead,
            "cacheReadInputTokens",
            "cacheReadInputTokenCount",
        ),
        (
            Field::CacheWrite,
            "cacheWriteInputTokens",
            "cacheWriteInputTokenCount",
        ),
    ] {
        let a = count(usage, documented, at)?;
        let b = count(usage, alias, at)?;
        if let (Some(x), Some(y)) = (a, b)
            && x != y
        {
            return Err(field_err(
                format!("{at}.{documented}"),
                format!("{x} disagrees with its duplicate {alias} = {y}"),
            ));
        }
        let (value, key) = match (a, b) {
            (Some(v), _) => (Some(v), documented),
            (None, v) => (v, alias),
        };
        put(
            &mut set,
            field,
            value,
            format!("{at}.{key}"),
            Kind::Reported,
        );
    }
    Ok(set)
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
        if let Some(t) = block.get("text").and_then(Value::as_str) {
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
    for (index, raw) in frames(capture)?.iter().enumerate() {
        let Some(frame) = next_frame(&mut side, index, raw)? else {
            break;
        };
        let at = format!("frame[{index}] {}", frame.type_name);
        // Payloads are the union member's JSON with no wrapping key, plus `p` padding.
        let event = parse_json(&frame.payload, format!("{at} payload"))?;
        match frame.type_name.as_str() {
            "contentBlockDelta" => {
                if let Some(t) = event.pointer("/delta/text").and_then(Value::as_str) {
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
                    let set = token_usage(usage, &format!("{at}.usage"))?;
                    side.channels.metadata = Some(set);
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
    }
    side.usage = side.channels.metadata.clone().unwrap_or_default();
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::capture::{Operation, ResponseBody};
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

        let body = json!({"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":9,
            "cacheReadInputTokens":7,"cacheReadInputTokenCount":5}});
        let e = converse(&capture(
            Operation::Converse,
            ResponseBody::Buffered(body.to_string().into()),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("disagrees with its duplicate cacheReadInputTokenCount"),
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
