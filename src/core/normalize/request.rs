//! What a request asked for, read from its recorded body: the cache breakpoints and their TTL,
//! and the thinking budget or reasoning effort. The audit needs them to judge the response
//! (a write requested for an hour and reported as a 5-minute one), and reading them from the
//! capture keeps a replay's verdict the live run's.
//!
//! Where each API takes them (`shared/reference/billing-and-records.md` §2, §3):
//! Anthropic Messages and Bedrock InvokeModel put `cache_control: {type, ttl?}` on content
//! blocks and `thinking: {type: enabled, budget_tokens}` at the top; Converse puts
//! `cachePoint: {type, ttl?}` blocks in `system` / `messages` and thinking in
//! `additionalModelRequestFields`; OpenAI-compatible gateways take `cache_control` on content
//! parts, `reasoning_effort`, and (LiteLLM) `thinking`; the Responses API `reasoning.effort`.

use crate::core::capture::{Api, Operation};
use serde::Serialize;
use serde_json::Value;

/// The TTL a breakpoint without one gets.
pub const DEFAULT_CACHE_TTL: &str = "5m";

/// What the request asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RequestFacts {
    /// Cache breakpoints in the request.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_points: usize,
    /// The TTL every breakpoint asked for (`5m` when unset); `mixed` when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<String>,
    /// The thinking budget (`budget_tokens`), if extended thinking was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u64>,
    /// The reasoning effort, if one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RequestFacts {
    /// Whether the request asked for nothing this records.
    pub fn is_empty(&self) -> bool {
        self == &RequestFacts::default()
    }

    /// Whether it asked for thinking or reasoning at all.
    pub fn reasoning(&self) -> bool {
        self.thinking_budget.is_some() || self.reasoning_effort.is_some()
    }

    fn breakpoint(&mut self, ttl: Option<&str>) {
        let ttl = ttl.unwrap_or(DEFAULT_CACHE_TTL);
        self.cache_points += 1;
        self.cache_ttl = match self.cache_ttl.take() {
            None => Some(ttl.to_string()),
            Some(t) if t == ttl => Some(t),
            Some(_) => Some("mixed".to_string()),
        };
    }
}

/// Read the facts of a request body; a body that is not JSON asks for nothing.
pub fn facts(operation: Operation, body: &[u8]) -> RequestFacts {
    let mut f = RequestFacts::default();
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return f;
    };
    match operation.api() {
        Api::Invoke | Api::Messages | Api::Chat => {
            walk_cache_control(&json, &mut f);
            f.thinking_budget = json
                .pointer("/thinking/budget_tokens")
                .and_then(Value::as_u64);
            f.reasoning_effort = text(&json, "/reasoning_effort");
        }
        Api::Converse => {
            walk_cache_points(&json, &mut f);
            f.thinking_budget = json
                .pointer("/additionalModelRequestFields/thinking/budget_tokens")
                .and_then(Value::as_u64);
        }
        Api::Responses => {
            walk_cache_control(&json, &mut f);
            f.reasoning_effort = text(&json, "/reasoning/effort");
        }
    }
    f
}

fn text(json: &Value, pointer: &str) -> Option<String> {
    json.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Every `cache_control` object anywhere in the body is a breakpoint.
fn walk_cache_control(v: &Value, f: &mut RequestFacts) {
    match v {
        Value::Object(o) => {
            if let Some(cc) = o.get("cache_control").filter(|c| c.is_object()) {
                f.breakpoint(cc.get("ttl").and_then(Value::as_str));
            }
            o.iter()
                .filter(|(k, _)| *k != "cache_control")
                .for_each(|(_, v)| walk_cache_control(v, f));
        }
        Value::Array(a) => a.iter().for_each(|v| walk_cache_control(v, f)),
        _ => {}
    }
}

/// Every `cachePoint` block in `system` and `messages[].content` is a breakpoint.
fn walk_cache_points(json: &Value, f: &mut RequestFacts) {
    let system = json
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let messages = json
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten();
    for block in system.chain(messages) {
        if let Some(cp) = block.get("cachePoint").filter(|c| c.is_object()) {
            f.breakpoint(cp.get("ttl").and_then(Value::as_str));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn breakpoints_and_their_ttl_are_read_per_api() {
        let invoke = json!({"system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}],
            "thinking":{"type":"enabled","budget_tokens":1024}});
        let f = facts(Operation::InvokeModel, invoke.to_string().as_bytes());
        assert_eq!(
            (f.cache_points, f.cache_ttl.as_deref(), f.thinking_budget),
            (1, Some("1h"), Some(1024))
        );
        let converse = json!({"system":[{"text":"x"},{"cachePoint":{"type":"default"}}],
            "messages":[{"role":"user","content":[{"text":"y"},{"cachePoint":{"type":"default","ttl":"1h"}}]}]});
        let f = facts(Operation::ConverseStream, converse.to_string().as_bytes());
        assert_eq!((f.cache_points, f.cache_ttl.as_deref()), (2, Some("mixed")));
        let chat = json!({"messages":[{"role":"system","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}],
            "reasoning_effort":"low"});
        let f = facts(Operation::ChatCompletions, chat.to_string().as_bytes());
        assert_eq!(
            (f.cache_ttl.as_deref(), f.reasoning_effort.as_deref()),
            (Some("5m"), Some("low"))
        );
        assert!(facts(Operation::InvokeModel, b"not json").is_empty());
    }
}
