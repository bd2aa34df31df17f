//! Prices: a versioned table of USD per token, embedded in the binary and replaceable with
//! `--prices FILE` (same format), so that every side of every case gets a cost and every
//! mismatch a price. The embedded table is generated from LiteLLM's maintained price map by
//! `scripts/update-prices.py` (its source, date and licence are in the table and in reports).
//!
//! A cost is input × input price + cache read × cache-read price + the 5-minute and 1-hour
//! cache writes × their prices + output × output price (reasoning at its own price where the
//! table has one). A cache write whose TTL split is not reported is priced as a 5-minute
//! write, as the provider would bill it. Above 200k input tokens, models with a long-context
//! tier are priced at that tier for the whole request.

use crate::core::normalize::{Field, UsageSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The embedded table.
const EMBEDDED: &str = include_str!("prices.json");
/// The price-table format this build reads.
pub const SCHEMA_VERSION: u32 = 1;
/// Input tokens above which a long-context tier applies.
pub const LONG_CONTEXT_TOKENS: u64 = 200_000;
/// Bedrock's region prefixes of inference-profile ids (`us.anthropic.…`).
const REGION_PREFIXES: [&str; 7] = ["us.", "eu.", "apac.", "jp.", "au.", "global.", "us-gov."];

/// Prices of one model, USD per token; absent prices fall back as [`Prices::cost`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache read (falls back to input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Cache write kept 5 minutes (falls back to input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<f64>,
    /// Cache write kept 1 hour (falls back to the 5-minute write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
    /// Reasoning output, where priced apart from output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
    /// The tier above 200k input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above_200k: Option<Tier>,
    /// Where a price came from when it is not the source's own entry for this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The long-context tier: each price replaces the base one when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Uncached input.
    #[serde(default)]
    pub input: Option<f64>,
    /// Output.
    #[serde(default)]
    pub output: Option<f64>,
    /// Cache read.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache write, 5 minutes.
    #[serde(default)]
    pub cache_write_5m: Option<f64>,
    /// Cache write, 1 hour.
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
}

/// A price table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Format version.
    pub schema_version: u32,
    /// Where the prices come from.
    pub source: String,
    /// The source's address.
    pub source_url: String,
    /// The source's licence.
    pub licence: String,
    /// When they were taken.
    pub retrieved: String,
    /// Always USD.
    pub currency: String,
    /// Always "per token".
    pub unit: String,
    /// Prices by model id.
    pub models: BTreeMap<String, Rates>,
}

/// A price table that cannot be used: one line naming the field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PricesError(pub String);

/// The cost of one usage, with its parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// USD.
    pub usd: f64,
    /// The table entry used.
    pub model: String,
    /// USD per part: `input`, `cache_read`, `cache_write_5m`, `cache_write_1h`, `output`.
    pub parts: BTreeMap<&'static str, f64>,
    /// How an absent price or split was filled in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Prices {
    /// The table built into this binary.
    pub fn embedded() -> Arc<Prices> {
        static TABLE: OnceLock<Arc<Prices>> = OnceLock::new();
        TABLE
            .get_or_init(|| {
                Arc::new(Prices::parse(EMBEDDED).expect("the embedded price table is valid"))
            })
            .clone()
    }

    /// Parse and check a table: the version, and every price a finite number ≥ 0 with a
    /// cache read never dearer than uncached input.
    pub fn parse(text: &str) -> Result<Prices, PricesError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let table: Prices = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| PricesError(format!("{}: {}", e.path(), e.inner())))?;
        if table.schema_version != SCHEMA_VERSION {
            return Err(PricesError(format!(
                "schema_version {} is not the price-table format this build reads ({SCHEMA_VERSION})",
                table.schema_version
            )));
        }
        for (model, r) in &table.models {
            r.check()
                .map_err(|e| PricesError(format!("models.{model}.{e}")))?;
        }
        Ok(table)
    }

    /// The table entry for a model id, inference-profile id or ARN: the id as given, then
    /// without its ARN prefix and region prefix, then as the Anthropic model name.
    pub fn lookup(&self, model: &str) -> Option<(&str, &Rates)> {
        let base = model.rsplit('/').next().unwrap_or(model);
        let base = REGION_PREFIXES
            .iter()
            .find_map(|p| base.strip_prefix(p))
            .unwrap_or(base);
        let anthropic = base.strip_prefix("anthropic.").map(|n| {
            n.rsplit_once("-v")
                .filter(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
                .map_or(n, |(head, _)| head)
        });
        [Some(model), Some(base), anthropic]
            .into_iter()
            .flatten()
            .find_map(|k| self.models.get_key_value(k))
            .map(|(k, r)| (k.as_str(), r))
    }

    /// The cost of a usage at a model's prices; `None` without a price for the model or
    /// without the usage's input and output.
    pub fn cost(&self, model: &str, usage: &UsageSet) -> Option<Cost> {
        let (key, rates) = self.lookup(model)?;
        rates.cost(key, usage)
    }
}

impl Rates {
    fn check(&self) -> Result<(), String> {
        let tier = self.above_200k.clone().unwrap_or_default();
        let prices = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cache_read", self.cache_read),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("reasoning", self.reasoning),
            ("above_200k.input", tier.input),
            ("above_200k.output", tier.output),
            ("above_200k.cache_read", tier.cache_read),
            ("above_200k.cache_write_5m", tier.cache_write_5m),
            ("above_200k.cache_write_1h", tier.cache_write_1h),
        ];
        for (name, p) in prices {
            if let Some(p) = p.filter(|p| !p.is_finite() || *p < 0.0) {
                return Err(format!("{name}: {p} is not a price (USD per token ≥ 0)"));
            }
        }
        if self.cache_read.is_some_and(|c| c > self.input) {
            return Err(format!(
                "cache_read: {} is dearer than uncached input ({}): a cache read never costs more",
                self.cache_read.unwrap_or_default(),
                self.input
            ));
        }
        Ok(())
    }

    /// The price of one token of `field` (the base tier), for pricing a difference.
    pub fn unit(&self, field: Field) -> f64 {
        match field {
            Field::CacheRead => self.cache_read.unwrap_or(self.input),
            Field::CacheWrite | Field::CacheWrite5m => self.cache_write_5m.unwrap_or(self.input),
            Field::CacheWrite1h => self
                .cache_write_1h
                .or(self.cache_write_5m)
                .unwrap_or(self.input),
            Field::Output | Field::Total => self.output,
            Field::Reasoning => self.reasoning.unwrap_or(self.output),
            Field::Input | Field::InputTotal => self.input,
        }
    }

    /// The cost of a usage at these prices, `key` naming the table entry in the result;
    /// `None` without the usage's input and output.
    pub fn cost(&self, key: &str, u: &UsageSet) -> Option<Cost> {
        let input = u.value(Field::Input)?;
        let output = u.value(Field::Output)?;
        let v = |f: Field| u.value(f).unwrap_or(0);
        let (read, write) = (v(Field::CacheRead), v(Field::CacheWrite));
        let mut notes = Vec::new();
        let (w5, w1) = match (u.value(Field::CacheWrite5m), u.value(Field::CacheWrite1h)) {
            (None, None) if write > 0 => {
                notes.push("cache write priced as 5-minute (no TTL split reported)".into());
                (write, 0)
            }
            (five, hour) => (five.unwrap_or(0), hour.unwrap_or(0)),
        };
        let long = u.input_total().is_some_and(|t| t > LONG_CONTEXT_TOKENS);
        let tier = self.above_200k.as_ref().filter(|_| long);
        let pick = |base: f64, over: Option<f64>| tier.and(over).unwrap_or(base);
        let t = tier.cloned().unwrap_or_default();
        if self.cache_write_1h.is_none() && w1 > 0 {
            notes.push("no 1-hour cache-write price: priced at the 5-minute rate".into());
        }
        let reasoning = v(Field::Reasoning).min(output);
        let (out_price, reasoning_price) = (pick(self.output, t.output), self.reasoning);
        let reasoning_cost = reasoning_price.map_or(0.0, |p| reasoning as f64 * p);
        let plain_output = if reasoning_price.is_some() {
            output - reasoning
        } else {
            output
        };
        let parts: BTreeMap<&'static str, f64> = [
            ("input", input as f64 * pick(self.input, t.input)),
            (
                "cache_read",
                read as f64 * pick(self.unit(Field::CacheRead), t.cache_read),
            ),
            (
                "cache_write_5m",
                w5 as f64 * pick(self.unit(Field::CacheWrite5m), t.cache_write_5m),
            ),
            (
                "cache_write_1h",
                w1 as f64 * pick(self.unit(Field::CacheWrite1h), t.cache_write_1h),
            ),
            ("output", plain_output as f64 * out_price + reasoning_cost),
        ]
        .into_iter()
        .collect();
        Some(Cost {
            usd: parts.values().sum(),
            model: key.to_string(),
            parts,
            notes,
        })
    }
}

/// USD for people: enough significant digits to tell fractions of a cent apart.
pub fn usd(amount: f64) -> String {
    if amount == 0.0 {
        "$0".into()
    } else if amount.abs() >= 1.0 {
        format!("${amount:.2}")
    } else {
        let digits = (-amount.abs().log10()).ceil() as usize + 2;
        let s = format!("{amount:.digits$}");
        format!("${}", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::normalize::{Kind, Obs};

    fn usage(pairs: &[(Field, u64)]) -> UsageSet {
        let mut u = UsageSet::default();
        for (f, v) in pairs {
            let o = Some(Obs {
                value: *v,
                source: "t".into(),
                kind: Kind::Reported,
            });
            match f {
                Field::Input => u.input = o,
                Field::CacheRead => u.cache_read = o,
                Field::CacheWrite => u.cache_write = o,
                Field::CacheWrite5m => u.cache_write_5m = o,
                Field::CacheWrite1h => u.cache_write_1h = o,
                Field::Output => u.output = o,
                Field::Reasoning => u.reasoning = o,
                _ => {}
            }
        }
        u
    }

    #[test]
    fn the_embedded_table_loads_and_finds_bedrock_ids_profiles_and_arns() {
        let p = Prices::embedded();
        assert!(p.source.starts_with("LiteLLM "), "{}", p.source);
        for id in [
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:<account>:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            assert_eq!(
                p.lookup(id).unwrap().0,
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                "{id}"
            );
        }
        assert!(
            p.lookup("anthropic.claude-3-haiku-20240307-v1:0").is_some(),
            "the default model"
        );
        assert!(p.lookup("claude-haiku").is_none());
    }

    #[test]
    fn one_hour_writes_cost_more_than_five_minute_ones() {
        let p = Prices::embedded();
        let m = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        let five = usage(&[
            (Field::Input, 10),
            (Field::CacheWrite, 1000),
            (Field::CacheWrite5m, 1000),
            (Field::Output, 2),
        ]);
        let hour = usage(&[
            (Field::Input, 10),
            (Field::CacheWrite, 1000),
            (Field::CacheWrite1h, 1000),
            (Field::Output, 2),
        ]);
        let (a, b) = (p.cost(m, &five).unwrap(), p.cost(m, &hour).unwrap());
        assert!(
            (a.usd - (10.0 * 3e-6 + 1000.0 * 3.75e-6 + 2.0 * 1.5e-5)).abs() < 1e-12,
            "{a:?}"
        );
        assert!(
            (b.usd - (10.0 * 3e-6 + 1000.0 * 6e-6 + 2.0 * 1.5e-5)).abs() < 1e-12,
            "{b:?}"
        );
        let unsplit = usage(&[
            (Field::Input, 10),
            (Field::CacheWrite, 1000),
            (Field::Output, 2),
        ]);
        let c = p.cost(m, &unsplit).unwrap();
        assert_eq!(c.usd, a.usd);
        assert_eq!(c.notes.len(), 1);
    }

    #[test]
    fn tables_refuse_bad_prices_and_dear_cache_reads() {
        let bad = EMBEDDED.replacen("\"input\": 8e-07", "\"input\": -1", 1);
        assert!(
            Prices::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("is not a price")
        );
        let mut t = Prices::parse(EMBEDDED).unwrap();
        t.models.values_mut().next().unwrap().cache_read = Some(1.0);
        let text = serde_json::to_string(&t).unwrap();
        assert!(
            Prices::parse(&text)
                .unwrap_err()
                .to_string()
                .contains("never costs more")
        );
    }

    #[test]
    fn amounts_read_well() {
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(0.000123), "$0.000123");
        assert_eq!(usd(0.0000004567), "$0.000000457");
        assert_eq!(usd(0.000005), "$0.000005");
        assert_eq!(usd(0.5), "$0.5");
    }
}
