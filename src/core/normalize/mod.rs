//! Normalization: pure functions from a [`Capture`] to tagged usage observations.
//!
//! One normalizer per wire format (`invoke`, `invoke_stream`, `converse`, `converse_stream`).
//! Every number the wire carried is kept with its provenance and kind, grouped by the channel
//! it came from (body, headers, `message_start`, each `message_delta`, `invocationMetrics`,
//! Converse `metadata`). The normalized [`UsageSet`] of a side is then chosen by this
//! precedence, and documented in the README:
//!
//! | operation | input / cache | output | total |
//! |---|---|---|---|
//! | InvokeModel | body `usage`, else headers | body, else headers | derived |
//! | InvokeModelWithResponseStream | last `message_delta` carrying it, else `message_start`, else `invocationMetrics` | last `message_delta`, else `invocationMetrics`, else the `message_start` placeholder | derived |
//! | Converse | body `usage` | body `usage` | `totalTokens` |
//! | ConverseStream | `metadata.usage` | `metadata.usage` | `totalTokens` |
//! | Messages (Anthropic) | body `usage` | body `usage` | derived |
//! | Messages stream | as InvokeModelWithResponseStream, without `invocationMetrics` | | derived |
//! | Chat completions | body `usage` | body `usage` | `total_tokens` |
//! | Chat completions stream | the last chunk with a non-null `usage` | | `total_tokens` |
//!
//! Cache tokens stay separate. Bedrock and Anthropic count `input` *exclusive* of cache;
//! OpenAI's `prompt_tokens` *includes* `cached_tokens`. The OpenAI normalizer converts once,
//! in [`openai`], keeping the inclusive figure as `prompt_inclusive`; after that every
//! format is exclusive and [`UsageSet::input_total`] is the one place that adds them up.
//! Shapes: `shared/reference/wire-formats.md` §1–3 and §7.

mod anthropic;
mod converse;
mod frames;
mod grammar;
mod invoke;
mod openai;
mod read;
pub mod recorded;
mod request;
mod responses;
mod side;
mod usage;

pub use anthropic::{messages, messages_stream};
pub use converse::{converse, converse_stream};
pub use frames::FrameStream;
pub use invoke::{chunk_bytes, invoke, invoke_stream};
pub use openai::{COST_HEADER, chat, chat_stream};
pub use read::NormalizeError;
pub use recorded::{Convention, Recorded, RecordedPair, RecordedSide};
pub use request::{DEFAULT_CACHE_TTL, RequestFacts};
pub use responses::{responses, responses_stream};
pub use side::{Failure, Normalized, StreamFacts, TextDigest};
pub use usage::{Channels, Duplicate, Field, Kind, Obs, ReportedCost, UsageSet};

use crate::core::capture::{Capture, Operation};

/// Normalize one capture with the normalizer for its operation.
pub fn normalize(capture: &Capture) -> Result<Normalized, NormalizeError> {
    match capture.operation {
        Operation::InvokeModel => invoke(capture),
        Operation::InvokeModelWithResponseStream => invoke_stream(capture),
        Operation::Converse => converse(capture),
        Operation::ConverseStream => converse_stream(capture),
        Operation::ChatCompletions => chat(capture),
        Operation::ChatCompletionsStream => chat_stream(capture),
        Operation::Messages => messages(capture),
        Operation::MessagesStream => messages_stream(capture),
        Operation::Responses => responses(capture),
        Operation::ResponsesStream => responses_stream(capture),
    }
}
