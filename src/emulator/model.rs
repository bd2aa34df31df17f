//! The deterministic synthetic model behind the emulator, and its documented tokenizer.
//!
//! **Tokenizer rule.** Text splits into tokens like this: every run of letters and digits is
//! cut into pieces of at most 4 characters, each piece one token; every other non-blank
//! character is one token; whitespace is free (it rides on the next token).
//! `count_tokens("Write Hi") == 3` ("Writ", "e", " Hi").
//!
//! **Input count.** 3 tokens of request overhead, plus the tool definitions (their JSON text),
//! plus every system block, plus 4 tokens of framing per message and its content. So the
//! prompt "Write Hi" alone costs 3 + 4 + 3 = 10 input tokens on every operation.
//!
//! **Completion.** From the last user message: "N words" (any N up to 10,000) gives N words
//! of a fixed lorem text; "Write X" gives "X!"; anything else gives "You said: <text>".
//! The text is cut at `max_tokens` tokens (`stop_reason: max_tokens`).
//!
//! **Caching.** Content up to and including the last block marked `cache_control`
//! (InvokeModel) or up to the last `cachePoint` (Converse) is the cache prefix. The first
//! request with a given prefix writes it (`cache_write`), later ones within 5 minutes read it
//! (`cache_read`); `input` is what remains after the prefix.

use crate::core::wire::BEDROCK_ANTHROPIC_VERSION;
use serde_json::Value;

/// Split text into tokens by the documented rule. Concatenating the pieces gives the text back:
/// whitespace rides on the following token, trailing whitespace on the last one.
pub fn tokenize(text: &str) -> Vec<&str> {
    // First the non-blank core of every token, as (start, end) byte offsets.
    let mut cores: Vec<(usize, usize)> = Vec::new();
    let mut run = 0; // characters in the open alphanumeric core (0 = none open)
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if c.is_whitespace() {
            run = 0;
        } else if c.is_alphanumeric() {
            match cores.last_mut() {
                Some(core) if run > 0 && run < 4 => {
                    core.1 = end;
                    run += 1;
                }
                _ => {
                    cores.push((i, end));
                    run = 1;
                }
            }
        } else {
            cores.push((i, end));
            run = 0;
        }
    }
    let n = cores.len();
    let mut prev_end = 0;
    cores
        .into_iter()
        .enumerate()
        .map(|(k, (_, end))| {
            let end = if k + 1 == n { text.len() } else { end };
            let piece = &text[prev_end..end];
            prev_end = end;
            piece
        })
        .collect()
}

/// Count tokens by the documented rule.
pub fn count_tokens(text: &str) -> u64 {
    tokenize(text).len() as u64
}

/// The Anthropic model name Bedrock puts in response bodies for a Bedrock model id, profile id
/// or ARN: `arn:…:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0` and
/// `anthropic.claude-3-haiku-20240307-v1:0` both answer as `claude-3-haiku-20240307`.
pub fn anthropic_name(model_id: &str) -> String {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let id = match id.find("anthropic.") {
        Some(i) => &id[i + "anthropic.".len()..],
        None => id,
    };
    let id = match id.rfind("-v") {
        Some(i)
            if id[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()) =>
        {
            &id[..i]
        }
        _ => id,
    };
    id.to_string()
}

/// Request overhead in tokens.
pub const REQUEST_OVERHEAD: u64 = 3;
/// Framing per message in tokens.
pub const MESSAGE_FRAMING: u64 = 4;

/// A request reduced to what the synthetic model needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    /// Total input tokens.
    pub input_total: u64,
    /// Tokens of the cache prefix (0 without a cache marker).
    pub cache_prefix: u64,
    /// A key identifying the prefix content.
    pub cache_key: Option<u64>,
    /// The last user text.
    pub last_user: String,
    /// `max_tokens`.
    pub max_tokens: u64,
}

/// A validation failure, reported as `ValidationException`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub String);

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
}

impl Builder {
    fn new() -> Self {
        Builder {
            total: REQUEST_OVERHEAD,
            prefix: 0,
            hash: 0xcbf2_9ce4_8422_2325,
            key: None,
        }
    }
    fn add(&mut self, tokens: u64, text: &str) {
        self.total += tokens;
        fnv(&mut self.hash, text);
    }
    fn mark(&mut self) {
        self.prefix = self.total;
        self.key = Some(self.hash);
    }
    /// Tool definitions count as their JSON text.
    fn tools(&mut self, tools: Option<&Value>) {
        if let Some(t) = tools {
            let t = t.to_string();
            self.add(count_tokens(&t), &t);
        }
    }
    fn finish(self, last_user: String, max_tokens: u64) -> ModelRequest {
        ModelRequest {
            input_total: self.total,
            cache_prefix: self.prefix,
            cache_key: self.key,
            last_user,
            max_tokens,
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
                anthropic_block(&mut b, block);
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
    Ok(b.finish(last_user, max_tokens))
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
fn anthropic_block(b: &mut Builder, block: &Value) -> String {
    let t = block_text(block);
    b.add(count_tokens(&t), &t);
    if block.get("cache_control").is_some() {
        b.mark();
    }
    t
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
                let t = anthropic_block(b, block);
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
        if block.get("cachePoint").is_some() {
            b.mark();
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
            if block.get("cachePoint").is_some() {
                b.mark();
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
    Ok(b.finish(last_user, max_tokens))
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
    let parts = |m: &Value| -> Vec<(String, bool)> {
        match m.get("content") {
            Some(Value::String(s)) => vec![(s.clone(), m.get("cache_control").is_some())],
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| (block_text(p), p.get("cache_control").is_some()))
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
            if mark {
                b.mark();
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
            if mark {
                b.mark();
            }
        }
        if role == "user" {
            last_user = text;
        }
    }
    Ok(b.finish(last_user, max_tokens))
}

const LOREM: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
];

/// The full completion for a prompt (before `max_tokens`).
pub fn completion(last_user: &str) -> String {
    let t = last_user.trim();
    let lower = t.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    if let Some(pos) = words.iter().position(|w| w.starts_with("words"))
        && pos > 0
        && let Ok(n) = words[pos - 1].parse::<usize>()
    {
        let n = n.clamp(1, 10_000);
        let mut s: Vec<&str> = (0..n).map(|i| LOREM[i % LOREM.len()]).collect();
        s[0] = "Lorem";
        return format!("{}.", s.join(" "));
    }
    if lower.starts_with("write ") && t.len() > 6 {
        return format!("{}!", &t[6..]);
    }
    format!("You said: {t}")
}

/// The completion cut at `max_tokens`: (token pieces, stop reason).
pub fn generate(request: &ModelRequest) -> (Vec<String>, &'static str) {
    let text = completion(&request.last_user);
    let pieces = tokenize(&text);
    let limit = usize::try_from(request.max_tokens).unwrap_or(usize::MAX);
    if pieces.len() > limit {
        (
            pieces[..limit].iter().map(|s| s.to_string()).collect(),
            "max_tokens",
        )
    } else {
        (pieces.iter().map(|s| s.to_string()).collect(), "end_turn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokenizer_follows_the_documented_rule() {
        assert_eq!(tokenize("Write Hi"), vec!["Writ", "e", " Hi"]);
        assert_eq!(tokenize("Hi!"), vec!["Hi", "!"]);
        assert_eq!(count_tokens("  "), 0);
        assert_eq!(count_tokens("a, b."), 4);
        assert_eq!(tokenize("Hi there ").concat(), "Hi there ");
        assert_eq!(tokenize("héllo wörld").concat(), "héllo wörld");
    }

    #[test]
    fn write_hi_costs_ten_input_tokens_on_both_apis() {
        let invoke = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":64,
            "messages":[{"role":"user","content":[{"type":"text","text":"Write Hi"}]}]});
        let converse = json!({"messages":[{"role":"user","content":[{"text":"Write Hi"}]}]});
        assert_eq!(from_invoke(&invoke).unwrap().input_total, 10);
        assert_eq!(from_converse(&converse).unwrap().input_total, 10);
        let (pieces, stop) = generate(&from_invoke(&invoke).unwrap());
        assert_eq!((pieces.concat().as_str(), stop), ("Hi!", "end_turn"));
    }

    #[test]
    fn gateway_shapes_count_like_bedrock() {
        let openai = json!({"model":"m","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Write Hi"}]});
        let messages = json!({"model":"m","max_tokens":8,"system":"You are terse.","messages":[{"role":"user","content":"Write Hi"}]});
        let invoke = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":8,"system":"You are terse.",
            "messages":[{"role":"user","content":"Write Hi"}]});
        let want = from_invoke(&invoke).unwrap().input_total;
        assert_eq!(from_openai(&openai).unwrap().input_total, want);
        assert_eq!(from_messages(&messages).unwrap().input_total, want);
        assert!(from_openai(&json!({"messages":[]})).is_err());
    }

    #[test]
    fn bodies_name_the_anthropic_model_not_the_bedrock_id() {
        for id in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
        ] {
            assert_eq!(anthropic_name(id), "claude-3-haiku-20240307", "{id}");
        }
        assert_eq!(anthropic_name("my-model"), "my-model");
    }

    #[test]
    fn max_tokens_cuts_the_completion() {
        let body = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,
            "messages":[{"role":"user","content":"Write 50 words"}]});
        let (pieces, stop) = generate(&from_invoke(&body).unwrap());
        assert_eq!((pieces.len(), stop), (5, "max_tokens"));
    }

    #[test]
    fn cache_markers_define_the_prefix() {
        let invoke = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":8,
            "system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":"Write Hi"}]});
        let r = from_invoke(&invoke).unwrap();
        assert_eq!(r.cache_prefix, 3 + count_tokens("You are terse."));
        let converse = json!({"system":[{"text":"You are terse."},{"cachePoint":{"type":"default"}}],
            "messages":[{"role":"user","content":[{"text":"Write Hi"}]}]});
        let c = from_converse(&converse).unwrap();
        assert_eq!(
            (c.cache_prefix, c.input_total),
            (r.cache_prefix, r.input_total)
        );
        assert_eq!(c.cache_key, r.cache_key);
    }

    #[test]
    fn validation_names_the_problem() {
        let e = from_invoke(&json!({"max_tokens":1,"messages":[]})).unwrap_err();
        assert!(e.0.contains("anthropic_version"));
        let e = from_invoke(&json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":0,"messages":[{"role":"user","content":"x"}]})).unwrap_err();
        assert!(e.0.contains("max_tokens"));
        assert!(from_converse(&json!({"messages":[]})).is_err());
    }
}
