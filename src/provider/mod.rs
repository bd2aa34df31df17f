//! The network boundary. Everything in here does I/O; everything it returns is a raw
//! [`Capture`](crate::core::capture::Capture) for the pure core.

pub mod bedrock;
mod capture_interceptor;
pub mod http;

use crate::core::capture::{Capture, Operation};

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

/// Read a ledger document (the emulator's `GET /_tokaudit/ledger`).
pub async fn fetch_ledger(url: &str) -> Result<serde_json::Value, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("not a ledger document ({e})"))
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
    /// Mark the system prompt as a cache prefix (`cache_control` / `cachePoint`).
    pub cache: bool,
}

impl Prompt {
    /// The same prompt with a `--ledger` correlation marker appended to the system prompt.
    pub fn with_marker(&self, marker: &str) -> Prompt {
        let mut p = self.clone();
        p.system = Some(match &self.system {
            Some(s) => format!("{s}\n{marker}"),
            None => marker.to_string(),
        });
        p
    }

    /// The Anthropic Messages body for InvokeModel (both paths send the same bytes).
    pub fn invoke_body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "messages": [{"role": "user", "content": [{"type": "text", "text": self.prompt}]}],
        });
        if let Some(system) = &self.system {
            let mut block = serde_json::json!({"type": "text", "text": system});
            if self.cache {
                block["cache_control"] = serde_json::json!({"type": "ephemeral"});
            }
            body["system"] = serde_json::json!([block]);
        }
        body
    }
}
