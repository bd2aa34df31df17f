//! Which models cache, from how many tokens, and with which TTLs: what the emulator does so
//! that an offline rehearsal caches (or does not) as a live run would.
//!
//! Sources, as of 2026-11:
//! - Minimum cacheable prefix per model: Anthropic's prompt-caching documentation
//!   (<https://platform.claude.com/docs/en/build-with-claude/prompt-caching>, quoted in
//!   anthropics/anthropic-sdk-python#1194): 4,096 tokens for Claude Opus 4.6, Opus 4.5 and
//!   Haiku 4.5; 1,024 for Sonnet 4.6, Sonnet 4.5, Opus 4.1, Opus 4, Sonnet 4 and Sonnet 3.7;
//!   2,048 for Haiku 3.5 and Haiku 3. A prefix below the minimum is processed normally and not
//!   cached, with no error.
//! - Which models cache on Bedrock, and the 1-hour TTL there: Amazon Bedrock's prompt-caching
//!   user guide (<https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>):
//!   Claude 3.7 Sonnet, 3.5 Haiku and the Claude 4 family cache; Claude 3 Haiku does not (it is
//!   not in the list); most models keep 5 minutes, and Claude Opus 4.5, Haiku 4.5 and
//!   Sonnet 4.5 (and their 4.6 successors) also take 1 hour. On Anthropic's own API every
//!   current model takes both TTLs.
//!
//! Models the emulator does not know (gateway aliases such as `claude-haiku`) cache from 1,024
//! tokens with both TTLs on the gateway routes, and not at all on the Bedrock routes.

use super::anthropic_name;

/// Where a request came in: Bedrock's own routes, or the gateway routes (`/v1/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/model/{id}/…`.
    Bedrock,
    /// `/v1/chat/completions`, `/v1/messages`, `/v1/responses`.
    Gateway,
}

/// How a model caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheRule {
    /// The smallest prefix, in tokens, that is cached.
    pub min_tokens: u64,
    /// Whether the 1-hour TTL is available.
    pub one_hour: bool,
}

/// The default for models the emulator does not know, on the gateway routes.
const UNKNOWN_MODEL: CacheRule = CacheRule {
    min_tokens: 1024,
    one_hour: true,
};

/// (Anthropic name prefix, minimum prefix, caches on Bedrock, 1 hour on Bedrock), most
/// specific first.
const RULES: &[(&str, u64, bool, bool)] = &[
    ("claude-opus-4-6", 4096, true, true),
    ("claude-opus-4-5", 4096, true, true),
    ("claude-haiku-4-5", 4096, true, true),
    ("claude-sonnet-4-6", 1024, true, true),
    ("claude-sonnet-4-5", 1024, true, true),
    ("claude-opus-4-1", 1024, true, false),
    ("claude-opus-4", 1024, true, false),
    ("claude-sonnet-4", 1024, true, false),
    ("claude-3-7-sonnet", 1024, true, false),
    ("claude-3-5-haiku", 2048, true, false),
    ("claude-3-haiku", 2048, false, false),
];

/// How `model` caches when called on `route`; `None` when it does not cache at all.
pub fn rule(model: &str, route: Route) -> Option<CacheRule> {
    let name = anthropic_name(model);
    let known = RULES.iter().find(|(prefix, ..)| name.starts_with(prefix));
    match (known, route) {
        (Some(&(_, min, _, _)), Route::Gateway) => Some(CacheRule {
            min_tokens: min,
            one_hour: true,
        }),
        (Some(&(_, min, true, hour)), Route::Bedrock) => Some(CacheRule {
            min_tokens: min,
            one_hour: hour,
        }),
        (Some(_), Route::Bedrock) | (None, Route::Bedrock) => None,
        (None, Route::Gateway) => Some(UNKNOWN_MODEL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_documentation() {
        let bedrock = |m| rule(m, Route::Bedrock);
        assert_eq!(bedrock("anthropic.claude-3-haiku-20240307-v1:0"), None);
        assert_eq!(
            bedrock("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            Some(CacheRule {
                min_tokens: 4096,
                one_hour: true
            })
        );
        assert_eq!(
            bedrock("anthropic.claude-3-7-sonnet-20250219-v1:0"),
            Some(CacheRule {
                min_tokens: 1024,
                one_hour: false
            })
        );
        assert_eq!(
            bedrock("anthropic.claude-sonnet-4-20250514-v1:0").map(|r| r.min_tokens),
            Some(1024),
            "Sonnet 4 is not taken for Sonnet 4.5"
        );
        assert_eq!(
            rule("claude-3-haiku-20240307", Route::Gateway).map(|r| r.min_tokens),
            Some(2048)
        );
        assert_eq!(rule("claude-haiku", Route::Gateway), Some(UNKNOWN_MODEL));
        assert_eq!(bedrock("some.other-model"), None);
    }
}
