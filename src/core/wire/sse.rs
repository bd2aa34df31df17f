//! Server-sent events (`text/event-stream`), as OpenAI-compatible and Anthropic endpoints
//! stream them: events separated by a blank line, `event:` and `data:` fields, comments and
//! unknown fields ignored (the WHATWG SSE rules). See `shared/reference/wire-formats.md`
//! §5.3 and §6.2.

use bytes::Bytes;

/// Split an SSE byte stream into events at blank lines (`\n\n` or `\r\n\r\n`), keeping each
/// event's exact bytes; an unterminated tail becomes the last element.
pub fn split_sse(bytes: &[u8]) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = if bytes[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else if bytes[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else {
            None
        };
        match end {
            Some(e) => {
                events.push(Bytes::copy_from_slice(&bytes[start..e]));
                start = e;
                i = e;
            }
            None => i += 1,
        }
    }
    if start < bytes.len() && !bytes[start..].iter().all(u8::is_ascii_whitespace) {
        events.push(Bytes::copy_from_slice(&bytes[start..]));
    }
    events
}

/// One parsed SSE event: its `event:` name (if any), its joined `data:` lines, and whether it
/// was terminated by a blank line.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// Whether the event ended with a blank line (a cut stream leaves it `false`).
    pub complete: bool,
}

/// Parse one raw SSE event (comments and unknown fields ignored, per the SSE spec).
pub fn parse_sse(raw: &[u8]) -> Result<SseEvent, std::str::Utf8Error> {
    let text = std::str::from_utf8(raw)?;
    let complete = text.ends_with("\n\n") || text.ends_with("\r\n\r\n");
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    Ok(SseEvent {
        event,
        data: data.join("\n"),
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_splits_at_blank_lines_and_keeps_a_cut_tail() {
        let body = b"event: a\ndata: {\"x\":1}\n\ndata: [DONE]\r\n\r\ndata: {\"cut";
        let events = split_sse(body);
        assert_eq!(events.len(), 3);
        let a = parse_sse(&events[0]).unwrap();
        assert_eq!(
            (a.event.as_deref(), a.data.as_str(), a.complete),
            (Some("a"), "{\"x\":1}", true)
        );
        assert_eq!(parse_sse(&events[1]).unwrap().data, "[DONE]");
        assert!(!parse_sse(&events[2]).unwrap().complete);
        assert_eq!(split_sse(b"\n\n").len(), 1);
        assert!(split_sse(b"").is_empty());
    }
}
