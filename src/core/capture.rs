//! The raw exchange of one path, exactly as it crossed the wire.
//!
//! A [`Capture`] is where the three jobs meet: the live provider fills one from the SDK's
//! interceptor, the fixture loader rebuilds one from a file, and the emulator's responses are
//! captured the same way. Everything after this point is pure and never touches the network.
//!
//! Event-stream frames and SSE events are kept as raw bytes, in order: the chunk layout is
//! the evidence. Their codecs are in [`crate::core::wire`]; secrets are removed before a
//! request is stored here ([`crate::core::redact`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four Bedrock Runtime operations that carry usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// `POST /model/{id}/invoke`: one JSON body, usage in the body and in headers.
    InvokeModel,
    /// `POST /model/{id}/invoke-with-response-stream`: Anthropic events inside event-stream chunks.
    InvokeModelWithResponseStream,
    /// `POST /model/{id}/converse`: one JSON body in the Converse shape.
    Converse,
    /// `POST /model/{id}/converse-stream`: Converse events, usage on the trailing `metadata`.
    ConverseStream,
    /// `POST /v1/chat/completions` (OpenAI-compatible gateways), one JSON body.
    ChatCompletions,
    /// The same with `"stream": true` and `stream_options.include_usage`: SSE chunks.
    ChatCompletionsStream,
    /// `POST /v1/messages` (Anthropic Messages API), one JSON body.
    Messages,
    /// The same with `"stream": true`: SSE events.
    MessagesStream,
    /// `POST /v1/responses` (the OpenAI Responses API), one JSON body.
    Responses,
    /// The same with `"stream": true`: SSE events, usage only on the terminal
    /// `response.completed` (or `response.incomplete` / `response.failed`).
    ResponsesStream,
}

impl Operation {
    /// Whether the response is an event stream.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Operation::InvokeModelWithResponseStream
                | Operation::ConverseStream
                | Operation::ChatCompletionsStream
                | Operation::MessagesStream
                | Operation::ResponsesStream
        )
    }

    /// How the response body is framed.
    pub fn framing(self) -> Framing {
        match self {
            Operation::InvokeModelWithResponseStream | Operation::ConverseStream => {
                Framing::EventStream
            }
            Operation::ChatCompletionsStream
            | Operation::MessagesStream
            | Operation::ResponsesStream => Framing::Sse,
            _ => Framing::Body,
        }
    }

    /// The API family this operation belongs to.
    pub fn api(self) -> Api {
        match self {
            Operation::InvokeModel | Operation::InvokeModelWithResponseStream => Api::Invoke,
            Operation::Converse | Operation::ConverseStream => Api::Converse,
            Operation::ChatCompletions | Operation::ChatCompletionsStream => Api::Chat,
            Operation::Messages | Operation::MessagesStream => Api::Messages,
            Operation::Responses | Operation::ResponsesStream => Api::Responses,
        }
    }

    /// The last segment of the REST path.
    pub fn path_suffix(self) -> &'static str {
        match self {
            Operation::InvokeModel => "invoke",
            Operation::InvokeModelWithResponseStream => "invoke-with-response-stream",
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse-stream",
            Operation::ChatCompletions | Operation::ChatCompletionsStream => "chat/completions",
            Operation::Messages | Operation::MessagesStream => "messages",
            Operation::Responses | Operation::ResponsesStream => "responses",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How an operation's response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One buffered body.
    Body,
    /// AWS event-stream frames.
    EventStream,
    /// Server-sent events.
    Sse,
}

impl Framing {
    /// How reports describe it.
    pub fn describe(self) -> &'static str {
        match self {
            Framing::Body => "one body",
            Framing::EventStream => "event-stream frames",
            Framing::Sse => "server-sent events",
        }
    }
}

/// An API family: a non-streaming operation and its streaming twin, audited as one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// InvokeModel and InvokeModelWithResponseStream (Anthropic Messages bodies).
    Invoke,
    /// Converse and ConverseStream.
    Converse,
    /// OpenAI-compatible chat completions, buffered and streamed.
    Chat,
    /// Anthropic Messages, buffered and streamed.
    Messages,
    /// The OpenAI Responses API, buffered and streamed.
    Responses,
}

impl Api {
    /// The (non-streaming, streaming) operations of this family.
    pub fn operations(self) -> (Operation, Operation) {
        match self {
            Api::Invoke => (
                Operation::InvokeModel,
                Operation::InvokeModelWithResponseStream,
            ),
            Api::Converse => (Operation::Converse, Operation::ConverseStream),
            Api::Chat => (Operation::ChatCompletions, Operation::ChatCompletionsStream),
            Api::Messages => (Operation::Messages, Operation::MessagesStream),
            Api::Responses => (Operation::Responses, Operation::ResponsesStream),
        }
    }
}

impl Api {
    /// The target (kind of endpoint) that speaks this family, as reports and fixtures name it.
    pub fn target(self) -> &'static str {
        match self {
            Api::Invoke | Api::Converse => "bedrock",
            Api::Chat | Api::Responses => "openai",
            Api::Messages => "anthropic",
        }
    }

    /// The name used in reports, fixtures and case names.
    pub fn name(self) -> &'static str {
        match self {
            Api::Invoke => "invoke",
            Api::Converse => "converse",
            Api::Chat => "chat",
            Api::Messages => "messages",
            Api::Responses => "responses",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The [`TransportError`] kind of a stream tokaudit closed on purpose (`--abort-after`), as a
/// client timeout or a user pressing stop does.
pub const ABORTED: &str = "aborted";

/// The raw exchange of one path (one logical call, possibly several attempts).
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Which operation was called.
    pub operation: Operation,
    /// How many HTTP attempts the SDK made (retries included); each may have been billed.
    pub attempts: u32,
    /// The request of the last attempt, already redacted.
    pub request: RecordedRequest,
    /// The response of the last attempt, if one arrived.
    pub response: Option<RecordedResponse>,
    /// A failure seen outside the response bytes (transport, timeout, SDK error).
    pub transport_error: Option<TransportError>,
}

impl Capture {
    /// One attempt that was answered with `status`, `headers` and `body`, for a request with an
    /// empty body (tests, benchmarks and fuzzers build captures this way).
    pub fn answered(
        operation: Operation,
        status: u16,
        headers: Vec<(String, String)>,
        body: ResponseBody,
    ) -> Self {
        Capture {
            operation,
            attempts: 1,
            request: RecordedRequest::default(),
            response: Some(RecordedResponse {
                status,
                headers,
                body,
            }),
            transport_error: None,
        }
    }

    /// The same capture, with this request body.
    pub fn with_request_body(mut self, body: impl Into<Bytes>) -> Self {
        self.request.body = body.into();
        self
    }
}

/// A redacted HTTP request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query, as sent (model ids stay percent-encoded).
    pub path: String,
    /// Headers in wire order, with secrets replaced by [`REDACTED`].
    pub headers: Vec<(String, String)>,
    /// The request body (JSON for every Bedrock operation).
    pub body: Bytes,
}

/// An HTTP response, with the body either buffered or split into event-stream frames.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in wire order (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ResponseBody,
}

impl RecordedResponse {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response body.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// A buffered body (JSON, or an error page).
    Buffered(Bytes),
    /// Event-stream frames in arrival order. Each element is meant to be exactly one message;
    /// a cut stream leaves a short last element, which decoding reports as truncated.
    Frames(Vec<Bytes>),
    /// Server-sent events in arrival order, each the exact bytes of one event including its
    /// terminating blank line; a cut stream leaves an unterminated last element.
    Sse(Vec<Bytes>),
}

/// A failure outside the response bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransportError {
    /// A short class: `timeout`, `dispatch`, `throttling`, `service`, `stream`, …
    pub kind: String,
    /// The error as the SDK rendered it (never contains credentials).
    pub message: String,
}
