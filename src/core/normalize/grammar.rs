//! Stream grammars: the order each stream format promises, checked event by event in constant
//! memory. The first event out of order is kept (with its place) for the `stream-order`
//! invariant; a stream that says `message_stop` before `message_start` is a finding, not a pass.
//!
//! - Anthropic (InvokeModel chunks, `/v1/messages` SSE): `message_start` first; a content block
//!   is started before its deltas and stopped after them, one block open at a time, numbered
//!   in order; `message_stop` with no block open, and nothing after it. `message_delta` may
//!   come anywhere between the two (the docs say only that there may be several; long streams
//!   send cumulative ones as they go). `ping` may come anywhere; unknown events are ignored.
//! - Converse: `messageStart` first; no delta for a block after its `contentBlockStop` (text
//!   blocks have no `contentBlockStart`); `metadata` after `messageStop`; nothing after
//!   `metadata`.
//! - Chat completions SSE: nothing after `data: [DONE]`.
//! - Responses SSE: `response.created` first; `sequence_number`s strictly increasing; the
//!   terminal event (`response.completed` / `incomplete` / `failed`) last.
//!
//! Sources: `shared/reference/wire-formats.md` §2.5, §3.3, §5.3, §6.2.

/// Where an event sits, for messages (`frame[3]`, `event[3]`); only rendered when an event
/// is out of order, so the hot path formats nothing.
type Place<'a> = &'a dyn std::fmt::Display;

/// `frame[N]`, rendered on demand.
pub(super) struct FrameAt(pub usize);

impl std::fmt::Display for FrameAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frame[{}]", self.0)
    }
}

/// The Anthropic event order.
#[derive(Debug, Default)]
pub(super) struct AnthropicOrder {
    started: bool,
    stopped: Option<String>,
    open: Option<u64>,
    next_block: u64,
}

impl AnthropicOrder {
    /// Check one event; `index` is its content-block index, when it has one.
    pub fn event(&mut self, at: Place, kind: &str, index: Option<u64>) -> Result<(), String> {
        if kind == "ping" || kind == "error" {
            return Ok(());
        }
        if let Some(stop) = &self.stopped {
            return Err(format!("{at} {kind} after message_stop ({stop})"));
        }
        if kind == "message_start" {
            if self.started {
                return Err(format!("{at} a second message_start"));
            }
            self.started = true;
            return Ok(());
        }
        if !self.started && is_known(kind) {
            return Err(format!("{at} {kind} before message_start"));
        }
        match kind {
            "content_block_start" => self.block_start(at, index),
            "content_block_delta" | "content_block_stop" => self.in_block(at, kind, index),
            "message_stop" => {
                if let Some(open) = self.open {
                    return Err(format!("{at} {kind} while content block {open} is open"));
                }
                self.stopped = Some(at.to_string());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn block_start(&mut self, at: Place, index: Option<u64>) -> Result<(), String> {
        let i = index.unwrap_or(self.next_block);
        if let Some(open) = self.open {
            return Err(format!(
                "{at} content_block_start for block {i} while block {open} is open"
            ));
        }
        if i != self.next_block {
            return Err(format!(
                "{at} content_block_start for block {i}, expected block {}",
                self.next_block
            ));
        }
        self.open = Some(i);
        self.next_block = i.saturating_add(1);
        Ok(())
    }

    fn in_block(&mut self, at: Place, kind: &str, index: Option<u64>) -> Result<(), String> {
        let i = index.unwrap_or(0);
        if self.open != Some(i) {
            return Err(format!(
                "{at} {kind} for content block {i}, which is not open"
            ));
        }
        if kind == "content_block_stop" {
            self.open = None;
        }
        Ok(())
    }
}

fn is_known(kind: &str) -> bool {
    matches!(
        kind,
        "content_block_start"
            | "content_block_delta"
            | "content_block_stop"
            | "message_delta"
            | "message_stop"
    )
}

/// The ConverseStream event order.
#[derive(Debug, Default)]
pub(super) struct ConverseOrder {
    started: bool,
    stopped: bool,
    metadata: Option<String>,
    last_closed: Option<u64>,
}

impl ConverseOrder {
    /// Check one event; `index` is its `contentBlockIndex`, when it has one.
    pub fn event(&mut self, at: Place, kind: &str, index: Option<u64>) -> Result<(), String> {
        if let Some(meta) = &self.metadata {
            return Err(format!("{at} {kind} after metadata ({meta})"));
        }
        match kind {
            "messageStart" if self.started => Err(format!("{at} a second messageStart")),
            "messageStart" => {
                self.started = true;
                Ok(())
            }
            _ if !self.started => Err(format!("{at} {kind} before messageStart")),
            "contentBlockStart" | "contentBlockDelta" | "contentBlockStop" => {
                self.block_event(at, kind, index)
            }
            "messageStop" => {
                self.stopped = true;
                Ok(())
            }
            "metadata" if !self.stopped => Err(format!("{at} metadata before messageStop")),
            "metadata" => {
                self.metadata = Some(at.to_string());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn block_event(&mut self, at: Place, kind: &str, index: Option<u64>) -> Result<(), String> {
        if self.stopped {
            return Err(format!("{at} {kind} after messageStop"));
        }
        let i = index.unwrap_or(0);
        if self.last_closed.is_some_and(|c| i <= c) {
            return Err(format!(
                "{at} {kind} for content block {i} after its contentBlockStop"
            ));
        }
        if kind == "contentBlockStop" {
            self.last_closed = Some(i);
        }
        Ok(())
    }
}

/// The chat-completions SSE order: `[DONE]` is the last event.
#[derive(Debug, Default)]
pub(super) struct ChatOrder {
    done: Option<String>,
}

impl ChatOrder {
    /// Check one event (`done` for `data: [DONE]`).
    pub fn event(&mut self, at: Place, done: bool) -> Result<(), String> {
        if let Some(d) = &self.done {
            return Err(format!("{at} an event after data: [DONE] ({d})"));
        }
        if done {
            self.done = Some(at.to_string());
        }
        Ok(())
    }
}

/// The Responses API stream order.
#[derive(Debug, Default)]
pub(super) struct ResponsesOrder {
    started: bool,
    last_seq: Option<u64>,
    terminal: Option<String>,
}

impl ResponsesOrder {
    /// Check one event with its `sequence_number`, when it has one.
    pub fn event(&mut self, at: Place, kind: &str, seq: Option<u64>) -> Result<(), String> {
        if let Some(t) = &self.terminal {
            return Err(format!("{at} {kind} after the terminal event ({t})"));
        }
        if let Some(s) = seq {
            if let Some(last) = self.last_seq.filter(|l| s <= *l) {
                return Err(format!(
                    "{at} {kind} has sequence_number {s}, not after {last}"
                ));
            }
            self.last_seq = Some(s);
        }
        if kind == "error" {
            return Ok(());
        }
        if kind == "data: [DONE]" {
            return Err(format!(
                "{at} data: [DONE] before the terminal event: the stream was cut (and [DONE] is not part of the Responses protocol)"
            ));
        }
        if !self.started {
            if kind != "response.created" {
                return Err(format!("{at} {kind} before response.created"));
            }
            self.started = true;
        }
        if matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.failed"
        ) {
            self.terminal = Some(at.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anthropic(events: &[(&str, Option<u64>)]) -> Result<(), String> {
        let mut o = AnthropicOrder::default();
        for (i, (kind, index)) in events.iter().enumerate() {
            o.event(&format!("frame[{i}]"), kind, *index)?;
        }
        Ok(())
    }

    #[test]
    fn the_anthropic_sequence_holds_and_its_breaks_are_named() {
        let cumulative_as_it_goes = [
            ("message_start", None),
            ("ping", None),
            ("content_block_start", Some(0)),
            ("content_block_delta", Some(0)),
            ("message_delta", None),
            ("content_block_stop", Some(0)),
        ];
        assert_eq!(anthropic(&cumulative_as_it_goes), Ok(()));
        let open = [
            ("message_start", None),
            ("content_block_start", Some(0)),
            ("message_stop", None),
        ];
        assert!(
            anthropic(&open)
                .unwrap_err()
                .contains("while content block 0 is open")
        );
        let good = [
            ("message_start", None),
            ("content_block_start", Some(0)),
            ("content_block_delta", Some(0)),
            ("content_block_stop", Some(0)),
            ("message_delta", None),
            ("message_stop", None),
        ];
        assert_eq!(anthropic(&good), Ok(()));
        let reversed = [("message_stop", None), ("message_start", None)];
        assert_eq!(
            anthropic(&reversed),
            Err("frame[0] message_stop before message_start".into())
        );
        let after = [
            ("message_start", None),
            ("message_stop", None),
            ("message_delta", None),
        ];
        assert_eq!(
            anthropic(&after),
            Err("frame[2] message_delta after message_stop (frame[1])".into())
        );
        let unopened = [("message_start", None), ("content_block_delta", Some(0))];
        assert!(
            anthropic(&unopened)
                .unwrap_err()
                .contains("which is not open")
        );
        let skipped = [("message_start", None), ("content_block_start", Some(1))];
        assert!(
            anthropic(&skipped)
                .unwrap_err()
                .contains("expected block 0")
        );
    }

    #[test]
    fn converse_metadata_comes_after_message_stop_and_ends_the_stream() {
        let mut o = ConverseOrder::default();
        for k in [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata",
        ] {
            o.event(&"f", k, Some(0)).unwrap();
        }
        assert!(
            o.event(&"f9", "contentBlockDelta", Some(1))
                .unwrap_err()
                .contains("after metadata")
        );
        let mut o = ConverseOrder::default();
        o.event(&"f0", "messageStart", None).unwrap();
        assert!(
            o.event(&"f1", "metadata", None)
                .unwrap_err()
                .contains("before messageStop")
        );
        let mut o = ConverseOrder::default();
        o.event(&"f0", "messageStart", None).unwrap();
        o.event(&"f1", "contentBlockStop", Some(0)).unwrap();
        assert!(
            o.event(&"f2", "contentBlockDelta", Some(0))
                .unwrap_err()
                .contains("after its contentBlockStop")
        );
    }

    #[test]
    fn responses_sequence_numbers_increase_and_the_terminal_is_last() {
        let mut o = ResponsesOrder::default();
        o.event(&"e0", "response.created", Some(0)).unwrap();
        o.event(&"e1", "response.output_text.delta", Some(1))
            .unwrap();
        assert!(
            o.event(&"e2", "response.output_text.delta", Some(1))
                .unwrap_err()
                .contains("not after 1")
        );
        let mut o = ResponsesOrder::default();
        o.event(&"e0", "response.created", Some(0)).unwrap();
        o.event(&"e1", "response.completed", Some(1)).unwrap();
        assert!(
            o.event(&"e2", "response.output_text.delta", Some(2))
                .is_err()
        );
        let mut o = ResponsesOrder::default();
        assert!(o.event(&"e0", "response.completed", Some(0)).is_err());
    }

    #[test]
    fn nothing_follows_done() {
        let mut o = ChatOrder::default();
        o.event(&"event[0]", false).unwrap();
        o.event(&"event[1]", true).unwrap();
        assert!(o.event(&"event[2]", false).is_err());
    }
}
