//! Reading a request as the service would, validating it as the service does: the Bedrock
//! InvokeModel and Converse bodies, Anthropic Messages, OpenAI chat completions and the
//! Responses API, each reduced to a [`ModelRequest`].

use super::{Invalid, MESSAGE_FRAMING, ModelRequest, REQUEST_OVERHEAD, Ttl, count_tokens};
use crate::core::wire::BEDROCK_ANTHROPIC_VERSION;
use serde_json::Value;

fn fnv(h: &mut u64, s: &str) {
    for b in s.bytes() {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

struct Builder {
    total: u64,
    prefix: u64,
    hash: u64,
    key: Option<u64>,
    ttl: Ttl,
}

impl Builder {
    fn new() -> Self {
        Builder {
            total: REQUEST_OVERHEAD,
            prefix: 0,
            hash: 0xcbf2_9ce4_8422_2325,
            key: None,
            ttl: Ttl::FiveMinutes,
        }
    }
    fn add(&mut self, tokens: u64, text: &str) {
        self.total += tokens;
        fnv(&mut self.hash, text);
    }
    /// A cache breakpoint here, with the TTL its marker asks for (`None`: no TTL given).
    fn mark(&mut self, ttl: Option<&Value>, at: &str) -> Result<(), Invalid> {
        self.prefix = self.total;
        self.key = Some(self.hash);
        self.ttl = Ttl::parse(ttl, at)?;
        Ok(())
    }
    /// Tool definitions count as their JSON text.
    fn tools(&mut self, tools: Option<&Value>) {
        if let Some(t) = tools {
            let t = t.to_string();
            self.add(count_tokens(&t), &t);
        }
    }
    fn finish(self, last_user: String, max_tokens: u64, thinking: Option<u64>) -> ModelRequest {
        ModelRequest {
            input_total: self.total,
            cache_prefix: self.prefix,
            cache_key: self.key,
            cache_ttl: self.ttl,
            last_user,
            max_tokens,
            thinking,
        }
    }
}

fn block_text(block: &Value) -> String {
    match block.get("text").and_then(Value::as_str) {
        Some(t) => t.to_string(),
        None => block.to_string(),
    }
}

/// Parse an InvokeModel (Anthropic Messages) body, validating it as Bedrock does.
pub fn from_invoke(body: &Value) -> Result<ModelRequest, Invalid> {
    let (max_tokens, messages) = invoke_envelope(body)?;
    let mut b = Builder::new();
    b.tools(body.get("tools"));
    match body.get("system") {
        Some(Value::String(s)) => b.add(count_tokens(s), s),
        Some(Value::Array(blocks)) => {
            for block in blocks {
                anthropic_block(&mut b, block)?;
            }
        }
        _ => {}
    }
    let mut last_user = String::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, text) = anthropic_message(&mut b, i, m)?;
        if role == "user" {
            last_user = text;
        }
    }
    let thinking = anthropic_thinking(body.get("thinking"), max_tokens)?;
    Ok(b.finish(last_user, max_tokens, thinking))
}

/// The envelope Bedrock checks first: a JSON object with the supported `anthropic_version`,
/// a positive `max_tokens` and at least one message.
fn invoke_envelope(body: &Value) -> Result<(u64, &Vec<Value>), Invalid> {
    let malformed = |m: String| Invalid(format!("Malformed input request: {m}"));
    if !body.is_object() {
        return Err(malformed("expected a JSON object".into()));
    }
    match body.get("anthropic_version").and_then(Value::as_str) {
        Some(BEDROCK_ANTHROPIC_VERSION) => {}
        Some(v) => {
            return Err(malformed(format!(
                "anthropic_version {v:?} is not supported, use \"{BEDROCK_ANTHROPIC_VERSION}\""
            )));
        }
        None => {
            return Err(malformed(
                "#: required key [anthropic_version] not found".into(),
            ));
        }
    }
    let max_tokens = match body.get("max_tokens") {
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| malformed(format!("max_tokens: {v} is not a positive integer")))?,
        None => return Err(malformed("#: required key [max_tokens] not found".into())),
    };
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| malformed("messages: expected at least 1 message".into()))?;
    Ok((max_tokens, messages))
}

/// One content block: its text counts, and `cache_control` ends the cache prefix after it.
fn anthropic_block(b: &mut Builder, block: &Value) -> Result<String, Invalid> {
    let t = block_text(block);
    b.add(count_tokens(&t), &t);
    if let Some(cc) = block.get("cache_control") {
        b.mark(cc.get("ttl"), "cache_control")?;
    }
    Ok(t)
}

/// The smallest thinking budget Anthropic accepts (its extended-thinking documentation).
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// `thinking: {type: "enabled", budget_tokens}` as Anthropic validates it: at least
/// [`MIN_THINKING_BUDGET`], and below `max_tokens` (thinking counts as output).
fn anthropic_thinking(thinking: Option<&Value>, max_tokens: u64) -> Result<Option<u64>, Invalid> {
    let Some(t) = thinking.filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    match t.get("type").and_then(Value::as_str) {
        Some("disabled") => return Ok(None),
        Some("enabled") => {}
        _ => {
            return Err(Invalid(format!(
                "thinking.type: {} must be \"enabled\" or \"disabled\"",
                t.get("type").unwrap_or(&Value::Null)
            )));
        }
    }
    let budget = t
        .get("budget_tokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| Invalid("thinking.budget_tokens: required, a positive integer".into()))?;
    if budget < MIN_THINKING_BUDGET || budget >= max_tokens {
        return Err(Invalid(format!(
            "thinking.budget_tokens: {budget} must be at least {MIN_THINKING_BUDGET} and less than max_tokens ({max_tokens})"
        )));
    }
    Ok(Some(budget))
}

/// The budget the emulator thinks with for an OpenAI-style reasoning effort.
fn effort_budget(effort: Option<&Value>) -> Result<Option<u64>, Invalid> {
    match effort.and_then(Value::as_str) {
        None => Ok(None),
        Some("minimal" | "low") => Ok(Some(1024)),
        Some("medium") => Ok(Some(4096)),
        Some("high") => Ok(Some(16384)),
        Some(other) => Err(Invalid(format!(
            "reasoning effort {other:?} is not one of minimal, low, medium, high"
        ))),
    }
}

/// One message: framing plus content; returns its role and its text.
fn anthropic_message<'a>(
    b: &mut Builder,
    i: usize,
    m: &'a Value,
) -> Result<(&'a str, String), Invalid> {
    let role = m.get("role").and_then(Value::as_str).ok_or_else(|| {
        Invalid(format!(
            "Malformed input request: messages.{i}.role: required"
        ))
    })?;
    b.add(MESSAGE_FRAMING, role);
    let mut text = String::new();
    match m.get("content") {
        Some(Value::String(s)) => {
            b.add(count_tokens(s), s);
            text.push_str(s);
        }
        Some(Value::Array(blocks)) if !blocks.is_empty() => {
            for block in blocks {
                let t = anthropic_block(b, block)?;
                if block.get("type").and_then(Value::as_str) == Some("text") {
                    text.push_str(&t);
                }
            }
        }
        _ => {
            return Err(Invalid(format!(
                "Malformed input request: messages.{i}.content: expected a string or a non-empty array"
            )));
        }
    }
    Ok((role, text))
}

/// Parse a Converse body, validating it as Bedrock does.
pub fn from_converse(body: &Value) -> Result<ModelRequest, Invalid> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            Invalid("The messages field is required and must contain at least one message".into())
        })?;
    let max_tokens = match body.pointer("/inferenceConfig/maxTokens") {
        None => 4096,
        Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            Invalid(format!(
                "inferenceConfig.maxTokens: {v} must be a positive integer"
            ))
        })?,
    };
    let mut b = Builder::new();
    b.tools(body.get("toolConfig"));
    for block in body
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(cp) = block.get("cachePoint") {
            b.mark(cp.get("ttl"), "cachePoint")?;
        } else {
            let t = block_text(block);
            b.add(count_tokens(&t), &t);
        }
    }
    let mut last_user = String::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| Invalid(format!("messages.{i}.role is required")))?;
        b.add(MESSAGE_FRAMING, role);
        let blocks = m
            .get("content")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Invalid(format!(
                    "messages.{i}.content must contain at least one block"
                ))
            })?;
        let mut text = String::new();
        for block in blocks {
            if let Some(cp) = block.get("cachePoint") {
                b.mark(cp.get("ttl"), "cachePoint")?;
                continue;
            }
            let t = block_text(block);
            b.add(count_tokens(&t), &t);
            if block.get("text").is_some() {
                text.push_str(&t);
            }
        }
        if role == "user" {
            last_user = text;
        }
    }
    let thinking = anthropic_thinking(
        body.pointer("/additionalModelRequestFields/thinking"),
        max_tokens,
    )?;
    Ok(b.finish(last_user, max_tokens, thinking))
}

/// Parse an Anthropic Messages API body (`/v1/messages`): the InvokeModel shape with `model`
/// and `stream` in the body and no `anthropic_version` (that is a header there).
pub fn from_messages(body: &Value) -> Result<ModelRequest, Invalid> {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.insert(
            "anthropic_version".into(),
            Value::from(BEDROCK_ANTHROPIC_VERSION),
        );
    }
    from_invoke(&b)
}

/// Parse an OpenAI chat-completions body. System messages count like system blocks; every
/// other message like an Anthropic message, so "Write Hi" costs 10 input tokens here too.
pub fn from_openai(body: &Value) -> Result<ModelRequest, Invalid> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| Invalid("messages: expected a non-empty array".into()))?;
    let max_tokens = match body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
    {
        None | Some(Value::Null) => 4096,
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Invalid(format!("max_tokens: {v} is not a positive integer")))?,
    };
    let mut b = Builder::new();
    b.tools(body.get("tools"));
    let parts = |m: &Value| -> Vec<(String, Option<Value>)> {
        match m.get("content") {
            Some(Value::String(s)) => vec![(s.clone(), m.get("cache_control").cloned())],
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| (block_text(p), p.get("cache_control").cloned()))
                .collect(),
            _ => Vec::new(),
        }
    };
    for m in messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
    {
        for (t, mark) in parts(m) {
            b.add(count_tokens(&t), &t);
            if let Some(cc) = mark {
                b.mark(cc.get("ttl"), "cache_control")?;
            }
        }
    }
    let mut last_user = String::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| Invalid(format!("messages.{i}.role: required")))?;
        if role == "system" {
            continue;
        }
        b.add(MESSAGE_FRAMING, role);
        let mut text = String::new();
        for (t, mark) in parts(m) {
            b.add(count_tokens(&t), &t);
            text.push_str(&t);
            if let Some(cc) = mark {
                b.mark(cc.get("ttl"), "cache_control")?;
            }
        }
        if role == "user" {
            last_user = text;
        }
    }
    // LiteLLM passes Anthropic's `thinking` through; OpenAI's own knob is `reasoning_effort`.
    let thinking = match body.get("thinking").filter(|t| !t.is_null()) {
        Some(_) => anthropic_thinking(body.get("thinking"), max_tokens)?,
        None => effort_budget(body.get("reasoning_effort"))?,
    };
    Ok(b.finish(last_user, max_tokens, thinking))
}

/// Parse a Responses API body: `input` as a string or as messages, `instructions` as the
/// system prompt, `max_output_tokens`, `reasoning.effort`. Counted like chat completions.
pub fn from_responses(body: &Value) -> Result<ModelRequest, Invalid> {
    let mut messages = Vec::new();
    if let Some(i) = body.get("instructions").and_then(Value::as_str) {
        messages.push(serde_json::json!({"role": "system", "content": i}));
    }
    match body.get("input") {
        Some(Value::String(s)) => messages.push(serde_json::json!({"role": "user", "content": s})),
        Some(Value::Array(items)) if !items.is_empty() => messages.extend(items.iter().cloned()),
        _ => {
            return Err(Invalid(
                "input: expected a string or a non-empty array".into(),
            ));
        }
    }
    let mut chat = serde_json::json!({"messages": messages});
    if let Some(m) = body.get("max_output_tokens") {
        chat["max_tokens"] = m.clone();
    }
    if let Some(e) = body.pointer("/reasoning/effort") {
        chat["reasoning_effort"] = e.clone();
    }
    from_openai(&chat)
}
