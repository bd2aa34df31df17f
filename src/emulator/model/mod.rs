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
//! With extended thinking (or a reasoning effort) asked for, a thinking text comes first, cut
//! at the budget; thinking counts as output. The whole is cut at `max_tokens` tokens
//! (`stop_reason: max_tokens`).
//!
//! **Caching.** Content up to and including the last block marked `cache_control`
//! (InvokeModel, Messages, chat) or up to the last `cachePoint` (Converse) is the cache prefix,
//! kept for the TTL that breakpoint asks for (5 minutes unless `ttl: "1h"`). Whether a model
//! caches at all, from how many tokens, and whether it takes the 1-hour TTL follows the
//! providers' documentation ([`cache`]). The first request with a given prefix writes it
//! (`cache_write`), later ones within the TTL read it (`cache_read`) and renew it; `input` is
//! what remains after the prefix. A prefix below the model's minimum is not cached at all.

pub mod cache;
mod parse;

pub use parse::{
    MIN_THINKING_BUDGET, from_converse, from_invoke, from_messages, from_openai, from_responses,
};

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
/// Request overhead in tokens.
pub const REQUEST_OVERHEAD: u64 = 3;
/// Framing per message in tokens.
pub const MESSAGE_FRAMING: u64 = 4;

/// A cache breakpoint's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ttl {
    /// Five minutes (the default).
    #[default]
    FiveMinutes,
    /// One hour.
    OneHour,
}

impl Ttl {
    /// Parse a `ttl` value; absent is five minutes.
    pub fn parse(value: Option<&Value>, at: &str) -> Result<Ttl, Invalid> {
        match value.map(|v| v.as_str()) {
            None => Ok(Ttl::FiveMinutes),
            Some(Some("5m")) => Ok(Ttl::FiveMinutes),
            Some(Some("1h")) => Ok(Ttl::OneHour),
            Some(_) => Err(Invalid(format!(
                "{at}.ttl: {} is not a cache TTL; use \"5m\" or \"1h\"",
                value.unwrap_or(&Value::Null)
            ))),
        }
    }

    /// How long an entry lives.
    pub fn duration(self) -> std::time::Duration {
        match self {
            Ttl::FiveMinutes => std::time::Duration::from_secs(300),
            Ttl::OneHour => std::time::Duration::from_secs(3600),
        }
    }
}

/// A request reduced to what the synthetic model needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    /// Total input tokens.
    pub input_total: u64,
    /// Tokens of the cache prefix (0 without a cache marker).
    pub cache_prefix: u64,
    /// A key identifying the prefix content.
    pub cache_key: Option<u64>,
    /// The TTL of the breakpoint that ends the prefix.
    pub cache_ttl: Ttl,
    /// The last user text.
    pub last_user: String,
    /// `max_tokens`.
    pub max_tokens: u64,
    /// The thinking budget, when extended thinking or a reasoning effort was asked for.
    pub thinking: Option<u64>,
}

/// A validation failure, reported as `ValidationException`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub String);

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

/// What the model produced: thinking, then the answer, one token per piece.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Thinking tokens (empty without thinking).
    pub thinking: Vec<String>,
    /// Answer tokens.
    pub pieces: Vec<String>,
    /// `end_turn` or `max_tokens`.
    pub stop: &'static str,
}

impl Completion {
    /// Output tokens billed: thinking and answer.
    pub fn output(&self) -> u64 {
        (self.thinking.len() + self.pieces.len()) as u64
    }
}

/// The thinking text for a prompt (before the budget cuts it).
pub fn thinking(last_user: &str) -> String {
    format!(
        "The user asked: {}. A short, direct answer fits; nothing needs checking first.",
        last_user.trim()
    )
}

fn owned(pieces: &[&str]) -> Vec<String> {
    pieces.iter().map(|s| s.to_string()).collect()
}

/// The completion: thinking cut at its budget, then the answer, the whole cut at
/// `max_tokens`.
pub fn generate(request: &ModelRequest) -> Completion {
    let limit = usize::try_from(request.max_tokens).unwrap_or(usize::MAX);
    let thought = request.thinking.map(|budget| {
        let text = thinking(&request.last_user);
        let pieces = tokenize(&text);
        let budget = usize::try_from(budget).unwrap_or(usize::MAX).min(limit);
        owned(&pieces[..pieces.len().min(budget)])
    });
    let thinking = thought.unwrap_or_default();
    let room = limit - thinking.len();
    let text = completion(&request.last_user);
    let answer = tokenize(&text);
    let (pieces, stop) = if answer.len() > room {
        (owned(&answer[..room]), "max_tokens")
    } else {
        (owned(&answer), "end_turn")
    };
    Completion {
        thinking,
        pieces,
        stop,
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
        let done = generate(&from_invoke(&invoke).unwrap());
        assert_eq!(
            (
                done.pieces.concat().as_str(),
                done.stop,
                done.thinking.len()
            ),
            ("Hi!", "end_turn", 0)
        );
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
        let c = generate(&from_invoke(&body).unwrap());
        assert_eq!((c.pieces.len(), c.stop), (5, "max_tokens"));
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
