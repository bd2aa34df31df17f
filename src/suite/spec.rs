//! The suite file as TOML says it: every key, with the span of each value that a validator
//! may need to point at. Unknown keys are refused by serde with their line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Settings a case may set, and `[defaults]` may set for every case.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    pub target: Option<Spanned<String>>,
    pub model: Option<String>,
    pub api: Option<Spanned<String>>,
    pub region: Option<String>,
    pub max_tokens: Option<Spanned<i64>>,
    pub temperature: Option<f64>,
    pub runs: Option<Spanned<i64>>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub ledger: Option<String>,
}

impl Settings {
    /// These settings, with `defaults` filling what is unset.
    pub fn or(&self, defaults: &Settings) -> Settings {
        Settings {
            target: self.target.clone().or(defaults.target.clone()),
            model: self.model.clone().or(defaults.model.clone()),
            api: self.api.clone().or(defaults.api.clone()),
            region: self.region.clone().or(defaults.region.clone()),
            max_tokens: self.max_tokens.clone().or(defaults.max_tokens.clone()),
            temperature: self.temperature.or(defaults.temperature),
            runs: self.runs.clone().or(defaults.runs.clone()),
            base_url: self.base_url.clone().or(defaults.base_url.clone()),
            api_key_env: self.api_key_env.clone().or(defaults.api_key_env.clone()),
            ledger: self.ledger.clone().or(defaults.ledger.clone()),
        }
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SuiteFile {
    #[serde(default)]
    pub defaults: Settings,
    #[serde(default)]
    pub case: Vec<Spanned<CaseSpec>>,
}

/// One `[[case]]`. The settings are spelled out again rather than flattened: serde cannot
/// refuse unknown keys through `flatten`, nor keep spans.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaseSpec {
    pub name: String,
    pub target: Option<Spanned<String>>,
    pub model: Option<String>,
    pub api: Option<Spanned<String>>,
    pub region: Option<String>,
    pub max_tokens: Option<Spanned<i64>>,
    pub temperature: Option<f64>,
    pub runs: Option<Spanned<i64>>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub ledger: Option<String>,
    pub prompt: Option<String>,
    pub prompts: Option<Vec<String>>,
    pub system: Option<String>,
    pub system_file: Option<Spanned<String>>,
    pub cache: Option<bool>,
    pub cache_ttl: Option<Spanned<String>>,
    pub warmup: Option<bool>,
    pub thinking: Option<Spanned<i64>>,
    pub max_cost: Option<Spanned<f64>>,
    pub price_model: Option<String>,
    pub fixtures: Option<Vec<String>>,
    pub check_expect: Option<bool>,
    pub emulator_faults: Option<Vec<Spanned<String>>>,
    pub tolerance: Option<BTreeMap<Spanned<String>, Spanned<i64>>>,
    pub expect: Option<ExpectSpec>,
    pub kind: Option<Spanned<String>>,
    pub invocation_logs: Option<Vec<String>>,
    pub gateway_logs: Option<Vec<String>>,
    pub spans: Option<Vec<String>>,
    pub recordings: Option<Vec<String>>,
    pub join: Option<Spanned<String>>,
}

impl CaseSpec {
    /// The case's own settings, in the shape of `[defaults]`.
    pub fn settings(&self) -> Settings {
        Settings {
            target: self.target.clone(),
            model: self.model.clone(),
            api: self.api.clone(),
            region: self.region.clone(),
            max_tokens: self.max_tokens.clone(),
            temperature: self.temperature,
            runs: self.runs.clone(),
            base_url: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
            ledger: self.ledger.clone(),
        }
    }
}

/// `[case.expect]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectSpec {
    pub verdict: Spanned<String>,
    pub reason: String,
    #[serde(default)]
    pub findings: Vec<Spanned<String>>,
}
