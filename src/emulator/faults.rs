//! Named faults the emulator injects on request, one per bug class a provider or a relay in
//! front of it can show on the wire (`shared/reference/bug-zoo.md`,
//! `shared/reference/billing-and-records.md` §1). Chosen per server (`serve --fault NAME`,
//! `compare --offline --emulator-fault NAME`) or per request (header
//! `x-tokaudit-fault: NAME[,NAME…]`).
//!
//! [`DEFS`] is the one table of names, arguments and descriptions: the parser, `Display` and
//! `serve --list-faults` all read it, so a fault cannot be accepted without being listed.

use std::fmt;
use std::str::FromStr;

/// The per-request fault header.
pub const FAULT_HEADER: &str = "x-tokaudit-fault";
/// How to write a fault on the command line or in the header.
pub const SYNTAX: &str = "NAME[=ARG][@RATE]: RATE (0..1, default 1) is the share of requests hit";
/// `slow-first-byte` without an argument, in milliseconds.
const DEFAULT_SLOW_FIRST_BYTE_MS: u64 = 2000;
/// `token-latency` without an argument, in milliseconds.
const DEFAULT_TOKEN_LATENCY_MS: u64 = 20;
/// `stream-exception` without an argument.
const DEFAULT_STREAM_EXCEPTION: &str = "modelStreamErrorException";

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every request answers 429 `ThrottlingException`.
    Throttle,
    /// The first request the server sees answers 429; later ones succeed (tests SDK retries).
    ThrottleOnce,
    /// Every request answers 500 `InternalServerException`.
    ServerError,
    /// Streams end with an exception frame after the first content delta (any
    /// `ResponseStream` exception member).
    StreamException(String),
    /// Streams stop after the content, without their terminal event.
    CutStream,
    /// InvokeModel streams carry no `amazon-bedrock-invocationMetrics`.
    NoMetrics,
    /// `invocationMetrics.outputTokenCount` is 3 higher than the events.
    MetricsSkew,
    /// The InvokeModel input-count header is 2 higher than the body.
    HeaderSkew,
    /// The final `message_delta` repeats the `message_start` placeholder as output.
    PlaceholderFinal,
    /// Several `message_delta` events whose counters were summed by a relay.
    SummedDeltas,
    /// Streamed usage replaced by the literal block of LiteLLM v1.63.14.
    HardcodedUsage,
    /// Streams carry no final usage.
    NoFinalUsage,
    /// ConverseStream `metadata` wraps its payload one level too deep.
    NestedUsage,
    /// Non-streaming responses carry no usage at all (body and headers).
    NoBodyUsage,
    /// Not a fault: cumulative `message_delta` every 8 output tokens.
    MultiDelta,
    /// Streams are written in 7-byte pieces, so frames straddle writes.
    TinyWrites,
    /// The response is held back this many milliseconds.
    SlowFirstByte(u64),
    /// Each streamed frame is delayed this many milliseconds.
    TokenLatency(u64),
    /// Chat completions: the usage rides the finish chunk (non-empty `choices`).
    UsageOnChoices,
    /// Chat completions: the usage chunk is sent twice.
    DuplicateUsage,
    /// Chat completions: `total_tokens` is 5 more than prompt + completion.
    TotalMismatch,
    /// Chat completions: `cached_tokens` larger than `prompt_tokens`.
    CachedOverPrompt,
    /// Streamed usage reports the cached prompt as fresh input (cache read folded into input).
    StreamDropsCache,
    /// Streamed usage reports a cache read of 0 (the tokens are lost, not moved).
    StreamCachedZero,
    /// Streamed usage reports a 1-hour cache write as a 5-minute one.
    TtlSplitLost,
    /// Streamed usage reports 0 reasoning tokens.
    ReasoningLost,
    /// Gateway routes: the streamed response reports a cost of 0.
    StreamCostZero,
    /// Gateway routes: the reported cost prices cache reads as uncached input.
    CacheHitFullPrice,
}

/// What argument a fault takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arg {
    None,
    Millis(u64),
    Exception,
}

/// One fault's name, argument and description.
struct Def {
    name: &'static str,
    arg: Arg,
    what: &'static str,
}

const fn def(name: &'static str, what: &'static str) -> Def {
    Def {
        name,
        arg: Arg::None,
        what,
    }
}

/// Every fault, in the order `--list-faults` shows them.
const DEFS: &[Def] = &[
    def("throttle", "every request answers 429 ThrottlingException"),
    def(
        "throttle-once",
        "the first request answers 429 ThrottlingException, later ones succeed",
    ),
    def(
        "server-error",
        "every request answers 500 InternalServerException",
    ),
    Def {
        name: "stream-exception",
        arg: Arg::Exception,
        what: "streams end with an exception frame after the first delta (default modelStreamErrorException)",
    },
    def(
        "cut-stream",
        "streams stop after the content, without their terminal event",
    ),
    def(
        "no-metrics",
        "InvokeModel streams carry no amazon-bedrock-invocationMetrics",
    ),
    def(
        "metrics-skew",
        "invocationMetrics.outputTokenCount is 3 higher than the events",
    ),
    def(
        "header-skew",
        "X-Amzn-Bedrock-Input-Token-Count is 2 higher than the body",
    ),
    def(
        "placeholder-final",
        "the final message_delta repeats the message_start placeholder",
    ),
    def(
        "summed-deltas",
        "several message_delta events whose cumulative counters were summed",
    ),
    def(
        "hardcoded-usage",
        "streamed usage replaced by LiteLLM v1.63.14's literal block (3/392/1796/2191)",
    ),
    def(
        "no-final-usage",
        "streams carry no final usage (no message_delta usage or metrics; no metadata)",
    ),
    def(
        "nested-usage",
        "ConverseStream metadata wrapped one level too deep ({\"metadata\":{...}})",
    ),
    def(
        "no-body-usage",
        "non-streaming responses carry no usage (body and headers)",
    ),
    def(
        "multi-delta",
        "not a fault: cumulative message_delta every 8 output tokens",
    ),
    def("tiny-writes", "streams are written in 7-byte pieces"),
    Def {
        name: "slow-first-byte",
        arg: Arg::Millis(DEFAULT_SLOW_FIRST_BYTE_MS),
        what: "hold the response back MS milliseconds (default 2000)",
    },
    Def {
        name: "token-latency",
        arg: Arg::Millis(DEFAULT_TOKEN_LATENCY_MS),
        what: "delay every streamed frame MS milliseconds (default 20)",
    },
    def(
        "usage-on-choices",
        "(chat) the usage rides the finish chunk, LiteLLM style (non-empty choices)",
    ),
    def("duplicate-usage", "(chat) the usage chunk is sent twice"),
    def(
        "total-mismatch",
        "(chat) total_tokens is 5 more than prompt + completion",
    ),
    def(
        "cached-over-prompt",
        "(chat) cached_tokens larger than prompt_tokens",
    ),
    def(
        "stream-drops-cache",
        "streamed usage reports the cached prompt as fresh input (LiteLLM #39088 class)",
    ),
    def(
        "stream-cached-zero",
        "streamed usage reports a cache read of 0 and leaves it out of the input (LiteLLM #28354 class)",
    ),
    def(
        "ttl-split-lost",
        "every response reports a 1-hour cache write as a 5-minute one (LiteLLM PRs #36762 / #37104 class); the warm-up's write shows it",
    ),
    def(
        "reasoning-lost",
        "streamed usage reports 0 reasoning tokens (LiteLLM #10554 class)",
    ),
    def(
        "stream-cost-zero",
        "(gateway routes) the streamed response reports a cost of 0 (LiteLLM #37923 class)",
    ),
    def(
        "cache-hit-full-price",
        "(gateway routes) the reported cost prices cache reads as uncached input (LiteLLM #14849 class)",
    ),
];

/// Exception members a stream may carry.
const STREAM_EXCEPTIONS: &[&str] = &[
    "internalServerException",
    "modelStreamErrorException",
    "validationException",
    "throttlingException",
    "modelTimeoutException",
    "serviceUnavailableException",
];

/// Every fault with its one-line description, for `serve --list-faults` and the docs.
pub fn catalog() -> Vec<(String, &'static str)> {
    DEFS.iter()
        .map(|d| {
            let name = match d.arg {
                Arg::None => d.name.to_string(),
                Arg::Millis(_) => format!("{}[=MS]", d.name),
                Arg::Exception => format!("{}[=TYPE]", d.name),
            };
            (name, d.what)
        })
        .collect()
}

/// A fault with the share of requests it applies to (`NAME[=ARG][@RATE]`, rate in 0..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// The fault.
    pub fault: Fault,
    /// Share of requests it hits; 1.0 means every request.
    pub rate: f64,
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rate) = match s.rsplit_once('@') {
            Some((n, r)) => {
                let rate: f64 = r
                    .trim()
                    .parse()
                    .map_err(|_| format!("fault rate {r:?} is not a number between 0 and 1"))?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("fault rate {rate} is outside 0..=1"));
                }
                (n, rate)
            }
            None => (s, 1.0),
        };
        Ok(FaultSpec {
            fault: name.parse()?,
            rate,
        })
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rate < 1.0 {
            write!(f, "{}@{}", self.fault, self.rate)
        } else {
            write!(f, "{}", self.fault)
        }
    }
}

impl FaultSpec {
    /// Whether this fault hits request number `n` (deterministic, so runs are repeatable).
    pub fn hits(&self, n: u64, salt: u64) -> bool {
        if self.rate >= 1.0 {
            return true;
        }
        // SplitMix64 of (request, fault position): a fixed, evenly spread sequence.
        let mut z =
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let def = DEFS.iter().find(|d| d.name == name).ok_or_else(|| {
            format!("unknown fault {name:?}; `tokaudit serve --list-faults` lists them")
        })?;
        match (def.arg, arg) {
            (Arg::None, Some(_)) => Err(format!("fault {name:?} takes no argument")),
            (Arg::None, None) => Ok(plain(name)),
            (Arg::Millis(default), a) => {
                let ms = match a {
                    None => default,
                    Some(a) => a
                        .parse()
                        .map_err(|_| format!("{name} takes milliseconds, got {a:?}"))?,
                };
                Ok(if name == "slow-first-byte" {
                    Fault::SlowFirstByte(ms)
                } else {
                    Fault::TokenLatency(ms)
                })
            }
            (Arg::Exception, a) => {
                let t = a.unwrap_or(DEFAULT_STREAM_EXCEPTION);
                if !STREAM_EXCEPTIONS.contains(&t) {
                    return Err(format!(
                        "unknown stream exception {t:?}; one of: {}",
                        STREAM_EXCEPTIONS.join(", ")
                    ));
                }
                Ok(Fault::StreamException(t.to_string()))
            }
        }
    }
}

/// The fault of an argument-less name in [`DEFS`].
fn plain(name: &str) -> Fault {
    match name {
        "throttle" => Fault::Throttle,
        "throttle-once" => Fault::ThrottleOnce,
        "server-error" => Fault::ServerError,
        "cut-stream" => Fault::CutStream,
        "no-metrics" => Fault::NoMetrics,
        "metrics-skew" => Fault::MetricsSkew,
        "header-skew" => Fault::HeaderSkew,
        "placeholder-final" => Fault::PlaceholderFinal,
        "summed-deltas" => Fault::SummedDeltas,
        "hardcoded-usage" => Fault::HardcodedUsage,
        "no-final-usage" => Fault::NoFinalUsage,
        "nested-usage" => Fault::NestedUsage,
        "no-body-usage" => Fault::NoBodyUsage,
        "multi-delta" => Fault::MultiDelta,
        "tiny-writes" => Fault::TinyWrites,
        "usage-on-choices" => Fault::UsageOnChoices,
        "duplicate-usage" => Fault::DuplicateUsage,
        "total-mismatch" => Fault::TotalMismatch,
        "cached-over-prompt" => Fault::CachedOverPrompt,
        "stream-drops-cache" => Fault::StreamDropsCache,
        "stream-cached-zero" => Fault::StreamCachedZero,
        "ttl-split-lost" => Fault::TtlSplitLost,
        "reasoning-lost" => Fault::ReasoningLost,
        "stream-cost-zero" => Fault::StreamCostZero,
        _ => Fault::CacheHitFullPrice,
    }
}

impl Fault {
    /// Its name in [`DEFS`].
    fn name(&self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ThrottleOnce => "throttle-once",
            Fault::ServerError => "server-error",
            Fault::StreamException(_) => "stream-exception",
            Fault::CutStream => "cut-stream",
            Fault::NoMetrics => "no-metrics",
            Fault::MetricsSkew => "metrics-skew",
            Fault::HeaderSkew => "header-skew",
            Fault::PlaceholderFinal => "placeholder-final",
            Fault::SummedDeltas => "summed-deltas",
            Fault::HardcodedUsage => "hardcoded-usage",
            Fault::NoFinalUsage => "no-final-usage",
            Fault::NestedUsage => "nested-usage",
            Fault::NoBodyUsage => "no-body-usage",
            Fault::MultiDelta => "multi-delta",
            Fault::TinyWrites => "tiny-writes",
            Fault::SlowFirstByte(_) => "slow-first-byte",
            Fault::TokenLatency(_) => "token-latency",
            Fault::UsageOnChoices => "usage-on-choices",
            Fault::DuplicateUsage => "duplicate-usage",
            Fault::TotalMismatch => "total-mismatch",
            Fault::CachedOverPrompt => "cached-over-prompt",
            Fault::StreamDropsCache => "stream-drops-cache",
            Fault::StreamCachedZero => "stream-cached-zero",
            Fault::TtlSplitLost => "ttl-split-lost",
            Fault::ReasoningLost => "reasoning-lost",
            Fault::StreamCostZero => "stream-cost-zero",
            Fault::CacheHitFullPrice => "cache-hit-full-price",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::StreamException(t) => write!(f, "stream-exception={t}"),
            Fault::SlowFirstByte(ms) => write!(f, "slow-first-byte={ms}"),
            Fault::TokenLatency(ms) => write!(f, "token-latency={ms}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Parse a comma-separated list (the per-request header).
pub fn parse_list(s: &str) -> Result<Vec<FaultSpec>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_fault_parses_and_round_trips_and_every_variant_is_listed() {
        for d in DEFS {
            let f: Fault = d.name.parse().unwrap();
            assert_eq!(f.name(), d.name);
            assert_eq!(f.to_string().split('=').next().unwrap(), d.name);
        }
        assert_eq!(catalog().len(), DEFS.len());
        assert_eq!(
            "stream-exception=throttlingException"
                .parse::<Fault>()
                .unwrap(),
            Fault::StreamException("throttlingException".into())
        );
        assert!("stream-exception=bogus".parse::<Fault>().is_err());
        assert!("nope".parse::<Fault>().unwrap_err().contains("list-faults"));
        assert!(
            "cut-stream=1"
                .parse::<Fault>()
                .unwrap_err()
                .contains("no argument")
        );
        assert_eq!(parse_list("cut-stream, no-metrics").unwrap().len(), 2);
        assert_eq!(
            "token-latency=5".parse::<Fault>().unwrap(),
            Fault::TokenLatency(5)
        );
    }

    #[test]
    fn rates_hit_about_that_share_of_requests_deterministically() {
        let spec: FaultSpec = "throttle@0.25".parse().unwrap();
        let hits = (0..10_000).filter(|n| spec.hits(*n, 0)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
        assert_eq!(spec.hits(7, 0), spec.hits(7, 0));
        assert!("throttle@2".parse::<FaultSpec>().is_err());
        assert!("throttle@x".parse::<FaultSpec>().is_err());
        assert_eq!(spec.to_string(), "throttle@0.25");
    }
}
