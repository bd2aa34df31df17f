//! The network boundary. Everything in here does I/O; everything it returns is a raw
//! [`Capture`](crate::core::capture::Capture) for the pure core.

pub mod bedrock;
mod capture_interceptor;
pub mod http;
pub mod otlp;
#[cfg(feature = "reconcile")]
pub mod s3;

use crate::core::capture::{Capture, Operation};
use crate::core::ledger::LedgerDoc;
use crate::plan::CachePlan;

/// Any target tokaudit can audit.
#[derive(Debug, Clone)]
pub enum Target {
    /// Bedrock Runtime through the AWS SDK.
    Bedrock(bedrock::BedrockClient),
    /// An OpenAI-compatible or Anthropic endpoint over HTTP.
    Http(http::HttpTarget),
}

impl Target {
    /// Call one operation and return its raw capture.
    pub async fn call(&self, operation: Operation, prompt: &Prompt) -> Capture {
        match self {
            Target::Bedrock(c) => c.call(operation, prompt).await,
            Target::Http(c) => c.call(operation, prompt).await,
        }
    }
}

/// Read a ledger (the emulator's `GET /_tokaudit/ledger`), page by page from the start. Every
/// count is read strictly: a malformed entry makes the whole document unusable, never a
/// silent skip. A server that does not page answers with everything at once.
pub async fn fetch_ledger(url: &str) -> Result<LedgerDoc, String> {
    let client = reqwest::Client::builder()
        .timeout(crate::defaults::LEDGER_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut doc = LedgerDoc::default();
    let mut since = 0;
    loop {
        let sep = if url.contains('?') { '&' } else { '?' };
        let page_url = format!(
            "{url}{sep}since={since}&limit={}",
            crate::defaults::LEDGER_PAGE
        );
        let page = fetch_page(&client, &page_url).await?;
        doc.dropped += page.dropped;
        doc.entries.extend(page.entries);
        if !page.more || page.next <= since {
            return Ok(doc);
        }
        since = page.next;
    }
}

async fn fetch_page(client: &reqwest::Client, url: &str) -> Result<LedgerDoc, String> {
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| format!("not a ledger document ({}: {})", e.path(), e.inner()))
}

/// The logical request sent through both paths of a pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Model id, inference-profile id or ARN.
    pub model: String,
    /// The user message.
    pub prompt: String,
    /// Optional system prompt.
    pub system: Option<String>,
    /// `max_tokens` / `maxTokens`.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Mark the system prompt as a cache prefix (`cache_control` / `cachePoint`), and how.
    pub cache: Option<CachePlan>,
    /// An extended-thinking budget.
    pub thinking: Option<u32>,
    /// A `--ledger` correlation marker, sent as its own system block *after* the cache
    /// breakpoint so that it never changes the cached prefix.
    pub marker: Option<String>,
    /// The W3C `traceparent` this request is sent with (`--otlp-listen`): the system's
    /// spans of that trace are its record.
    pub traceparent: Option<String>,
}

impl Prompt {
    /// The same prompt carrying a `--ledger` correlation marker.
    pub fn with_marker(&self, marker: &str) -> Prompt {
        Prompt {
            marker: Some(marker.to_string()),
            ..self.clone()
        }
    }

    /// System blocks as (text, cache breakpoint after it): the system prompt (a breakpoint
    /// with `--cache`), then the marker (never cached).
    pub fn system_blocks(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        if let Some(s) = &self.system {
            out.push((s.clone(), self.cache.is_some()));
        }
        if let Some(m) = &self.marker {
            out.push((m.clone(), false));
        }
        out
    }

    /// The Anthropic Messages body for InvokeModel (both paths send the same bytes).
    pub fn invoke_body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "anthropic_version": crate::core::wire::BEDROCK_ANTHROPIC_VERSION,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": [{"type": "text", "text": self.prompt}]}],
        });
        if let Some(t) = self.temperature() {
            body["temperature"] = t.into();
        }
        let system: Vec<serde_json::Value> = self
            .system_blocks()
            .into_iter()
            .map(|(text, cache)| {
                let mut block = serde_json::json!({"type": "text", "text": text});
                if cache {
                    block["cache_control"] = self.cache_control();
                }
                block
            })
            .collect();
        if !system.is_empty() {
            body["system"] = serde_json::Value::Array(system);
        }
        self.add_thinking(&mut body);
        body
    }

    /// The temperature to send: none with thinking on, which the APIs refuse with any
    /// temperature but the default.
    pub fn temperature(&self) -> Option<f32> {
        self.thinking.is_none().then_some(self.temperature)
    }

    /// Anthropic's `cache_control` for the breakpoint, with the TTL when one was asked for.
    pub fn cache_control(&self) -> serde_json::Value {
        let mut cc = serde_json::json!({"type": "ephemeral"});
        if let Some(ttl) = self.cache.and_then(|c| c.ttl) {
            cc["ttl"] = ttl.name().into();
        }
        cc
    }

    /// Anthropic's `thinking` block (Messages, InvokeModel, and Converse's
    /// `additionalModelRequestFields`), when a budget was asked for.
    pub fn thinking_block(&self) -> Option<serde_json::Value> {
        self.thinking
            .map(|b| serde_json::json!({"type": "enabled", "budget_tokens": b}))
    }

    fn add_thinking(&self, body: &mut serde_json::Value) {
        if let Some(t) = self.thinking_block() {
            body["thinking"] = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_marker_sits_after_the_cache_breakpoint() {
        let p = Prompt {
            model: "m".into(),
            prompt: "Write Hi".into(),
            system: Some("You are terse.".into()),
            max_tokens: 8,
            temperature: 0.0,
            cache: Some(CachePlan {
                ttl: None,
                warmup: true,
            }),
            thinking: None,
            marker: None,
            traceparent: None,
        }
        .with_marker("[tokaudit:0000000000000001]");
        let body = p.invoke_body();
        let system = body["system"].as_array().unwrap();
        assert_eq!(system.len(), 2);
        assert!(system[0].get("cache_control").is_some());
        assert_eq!(system[1]["text"], "[tokaudit:0000000000000001]");
        assert!(system[1].get("cache_control").is_none());
    }
}
