//! One normalized row per billing record, whatever wrote it. Each source's fields are read
//! here and nowhere else, and its convention converted once: Bedrock counts input *without*
//! the cache (`inputTokenCount` + the cache counts), LiteLLM counts `prompt_tokens` *with* it
//! (the OpenAI convention). A row keeps the inclusive total and the cache split it was given;
//! the checks derive the uncached input from them.
//!
//! A record that cannot be read (not JSON, a missing field, a wrong type) is a [`Malformed`]
//! naming its file, line and field: counted and reported, never dropped silently.

use crate::core::normalize::recorded;
use crate::core::{record, redact};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Serialize;
use serde_json::Value;

/// Counts above this are not exact in a JSON double, so they are refused, as in fixtures.
const MAX_COUNT: u64 = 1 << 53;
/// Where LiteLLM keeps Bedrock's request id (1.108.x; `billing-and-records.md` §8).
const LITELLM_REQUEST_ID_HEADER: &str = "llm_provider-x-amzn-requestid";

/// The kinds of source, in the order a reconciliation prefers as the billed side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Bedrock model invocation logs: what the provider billed.
    InvocationLogs,
    /// Gateway logs: LiteLLM's per-request logging payload or spend-log rows.
    GatewayLogs,
    /// OTLP span exports (the collector's file exporter).
    Spans,
    /// tokaudit's own recordings (`compare --record DIR`): what the wire told the client.
    Recordings,
}

impl SourceKind {
    /// Every kind, billed side first.
    pub const ALL: [SourceKind; 4] = [
        SourceKind::InvocationLogs,
        SourceKind::GatewayLogs,
        SourceKind::Spans,
        SourceKind::Recordings,
    ];

    /// The SQL table it is registered as.
    pub fn table(self) -> &'static str {
        match self {
            SourceKind::InvocationLogs => "invocation_logs",
            SourceKind::GatewayLogs => "gateway_logs",
            SourceKind::Spans => "spans",
            SourceKind::Recordings => "recordings",
        }
    }

    /// The flag that names it.
    pub fn flag(self) -> &'static str {
        match self {
            SourceKind::InvocationLogs => "--invocation-logs",
            SourceKind::GatewayLogs => "--gateway-logs",
            SourceKind::Spans => "--spans",
            SourceKind::Recordings => "--recordings",
        }
    }
}

/// One billing record, normalized. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The provider's request id (`x-amzn-RequestId`), where the record keeps it.
    pub request_id: Option<String>,
    /// The record's own id (a gateway's `chatcmpl-…`, a span id).
    pub record_id: Option<String>,
    /// The model as logged.
    pub model: String,
    /// The model as a join key: no route (`bedrock/converse/`) and no region prefix.
    pub model_key: String,
    /// The operation or call type (`ConverseStream`, `acompletion`, …).
    pub operation: Option<String>,
    /// Whether the call streamed, where known.
    pub stream: Option<bool>,
    /// When the call started (a provider log: its timestamp).
    pub start_ms: i64,
    /// When it ended (a provider log: its timestamp).
    pub end_ms: i64,
    /// Who called: a gateway key's hash or alias, a provider identity without its account.
    pub api_key: Option<String>,
    /// A digest of the conversation's turns (roles and text, system prompt excluded), which
    /// the gateway and the provider both log: the fallback join key.
    pub prompt_hash: Option<String>,
    /// Input tokens including cache reads and writes.
    pub input_total: u64,
    /// Cache reads, where the record splits them out.
    pub cache_read: Option<u64>,
    /// Cache writes, where the record splits them out.
    pub cache_write: Option<u64>,
    /// Output tokens.
    pub output: u64,
    /// The total the record states, where it states one.
    pub total: Option<u64>,
    /// The cost the record states (USD), where it states one.
    pub cost: Option<f64>,
}

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Malformed {
    /// Its source.
    pub source: SourceKind,
    /// Its file (account ids redacted).
    pub file: String,
    /// Its line (1-based); 0 for the file as a whole.
    pub line: u64,
    /// What is wrong, naming the field.
    pub reason: String,
}

/// The rows of one record (one line of its file), or why it cannot be read. A record may
/// hold several rows (a span export) or none (a failed call, a span without usage).
pub fn rows_of(kind: SourceKind, line: &[u8]) -> Result<Vec<Row>, String> {
    if kind == SourceKind::Spans {
        return span_rows(line);
    }
    let record: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    if !record.is_object() {
        return Err("not a JSON object".into());
    }
    match kind {
        SourceKind::InvocationLogs => invocation_log(&record).map(|r| vec![r]),
        _ => gateway_log(&record),
    }
}

/// The rows of a gateway record already parsed (a spend-log export's row, see `export.rs`).
pub fn gateway_rows(record: &Value) -> Result<Vec<Row>, String> {
    gateway_log(record)
}

/// The spans with usage of one OTLP JSON export (a line of the collector's file exporter),
/// read in the conventions of the records audit. Bedrock's request id is taken from any
/// attribute named after its header.
fn span_rows(line: &[u8]) -> Result<Vec<Row>, String> {
    let request =
        serde_json::from_slice(line).map_err(|e| format!("not an OTLP JSON export: {e}"))?;
    let mut rows = Vec::new();
    for (_, span, (start, end)) in record::timed_spans_of(request) {
        let Some(recorded) = recorded::recorded_in(std::slice::from_ref(&span))? else {
            continue;
        };
        let a = &span.attributes;
        let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
        let model = [
            "gen_ai.response.model",
            "gen_ai.request.model",
            "llm.request.model",
        ]
        .into_iter()
        .find_map(text)
        .unwrap_or_default();
        let u = &recorded.usage;
        let get = |o: &Option<crate::core::normalize::Obs>| o.as_ref().map(|o| o.value);
        let (cache_read, cache_write) = (get(&u.cache_read), get(&u.cache_write));
        let ms = |ns: u64| i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX);
        rows.push(Row {
            request_id: a
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase().ends_with("x-amzn-requestid"))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string),
            record_id: Some(span.span_id.clone()),
            model_key: model_key(&model),
            model,
            operation: Some(span.name.clone()),
            stream: a
                .get("gen_ai.request.stream")
                .or(a.get("llm.is_streaming"))
                .and_then(Value::as_bool),
            start_ms: ms(start),
            end_ms: ms(end),
            api_key: None,
            prompt_hash: None,
            input_total: get(&u.input).unwrap_or(0)
                + cache_read.unwrap_or(0)
                + cache_write.unwrap_or(0),
            cache_read,
            cache_write,
            output: get(&u.output).unwrap_or(0),
            total: get(&u.total),
            cost: None,
        });
    }
    Ok(rows)
}

/// A Bedrock model invocation log record (`billing-and-records.md` §6).
fn invocation_log(v: &Value) -> Result<Row, String> {
    let input_count = count(v, "/input/inputTokenCount")?;
    let cache_read = optional_count(v, "/input/cacheReadInputTokenCount")?;
    let cache_write = optional_count(v, "/input/cacheWriteInputTokenCount")?;
    let operation = string(v, "/operation")?;
    let at = time(v, "/timestamp")?;
    let model = string(v, "/modelId")?;
    Ok(Row {
        request_id: Some(string(v, "/requestId")?),
        record_id: None,
        model_key: model_key(&model),
        model,
        stream: Some(operation.ends_with("Stream")),
        operation: Some(operation),
        start_ms: at,
        end_ms: at,
        api_key: optional_string(v, "/identity/arn")?.map(|arn| redact::account_ids(&arn).into()),
        prompt_hash: v.pointer("/input/inputBodyJson").and_then(prompt_hash),
        input_total: input_count + cache_read.unwrap_or(0) + cache_write.unwrap_or(0),
        cache_read: Some(cache_read.unwrap_or(0)),
        cache_write: Some(cache_write.unwrap_or(0)),
        output: count(v, "/output/outputTokenCount")?,
        total: None,
        cost: None,
    })
}

/// A LiteLLM logging payload (S3 / file loggers) or spend-log row; failed calls give no row.
fn gateway_log(v: &Value) -> Result<Vec<Row>, String> {
    if optional_string(v, "/status")?.is_some_and(|s| s != "success") {
        return Ok(Vec::new());
    }
    let start = time(v, "/startTime")?;
    let end = match v.get("endTime") {
        Some(_) => time(v, "/endTime")?,
        None => start,
    };
    let model = string(v, "/model")?;
    let (cache_read, cache_write) = gateway_cache(v)?;
    let api_key = match optional_string(v, "/metadata/user_api_key_alias")? {
        Some(alias) => Some(alias),
        None => match optional_string(v, "/metadata/user_api_key_hash")? {
            Some(hash) => Some(short_hash(&hash)),
            None => optional_string(v, "/api_key")?.map(|k| short_hash(&k)),
        },
    };
    Ok(vec![Row {
        request_id: gateway_request_id(v),
        record_id: match v.get("id") {
            Some(_) => optional_string(v, "/id")?,
            None => optional_string(v, "/request_id")?,
        },
        model_key: model_key(&model),
        model,
        operation: optional_string(v, "/call_type")?,
        stream: optional_bool(v, "/stream")?,
        start_ms: start,
        end_ms: end,
        api_key,
        prompt_hash: v.get("messages").and_then(prompt_hash),
        input_total: count(v, "/prompt_tokens")?,
        cache_read,
        cache_write,
        output: count(v, "/completion_tokens")?,
        total: optional_count(v, "/total_tokens")?,
        cost: match v.get("response_cost") {
            Some(_) => Some(number(v, "/response_cost")?),
            None => optional_number(v, "/spend")?,
        },
    }])
}

/// Hex digits of a key's hash shown: enough to tell keys apart, not the whole digest (which
/// the records audit redacts in spans).
const KEY_HASH_SHOWN: usize = 12;

/// A virtual key's hash as reports show it: `key:` and its first digits. A raw `sk-` key in a
/// spend-log export is never shown, only its digest.
fn short_hash(hash: &str) -> String {
    let digest = if hash.starts_with("sk-") {
        format!("{:016x}", fnv1a(hash.as_bytes()))
    } else {
        hash.to_string()
    };
    format!(
        "key:{}",
        digest.chars().take(KEY_HASH_SHOWN).collect::<String>()
    )
}

/// Bedrock's request id in a LiteLLM record: its response headers as LiteLLM keeps them.
fn gateway_request_id(v: &Value) -> Option<String> {
    let headers = v
        .pointer("/hidden_params/additional_headers")?
        .as_object()?;
    headers
        .iter()
        .find(|(k, _)| {
            k.eq_ignore_ascii_case(LITELLM_REQUEST_ID_HEADER)
                || k.eq_ignore_ascii_case("x-amzn-requestid")
        })
        .and_then(|(_, v)| v.as_str())
        .map(str::to_string)
}

/// The cache split of a LiteLLM record: its usage object (`metadata.usage_object`, else the
/// logged response's `usage`), in Anthropic's names or OpenAI's. `None` when it keeps none.
fn gateway_cache(v: &Value) -> Result<(Option<u64>, Option<u64>), String> {
    let usage = ["/metadata/usage_object", "/response/usage"]
        .into_iter()
        .find(|p| v.pointer(p).is_some_and(Value::is_object));
    let Some(usage) = usage else {
        return Ok((None, None));
    };
    let read = match optional_count(v, &format!("{usage}/cache_read_input_tokens"))? {
        Some(n) => Some(n),
        None => optional_count(v, &format!("{usage}/prompt_tokens_details/cached_tokens"))?,
    };
    let write = optional_count(v, &format!("{usage}/cache_creation_input_tokens"))?;
    if read.is_none() && write.is_none() {
        return Ok((None, None));
    }
    Ok((Some(read.unwrap_or(0)), Some(write.unwrap_or(0))))
}

/// The join key of a model id: `bedrock/converse/us.anthropic.x` → `anthropic.x`.
pub fn model_key(model: &str) -> String {
    let mut m = model.rsplit('/').next().unwrap_or(model);
    for prefix in ["us.", "eu.", "apac.", "jp.", "au.", "global.", "us-gov."] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m.to_string()
}

/// A 64-bit FNV-1a digest (hex) of a conversation's turns, read the same way from an
/// OpenAI `messages` list (a gateway's), an Anthropic or Converse body (the provider's):
/// each turn's role and its text parts. `None` when there is no turn with text.
pub fn prompt_hash(v: &Value) -> Option<String> {
    let messages = v.get("messages").unwrap_or(v).as_array()?;
    let mut text = String::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role == "system" {
            continue;
        }
        text.push_str(role);
        text.push('\u{1f}');
        match m.get("content") {
            Some(Value::String(s)) => text.push_str(s),
            Some(Value::Array(parts)) => {
                for t in parts.iter().filter_map(|p| p.get("text")?.as_str()) {
                    text.push_str(t);
                }
            }
            _ => {}
        }
        text.push('\u{1e}');
    }
    (!text.is_empty()).then(|| format!("{:016x}", fnv1a(text.as_bytes())))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// The JSON path of a pointer, as errors name it: `/input/inputTokenCount` → `input.inputTokenCount`.
fn field(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn missing(pointer: &str) -> String {
    format!("missing field {}", field(pointer))
}

fn wrong(pointer: &str, want: &str, got: &Value) -> String {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{} is {got}, expected {want}", field(pointer))
}

/// A token count: a non-negative integer below 2^53.
pub fn count(v: &Value, pointer: &str) -> Result<u64, String> {
    optional_count(v, pointer)?.ok_or_else(|| missing(pointer))
}

fn optional_count(v: &Value, pointer: &str) -> Result<Option<u64>, String> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => match n.as_u64().filter(|n| *n <= MAX_COUNT) {
            Some(n) => Ok(Some(n)),
            None if n.is_u64() => Err(format!("{} is above 2^53", field(pointer))),
            None => Err(wrong(pointer, "a non-negative integer", n)),
        },
    }
}

fn number(v: &Value, pointer: &str) -> Result<f64, String> {
    optional_number(v, pointer)?.ok_or_else(|| missing(pointer))
}

fn optional_number(v: &Value, pointer: &str) -> Result<Option<f64>, String> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| wrong(pointer, "a number", n)),
    }
}

fn string(v: &Value, pointer: &str) -> Result<String, String> {
    optional_string(v, pointer)?.ok_or_else(|| missing(pointer))
}

fn optional_string(v: &Value, pointer: &str) -> Result<Option<String>, String> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong(pointer, "a string", other)),
    }
}

fn optional_bool(v: &Value, pointer: &str) -> Result<Option<bool>, String> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(pointer, "a boolean", other)),
    }
}

/// A time: seconds since the epoch as a number (LiteLLM's `startTime`), or an RFC 3339 date
/// (Bedrock's `timestamp`, spend-log exports), in milliseconds.
fn time(v: &Value, pointer: &str) -> Result<i64, String> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Err(missing(pointer)),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round() as i64)
            .ok_or_else(|| format!("{} is not a time", field(pointer))),
        Some(Value::String(s)) => {
            parse_time(s).ok_or_else(|| format!("{} {s:?} is not an RFC 3339 time", field(pointer)))
        }
        Some(other) => Err(wrong(pointer, "a time", other)),
    }
}

/// An RFC 3339 time in milliseconds; a space for the `T` and no zone (spend-log exports
/// from PostgreSQL) are read as UTC, a `+HH:MM` offset is applied.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = s.trim().replacen(' ', "T", 1);
    let (local, offset_ms) = match t.len().checked_sub(6).map(|i| t.split_at(i)) {
        Some((head, zone))
            if zone.len() == 6
                && (zone.starts_with('+') || zone.starts_with('-'))
                && zone.as_bytes()[3] == b':' =>
        {
            let h: i64 = zone[1..3].parse().ok()?;
            let m: i64 = zone[4..6].parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            (head.to_string(), sign * (h * 60 + m) * 60_000)
        }
        _ => (t.trim_end_matches('Z').to_string(), 0),
    };
    let d = DateTime::from_str(&format!("{local}Z"), Format::DateTime).ok()?;
    Some(d.to_millis().ok()? - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invocation() -> Value {
        json!({
            "schemaType": "ModelInvocationLog", "timestamp": "2026-11-29T01:02:03Z",
            "requestId": "r-1", "operation": "ConverseStream",
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "identity": {"arn": "arn:aws:iam::123456789012:user/app"},
            "input": {"inputTokenCount": 10, "cacheReadInputTokenCount": 5,
                      "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "Write Hi"}]}]}},
            "output": {"outputTokenCount": 3}
        })
    }

    #[test]
    fn an_invocation_log_is_converted_to_inclusive_input_without_its_account() {
        let row = invocation_log(&invocation()).unwrap();
        assert_eq!(row.input_total, 15);
        assert_eq!((row.cache_read, row.cache_write), (Some(5), Some(0)));
        assert_eq!(row.stream, Some(true));
        assert_eq!(row.start_ms, 1_795_914_123_000);
        assert!(!row.api_key.unwrap().contains("123456789012"));
    }

    #[test]
    fn both_sides_hash_the_same_conversation_the_same() {
        let provider = invocation_log(&invocation()).unwrap();
        let gateway = json!([{"role": "system", "content": "be brief"},
                             {"role": "user", "content": "Write Hi"}]);
        assert_eq!(provider.prompt_hash, prompt_hash(&gateway));
        assert_ne!(
            provider.prompt_hash,
            prompt_hash(&json!([{"role": "user", "content": "Hi"}]))
        );
    }

    #[test]
    fn errors_name_the_field_and_what_was_found() {
        let mut v = invocation();
        v["output"]["outputTokenCount"] = json!("3");
        assert_eq!(
            invocation_log(&v).unwrap_err(),
            "output.outputTokenCount is a string, expected a non-negative integer"
        );
        v["output"] = json!({});
        assert_eq!(
            invocation_log(&v).unwrap_err(),
            "missing field output.outputTokenCount"
        );
    }

    #[test]
    fn a_litellm_payload_keeps_bedrocks_request_id_and_its_cache_split() {
        let v = json!({
            "id": "chatcmpl-1", "call_type": "acompletion", "stream": true, "status": "success",
            "model": "anthropic.claude-3-haiku-20240307-v1:0",
            "startTime": 1795914123.25, "endTime": 1795914124.5,
            "prompt_tokens": 2583, "completion_tokens": 2, "total_tokens": 2585,
            "response_cost": 0.0007,
            "metadata": {"user_api_key_hash": "88dc", "usage_object": {"cache_creation_input_tokens": 2560}},
            "hidden_params": {"additional_headers": {"llm_provider-x-amzn-requestid": "r-1"}},
            "messages": [{"role": "user", "content": "Write Hi"}]
        });
        let rows = gateway_log(&v).unwrap();
        let row = &rows[0];
        assert_eq!(row.request_id.as_deref(), Some("r-1"));
        assert_eq!(row.api_key.as_deref(), Some("key:88dc"));
        assert_eq!((row.cache_read, row.cache_write), (Some(0), Some(2560)));
        assert_eq!(
            (row.start_ms, row.end_ms),
            (1_795_914_123_250, 1_795_914_124_500)
        );
        let failed = json!({"status": "failure", "model": "m"});
        assert!(gateway_log(&failed).unwrap().is_empty());
    }

    #[test]
    fn model_keys_drop_routes_and_region_prefixes() {
        assert_eq!(
            model_key("bedrock/converse/us.anthropic.claude-x"),
            "anthropic.claude-x"
        );
        assert_eq!(model_key("anthropic.claude-x"), "anthropic.claude-x");
    }

    #[test]
    fn spend_log_times_without_a_zone_are_utc() {
        assert_eq!(parse_time("2026-11-29 01:02:03.5"), Some(1_795_914_123_500));
        assert_eq!(
            parse_time("2026-11-29T01:02:03+00:00"),
            Some(1_795_914_123_000)
        );
        assert_eq!(
            parse_time("2026-11-29T02:02:03+01:00"),
            Some(1_795_914_123_000)
        );
        assert_eq!(parse_time("2026-11-29T01:02:03Z"), Some(1_795_914_123_000));
        assert_eq!(parse_time("yesterday"), None);
    }
}
