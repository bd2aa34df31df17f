//! A run plan: what to send, where, how often and within which limits. `compare` builds one
//! from its flags, `gate` from each suite case; the [`runner`](crate::runner) executes it.
//! No command calls another command's clap struct, and nothing here knows about clap.

use crate::core::capture::Api;
use crate::emulator::faults::FaultSpec;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What kind of endpoint to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetKind {
    /// AWS Bedrock Runtime (InvokeModel / Converse pairs) through the AWS SDK.
    #[default]
    Bedrock,
    /// An OpenAI-compatible endpoint (LiteLLM proxy, OpenRouter, …): chat completions or
    /// the Responses API.
    Openai,
    /// An Anthropic Messages `/v1/messages` endpoint.
    Anthropic,
}

impl TargetKind {
    /// Every target, in the order the help lists them.
    pub const ALL: [TargetKind; 3] = [
        TargetKind::Bedrock,
        TargetKind::Openai,
        TargetKind::Anthropic,
    ];

    /// The name used on the command line, in suites and in reports.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Bedrock => "bedrock",
            TargetKind::Openai => "openai",
            TargetKind::Anthropic => "anthropic",
        }
    }

    /// One line for the help.
    pub fn help(self) -> &'static str {
        match self {
            TargetKind::Bedrock => "AWS Bedrock Runtime through the AWS SDK",
            TargetKind::Openai => {
                "an OpenAI-compatible endpoint, /v1/chat/completions or /v1/responses (LiteLLM, OpenRouter, …)"
            }
            TargetKind::Anthropic => "an Anthropic Messages /v1/messages endpoint",
        }
    }

    /// The environment variable that holds the API key by default.
    pub fn default_key_env(self) -> &'static str {
        match self {
            TargetKind::Anthropic => "ANTHROPIC_API_KEY",
            _ => "OPENAI_API_KEY",
        }
    }
}

/// Which API families to audit: Bedrock's two, or the OpenAI target's two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiChoice {
    /// InvokeModel + InvokeModelWithResponseStream.
    Invoke,
    /// Converse + ConverseStream.
    Converse,
    /// Both Bedrock families (for gateway targets: their default family).
    #[default]
    Both,
    /// `/v1/chat/completions` (the openai target's default).
    Chat,
    /// `/v1/responses` (openai target).
    Responses,
}

impl ApiChoice {
    /// Every choice, in the order the help lists them.
    pub const ALL: [ApiChoice; 5] = [
        ApiChoice::Invoke,
        ApiChoice::Converse,
        ApiChoice::Both,
        ApiChoice::Chat,
        ApiChoice::Responses,
    ];

    /// The name used on the command line and in suites.
    pub fn name(self) -> &'static str {
        match self {
            ApiChoice::Invoke => "invoke",
            ApiChoice::Converse => "converse",
            ApiChoice::Both => "both",
            ApiChoice::Chat => "chat",
            ApiChoice::Responses => "responses",
        }
    }

    /// One line for the help.
    pub fn help(self) -> &'static str {
        match self {
            ApiChoice::Invoke => "bedrock: InvokeModel + InvokeModelWithResponseStream",
            ApiChoice::Converse => "bedrock: Converse + ConverseStream",
            ApiChoice::Both => "bedrock: both families (a gateway target: its default API)",
            ApiChoice::Chat => "openai: /v1/chat/completions (the default)",
            ApiChoice::Responses => "openai: /v1/responses",
        }
    }

    /// The families to run, in the order they are called within a run (InvokeModel first, so
    /// with `--cache` it is the InvokeModel pair that meets a cold cache).
    pub fn apis(self) -> Vec<Api> {
        match self {
            ApiChoice::Invoke => vec![Api::Invoke],
            ApiChoice::Converse => vec![Api::Converse],
            ApiChoice::Both => vec![Api::Invoke, Api::Converse],
            ApiChoice::Chat => vec![Api::Chat],
            ApiChoice::Responses => vec![Api::Responses],
        }
    }
}

/// The prompt-cache TTL a cache breakpoint asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTtl {
    /// 5 minutes (the providers' default).
    FiveMinutes,
    /// 1 hour (priced higher; not every model has it).
    OneHour,
}

impl CacheTtl {
    /// Every TTL.
    pub const ALL: [CacheTtl; 2] = [CacheTtl::FiveMinutes, CacheTtl::OneHour];

    /// The name on the command line, in suites and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }

    /// One line for the help.
    pub fn help(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5 minutes (the default TTL)",
            CacheTtl::OneHour => "1 hour",
        }
    }
}

/// How the prompt cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePlan {
    /// The TTL sent with the breakpoint (`None`: no `ttl`, the provider's 5-minute default).
    pub ttl: Option<CacheTtl>,
    /// Send a warm-up call first, so that both measured calls should read the prefix.
    pub warmup: bool,
}

/// A name that is not one of the allowed ones.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{value:?} is not one of {}", allowed.join(", "))]
pub struct UnknownName {
    /// What was given.
    pub value: String,
    /// What is allowed.
    pub allowed: Vec<&'static str>,
}

macro_rules! from_name {
    ($t:ty) => {
        impl FromStr for $t {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| UnknownName {
                        value: s.to_string(),
                        allowed: <$t>::ALL.iter().map(|v| v.name()).collect(),
                    })
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
from_name!(TargetKind);
from_name!(ApiChoice);
from_name!(CacheTtl);

/// Where the requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// Real Bedrock with the user's AWS set-up (or `--endpoint-url`).
    Bedrock {
        /// `--region`.
        region: Option<String>,
        /// `--profile`.
        profile: Option<String>,
        /// `--endpoint-url`.
        endpoint_url: Option<String>,
    },
    /// An OpenAI-compatible or Anthropic endpoint.
    Gateway {
        /// Its base URL.
        base_url: String,
        /// The variable named by `--api-key-env`, if one was named.
        api_key_env: Option<String>,
    },
    /// The built-in emulator, started for this run, with these faults.
    Offline {
        /// `--region` (the emulator answers for any).
        region: Option<String>,
        /// Faults to inject.
        faults: Vec<FaultSpec>,
    },
}

/// Records to receive (`--otlp-listen`): where, and how long to wait for each run's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordsPlan {
    /// The OTLP/HTTP receiver's address.
    pub listen: std::net::SocketAddr,
    /// How long to wait, after a prompt's last pair, for the records still missing.
    pub wait: Duration,
}

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `max_tokens` / `maxTokens`.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Time per call, the whole stream included.
    pub timeout: Duration,
    /// HTTP attempts per call.
    pub max_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tokens: crate::defaults::MAX_TOKENS,
            temperature: crate::defaults::TEMPERATURE,
            timeout: Duration::from_secs(crate::defaults::TIMEOUT_SECS),
            max_attempts: crate::defaults::MAX_ATTEMPTS,
        }
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// What kind of endpoint.
    pub target: TargetKind,
    /// Where.
    pub endpoint: Endpoint,
    /// API families (one for gateway targets).
    pub apis: Vec<Api>,
    /// Model id, inference-profile id or ARN.
    pub model: String,
    /// The prompts; each runs `runs` pairs per API family.
    pub prompts: Vec<String>,
    /// A system prompt.
    pub system: Option<String>,
    /// Mark the system prompt as a cache prefix, and how.
    pub cache: Option<CachePlan>,
    /// An extended-thinking budget (a reasoning effort for OpenAI-compatible targets).
    pub thinking: Option<u32>,
    /// Pairs per prompt and API family.
    pub runs: u32,
    /// Pairs in flight at once.
    pub concurrency: u32,
    /// Per-call limits.
    pub limits: Limits,
    /// The upstream ledger to hold a gateway to.
    pub ledger: Option<String>,
    /// The system's own records of each request, received over OTLP.
    pub records: Option<RecordsPlan>,
    /// Close each streaming response after this many events (`--abort-after`).
    pub abort_after: Option<u32>,
}

impl RunPlan {
    /// Whether the built-in emulator answers this plan.
    pub fn offline(&self) -> bool {
        matches!(self.endpoint, Endpoint::Offline { .. })
    }

    /// The API families a target and an `--api` choice come to; a family the target does not
    /// speak is refused, naming the ones it does.
    pub fn families(target: TargetKind, api: ApiChoice) -> Result<Vec<Api>, String> {
        use ApiChoice as A;
        match (target, api) {
            (TargetKind::Bedrock, A::Invoke | A::Converse | A::Both) => Ok(api.apis()),
            (TargetKind::Openai, A::Both | A::Chat) => Ok(vec![Api::Chat]),
            (TargetKind::Openai, A::Responses) => Ok(vec![Api::Responses]),
            (TargetKind::Anthropic, A::Both) => Ok(vec![Api::Messages]),
            (t, a) => {
                let speaks = match t {
                    TargetKind::Bedrock => "invoke, converse or both",
                    TargetKind::Openai => "chat or responses",
                    TargetKind::Anthropic => "the Messages API only (leave --api out)",
                };
                Err(format!(
                    "--api {a} is not an API of --target {t}: it speaks {speaks}"
                ))
            }
        }
    }
}

/// `max_tokens` for a plan: the one asked for, or (unset) the default, raised above a
/// thinking budget, since thinking counts as output. An explicit `max_tokens` at or below the
/// budget is refused, naming the flag or key it came from (`name`).
pub fn max_tokens(asked: Option<u32>, thinking: Option<u32>, name: &str) -> Result<u32, String> {
    let default = crate::defaults::MAX_TOKENS;
    match (asked, thinking) {
        (Some(m), Some(b)) if m <= b => Err(format!(
            "{name} {m} must be above the thinking budget {b} (thinking counts as output); leave it out to get {}",
            b.saturating_add(default)
        )),
        (Some(m), _) => Ok(m),
        (None, Some(b)) => Ok(b.saturating_add(default)),
        (None, None) => Ok(default),
    }
}

/// The reasoning effort an OpenAI-compatible target is sent for a thinking budget.
pub fn reasoning_effort(budget: u32) -> &'static str {
    crate::defaults::REASONING_EFFORTS
        .iter()
        .find(|(most, _)| budget <= *most)
        .map_or("high", |(_, e)| e)
}

/// Parse fault specifications (`--emulator-fault`, `serve --fault`, suite `emulator_faults`).
pub fn parse_faults(specs: &[String]) -> Result<Vec<FaultSpec>, String> {
    specs.iter().map(|s| s.parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_choices() {
        for t in TargetKind::ALL {
            assert_eq!(t.name().parse::<TargetKind>(), Ok(t));
        }
        for a in ApiChoice::ALL {
            assert_eq!(a.name().parse::<ApiChoice>(), Ok(a));
        }
        let e = "messages".parse::<ApiChoice>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"messages\" is not one of invoke, converse, both, chat, responses"
        );
    }

    #[test]
    fn targets_speak_their_families_and_refuse_the_others() {
        let f = RunPlan::families;
        assert_eq!(f(TargetKind::Openai, ApiChoice::Both), Ok(vec![Api::Chat]));
        assert_eq!(
            f(TargetKind::Openai, ApiChoice::Responses),
            Ok(vec![Api::Responses])
        );
        assert_eq!(
            f(TargetKind::Anthropic, ApiChoice::Both),
            Ok(vec![Api::Messages])
        );
        assert_eq!(
            f(TargetKind::Bedrock, ApiChoice::Both),
            Ok(vec![Api::Invoke, Api::Converse])
        );
        let e = f(TargetKind::Bedrock, ApiChoice::Responses).unwrap_err();
        assert!(e.contains("invoke, converse or both"), "{e}");
        assert!(f(TargetKind::Openai, ApiChoice::Invoke).is_err());
    }

    #[test]
    fn thinking_raises_the_default_max_tokens_and_refuses_a_smaller_one() {
        let n = "max_tokens";
        assert_eq!(max_tokens(None, None, n), Ok(crate::defaults::MAX_TOKENS));
        assert_eq!(
            max_tokens(None, Some(1024), n),
            Ok(1024 + crate::defaults::MAX_TOKENS)
        );
        assert_eq!(max_tokens(Some(2000), Some(1024), n), Ok(2000));
        let e = max_tokens(Some(1024), Some(1024), n).unwrap_err();
        assert!(
            e.starts_with("max_tokens 1024 must be above the thinking budget"),
            "{e}"
        );
        assert_eq!(reasoning_effort(1024), "low");
        assert_eq!(reasoning_effort(2000), "medium");
        assert_eq!(reasoning_effort(10_000), "high");
    }
}
