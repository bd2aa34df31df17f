//! Named faults the emulator injects on request, one per bug class a provider or a relay in
//! front of it can show on the wire (`shared/reference/bug-zoo.md`). Chosen per server
//! (`serve --fault NAME`, `compare --offline --emulator-fault NAME`) or per request (header
//! `x-tokaudit-fault: NAME[,NAME…]`).

use std::fmt;
use std::str::FromStr;

/// The per-request fault header.
pub const FAULT_HEADER: &str = "x-tokaudit-fault";

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every request answers 429 `ThrottlingException`.
    Throttle,
    /// The first request the server sees answers 429; later ones succeed (tests SDK retries).
    ThrottleOnce,
    /// Every request answers 500 `InternalServerException`.
    ServerError,
    /// Streams end with an exception frame after the first content delta
    /// (default `modelStreamErrorException`; any `ResponseStream` exception member).
    StreamException(String),
    /// Streams stop after the content, without `message_stop` / `messageStop`.
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
    /// Streamed usage replaced by the literal block of LiteLLM v1.63.14 (input 3, output 392,
    /// cache read 1796, total 2191).
    HardcodedUsage,
    /// Streams carry no final usage (no `message_delta` usage and no metrics; no `metadata`).
    NoFinalUsage,
    /// ConverseStream `metadata` wraps its payload one level too deep (`{"metadata":{…}}`).
    NestedUsage,
    /// Non-streaming responses carry no usage at all (body and headers).
    NoBodyUsage,
    /// Not a fault: cumulative `message_delta` every 8 output tokens, as long streams may do.
    MultiDelta,
    /// Streams are written in 7-byte pieces, so frames straddle writes.
    TinyWrites,
    /// The response (or the first frame) is held back this many milliseconds.
    SlowFirstByte(u64),
    /// Each streamed token frame is delayed this many milliseconds.
    TokenLatency(u64),
    /// Chat completions: the usage rides the finish chunk (non-empty `choices`), LiteLLM style.
    UsageOnChoices,
    /// Chat completions: the usage chunk is sent twice.
    DuplicateUsage,
    /// Chat completions: `total_tokens` is 5 more than prompt + completion.
    TotalMismatch,
    /// Chat completions: `cached_tokens` larger than `prompt_tokens`.
    CachedOverPrompt,
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

/// Every fault with its one-line description, for `serve --list-faults` and the docs.
pub const CATALOG: &[(&str, &str)] = &[
    ("throttle", "every request answers 429 ThrottlingException"),
    (
        "throttle-once",
        "the first request answers 429 ThrottlingException, later ones succeed",
    ),
    (
        "server-error",
        "every request answers 500 InternalServerException",
    ),
    (
        "stream-exception[=TYPE]",
        "streams end with an exception frame after the first delta (default modelStreamErrorException)",
    ),
    (
        "cut-stream",
        "streams stop after the content, without their terminal event",
    ),
    (
        "no-metrics",
        "InvokeModel streams carry no amazon-bedrock-invocationMetrics",
    ),
    (
        "metrics-skew",
        "invocationMetrics.outputTokenCount is 3 higher than the events",
    ),
    (
        "header-skew",
        "X-Amzn-Bedrock-Input-Token-Count is 2 higher than the body",
    ),
    (
        "placeholder-final",
        "the final message_delta repeats the message_start placeholder",
    ),
    (
        "summed-deltas",
        "several message_delta events whose cumulative counters were summed",
    ),
    (
        "hardcoded-usage",
        "streamed usage replaced by LiteLLM v1.63.14's literal block (3/392/1796/2191)",
    ),
    (
        "no-final-usage",
        "streams carry no final usage (no message_delta usage or metrics; no metadata)",
    ),
    (
        "nested-usage",
        "ConverseStream metadata wrapped one level too deep ({\"metadata\":{...}})",
    ),
    (
        "no-body-usage",
        "non-streaming responses carry no usage (body and headers)",
    ),
    (
        "multi-delta",
        "not a fault: cumulative message_delta every 8 output tokens",
    ),
    ("tiny-writes", "streams are written in 7-byte pieces"),
    (
        "slow-first-byte[=MS]",
        "hold the response (or the first frame) back MS milliseconds (default 2000)",
    ),
    (
        "token-latency[=MS]",
        "delay every streamed frame MS milliseconds (default 20)",
    ),
];

/// How to write a fault on the command line or in the header.
pub const SYNTAX: &str = "NAME[=ARG][@RATE]: RATE (0..1, default 1) is the share of requests hit";

/// Exception members a stream may carry.
const STREAM_EXCEPTIONS: &[&str] = &[
    "internalServerException",
    "modelStreamErrorException",
    "validationException",
    "throttlingException",
    "modelTimeoutException",
    "serviceUnavailableException",
];

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let fault = match name {
            "throttle" => Fault::Throttle,
            "throttle-once" => Fault::ThrottleOnce,
            "server-error" => Fault::ServerError,
            "stream-exception" => {
                let t = arg.unwrap_or("modelStreamErrorException");
                if !STREAM_EXCEPTIONS.contains(&t) {
                    return Err(format!(
                        "unknown stream exception {t:?}; one of: {}",
                        STREAM_EXCEPTIONS.join(", ")
                    ));
                }
                return Ok(Fault::StreamException(t.to_string()));
            }
            "slow-first-byte" | "token-latency" => {
                let ms = match arg {
                    None if name == "slow-first-byte" => 2000,
                    None => 20,
                    Some(a) => a
                        .parse()
                        .map_err(|_| format!("{name} takes milliseconds, got {a:?}"))?,
                };
                return Ok(if name == "slow-first-byte" {
                    Fault::SlowFirstByte(ms)
                } else {
                    Fault::TokenLatency(ms)
                });
            }
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
            other => {
                return Err(format!(
                    "unknown fault {other:?}; `tokaudit serve --list-faults` lists them"
                ));
            }
        };
        if arg.is_some() {
            return Err(format!("fault {name:?} takes no argument"));
        }
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Fault::Throttle => "throttle",
            Fault::ThrottleOnce => "throttle-once",
            Fault::ServerError => "server-error",
            Fault::StreamException(t) => return write!(f, "stream-exception={t}"),
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
            Fault::UsageOnChoices => "usage-on-choices",
            Fault::DuplicateUsage => "duplicate-usage",
            Fault::TotalMismatch => "total-mismatch",
            Fault::CachedOverPrompt => "cached-over-prompt",
            Fault::SlowFirstByte(ms) => return write!(f, "slow-first-byte={ms}"),
            Fault::TokenLatency(ms) => return write!(f, "token-latency={ms}"),
        };
        f.write_str(name)
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
    fn every_catalog_entry_parses_and_round_trips() {
        for (name, _) in CATALOG {
            let name = name.split('[').next().unwrap();
            let f: Fault = name.parse().unwrap();
            assert_eq!(f.to_string().split('=').next().unwrap(), name);
        }
        assert_eq!(
            "stream-exception=throttlingException"
                .parse::<Fault>()
                .unwrap(),
            Fault::StreamException("throttlingException".into())
        );
        assert!("stream-exception=bogus".parse::<Fault>().is_err());
        assert!("nope".parse::<Fault>().unwrap_err().contains("list-faults"));
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
