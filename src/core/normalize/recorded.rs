//! Usage as a record states it: the spans of one request's trace, read in whichever
//! convention they use and converted once, here, to the normalized record (input *without*
//! cache, like the wire's). Conventions disagree on whether input includes cache tokens
//! (`shared/reference/billing-and-records.md` §5), so every reading says which one it used.

use super::usage::{Kind, Obs, ReportedCost, UsageSet};
use crate::core::count;
use crate::core::record::{Record, Span};
use serde::Serialize;
use serde_json::Value;

/// A convention for usage attributes on spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convention {
    /// OpenTelemetry GenAI, current: `gen_ai.usage.input_tokens` *includes* cache reads and
    /// writes (`gen_ai.usage.cache_read.input_tokens`, `…cache_creation.input_tokens`);
    /// `gen_ai.usage.reasoning.output_tokens` is part of output.
    GenAi,
    /// OpenTelemetry GenAI before 1.27: `gen_ai.usage.prompt_tokens` (including cache reads,
    /// `gen_ai.usage.cache_read_input_tokens`) and `gen_ai.usage.completion_tokens`.
    GenAiLegacy,
    /// OpenLLMetry: `llm.usage.prompt_tokens`, `llm.usage.completion_tokens`,
    /// `llm.usage.total_tokens`.
    OpenLlmetry,
}

impl Convention {
    /// The convention's name in findings.
    pub fn name(self) -> &'static str {
        match self {
            Convention::GenAi => "OpenTelemetry GenAI",
            Convention::GenAiLegacy => "OpenTelemetry GenAI (pre-1.27)",
            Convention::OpenLlmetry => "OpenLLMetry",
        }
    }
}

/// The attribute keys of one convention.
struct Keys {
    convention: Convention,
    input: &'static str,
    output: &'static str,
    cache_read: &'static str,
    cache_write: Option<&'static str>,
    reasoning: Option<&'static str>,
    total: Option<&'static str>,
}

/// Cost attributes tools add beside the usage (LiteLLM's `gen_ai.cost.*` family first).
const COST_KEYS: [&str; 3] = [
    "gen_ai.cost.total_cost",
    "gen_ai.usage.cost",
    "llm.usage.cost",
];

/// The conventions, newest first: a span carrying several is read by the newest.
const CONVENTIONS: [Keys; 3] = [
    Keys {
        convention: Convention::GenAi,
        input: "gen_ai.usage.input_tokens",
        output: "gen_ai.usage.output_tokens",
        cache_read: "gen_ai.usage.cache_read.input_tokens",
        cache_write: Some("gen_ai.usage.cache_creation.input_tokens"),
        reasoning: Some("gen_ai.usage.reasoning.output_tokens"),
        total: Some("gen_ai.usage.total_tokens"),
    },
    Keys {
        convention: Convention::GenAiLegacy,
        input: "gen_ai.usage.prompt_tokens",
        output: "gen_ai.usage.completion_tokens",
        cache_read: "gen_ai.usage.cache_read_input_tokens",
        cache_write: None,
        reasoning: None,
        total: Some("llm.usage.total_tokens"),
    },
    Keys {
        convention: Convention::OpenLlmetry,
        input: "llm.usage.prompt_tokens",
        output: "llm.usage.completion_tokens",
        cache_read: "llm.usage.cache_read_input_tokens",
        cache_write: Some("llm.usage.cache_creation_input_tokens"),
        reasoning: None,
        total: Some("llm.usage.total_tokens"),
    },
];

/// What one request's record says it used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    /// The usage, converted to the normalized record (input without cache).
    pub usage: UsageSet,
    /// The convention the span used.
    pub convention: Convention,
    /// The span it was read from.
    pub span: String,
    /// Spans of the trace that arrived.
    pub spans: usize,
}

/// One request's record as read: its usage, no span with usage (`Ok(None)`), or a span whose
/// usage cannot be read.
pub type Reading = Result<Option<Recorded>, String>;

/// The records of both requests of a pair, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedPair {
    /// Where the spans were received (`--otlp-listen` address or `--records-file`).
    pub source: String,
    /// The non-streaming request's trace id and record.
    pub non_streaming: RecordedSide,
    /// The streaming request's.
    pub streaming: RecordedSide,
    /// Spans of other traces received meanwhile.
    pub foreign_spans: u64,
}

/// One request's record, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedSide {
    /// The trace id tokaudit sent.
    pub trace_id: String,
    /// What its spans say.
    #[serde(serialize_with = "reading")]
    pub reading: Reading,
}

fn reading<S: serde::Serializer>(r: &Reading, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Ok(Some(r)) => r.serialize(s),
        Ok(None) => s.serialize_none(),
        Err(e) => serde_json::json!({ "error": e }).serialize(s),
    }
}

impl RecordedPair {
    /// Read both records.
    pub fn read(records: &crate::core::record::Records) -> Self {
        let side = |r: &Record| RecordedSide {
            trace_id: r.trace_id.clone(),
            reading: recorded(r),
        };
        RecordedPair {
            source: records.source.clone(),
            non_streaming: side(&records.non_streaming),
            streaming: side(&records.streaming),
            foreign_spans: records.foreign_spans,
        }
    }
}

/// The usage a record states, from the first span (in arrival order) that carries usage in a
/// known convention; `Ok(None)` when no span does. A count that is not a non-negative integer
/// below 2^53, or cache counts larger than the input said to include them, is an error naming
/// the span and the attribute.
pub fn recorded(record: &Record) -> Result<Option<Recorded>, String> {
    recorded_in(&record.spans)
}

/// [`recorded`] of a trace's spans.
pub fn recorded_in(spans: &[Span]) -> Result<Option<Recorded>, String> {
    for span in spans {
        for keys in &CONVENTIONS {
            let has = |k: &str| span.attributes.contains_key(k);
            if has(keys.input) || has(keys.output) {
                let usage = read(span, keys)?;
                return Ok(Some(Recorded {
                    usage,
                    convention: keys.convention,
                    span: span.name.clone(),
                    spans: spans.len(),
                }));
            }
        }
    }
    Ok(None)
}

fn read(span: &Span, keys: &Keys) -> Result<UsageSet, String> {
    let at = |key: &str| format!("span {:?} {key}", span.name);
    let get = |key: Option<&str>| -> Result<Option<Obs>, String> {
        let Some(key) = key else { return Ok(None) };
        let Some(v) = span.attributes.get(key) else {
            return Ok(None);
        };
        let value = attribute_count(v, &at(key)).map_err(|e| e.to_string())?;
        Ok(Some(Obs {
            value,
            source: at(key),
            kind: Kind::Reported,
        }))
    };
    let inclusive = get(Some(keys.input))?;
    let cache_read = get(Some(keys.cache_read))?;
    let cache_write = get(keys.cache_write)?;
    let input = match &inclusive {
        Some(total) => Some(fresh_input(
            total,
            cache_read.as_ref(),
            cache_write.as_ref(),
        )?),
        None => None,
    };
    let reported_cost = match COST_KEYS.iter().find(|k| span.attributes.contains_key(**k)) {
        Some(key) => Some(ReportedCost {
            usd: count::cost(&span.attributes[*key], &at(key)).map_err(|e| e.to_string())?,
            source: at(key),
        }),
        None => None,
    };
    Ok(UsageSet {
        reported_cost,
        input,
        cache_read,
        cache_write,
        output: get(Some(keys.output))?,
        reasoning: get(keys.reasoning)?,
        total: get(keys.total)?,
        prompt_inclusive: inclusive,
        ..UsageSet::default()
    })
}

/// Input without cache: every convention read here counts cache tokens inside its input.
fn fresh_input(total: &Obs, read: Option<&Obs>, write: Option<&Obs>) -> Result<Obs, String> {
    let cached =
        count::sum([read.map_or(0, |o| o.value), write.map_or(0, |o| o.value)]).unwrap_or(u64::MAX);
    let value = total.value.checked_sub(cached).ok_or_else(|| {
        format!(
            "{} is {} but its cache tokens add up to {cached}: a convention that includes them cannot count fewer",
            total.source, total.value
        )
    })?;
    Ok(Obs {
        value,
        source: format!("derived: {} − cache", total.source),
        kind: Kind::Derived,
    })
}

/// A count in an attribute: an integer, or (as some instrumentations write them) a string of
/// digits.
fn attribute_count(v: &Value, at: &str) -> Result<u64, count::CountError> {
    match v {
        Value::String(s) => count::from_text(s, at),
        v => count::from_json(v, at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(attrs: Value) -> Record {
        Record {
            trace_id: "ab".repeat(16),
            spans: vec![
                Span {
                    name: "Received Proxy Server Request".into(),
                    span_id: "01".repeat(8),
                    attributes: Default::default(),
                },
                Span {
                    name: "litellm_request".into(),
                    span_id: "02".repeat(8),
                    attributes: attrs.as_object().unwrap().clone(),
                },
            ],
        }
    }

    #[test]
    fn current_genai_input_includes_cache() {
        let r = recorded(&record(json!({
            "gen_ai.usage.input_tokens": 1561,
            "gen_ai.usage.cache_read.input_tokens": 1554,
            "gen_ai.usage.output_tokens": 2,
        })))
        .unwrap()
        .unwrap();
        assert_eq!(r.convention, Convention::GenAi);
        assert_eq!(r.span, "litellm_request");
        assert_eq!(r.usage.input.as_ref().unwrap().value, 7);
        assert_eq!(r.usage.input_total(), Some(1561));
    }

    #[test]
    fn legacy_and_openllmetry_names_are_read() {
        let r = recorded(&record(json!({
            "gen_ai.usage.prompt_tokens": "19",
            "gen_ai.usage.completion_tokens": 2,
            "llm.usage.total_tokens": 21,
        })))
        .unwrap()
        .unwrap();
        assert_eq!(r.convention, Convention::GenAiLegacy);
        assert_eq!(
            (r.usage.input_total(), r.usage.output.unwrap().value),
            (Some(19), 2)
        );
        let r = recorded(&record(json!({"llm.usage.prompt_tokens": 5})))
            .unwrap()
            .unwrap();
        assert_eq!(r.convention, Convention::OpenLlmetry);
    }

    #[test]
    fn no_usage_and_bad_counts() {
        assert_eq!(recorded(&record(json!({"x": 1}))).unwrap(), None);
        let e = recorded(&record(json!({"gen_ai.usage.output_tokens": -4}))).unwrap_err();
        assert!(e.contains("gen_ai.usage.output_tokens"), "{e}");
        let e = recorded(&record(json!({
            "gen_ai.usage.input_tokens": 3,
            "gen_ai.usage.cache_read.input_tokens": 1796,
        })))
        .unwrap_err();
        assert!(e.contains("cannot count fewer"), "{e}");
    }
}
