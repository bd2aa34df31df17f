//! The normalized record: usage fields, observations with their provenance, and the usage
//! channels one response can carry.

use serde::Serialize;
use std::fmt;

/// A usage field of the normalized record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Uncached input tokens.
    Input,
    /// Input tokens read from the prompt cache.
    CacheRead,
    /// Input tokens written to the prompt cache.
    CacheWrite,
    /// The part of the cache write kept for 5 minutes (Anthropic `ephemeral_5m_input_tokens`,
    /// Converse `cacheDetails` with `ttl: 5m`).
    #[serde(rename = "cache_write_5m")]
    CacheWrite5m,
    /// The part of the cache write kept for 1 hour (priced higher than the 5-minute write).
    #[serde(rename = "cache_write_1h")]
    CacheWrite1h,
    /// `input + cache_read + cache_write` (always derived).
    InputTotal,
    /// Output tokens.
    Output,
    /// The total, reported or derived.
    Total,
    /// Reasoning (thinking) tokens, a subset of output.
    Reasoning,
}

impl Field {
    /// Every field, in table order.
    pub const ALL: [Field; 9] = [
        Field::Input,
        Field::CacheRead,
        Field::CacheWrite,
        Field::CacheWrite5m,
        Field::CacheWrite1h,
        Field::InputTotal,
        Field::Output,
        Field::Total,
        Field::Reasoning,
    ];

    /// The field's name as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Field::Input => "input",
            Field::CacheRead => "cache_read",
            Field::CacheWrite => "cache_write",
            Field::CacheWrite5m => "cache_write_5m",
            Field::CacheWrite1h => "cache_write_1h",
            Field::InputTotal => "input_total",
            Field::Output => "output",
            Field::Total => "total",
            Field::Reasoning => "reasoning",
        }
    }
}

impl Field {
    /// Fields shown in the diff table only when a side reports them (most formats never do).
    pub fn optional_row(self) -> bool {
        matches!(
            self,
            Field::CacheWrite5m | Field::CacheWrite1h | Field::Reasoning
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a number came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Carried on the wire as the final figure for its channel.
    Reported,
    /// Computed by tokaudit from reported numbers.
    Derived,
    /// Carried on the wire but documented as not final (`message_start.usage.output_tokens`).
    Placeholder,
}

/// One number with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Obs {
    /// The count.
    pub value: u64,
    /// Where it came from, e.g. `frame[4] message_delta.usage.output_tokens`.
    pub source: String,
    /// Reported, derived or placeholder.
    pub kind: Kind,
}

impl Obs {
    pub(super) fn reported(value: u64, source: String) -> Self {
        Obs {
            value,
            source,
            kind: Kind::Reported,
        }
    }
}

/// The usage numbers of one channel (or the chosen usage of a side).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UsageSet {
    /// Uncached input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Obs>,
    /// Cache read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Obs>,
    /// Cache write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<Obs>,
    /// The 5-minute part of the cache write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<Obs>,
    /// The 1-hour part of the cache write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<Obs>,
    /// Output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Obs>,
    /// Total as reported (Converse) or derived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Obs>,
    /// Reasoning tokens (a subset of output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Obs>,
    /// OpenAI-shaped `prompt_tokens` as reported: input *including* cache tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_inclusive: Option<Obs>,
    /// A cost in USD the same object (or response) reported, e.g. a gateway's `usage.cost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_cost: Option<ReportedCost>,
    /// Quantities this object carries a second time (another spelling, or parts that must add
    /// up to the whole): the figures that were not used, for `usage-self-consistent`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<Duplicate>,
}

/// A cost reported on the wire, with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportedCost {
    /// USD.
    pub usd: f64,
    /// Where it came from, e.g. `header:x-litellm-response-cost`.
    pub source: String,
}

/// A quantity one usage object carries twice: the figure that was not used, beside the one
/// that was (the object's own observation of `field`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    /// The quantity.
    pub field: Field,
    /// The other figure, with its provenance.
    pub other: Obs,
}

impl UsageSet {
    /// The observation of a stored field (`InputTotal` is computed, see [`Self::input_total`]).
    pub fn get(&self, field: Field) -> Option<&Obs> {
        match field {
            Field::Input => self.input.as_ref(),
            Field::CacheRead => self.cache_read.as_ref(),
            Field::CacheWrite => self.cache_write.as_ref(),
            Field::CacheWrite5m => self.cache_write_5m.as_ref(),
            Field::CacheWrite1h => self.cache_write_1h.as_ref(),
            Field::Output => self.output.as_ref(),
            Field::Total => self.total.as_ref(),
            Field::Reasoning => self.reasoning.as_ref(),
            Field::InputTotal => None,
        }
    }

    /// The value of any field, `InputTotal` included.
    pub fn value(&self, field: Field) -> Option<u64> {
        match field {
            Field::InputTotal => self.input_total(),
            f => self.get(f).map(|o| o.value),
        }
    }

    /// Total input: uncached input plus both cache fields (absent cache fields count as 0).
    /// This is the one place where the cache-exclusive Bedrock convention is folded.
    pub fn input_total(&self) -> Option<u64> {
        let input = self.input.as_ref()?.value;
        crate::core::count::sum([
            input,
            self.cache_read.as_ref().map_or(0, |o| o.value),
            self.cache_write.as_ref().map_or(0, |o| o.value),
        ])
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.input.is_none()
            && self.cache_read.is_none()
            && self.cache_write.is_none()
            && self.output.is_none()
            && self.total.is_none()
            && self.prompt_inclusive.is_none()
    }

    /// Use `first` for `field` and keep `second` as its duplicate; with only one present, use it.
    pub(super) fn set_either(&mut self, field: Field, first: Option<Obs>, second: Option<Obs>) {
        match (first, second) {
            (Some(a), Some(b)) => {
                self.set(field, a);
                self.duplicates.push(Duplicate { field, other: b });
            }
            (Some(a), None) | (None, Some(a)) => self.set(field, a),
            (None, None) => {}
        }
    }

    pub(super) fn set(&mut self, field: Field, obs: Obs) {
        match field {
            Field::Input => self.input = Some(obs),
            Field::CacheRead => self.cache_read = Some(obs),
            Field::CacheWrite => self.cache_write = Some(obs),
            Field::CacheWrite5m => self.cache_write_5m = Some(obs),
            Field::CacheWrite1h => self.cache_write_1h = Some(obs),
            Field::Output => self.output = Some(obs),
            Field::Total => self.total = Some(obs),
            Field::Reasoning => self.reasoning = Some(obs),
            Field::InputTotal => {}
        }
    }

    /// Fill `total` with a derived sum when the wire did not report one.
    pub(super) fn derive_total(&mut self) {
        if self.total.is_none()
            && let (Some(input_total), Some(out)) = (self.input_total(), self.output.as_ref())
            && let Some(value) = crate::core::count::sum([input_total, out.value])
        {
            self.total = Some(Obs {
                value,
                source: "derived: input + cache_read + cache_write + output".into(),
                kind: Kind::Derived,
            });
        }
    }
}

/// Every usage channel one response can carry. Unused channels stay `None` / empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Channels {
    /// InvokeModel / Converse body `usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<UsageSet>,
    /// InvokeModel `X-Amzn-Bedrock-*-Token-Count` headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<UsageSet>,
    /// `message_start.message.usage` (its `output` is a placeholder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_start: Option<UsageSet>,
    /// Each `message_delta.usage`, in order (cumulative counters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub message_deltas: Vec<UsageSet>,
    /// `amazon-bedrock-invocationMetrics` on the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_metrics: Option<UsageSet>,
    /// ConverseStream `metadata.usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<UsageSet>,
    /// Chat-completions stream chunks that carried a non-null `usage`, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage_chunks: Vec<UsageSet>,
}

impl Channels {
    /// Every usage object the wire carried, in channel order.
    pub fn sets(&self) -> impl Iterator<Item = &UsageSet> {
        self.body
            .iter()
            .chain(&self.headers)
            .chain(&self.message_start)
            .chain(&self.message_deltas)
            .chain(&self.invocation_metrics)
            .chain(&self.metadata)
            .chain(&self.usage_chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(set: &mut UsageSet, field: Field, value: u64, source: &str) {
        set.set(field, Obs::reported(value, source.into()));
    }

    #[test]
    fn input_total_adds_cache_exactly_once() {
        let mut u = UsageSet::default();
        put(&mut u, Field::Input, 3, "a");
        put(&mut u, Field::CacheWrite, 25037, "b");
        put(&mut u, Field::Output, 5, "c");
        assert_eq!(u.input_total(), Some(25040));
        u.derive_total();
        assert_eq!(u.value(Field::Total), Some(25045));
        assert_eq!(u.total.unwrap().kind, Kind::Derived);
    }
}
