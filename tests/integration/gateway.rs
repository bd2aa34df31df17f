//! Gateway targets (OpenAI-compatible, Anthropic) against the emulator's /v1 routes.

use crate::util::*;

fn offline(target: &str, fault: Option<&str>) -> (i32, Value) {
    let mut cmd = tokaudit();
    cmd.args([
        "compare",
        "--prompt",
        "Write 30 words",
        "--offline",
        "--target",
        target,
        "--model",
        "claude-haiku",
        "--format",
        "json",
        "--max-attempts",
        "2",
    ]);
    if let Some(f) = fault {
        cmd.args(["--emulator-fault", f]);
    }
    let r = run(&mut cmd);
    (r.code, r.json()["cases"][0].clone())
}

fn notes(case: &Value) -> Vec<String> {
    case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "note")
        .map(|f| f["invariant"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn consistent_pairs_pass_on_both_routes() {
    for target in ["openai", "anthropic"] {
        let (code, case) = offline(target, None);
        assert_eq!(code, 0, "{target}: {case}");
        assert_eq!(case["rows"][3]["field"], "input_total");
        assert_eq!(
            case["rows"][3]["non_streaming"]["value"], 12,
            "same tokenizer as Bedrock"
        );
    }
}

#[test]
fn each_fault_gives_its_finding_and_exit_code() {
    let table: &[(&str, &str, i32, &[&str])] = &[
        ("openai", "no-final-usage", 1, &["include-usage-honored"]),
        ("openai", "duplicate-usage", 1, &["include-usage-honored"]),
        ("openai", "total-mismatch", 1, &["total-is-sum"]),
        ("openai", "cached-over-prompt", 1, &["cached-within-prompt"]),
        (
            "openai",
            "hardcoded-usage",
            1,
            &["input-parity", "output-parity"],
        ),
        ("openai", "cut-stream", 1, &["stream-complete"]),
        ("openai", "stream-exception", 3, &[]),
        ("openai", "no-body-usage", 4, &[]),
        (
            "anthropic",
            "placeholder-final",
            1,
            &["no-placeholder", "output-parity"],
        ),
        (
            "anthropic",
            "summed-deltas",
            1,
            &["cumulative-not-summed", "output-parity"],
        ),
        (
            "anthropic",
            "hardcoded-usage",
            1,
            &["input-parity", "output-parity"],
        ),
        (
            "anthropic",
            "no-final-usage",
            1,
            &["no-placeholder", "output-parity", "usage-present"],
        ),
        ("anthropic", "stream-exception", 3, &[]),
    ];
    for (target, fault, code, want) in table {
        let (got, case) = offline(target, Some(fault));
        assert_eq!(got, *code, "{target} {fault}: {case}");
        assert_eq!(violations(&case), *want, "{target} {fault}");
    }
}

/// LiteLLM puts its usage chunk on a non-empty `choices`: found, and noted, not a failure.
#[test]
fn usage_on_a_non_empty_choices_chunk_is_found() {
    let (code, case) = offline("openai", Some("usage-on-choices"));
    assert_eq!(code, 0, "{case}");
    assert!(notes(&case).contains(&"include-usage-honored".to_string()));
    assert_eq!(case["streaming"]["stream"]["usage_chunks_with_choices"], 1);
}

#[test]
fn an_unset_key_variable_named_explicitly_is_an_error_and_keys_are_never_recorded() {
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "x",
        "--target",
        "openai",
        "--base-url",
        "http://127.0.0.1:9",
        "--api-key-env",
        "TOKAUDIT_TEST_UNSET_KEY",
    ]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("TOKAUDIT_TEST_UNSET_KEY"), "{}", r.stderr);
    let dir = tempfile::tempdir().unwrap();
    let r = run(tokaudit()
        .env("OPENAI_API_KEY", "sk-tokaudit-test-secret-0123456789")
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--target",
            "openai",
            "--model",
            "m",
            "--record",
        ])
        .arg(dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(
            !text.contains("sk-tokaudit-test-secret"),
            "API key recorded"
        );
        assert!(text.contains("\"authorization\": \"<redacted> (Bearer)\""));
    }
    assert!(!r.stdout.contains("sk-tokaudit-test-secret"));
}

/// A stand-in gateway, written here, that forwards to `tokaudit serve` and adds 7 to the
/// streamed completion tokens. With --ledger, the error is attributed to the gateway: its
/// streaming figure disagrees with what the upstream reported for that very request, while
/// the upstream's own figures agree across paths.
#[test]
fn ledger_parity_attributes_corrupted_stream_usage_to_the_gateway() {
    let upstream = serve(&[]);
    let gateway = stand_in_gateway(&upstream.url);
    let ledger = format!("{}/_tokaudit/ledger", upstream.url);
    let dir = tempfile::tempdir().unwrap();
    let r = run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--target",
            "openai",
            "--model",
            "bedrock-claude",
            "--format",
            "json",
            "--runs",
            "2",
            "--concurrency",
            "2",
            "--base-url",
            &gateway,
            "--ledger",
            &ledger,
            "--record",
        ])
        .arg(dir.path()));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let report = r.json();
    for case in report["cases"].as_array().unwrap() {
        let ledger_findings: Vec<&Value> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["invariant"] == "ledger-parity" && f["severity"] == "violation")
            .collect();
        assert_eq!(ledger_findings.len(), 1, "{case}");
        assert_eq!(ledger_findings[0]["side"], "streaming");
        assert_eq!(ledger_findings[0]["field"], "output");
        let checks = case["checks"].as_array().unwrap();
        assert!(checks.iter().any(|c| c["invariant"] == "ledger-parity"
            && c["side"] == "non_streaming"
            && c["status"] == "held"));
        let output = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["field"] == "output")
            .unwrap();
        assert_eq!(
            output["upstream_non_streaming"], output["upstream_streaming"],
            "the upstream is consistent"
        );
        assert_eq!(
            output["streaming"]["value"].as_u64().unwrap(),
            output["upstream_streaming"].as_u64().unwrap() + 7
        );
        assert_eq!(case["upstream"]["streaming"]["requests"], 1);
    }
    // The table shows the upstream column.
    let table = run(tokaudit().arg("replay").arg(dir.path()));
    assert!(
        table.stdout.contains("upstream (ledger)"),
        "{}",
        table.stdout
    );
    // Recorded gateway runs replay offline to the same report.
    let replayed = run(tokaudit()
        .arg("replay")
        .arg(dir.path())
        .args(["--format", "json"]));
    let mut live = report.clone();
    live.as_object_mut().unwrap().remove("spread");
    assert_eq!(live, replayed.json());
    drop(upstream);
}

/// Correlation markers must not defeat prompt caching: the first call writes the cache,
/// the second reads it, and the ledger agrees on both.
#[test]
fn ledger_markers_keep_prompt_caching_intact() {
    let upstream = serve(&[]);
    let ledger = format!("{}/_tokaudit/ledger", upstream.url);
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "Write Hi",
        "--target",
        "openai",
        "--model",
        "m",
        "--format",
        "json",
        "--system",
        &long_system(),
        "--cache",
        "--no-warmup",
        "--base-url",
        &upstream.url,
        "--ledger",
        &ledger,
    ]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    let row = |f: &str| {
        case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["field"] == f)
            .unwrap()
            .clone()
    };
    assert!(
        row("cache_write")["non_streaming"]["value"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        row("cache_read")["streaming"]["value"],
        row("cache_write")["non_streaming"]["value"]
    );
    assert_eq!(
        row("cache_read")["upstream_streaming"],
        row("cache_read")["streaming"]["value"]
    );
}

/// Forward /v1/chat/completions to `upstream`, adding 7 to streamed completion_tokens.
fn stand_in_gateway(upstream: &str) -> String {
    use axum::body::Bytes;
    let upstream = format!("{upstream}/v1/chat/completions");
    let client = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: Bytes| {
            let (client, upstream) = (client.clone(), upstream.clone());
            async move {
                let streaming = body.windows(13).any(|w| w == b"\"stream\":true");
                let resp = client
                    .post(&upstream)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let text = resp.text().await.unwrap();
                if !streaming {
                    return ([("content-type", "application/json")], text);
                }
                let out: String = text
                    .split("\n\n")
                    .filter(|e| !e.is_empty())
                    .map(|e| {
                        let data = e.trim_start_matches("data: ");
                        match serde_json::from_str::<Value>(data) {
                            Ok(mut v) if !v["usage"].is_null() => {
                                let c = v["usage"]["completion_tokens"].as_u64().unwrap();
                                v["usage"]["completion_tokens"] = (c + 7).into();
                                let t = v["usage"]["total_tokens"].as_u64().unwrap();
                                v["usage"]["total_tokens"] = (t + 7).into();
                                format!("data: {v}\n\n")
                            }
                            _ => format!("{e}\n\n"),
                        }
                    })
                    .collect();
                ([("content-type", "text/event-stream")], out)
            }
        }),
    );
    spawn_app(app)
}
