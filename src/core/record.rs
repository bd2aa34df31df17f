//! What a system *recorded* about a request, as opposed to what it answered: the
//! OpenTelemetry spans of the request's trace, which gateways and tracing libraries export and
//! dashboards, budgets and chargebacks read. tokaudit sends every request with its own W3C
//! `traceparent`, so the spans of that trace id are that request's record.
//!
//! This module holds the record as it is kept in recordings (one [`Record`] per exchange) and
//! decodes OTLP/HTTP export bodies (`application/x-protobuf` and `application/json`) with the
//! OpenTelemetry protobuf definitions of `opentelemetry-proto`. Reading usage out of the
//! spans, in whichever convention they use, is the normalizer's job
//! ([`crate::core::normalize::recorded`]).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One span of a request's record, as much of it as an audit reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// The span's name (`litellm_request`, `Received Proxy Server Request`, …).
    pub name: String,
    /// Its id, 16 lower-case hex digits.
    pub span_id: String,
    /// Its attributes, in the order they were exported: integers as JSON numbers, strings,
    /// booleans and doubles as themselves, arrays and maps as JSON.
    pub attributes: Map<String, Value>,
}

/// The record of one request: the spans of its trace that arrived while tokaudit waited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The trace id tokaudit sent in the request's `traceparent`, 32 lower-case hex digits.
    pub trace_id: String,
    /// Spans of that trace, in arrival order; empty when none arrived (a finding).
    #[serde(default)]
    pub spans: Vec<Span>,
}

/// The records of both requests of a pair, and where they were received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Records {
    /// The receiver (`--otlp-listen`) or file (`--records-file`) the spans came from.
    pub source: String,
    /// The non-streaming request's record.
    pub non_streaming: Record,
    /// The streaming request's record.
    pub streaming: Record,
    /// Spans of traces tokaudit did not start that reached the receiver during the run: a
    /// gateway that starts its own trace instead of continuing `traceparent` shows up here.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub foreign_spans: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An OTLP export tokaudit cannot read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The body is not an `ExportTraceServiceRequest` in protobuf.
    #[error("not an OTLP protobuf trace export: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The body is not an `ExportTraceServiceRequest` in OTLP JSON.
    #[error("not an OTLP JSON trace export: {0}")]
    Json(#[from] serde_json::Error),
    /// Neither of the two OTLP/HTTP encodings.
    #[error(
        "content-type {0:?} is not an OTLP/HTTP encoding: send application/x-protobuf or application/json"
    )]
    ContentType(String),
}

/// A span with the trace it belongs to.
pub type TracedSpan = (String, Span);

/// Decode one OTLP/HTTP `/v1/traces` body by its content type.
pub fn decode(content_type: &str, body: &[u8]) -> Result<Vec<TracedSpan>, RecordError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let request = match media.to_ascii_lowercase().as_str() {
        "application/x-protobuf" | "application/protobuf" => {
            ExportTraceServiceRequest::decode(body)?
        }
        "application/json" => serde_json::from_slice(body)?,
        _ => return Err(RecordError::ContentType(content_type.to_string())),
    };
    Ok(spans_of(request))
}

/// Every span of an export, with its trace id.
pub fn spans_of(request: ExportTraceServiceRequest) -> Vec<TracedSpan> {
    timed_spans_of(request)
        .into_iter()
        .map(|(trace, span, _)| (trace, span))
        .collect()
}

/// Every span of an export, with its trace id and its start and end (Unix nanoseconds), for
/// readers that join spans to other records by time.
pub fn timed_spans_of(request: ExportTraceServiceRequest) -> Vec<(String, Span, (u64, u64))> {
    let spans = request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans);
    spans
        .map(|s| {
            let mut attributes = s
                .attributes
                .into_iter()
                .map(|kv| (kv.key, kv.value.map_or(Value::Null, json_of)))
                .collect();
            crate::core::redact::span_attributes(&mut attributes);
            let span = Span {
                name: s.name,
                span_id: hex(&s.span_id),
                attributes,
            };
            let times = (s.start_time_unix_nano, s.end_time_unix_nano);
            (hex(&s.trace_id), span, times)
        })
        .collect()
}

fn json_of(v: AnyValue) -> Value {
    use any_value::Value as V;
    match v.value {
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::from(i),
        Some(V::DoubleValue(d)) => Value::from(d),
        Some(V::ArrayValue(a)) => Value::Array(a.values.into_iter().map(json_of).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(
            kv.values
                .into_iter()
                .map(|kv| (kv.key, kv.value.map_or(Value::Null, json_of)))
                .collect(),
        ),
        Some(V::BytesValue(b)) => Value::String(hex(&b)),
        Some(V::StringValueStrindex(_)) | None => Value::Null,
    }
}

/// Lower-case hex, as W3C trace context and OTLP JSON write ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The trace id a request was sent under: its W3C `traceparent` header's, if well formed.
pub fn trace_of(headers: &[(String, String)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("traceparent"))?;
    let mut parts = value.trim().split('-');
    let (_version, trace) = (parts.next()?, parts.next()?);
    let hex = trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| trace.to_ascii_lowercase())
}

/// Spans read from an OTLP JSON file after the fact (`replay --records-file`), by trace.
#[derive(Debug, Default)]
pub struct SpanIndex {
    /// Where they were read from.
    pub source: String,
    /// The spans of each trace, in file order.
    pub traces: std::collections::HashMap<String, Vec<Span>>,
}

impl SpanIndex {
    /// Read an OpenTelemetry Collector file exporter's output: one OTLP JSON
    /// `ExportTraceServiceRequest` per line (blank lines skipped). A line that is not one is
    /// an error naming it.
    pub fn read(source: String, text: &str) -> Result<SpanIndex, String> {
        let mut index = SpanIndex {
            source,
            ..SpanIndex::default()
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let spans = decode("application/json", line.as_bytes())
                .map_err(|e| format!("{}:{}: {e}", index.source, n + 1))?;
            for (trace, span) in spans {
                index.traces.entry(trace).or_default().push(span);
            }
        }
        Ok(index)
    }

    /// The records of a pair whose requests were sent under these trace ids.
    pub fn records(&self, non_streaming: String, streaming: String) -> Records {
        let record = |trace_id: String| Record {
            spans: self.traces.get(&trace_id).cloned().unwrap_or_default(),
            trace_id,
        };
        Records {
            source: self.source.clone(),
            non_streaming: record(non_streaming),
            streaming: record(streaming),
            foreign_spans: 0,
        }
    }
}

/// The trace id of a run's `n`th request: unique per run (the run id is its first half) and
/// never all zeros, which W3C trace context forbids.
pub fn trace_id(run_id: u64, n: u64) -> String {
    format!("{run_id:016x}{:016x}", n + 1)
}

/// The W3C `traceparent` header of a request tokaudit sends as the root of `trace_id`
/// (sampled, so that exporters keep it); the parent span id is the trace id's second half,
/// never zero.
pub fn traceparent_of(trace_id: &str) -> String {
    let span = trace_id.get(16..).unwrap_or("0000000000000001");
    format!("00-{trace_id}-{span}-01")
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as PSpan};

    fn export() -> ExportTraceServiceRequest {
        let kv = |k: &str, v| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![PSpan {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: "litellm_request".into(),
                        attributes: vec![
                            kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(19)),
                            kv("gen_ai.system", any_value::Value::StringValue("aws".into())),
                        ],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn protobuf_and_json_exports_decode_to_the_same_spans() {
        let proto = decode("application/x-protobuf", &export().encode_to_vec()).unwrap();
        // OTLP JSON as exporters write it: hex ids, 64-bit integers as strings.
        let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abababababababababababababababab","spanId":"0101010101010101","name":"litellm_request","attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"19"}},{"key":"gen_ai.system","value":{"stringValue":"aws"}}]}]}]}]}"#;
        let from_json = decode("application/json; charset=utf-8", json.as_bytes()).unwrap();
        assert_eq!(proto, from_json);
        let (trace, span) = &proto[0];
        assert_eq!(trace, "abababababababababababababababab");
        assert_eq!(span.span_id, "0101010101010101");
        assert_eq!(span.attributes["gen_ai.usage.input_tokens"], 19);
    }

    #[test]
    fn a_request_trace_id_comes_from_its_traceparent() {
        let h = |v: &str| vec![("Traceparent".to_string(), v.to_string())];
        let t = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(trace_of(&h(&traceparent_of(t))), Some(t.to_string()));
        assert_eq!(trace_of(&h("00-xyz-01")), None);
        assert_eq!(trace_of(&[]), None);
    }

    #[test]
    fn a_file_exporter_file_is_indexed_by_trace_and_a_bad_line_named() {
        let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abababababababababababababababab","spanId":"0101010101010101","name":"s"}]}]}]}"#;
        let index = SpanIndex::read("spans.json".into(), &format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(index.traces["abababababababababababababababab"].len(), 2);
        let e = SpanIndex::read("spans.json".into(), &format!("{line}\nnot json\n")).unwrap_err();
        assert!(e.starts_with("spans.json:2: "), "{e}");
    }

    #[test]
    fn credentials_in_span_attributes_never_leave_the_process() {
        let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abababababababababababababababab","spanId":"0101010101010101","name":"s","attributes":[
            {"key":"metadata.user_api_key_hash","value":{"stringValue":"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"}},
            {"key":"metadata.user_api_key_alias","value":{"stringValue":"team-a"}},
            {"key":"llm.headers","value":{"stringValue":"Bearer sk-live-0123456789"}},
            {"key":"gen_ai.request.model","value":{"stringValue":"arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"}},
            {"key":"gen_ai.usage.input_tokens","value":{"intValue":"19"}}]}]}]}]}"#;
        let spans = decode("application/json", json.as_bytes()).unwrap();
        let a = &spans[0].1.attributes;
        assert_eq!(a["metadata.user_api_key_hash"], "<redacted>");
        assert_eq!(a["metadata.user_api_key_alias"], "team-a");
        assert_eq!(a["llm.headers"], "<redacted>");
        assert_eq!(
            a["gen_ai.request.model"],
            "arn:aws:bedrock:us-east-1:<account>:inference-profile/x"
        );
        assert_eq!(a["gen_ai.usage.input_tokens"], 19);
    }

    #[test]
    fn other_bodies_are_refused_with_the_reason() {
        assert!(matches!(
            decode("text/plain", b"x"),
            Err(RecordError::ContentType(_))
        ));
        assert!(matches!(
            decode("application/json", b"{\"resourceSpans\": 3}"),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            decode("application/x-protobuf", &[0xff, 0xff, 0xff]),
            Err(RecordError::Protobuf(_))
        ));
    }
}
