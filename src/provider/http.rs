//! OpenAI-compatible (`/v1/chat/completions`) and Anthropic (`/v1/messages`) endpoints over
//! HTTP: gateways such as the LiteLLM proxy, OpenRouter, or the APIs themselves.
//!
//! Each call is recorded raw, like the Bedrock interceptor does: the redacted request, the
//! status and headers, and the buffered body or every SSE event in order. Throttling (429)
//! and 5xx answers are retried with exponential backoff up to `--max-attempts`, and every
//! attempt is counted. The API key is read from the environment variable named by
//! `--api-key-env`; it is sent, never recorded or printed.

use super::Prompt;
use crate::core::capture::{
    ABORTED, Api, Capture, Operation, RecordedRequest, RecordedResponse, ResponseBody,
    TransportError,
};
use crate::core::redact::redact_headers;
use crate::core::wire::sse::split_sse;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

/// A client for one OpenAI-compatible or Anthropic endpoint.
#[derive(Clone)]
pub struct HttpTarget {
    client: reqwest::Client,
    api: Api,
    url: String,
    api_key: Option<String>,
    timeout: Duration,
    max_attempts: u32,
    abort_after: Option<u32>,
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("api", &self.api)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The endpoint URL for a base URL: `…/v1` gets the API path appended, anything else
/// `/v1/…` as well.
pub fn endpoint(base_url: &str, api: Api) -> String {
    let base = base_url.trim_end_matches('/');
    let path = match api {
        Api::Messages => "messages",
        Api::Responses => "responses",
        _ => "chat/completions",
    };
    if base.ends_with("/v1") {
        format!("{base}/{path}")
    } else {
        format!("{base}/v1/{path}")
    }
}

impl HttpTarget {
    /// A client for `api` at `base_url`.
    pub fn new(
        api: Api,
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
        max_attempts: u32,
    ) -> Result<Self, reqwest::Error> {
        Ok(HttpTarget {
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true)
                .build()?,
            api,
            url: endpoint(base_url, api),
            api_key,
            timeout,
            max_attempts: max_attempts.max(1),
            abort_after: None,
        })
    }

    /// Close each streaming response after `events` server-sent events (`--abort-after`).
    pub fn with_abort_after(mut self, events: Option<u32>) -> Self {
        self.abort_after = events;
        self
    }

    /// The request body for one path.
    pub fn body(&self, prompt: &Prompt, streaming: bool) -> Value {
        match self.api {
            Api::Messages => messages_body(prompt, streaming),
            Api::Responses => responses_body(prompt, streaming),
            _ => chat_body(prompt, streaming),
        }
    }

    /// Call one path and return its raw capture. Never fails: failures are in the capture.
    pub async fn call(&self, operation: Operation, prompt: &Prompt) -> Capture {
        let streaming = operation.is_streaming();
        let body = Bytes::from(serde_json::to_vec(&self.body(prompt, streaming)).expect("json"));
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            (
                "accept".into(),
                if streaming {
                    "text/event-stream"
                } else {
                    "application/json"
                }
                .into(),
            ),
        ];
        if self.api == Api::Messages {
            headers.push(("anthropic-version".into(), "2023-06-01".into()));
        }
        if let Some(tp) = &prompt.traceparent {
            headers.push(("traceparent".into(), tp.clone()));
        }
        let path = reqwest::Url::parse(&self.url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| self.url.clone());
        let request = RecordedRequest {
            method: "POST".into(),
            path,
            headers: redact_headers(headers.clone().into_iter().chain(self.auth_header())),
            body: body.clone(),
        };
        let mut capture = Capture {
            operation,
            attempts: 0,
            request,
            response: None,
            transport_error: None,
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        for attempt in 1..=self.max_attempts {
            capture.attempts = attempt;
            let send = self.send(&headers, body.clone(), streaming);
            match tokio::time::timeout_at(deadline, send).await {
                Err(_) => {
                    capture.transport_error = Some(TransportError {
                        kind: "timeout".into(),
                        message: format!(
                            "no complete response within {} s; raise --timeout",
                            self.timeout.as_secs_f32()
                        ),
                    });
                    break;
                }
                Ok((response, error)) => {
                    let retry = response
                        .as_ref()
                        .is_some_and(|r| r.status == 429 || r.status >= 500)
                        || error.as_ref().is_some_and(|e| e.kind == "connect");
                    capture.response = response;
                    capture.transport_error = error;
                    if !retry || attempt == self.max_attempts {
                        break;
                    }
                    let backoff = Duration::from_millis(200 * (1 << (attempt - 1)));
                    tokio::time::sleep(backoff).await;
                }
            }
        }
        crate::core::redact::capture(&mut capture);
        capture
    }

    fn auth_header(&self) -> Option<(String, String)> {
        let key = self.api_key.as_ref()?;
        Some(match self.api {
            Api::Messages => ("x-api-key".into(), key.clone()),
            _ => ("authorization".into(), format!("Bearer {key}")),
        })
    }

    async fn send(
        &self,
        headers: &[(String, String)],
        body: Bytes,
        streaming: bool,
    ) -> (Option<RecordedResponse>, Option<TransportError>) {
        let mut req = self.client.post(&self.url).body(body);
        for (k, v) in headers.iter().cloned().chain(self.auth_header()) {
            req = req.header(k, v);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return (None, Some(transport(&e))),
        };
        let status = resp.status().as_u16();
        let resp_headers = redact_headers(resp.headers().iter().map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        }));
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut bytes = Vec::new();
        let mut stream = resp.bytes_stream();
        let mut error = None;
        let abort_after = self.abort_after.filter(|_| streaming && is_sse);
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => bytes.extend_from_slice(&c),
                Err(e) => {
                    error = Some(transport(&e));
                    break;
                }
            }
            if let Some(n) = abort_after
                && let Some(end) = nth_event_end(&bytes, n)
            {
                // Dropping the stream closes the connection, mid-response.
                bytes.truncate(end);
                error = Some(TransportError {
                    kind: ABORTED.into(),
                    message: format!("tokaudit closed the stream after {n} events (--abort-after)"),
                });
                break;
            }
        }
        let body = if streaming && is_sse && (200..300).contains(&status) {
            ResponseBody::Sse(split_sse(&bytes))
        } else {
            ResponseBody::Buffered(Bytes::from(bytes))
        };
        (
            Some(RecordedResponse {
                status,
                headers: resp_headers,
                body,
            }),
            error,
        )
    }
}

/// The end of the `n`th server-sent event (its blank line included), once it has arrived.
fn nth_event_end(bytes: &[u8], n: u32) -> Option<usize> {
    memchr::memmem::find_iter(bytes, b"\n\n")
        .nth(usize::try_from(n).ok()?.checked_sub(1)?)
        .map(|i| i + 2)
}

/// System prompt parts with their cache breakpoint; `kind` is the part type (`text`, or
/// `input_text` for the Responses API). LiteLLM forwards `cache_control` on content parts to
/// Anthropic models.
fn system_parts(prompt: &Prompt, kind: &str) -> Vec<Value> {
    prompt
        .system_blocks()
        .into_iter()
        .map(|(text, cache)| {
            let mut part = json!({"type": kind, "text": text});
            if cache {
                part["cache_control"] = prompt.cache_control();
            }
            part
        })
        .collect()
}

/// Anthropic `/v1/messages`: `system` blocks, `thinking` as Anthropic takes it.
fn messages_body(prompt: &Prompt, streaming: bool) -> Value {
    let mut b = json!({
        "model": prompt.model,
        "max_tokens": prompt.max_tokens,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt.prompt}]}],
    });
    if let Some(t) = prompt.temperature() {
        b["temperature"] = t.into();
    }
    let parts = system_parts(prompt, "text");
    if !parts.is_empty() {
        b["system"] = Value::Array(parts);
    }
    prompt.add_thinking(&mut b);
    if streaming {
        b["stream"] = true.into();
    }
    b
}

/// OpenAI `/v1/chat/completions`: a system message with parts, `reasoning_effort` for a
/// thinking budget, and `include_usage` on the stream.
fn chat_body(prompt: &Prompt, streaming: bool) -> Value {
    let mut messages = Vec::new();
    let parts = system_parts(prompt, "text");
    if !parts.is_empty() {
        messages.push(json!({"role": "system", "content": parts}));
    }
    messages.push(json!({"role": "user", "content": prompt.prompt}));
    let mut b = json!({
        "model": prompt.model,
        "messages": messages,
        "max_tokens": prompt.max_tokens,
    });
    if let Some(t) = prompt.temperature() {
        b["temperature"] = t.into();
    }
    if let Some(budget) = prompt.thinking {
        b["reasoning_effort"] = crate::plan::reasoning_effort(budget).into();
    }
    if streaming {
        b["stream"] = true.into();
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

/// OpenAI `/v1/responses`: `input` items, `max_output_tokens`, `reasoning.effort`; usage
/// always arrives on the terminal event, so there is no `include_usage`.
fn responses_body(prompt: &Prompt, streaming: bool) -> Value {
    let mut input = Vec::new();
    let parts = system_parts(prompt, "input_text");
    if !parts.is_empty() {
        input.push(json!({"role": "system", "content": parts}));
    }
    input.push(json!({"role": "user", "content": prompt.prompt}));
    let mut b = json!({
        "model": prompt.model,
        "input": input,
        "max_output_tokens": prompt.max_tokens,
    });
    if let Some(t) = prompt.temperature() {
        b["temperature"] = t.into();
    }
    if let Some(budget) = prompt.thinking {
        b["reasoning"] = json!({"effort": crate::plan::reasoning_effort(budget)});
    }
    if streaming {
        b["stream"] = true.into();
    }
    b
}

fn transport(e: &reqwest::Error) -> TransportError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    TransportError {
        kind: kind.into(),
        message: parts.join(": "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_bases_with_and_without_v1() {
        assert_eq!(
            endpoint("http://h:4000", Api::Chat),
            "http://h:4000/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://h:4000/v1/", Api::Chat),
            "http://h:4000/v1/chat/completions"
        );
        assert_eq!(
            endpoint("https://api.anthropic.com", Api::Messages),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            endpoint("http://h:4000", Api::Responses),
            "http://h:4000/v1/responses"
        );
    }

    #[test]
    fn each_api_takes_the_ttl_and_the_thinking_budget_its_own_way() {
        let prompt = Prompt {
            model: "m".into(),
            prompt: "Write Hi".into(),
            system: Some("S".into()),
            max_tokens: 2048,
            temperature: 0.0,
            cache: Some(crate::plan::CachePlan {
                ttl: Some(crate::plan::CacheTtl::OneHour),
                warmup: true,
            }),
            thinking: Some(1024),
            marker: None,
            traceparent: None,
        };
        let m = messages_body(&prompt, true);
        assert_eq!(
            m["system"][0]["cache_control"],
            json!({"type": "ephemeral", "ttl": "1h"})
        );
        assert_eq!(
            m["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        let c = chat_body(&prompt, false);
        assert_eq!(c["messages"][0]["content"][0]["cache_control"]["ttl"], "1h");
        assert_eq!(c["reasoning_effort"], "low");
        let r = responses_body(&prompt, true);
        assert_eq!(r["input"][0]["content"][0]["type"], "input_text");
        assert_eq!(r["reasoning"]["effort"], "low");
        assert_eq!(
            (r["max_output_tokens"].as_u64(), r["stream"].as_bool()),
            (Some(2048), Some(true))
        );
        assert!(m.get("temperature").is_none() && c.get("temperature").is_none());
    }

    #[test]
    fn keys_are_sent_but_never_recorded_or_debug_printed() {
        let t = HttpTarget::new(
            Api::Chat,
            "http://127.0.0.1:9",
            Some("sk-secret-value".into()),
            Duration::from_secs(1),
            1,
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("sk-secret"));
        let recorded = redact_headers(t.auth_header());
        assert_eq!(recorded[0].1, "<redacted> (Bearer)");
    }
}
