//! Billing a stream its client abandoned, as Bedrock does: the output generated until the
//! disconnect, not the whole answer. A streamed body is metered frame by frame; when the
//! server drops it before its end (the client went away), the request's ledger entry is
//! rewritten to the tokens of the frames produced so far and marked as aborted.
//!
//! Tokens are counted as the output frames produced: every delta of the synthetic model is
//! one token, and the frames before the first delta (`message_start`,
//! `content_block_start`, …) carry none. Block changes between thinking and text add a frame
//! without a token, so the count may be one or two high on thinking streams.

use super::Emulator;
use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt;
use std::sync::Arc;

/// Frames a stream of `operation` sends before its first token, or `None` when the
/// operation does not stream.
pub(super) fn frames_before_output(operation: &str) -> Option<u64> {
    match operation {
        "InvokeModelWithResponseStream" | "MessagesStream" => Some(2),
        "ConverseStream" | "ChatCompletionsStream" | "ResponsesStream" => Some(1),
        _ => None,
    }
}

/// Calls `on_end` when dropped: with the frames produced if the body was dropped before its
/// end, with `None` if it was sent whole.
struct Meter {
    produced: u64,
    finished: bool,
    on_end: Option<Box<dyn FnOnce(Option<u64>) + Send>>,
}

impl Meter {
    /// The body reached its end: nothing to rebill.
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            f((!self.finished).then_some(self.produced));
        }
    }
}

/// `resp` with its body metered: if the body is dropped before its end, the ledger entry of
/// `request_id` is billed the output of the frames produced (after `head` frames without
/// tokens), at most `output`. Either way the call is then logged as billed.
pub(super) fn metered(
    resp: Response,
    em: Arc<Emulator>,
    (request_id, input_body): (String, bytes::Bytes),
    (head, output): (u64, u64),
) -> Response {
    let (parts, body) = resp.into_parts();
    let meter = Meter {
        produced: 0,
        finished: false,
        on_end: Some(Box::new(move |aborted| {
            if let Some(frames) = aborted {
                let generated = frames.saturating_sub(head).min(output);
                em.bill_abort(&request_id, frames, generated);
            }
            em.log_invocation(&request_id, &input_body);
        })),
    };
    let stream = futures_util::stream::unfold(
        (body.into_data_stream(), meter),
        |(mut inner, mut meter)| async move {
            match inner.next().await {
                Some(item) => {
                    meter.produced += 1;
                    Some((item, (inner, meter)))
                }
                None => {
                    meter.finish();
                    None
                }
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}
