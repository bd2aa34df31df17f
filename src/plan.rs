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
    /// An OpenAI-compatible `/v1/chat/completions` endpoint (LiteLLM proxy, OpenRouter, …).
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
                "an OpenAI-compatible /v1/chat/completions endpoint (LiteLLM, OpenRouter, …)"
            }
            TargetKind::Anthropic => "an Anthropic Messages /v1/messages endpoint",
        }
    }

    /// The API family a gateway target speaks (Bedrock speaks the families of [`ApiChoice`]).
    pub fn gateway_api(self) -> Option<Api> {
        match self {
            TargetKind::Bedrock => None,
            TargetKind::Openai => Some(Api::Chat),
            TargetKind::Anthropic => Some(Api::Messages),
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

/// Which Bedrock API families to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiChoice {
    /// InvokeModel + InvokeModelWithResponseStream.
    Invoke,
    /// Converse + ConverseStream.
    Converse,
    /// Both families.
    #[default]
    Both,
}

impl ApiChoice {
    /// Every choice, in the order the help lists them.
    pub const ALL: [ApiChoice; 3] = [ApiChoice::Invoke, ApiChoice::Converse, ApiChoice::Both];

    /// The name used on the command line and in suites.
    pub fn name(self) -> &'static str {
        match self {
            ApiChoice::Invoke => "invoke",
            ApiChoice::Converse => "converse",
            ApiChoice::Both => "both",
        }
    }

    /// One line for the help.
    pub fn help(self) -> &'static str {
        match self {
            ApiChoice::Invoke => "InvokeModel + InvokeModelWithResponseStream",
            ApiChoice::Converse => "Converse + ConverseStream",
            ApiChoice::Both => "both families",
        }
    }

    /// The families to run, in the order they are called within a run (InvokeModel first, so
    /// with `--cache` it is the InvokeModel pair that meets a cold cache).
    pub fn apis(self) -> Vec<Api> {
        match self {
            ApiChoice::Invoke => vec![Api::Invoke],
            ApiChoice::Converse => vec![Api::Converse],
            ApiChoice::Both => vec![Api::Invoke, Api::Converse],
        }
    }
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
    /// Mark the system prompt as a cache prefix.
    pub cache: bool,
    /// Pairs per prompt and API family.
    pub runs: u32,
    /// Pairs in flight at once.
    pub concurrency: u32,
    /// Per-call limits.
    pub limits: Limits,
    /// The upstream ledger to hold a gateway to.
    pub ledger: Option<String>,
}

impl RunPlan {
    /// Whether the built-in emulator answers this plan.
    pub fn offline(&self) -> bool {
        matches!(self.endpoint, Endpoint::Offline { .. })
    }

    /// The API families a target and an `--api` choice come to: gateway targets speak exactly
    /// one family whatever `--api` says.
    pub fn families(target: TargetKind, api: ApiChoice) -> Vec<Api> {
        match target.gateway_api() {
            Some(api) => vec![api],
            None => api.apis(),
        }
    }
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
        let e = "chat".parse::<ApiChoice>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"chat\" is not one of invoke, converse, both"
        );
    }

    #[test]
    fn gateway_targets_speak_one_family() {
        assert_eq!(
            RunPlan::families(TargetKind::Openai, ApiChoice::Both),
            vec![Api::Chat]
        );
        assert_eq!(
            RunPlan::families(TargetKind::Bedrock, ApiChoice::Both),
            vec![Api::Invoke, Api::Converse]
        );
    }
}
