//! Records (`--otlp-listen`): a stand-in gateway written here forwards chat completions to
//! `tokaudit serve` unchanged, then exports what it "recorded" for each request as an
//! OpenTelemetry span (OTLP/HTTP, JSON or protobuf) under the request's own trace id. The
//! wire stays right in every case, so a finding can only come from the record.

use crate::util::*;
use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// How the stand-in records a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Recording {
    /// What it returned, in the current GenAI convention (input including cache).
    Faithful,
    /// Streamed calls recorded with usage 0 (LiteLLM #37923 class, tokens instead of cost).
    StreamZero,
    /// Cached tokens added to an input that already includes them (Langfuse #5568,
    /// OpenInference #3016 class).
    CacheTwice,
    /// Streamed calls not recorded at all.
    StreamMissing,
    /// Streamed calls recorded with the `message_start` placeholder as their output, as
    /// LiteLLM 1.108.7 records an Invoke stream its client closed.
    StreamPlaceholder,
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Json,
    Protobuf,
}

/// Usage as the stand-in read it from the response it passed on.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    prompt: u64,
    cached: u64,
    completion: u64,
}

fn seen_in(text: &str) -> Seen {
    let usage = text
        .split("\n\n")
        .map(|e| e.trim_start_matches("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["usage"].is_object())
        .last()
        .map(|v| v["usage"].clone())
        .unwrap_or_default();
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    Seen {
        prompt: n(&usage["prompt_tokens"]),
        cached: n(&usage["prompt_tokens_details"]["cached_tokens"]),
        completion: n(&usage["completion_tokens"]),
    }
}

fn attributes(seen: Seen, streaming: bool, how: Recording) -> Vec<(&'static str, i64)> {
    let (mut input, cached, mut output) = (seen.prompt, seen.cached, seen.completion);
    match how {
        Recording::StreamZero if streaming => (input, output) = (0, 0),
        Recording::StreamPlaceholder if streaming => output = 1,
        Recording::CacheTwice => input += cached,
        _ => {}
    }
    vec![
        ("gen_ai.usage.input_tokens", input as i64),
        ("gen_ai.usage.cache_read.input_tokens", cached as i64),
        ("gen_ai.usage.output_tokens", output as i64),
    ]
}

/// An export of one span of `trace` carrying `attrs`, in `encoding`.
fn export_body(trace: &str, attrs: &[(&str, i64)], encoding: Encoding) -> (&'static str, Vec<u8>) {
    let bytes = |hex: &str| {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    match encoding {
        Encoding::Json => {
            let attributes: Vec<Value> = attrs
                .iter()
                .map(|(k, v)| json!({"key": k, "value": {"intValue": v.to_string()}}))
                .collect();
            let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
                "traceId": trace, "spanId": "00000000000000aa", "name": "litellm_request",
                "attributes": attributes,
            }]}]}]});
            ("application/json", body.to_string().into_bytes())
        }
        Encoding::Protobuf => {
            let attributes = attrs
                .iter()
                .map(|(k, v)| KeyValue {
                    key: (*k).into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(*v)),
                    }),
                    ..Default::default()
                })
                .collect();
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span {
                            trace_id: bytes(trace),
                            span_id: bytes("00000000000000aa"),
                            name: "litellm_request".into(),
                            attributes,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            ("application/x-protobuf", request.encode_to_vec())
        }
    }
}

/// A gateway that forwards `/v1/chat/completions` to `upstream` and records each request
/// to the OTLP receiver at `otlp`, as `how` says.
fn recording_gateway(upstream: &str, otlp: String, how: Recording, encoding: Encoding) -> String {
    let upstream = format!("{upstream}/v1/chat/completions");
    let client = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (client, upstream, otlp) = (client.clone(), upstream.clone(), otlp.clone());
            async move {
                let streaming = body.windows(13).any(|w| w == b"\"stream\":true");
                let resp = client
                    .post(&upstream)
                    .header("content-type", "application/json");
                let text = resp.body(body).send().await.unwrap().text().await.unwrap();
                // The warm-up of --cache is sent without a trace: not recorded here.
                let trace = headers
                    .get("traceparent")
                    .map(|t| t.to_str().unwrap()[3..35].to_string());
                let skip = how == Recording::StreamMissing && streaming;
                if let (Some(trace), false) = (trace, skip) {
                    let attrs = attributes(seen_in(&text), streaming, how);
                    let (ct, bytes) = export_body(&trace, &attrs, encoding);
                    let sent = client.post(&otlp).header("content-type", ct).body(bytes);
                    assert!(sent.send().await.unwrap().status().is_success());
                }
                let ct = if streaming {
                    "text/event-stream"
                } else {
                    "application/json"
                };
                ([("content-type", ct)], text)
            }
        }),
    );
    spawn_app(app)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run `compare` through a recording gateway; the exit code and the case.
fn audit_records(how: Recording, encoding: Encoding, cache: bool) -> (i32, Value) {
    let extra: &[&str] = if cache {
        &["--cache", "--system", LONG_SYSTEM]
    } else {
        &[]
    };
    let (code, case, _) = audit_with(&serve(&[]), how, encoding, extra);
    (code, case)
}

/// [`audit_records`] against `upstream` with more `compare` flags; also the upstream's
/// ledger entries afterwards.
fn audit_with(
    upstream: &Server,
    how: Recording,
    encoding: Encoding,
    extra: &[&str],
) -> (i32, Value, Value) {
    let port = free_port();
    let otlp = format!("http://127.0.0.1:{port}/v1/traces");
    let gateway = recording_gateway(&upstream.url, otlp, how, encoding);
    let r = run(tokaudit()
        .args(["compare", "--prompt", "Write Hi", "--target", "openai"])
        .args(["--model", "m", "--format", "json", "--base-url", &gateway])
        .args(["--otlp-listen", &port.to_string(), "--record-wait", "5"])
        .args(extra));
    let (status, ledger) = get(&upstream.url, "/_tokaudit/ledger");
    assert_eq!(status, 200, "{ledger}");
    let ledger: Value = serde_json::from_str(&ledger).unwrap();
    (
        r.code,
        r.json()["cases"][0].clone(),
        ledger["entries"].clone(),
    )
}

/// `(invariant, side, field)` of every violation.
fn violated(case: &Value) -> Vec<(String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "violation")
        .map(|f| (s(&f["invariant"]), s(&f["side"]), s(&f["field"])))
        .collect()
}

fn held(case: &Value, invariant: &str) -> usize {
    case["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["invariant"] == invariant && c["status"] == "held")
        .count()
}

#[test]
fn a_faithful_record_passes_in_json_and_in_protobuf() {
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let (code, case) = audit_records(Recording::Faithful, encoding, true);
        assert_eq!(code, 0, "{encoding:?}: {case}");
        assert_eq!(held(&case, "record-present"), 2, "{case}");
        assert_eq!(held(&case, "record-parity"), 2, "{case}");
        let row = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["field"] == "cache_read");
        let row = row.unwrap();
        assert!(
            row["recorded_streaming"].as_u64().unwrap() > 0,
            "the cache was read: {row}"
        );
        assert_eq!(row["recorded_streaming"], row["streaming"]["value"]);
        let rec = &case["records"]["streaming"]["reading"];
        assert_eq!(rec["convention"], "gen-ai");
        assert_eq!(rec["span"], "litellm_request");
    }
}

#[test]
fn a_streamed_call_recorded_as_zero_is_blamed_on_the_record() {
    let (code, case) = audit_records(Recording::StreamZero, Encoding::Protobuf, false);
    assert_eq!(code, 1, "{case}");
    let v = violated(&case);
    assert!(
        v.contains(&(
            "record-parity".into(),
            "streaming".into(),
            "input_total".into()
        )),
        "{v:?}"
    );
    assert!(
        v.contains(&("record-parity".into(), "streaming".into(), "output".into())),
        "{v:?}"
    );
    assert!(
        v.iter()
            .all(|(i, s, _)| i == "record-parity" && s == "streaming"),
        "wire clean: {v:?}"
    );
}

#[test]
fn cache_counted_twice_in_the_record_is_found_on_input() {
    let (code, case) = audit_records(Recording::CacheTwice, Encoding::Json, true);
    assert_eq!(code, 1, "{case}");
    let v = violated(&case);
    assert!(
        v.iter()
            .all(|(i, _, f)| i == "record-parity" && f == "input_total"),
        "{v:?}"
    );
    // Both requests read (or wrote) the cache; the one that read it is recorded too high.
    assert!(!v.is_empty(), "{case}");
}

#[test]
fn a_missing_record_is_a_finding_not_a_pass() {
    let (code, case) = audit_records(Recording::StreamMissing, Encoding::Json, false);
    assert_eq!(code, 1, "{case}");
    assert_eq!(
        violated(&case),
        vec![(
            "record-present".to_string(),
            "streaming".to_string(),
            "-".to_string()
        )]
    );
    assert_eq!(
        held(&case, "record-parity"),
        1,
        "the buffered call is recorded right"
    );
}

/// LiteLLM PRs #36008 / #39893: after a client disconnect the `output_tokens: 1` placeholder
/// was recorded and priced. The stand-in records the placeholder for the stream tokaudit
/// closes after 2 events; tokaudit names it and what the upstream billed, from its ledger.
#[test]
fn regression_litellm_36008_placeholder_recorded_after_an_abort() {
    let upstream = serve(&[]);
    let ledger = format!("{}/_tokaudit/ledger", upstream.url);
    let flags = ["--abort-after", "2", "--ledger", &ledger];
    let (code, case, entries) = audit_with(
        &upstream,
        Recording::StreamPlaceholder,
        Encoding::Protobuf,
        &flags,
    );
    assert_eq!(code, 1, "{case}");
    let billed = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["operation"] == "ChatCompletionsStream")
        .map(|e| e["truth"]["output"].as_u64().unwrap())
        .unwrap();
    assert!(
        billed > 1,
        "the upstream generated and billed the answer: {entries}"
    );
    let findings = case["findings"].as_array().unwrap();
    let finding = findings
        .iter()
        .find(|f| f["invariant"] == "record-parity" && f["severity"] == "violation")
        .unwrap();
    assert_eq!(finding["side"], "streaming");
    assert_eq!(finding["field"], "output");
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("placeholder"), "{message}");
    assert!(message.contains(&format!("billed {billed}")), "{message}");
    // The abort itself is not a failure of the service.
    assert!(findings.iter().all(|f| f["severity"] != "error"), "{case}");
}

/// A gateway that keeps reading its upstream after the client left records the whole bill:
/// that is right, and passes.
#[test]
fn a_faithful_record_of_an_aborted_stream_passes() {
    let upstream = serve(&[]);
    let ledger = format!("{}/_tokaudit/ledger", upstream.url);
    let flags = ["--abort-after", "2", "--ledger", &ledger];
    let (code, case, _) = audit_with(&upstream, Recording::Faithful, Encoding::Json, &flags);
    assert_eq!(code, 0, "{case}");
    assert_eq!(held(&case, "record-parity"), 2, "{case}");
}

#[test]
fn records_are_refused_where_nothing_exports_them() {
    for args in [
        &["--offline", "--otlp-listen", "4318"][..],
        &["--target", "bedrock", "--otlp-listen", "4318"][..],
    ] {
        let r = run(tokaudit().args(["compare", "--prompt", "x"]).args(args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("--otlp-listen"), "{}", r.stderr);
    }
}

/// A recorded run with records replays to the identical report.
#[test]
fn a_recording_with_records_replays_to_the_same_report() {
    let upstream = serve(&[]);
    let port = free_port();
    let otlp = format!("http://127.0.0.1:{port}/v1/traces");
    let gateway = recording_gateway(&upstream.url, otlp, Recording::StreamZero, Encoding::Json);
    let dir = tempfile::tempdir().unwrap();
    let live = run(tokaudit()
        .args([
            "compare", "--prompt", "Write Hi", "--target", "openai", "--model", "m",
        ])
        .args(["--format", "json", "--base-url", &gateway])
        .args([
            "--otlp-listen",
            &port.to_string(),
            "--record-wait",
            "5",
            "--record",
        ])
        .arg(dir.path()));
    assert_eq!(live.code, 1, "{}", live.stdout);
    let replayed = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(dir.path()));
    assert_eq!(replayed.code, 1, "{}", replayed.stderr);
    assert_eq!(live.json()["cases"], replayed.json()["cases"]);
}

/// The emulator bills an abandoned stream what it generated until the disconnect, as
/// Bedrock does, and its ledger says so.
#[test]
fn an_abandoned_stream_is_billed_what_was_generated() {
    let upstream = serve(&["token-latency=40"]);
    let ledger = format!("{}/_tokaudit/ledger", upstream.url);
    let r = run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write 30 words",
            "--target",
            "openai",
        ])
        .args([
            "--model",
            "m",
            "--format",
            "json",
            "--base-url",
            &upstream.url,
        ])
        .args(["--abort-after", "3", "--ledger", &ledger]));
    // An abort is not a failure (3), but without records nothing checks the aborted stream,
    // so the case cannot pass either: inconclusive (4).
    assert_eq!(r.code, 4, "{}", r.stdout);
    let entry = |op: &str| {
        // The server notices the disconnect on its next write, one frame delay later.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, body) = get(&upstream.url, "/_tokaudit/ledger");
            let doc: Value = serde_json::from_str(&body).unwrap();
            let e = doc["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["operation"] == op)
                .cloned();
            match e {
                Some(e)
                    if op.ends_with("Stream")
                        && e["aborted_after_frames"].is_null()
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Some(e) => return e,
                None => panic!("no {op} entry: {doc}"),
            }
        }
    };
    let whole = entry("ChatCompletions")["truth"]["output"]
        .as_u64()
        .unwrap();
    let aborted = entry("ChatCompletionsStream");
    let billed = aborted["truth"]["output"].as_u64().unwrap();
    assert!(
        aborted["aborted_after_frames"].as_u64().unwrap() >= 3,
        "{aborted}"
    );
    assert!(
        billed >= 2 && billed < whole / 2,
        "billed {billed} of {whole}: {aborted}"
    );
    let case = &r.json()["cases"][0];
    let note = case["findings"].as_array().unwrap().iter().any(|f| {
        f["invariant"] == "exchange" && f["message"].as_str().unwrap().contains("on purpose")
    });
    assert!(note, "{case}");
}

/// `replay --records-file`: spans exported to a file after the fact (the collector's file
/// exporter, OTLP JSON per line) are matched to recordings by their requests' trace ids.
#[test]
fn records_read_from_a_file_after_the_fact() {
    let upstream = serve(&[]);
    let port = free_port();
    let otlp = format!("http://127.0.0.1:{port}/v1/traces");
    let gateway = recording_gateway(&upstream.url, otlp, Recording::Faithful, Encoding::Json);
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let live = run(tokaudit()
        .args([
            "compare", "--prompt", "Write Hi", "--target", "openai", "--model", "m",
        ])
        .args(["--base-url", &gateway, "--otlp-listen", &port.to_string()])
        .arg("--record")
        .arg(&rec));
    assert_eq!(live.code, 0, "{}", live.stdout);
    let fixture = std::fs::read_dir(&rec)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let fx: Value = serde_json::from_slice(&std::fs::read(&fixture).unwrap()).unwrap();
    let trace = |side: &str| {
        fx[side]["request"]["headers"]["traceparent"]
            .as_str()
            .unwrap()[3..35]
            .to_string()
    };
    // The file says the streamed call used nothing: the record is wrong, the wire is not.
    let line = |t: String, input: u64, output: u64| {
        let (_, body) = export_body(
            &t,
            &[
                ("gen_ai.usage.input_tokens", input as i64),
                ("gen_ai.usage.output_tokens", output as i64),
            ],
            Encoding::Json,
        );
        String::from_utf8(body).unwrap()
    };
    let spans = dir.path().join("spans.json");
    std::fs::write(
        &spans,
        format!(
            "{}\n{}\n",
            line(trace("non_streaming"), 19, 2),
            line(trace("streaming"), 0, 0)
        ),
    )
    .unwrap();
    let r = run(tokaudit()
        .args(["replay", "--format", "json", "--records-file"])
        .arg(&spans)
        .arg(&rec));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    let v = violated(case);
    assert!(
        v.contains(&("record-parity".into(), "streaming".into(), "output".into())),
        "{v:?}"
    );
    assert_eq!(case["records"]["source"], spans.display().to_string());
    // Recordings made without trace ids cannot be matched, and replay says so.
    let r = run(tokaudit()
        .args(["replay", "--records-file"])
        .arg(&spans)
        .arg(fixtures().join("invoke-write-hi.json")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("without trace ids"), "{}", r.stderr);
    // A file that is not an export is an error naming its line.
    std::fs::write(&spans, "{}\nnot json\n").unwrap();
    let r = run(tokaudit()
        .args(["replay", "--records-file"])
        .arg(&spans)
        .arg(&rec));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("spans.json:2"), "{}", r.stderr);
}
