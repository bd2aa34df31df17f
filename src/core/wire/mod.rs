//! Wire codecs: how the bytes of a streamed response are cut into messages and read.
//!
//! Two stream framings reach tokaudit: the AWS event stream (Bedrock's streaming operations,
//! binary frames with CRCs, [`eventstream`]) and server-sent events (OpenAI-compatible and
//! Anthropic endpoints, text, [`sse`]). Both keep a cut tail visible instead of dropping it,
//! because a stream that stops mid-message is evidence.

pub mod eventstream;
pub mod sse;

/// The `anthropic_version` every Bedrock InvokeModel body carries (the only one Bedrock takes).
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
