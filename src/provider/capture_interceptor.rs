//! An SDK interceptor that records the raw exchange of every attempt.
//!
//! The SDK does not model the `X-Amzn-Bedrock-*-Token-Count` headers and hides event-stream
//! frames behind typed events, so the raw bytes are taken here: the signed request in
//! `read_before_transmit` (then redacted), status and headers in
//! `modify_before_deserialization`, the buffered body in `read_after_deserialization`, and
//! for event streams a pass-through body that splits the bytes into frames by their length
//! prefix while the SDK decodes the very same stream. See `shared/reference/rust-stack.md` §3.

use crate::core::capture::{RecordedRequest, RecordedResponse, ResponseBody};
use crate::core::redact::redact_headers;
use crate::core::wire::eventstream::FrameSplitter;
use aws_sdk_bedrockruntime::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What one call recorded (the last attempt wins; `attempts` counts them all).
#[derive(Debug, Default)]
pub struct Recording {
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's request.
    pub request: Option<RecordedRequest>,
    /// The last attempt's status and headers.
    pub status: Option<(u16, Vec<(String, String)>)>,
    /// Buffered body.
    pub body: Option<Bytes>,
    /// Event-stream frames, if the response was a stream.
    pub frames: Option<Vec<Bytes>>,
    splitter: FrameSplitter,
}

impl Recording {
    /// The recorded response, if any arrived.
    pub fn response(&self) -> Option<RecordedResponse> {
        let (status, headers) = self.status.clone()?;
        let body = match &self.frames {
            Some(frames) => {
                let mut frames = frames.clone();
                frames.extend(self.splitter.tail());
                ResponseBody::Frames(frames)
            }
            None => ResponseBody::Buffered(self.body.clone().unwrap_or_default()),
        };
        Some(RecordedResponse {
            status,
            headers,
            body,
        })
    }
}

/// The interceptor; clone it into a call with `customize().interceptor(..)`.
#[derive(Debug, Clone, Default)]
pub struct CaptureInterceptor {
    /// Shared with the body tee.
    pub recording: Arc<Mutex<Recording>>,
}

fn lock(r: &Mutex<Recording>) -> std::sync::MutexGuard<'_, Recording> {
    // A poisoned lock only means another thread panicked mid-record; the data is still usable.
    r.lock().unwrap_or_else(|e| e.into_inner())
}

impl Intercept for CaptureInterceptor {
    fn name(&self) -> &'static str {
        "tokaudit-capture"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
        let uri = req.uri();
        let path = uri
            .find("://")
            .and_then(|i| uri[i + 3..].find('/').map(|j| &uri[i + 3 + j..]))
            .unwrap_or(uri)
            .to_string();
        let headers = redact_headers(
            req.headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut rec = lock(&self.recording);
        rec.attempts += 1;
        rec.request = Some(RecordedRequest {
            method: req.method().to_string(),
            path,
            headers,
            body: req
                .body()
                .bytes()
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
        });
        rec.status = None;
        rec.body = None;
        rec.frames = None;
        rec.splitter = FrameSplitter::default();
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let resp = ctx.response_mut();
        let headers = redact_headers(
            resp.headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let status = resp.status().as_u16();
        let is_stream = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.starts_with("application/vnd.amazon.eventstream"));
        {
            let mut rec = lock(&self.recording);
            rec.status = Some((status, headers));
            if is_stream {
                rec.frames = Some(Vec::new());
            }
        }
        if is_stream {
            let inner = resp.take_body();
            *resp.body_mut() = SdkBody::from_body_1_x(Tee {
                inner,
                recording: self.recording.clone(),
            });
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(b) = ctx.response().body().bytes() {
            let mut rec = lock(&self.recording);
            if rec.frames.is_none() {
                rec.body = Some(Bytes::copy_from_slice(b));
            }
        }
        Ok(())
    }
}

/// A pass-through body that records every complete event-stream frame as it streams by.
struct Tee {
    inner: SdkBody,
    recording: Arc<Mutex<Recording>>,
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let mut rec = lock(&self.recording);
            let Recording {
                splitter, frames, ..
            } = &mut *rec;
            splitter.push(data, frames.get_or_insert_default());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}
