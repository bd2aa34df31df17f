//! The network boundary. Everything in here does I/O; everything it returns is a raw
//! [`Capture`](crate::core::capture::Capture) for the pure core.

pub mod bedrock;
mod capture_interceptor;

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
