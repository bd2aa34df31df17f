//! An event-stream normalizer fed one decoded frame at a time, for readers that never hold a
//! whole stream (the replay of a recording far larger than memory). It runs the same reducers
//! as [`invoke_stream`](super::invoke_stream) and [`converse_stream`](super::converse_stream)
//! do over a capture, so both give the same [`Normalized`] for the same frames; the capture's
//! head (request, status, headers, transport error) is read last, as a reader meets it.

use super::Normalized;
use super::converse::ConverseStream;
use super::invoke::AnthropicStream;
use super::read::{NormalizeError, accept_frame, failed_exchange};
use crate::core::capture::{Capture, Operation};
use crate::core::wire::eventstream::DecodedFrame;

enum Reducer {
    Anthropic(AnthropicStream),
    Converse(ConverseStream),
}

/// One event-stream response being normalized frame by frame.
pub struct FrameStream {
    scratch: Normalized,
    reducer: Reducer,
    /// Frames after an exception frame are not read, as a client stops at it.
    stopped: bool,
}

impl FrameStream {
    /// A normalizer for the frames of `operation`; `None` when it does not answer with an
    /// event stream.
    pub fn new(operation: Operation) -> Option<FrameStream> {
        let reducer = match operation {
            Operation::InvokeModelWithResponseStream => {
                Reducer::Anthropic(AnthropicStream::default())
            }
            Operation::ConverseStream => Reducer::Converse(ConverseStream::default()),
            _ => return None,
        };
        Some(FrameStream {
            scratch: Normalized::empty(operation),
            reducer,
            stopped: false,
        })
    }

    /// Consume frame `index` of `raw_len` bytes, already decoded (CRCs checked); `chunk` is an
    /// InvokeModel chunk's `bytes` already base64-decoded, when the caller has it.
    pub fn push(
        &mut self,
        index: usize,
        raw_len: usize,
        frame: &DecodedFrame,
        chunk: Option<&[u8]>,
    ) -> Result<(), NormalizeError> {
        if self.stopped {
            return Ok(());
        }
        if !accept_frame(&mut self.scratch, index, raw_len, frame) {
            self.stopped = true;
            return Ok(());
        }
        let side = &mut self.scratch;
        let going = match &mut self.reducer {
            Reducer::Anthropic(r) => r.push_event_frame(index, frame, chunk, side)?,
            Reducer::Converse(r) => {
                r.push_event_frame(index, frame, side)?;
                true
            }
        };
        self.stopped = !going;
        Ok(())
    }

    /// The normalized side, given the capture's head (its response holds no frames): what the
    /// frames said, with the request's facts, the status and a transport error added, as
    /// [`invoke_stream`](super::invoke_stream) would have it.
    pub fn finish(self, head: &Capture) -> Normalized {
        let mut side = Normalized::new(head);
        if failed_exchange(head, &mut side).is_some() {
            return side;
        }
        let s = self.scratch;
        side.channels = s.channels;
        side.text = s.text;
        side.stop_reason = s.stop_reason;
        side.stream = s.stream;
        // A frame's failure is what ended the stream; a transport error only if none did.
        side.failure = s.failure.or(side.failure);
        match self.reducer {
            Reducer::Anthropic(r) => r.finish(&mut side),
            Reducer::Converse(r) => r.finish(&mut side),
        }
        side
    }
}
