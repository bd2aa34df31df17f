//! `tokaudit reconcile` over generated logs (ground truth from `gen-logs`), over malformed
//! records written here, and over the records real LiteLLM proxies and the emulator wrote
//! (`fixtures/reconcile/`).

use crate::util::{run, tokaudit};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Generate a set with `gen-logs` and return its folder and truth.
fn generate(dir: &Path, records: u64, every: u64) -> Value {
    let r = run(tokaudit().args([
        "gen-logs",
        "--out",
        &dir.display().to_string(),
        "--records",
        &records.to_string(),
        "--per-file",
        "700",
        "--every",
        &every.to_string(),
        "--without-id-every",
        "9",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

fn reconcile(dir: &Path, extra: &[&str]) -> crate::util::Run {
    let d = |p: &str| dir.join(p).display().to_string();
    let mut cmd = tokaudit();
    cmd.args(["reconcile", "--format", "json", "--invocation-logs"])
        .arg(d("invocation-logs"))
        .arg("--gateway-logs")
        .arg(d("gateway-logs"))
        .args(extra)
        .env("TMPDIR", dir);
    run(&mut cmd)
}

/// `reconcile --format json` over two folders, its work folder under `tmp`.
fn reconcile_sources(provider: &Path, gateway: &Path, tmp: &Path) -> crate::util::Run {
    run(tokaudit()
        .args(["reconcile", "--format", "json", "--invocation-logs"])
        .arg(provider)
        .arg("--gateway-logs")
        .arg(gateway)
        .env("TMPDIR", tmp))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 + 1e-9 * b.abs()
}

#[test]
fn every_injected_discrepancy_is_found_counted_and_priced_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), 4_000, 7);
    let r = reconcile(dir.path(), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report = r.json();
    let mut found = std::collections::BTreeMap::new();
    for c in report["classes"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            c["class"].as_str().unwrap(),
            c["field"].as_str().unwrap()
        );
        found.insert(key, c.clone());
    }
    let expected = truth["classes"].as_object().unwrap();
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(expected.len() >= 10, "every class injected: {expected:?}");
    for (key, want) in expected {
        let got = &found[key];
        assert_eq!(got["records"], want["records"], "{key}");
        assert_eq!(got["tokens"], want["tokens"], "{key}");
        let (g, w) = (got["usd"].as_f64().unwrap(), want["usd"].as_f64().unwrap());
        assert!(close(g, w), "{key}: {g} USD found, {w} injected");
    }
    let c = &report["comparisons"][0];
    for k in ["matched", "matched_by_request_id", "matched_by_fallback"] {
        assert_eq!(c[k], truth[k], "{k}");
    }
    assert!(truth["matched_by_fallback"].as_u64().unwrap() > 0);
    for s in report["sources"].as_array().unwrap() {
        let kind = s["kind"].as_str().unwrap();
        assert_eq!(s["malformed"], truth["malformed"][kind], "{kind}");
    }
    // The staged tables and spill files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".tokaudit-reconcile")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn clean_logs_pass() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), 1_500, 0);
    let r = reconcile(dir.path(), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["classes"], serde_json::json!([]));
    assert_eq!(report["comparisons"][0]["matched"], truth["matched"]);
    assert_eq!(report["comparisons"][0]["matched"], 1_500);
    // The pool's peak is reported against the default limit, and the queries used some of it.
    let pool = &report["memory"];
    let limit = tokaudit::defaults::RECONCILE_MEMORY_MIB << 20;
    assert_eq!(pool["limit_bytes"], limit, "{pool}");
    let peak = pool["peak_bytes"].as_u64().unwrap();
    assert!(peak > 0 && peak <= limit, "{pool}");
}

#[test]
fn the_id_join_leaves_records_without_an_id_unmatched_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), 900, 0);
    let r = reconcile(dir.path(), &["--join", "id"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let c = &r.json()["comparisons"][0];
    let fallback = truth["matched_by_fallback"].as_u64().unwrap();
    assert_eq!(c["matched"], 900 - fallback);
    assert_eq!(c["unbilled"], fallback);
    assert_eq!(c["unlogged"], fallback);
    // The fallback alone finds every pair, ids or not.
    let r = reconcile(dir.path(), &["--join", "fallback"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["comparisons"][0]["matched_by_fallback"], 900);
}

fn gzip(lines: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(lines.as_bytes()).unwrap();
    gz.finish().unwrap()
}

const INVOCATION: &str = r#"{"schemaType":"ModelInvocationLog","timestamp":"2026-11-29T01:02:03Z","requestId":"REQ","operation":"Converse","modelId":"anthropic.claude-3-haiku-20240307-v1:0","input":{"inputTokenCount":19},"output":{"outputTokenCount":2}}"#;
const GATEWAY: &str = r#"{"id":"chatcmpl-1","status":"success","model":"anthropic.claude-3-haiku-20240307-v1:0","startTime":1795914123.0,"endTime":1795914123.5,"prompt_tokens":19,"completion_tokens":2,"total_tokens":21,"hidden_params":{"additional_headers":{"llm_provider-x-amzn-requestid":"REQ"}}}"#;

fn write_sources(dir: &Path, provider: &[(&str, Vec<u8>)], gateway: &str) -> (PathBuf, PathBuf) {
    let (p, g) = (dir.join("provider"), dir.join("gateway"));
    std::fs::create_dir_all(&p).unwrap();
    std::fs::create_dir_all(&g).unwrap();
    for (name, bytes) in provider {
        std::fs::write(p.join(name), bytes).unwrap();
    }
    std::fs::write(g.join("gateway.jsonl"), gateway).unwrap();
    (p, g)
}

#[test]
fn malformed_records_are_counted_with_file_and_line_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let good = gzip(&format!("{}\n", INVOCATION.replace("REQ", "a")));
    let truncated = gzip(&format!("{}\n", INVOCATION.replace("REQ", "b")).repeat(40));
    let gateway = format!(
        "{}\nnot json at all\n{}\n{}\n",
        GATEWAY.replace("REQ", "a"),
        GATEWAY
            .replace("REQ", "c")
            .replace("\"prompt_tokens\":19,", ""),
        GATEWAY
            .replace("REQ", "d")
            .replace("\"completion_tokens\":2", "\"completion_tokens\":\"2\"")
    );
    let (p, g) = write_sources(
        dir.path(),
        &[
            ("a.json.gz", good),
            ("b.json.gz", truncated[..truncated.len() / 2].to_vec()),
        ],
        &gateway,
    );
    let r = reconcile_sources(&p, &g, dir.path());
    // Nothing differs among what could be read, but records were lost: a runtime error.
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(report["verdict"], "error");
    assert_eq!(report["malformed_total"], 4);
    let m: Vec<(String, u64, String)> = report["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let file = m["file"].as_str().unwrap();
            let name = file.rsplit('/').next().unwrap().to_string();
            (
                name,
                m["line"].as_u64().unwrap(),
                m["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(m[0].0, "b.json.gz");
    assert!(m[0].2.starts_with("truncated or corrupt gzip"), "{m:?}");
    assert_eq!(
        &m[1..]
            .iter()
            .map(|x| (x.0.as_str(), x.1))
            .collect::<Vec<_>>(),
        &[
            ("gateway.jsonl", 2),
            ("gateway.jsonl", 3),
            ("gateway.jsonl", 4)
        ]
    );
    assert!(m[1].2.starts_with("not JSON"), "{m:?}");
    assert_eq!(m[2].2, "missing field prompt_tokens");
    assert_eq!(
        m[3].2,
        "completion_tokens is a string, expected a non-negative integer"
    );
    assert_eq!(report["comparisons"][0]["matched"], 1);
    // Whatever the truncated object gave before the break was read, and is billed with no
    // gateway record: nothing read is dropped.
    let read = report["sources"][0]["rows"].as_u64().unwrap();
    assert_eq!(
        report["comparisons"][0]["unlogged"].as_u64(),
        Some(read - 1)
    );
}

#[test]
fn out_writes_the_differences_as_parquet_and_csv_and_user_checks_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 600, 5);
    let out = dir.path().join("out");
    let check = dir.path().join("big-outputs.sql");
    std::fs::write(
        &check,
        "SELECT request_id, output FROM invocation_logs WHERE output > 790 ORDER BY request_id",
    )
    .unwrap();
    let r = reconcile(
        dir.path(),
        &[
            "--out",
            &out.display().to_string(),
            "--check",
            &check.display().to_string(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report = r.json();
    let rows = report["checks"][0]["rows"].as_u64().unwrap();
    assert!(rows > 0, "{report}");
    let csv = std::fs::read_to_string(out.join("differences.csv")).unwrap();
    let findings: u64 = report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["records"].as_u64().unwrap())
        .sum();
    assert_eq!(
        csv.lines().count() as u64,
        findings + 1,
        "a header and one line per finding"
    );
    let parquet = std::fs::read(out.join("differences.parquet")).unwrap();
    assert_eq!(&parquet[..4], b"PAR1");
    let malformed = std::fs::read_to_string(out.join("malformed.csv")).unwrap();
    assert_eq!(
        malformed.lines().count() as u64,
        report["malformed_total"].as_u64().unwrap() + 1
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 3, "{leftovers:?}");

    std::fs::write(&check, "SELECT nope FROM nowhere").unwrap();
    let r = reconcile(dir.path(), &["--check", &check.display().to_string()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("big-outputs.sql") && r.stderr.contains("nowhere"),
        "{}",
        r.stderr
    );
}

#[test]
fn one_source_or_a_bad_window_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(tokaudit()
        .args(["reconcile", "--gateway-logs"])
        .arg(dir.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("two sources or more"), "{}", r.stderr);
    let r = run(tokaudit()
        .args(["reconcile", "--window-ms", "10", "--gateway-logs"])
        .arg(dir.path())
        .arg("--invocation-logs")
        .arg(dir.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("whole seconds"), "{}", r.stderr);
    let r = run(tokaudit()
        .args([
            "reconcile",
            "--invocation-logs",
            "/nonexistent/x",
            "--gateway-logs",
        ])
        .arg(dir.path()));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("/nonexistent/x"), "{}", r.stderr);
}

#[test]
fn nothing_to_compare_is_inconclusive_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = write_sources(dir.path(), &[], "");
    let r = reconcile_sources(&p, &g, dir.path());
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json()["verdict"], "inconclusive");
}

/// The records one real LiteLLM proxy and the emulator wrote (`tests/data/reconcile/`).
fn real(version: &str) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/reconcile")
        .join(format!("litellm-{version}"));
    let r = run(tokaudit()
        .args(["reconcile", "--format", "json", "--invocation-logs"])
        .arg(dir.join("invocation-logs"))
        .arg("--gateway-logs")
        .arg(dir.join("gateway-logs")));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    r.json()
}

/// `class` → (records, tokens) of a report.
fn classes(report: &Value) -> std::collections::BTreeMap<String, (u64, i64)> {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key = format!(
                "{}/{}",
                c["class"].as_str().unwrap(),
                c["field"].as_str().unwrap()
            );
            (
                key,
                (
                    c["records"].as_u64().unwrap(),
                    c["tokens"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

/// <https://github.com/BerriAI/litellm/issues/9577>: LiteLLM 1.63.14 logs every streamed Converse
/// call with its hard-coded usage (prompt 1799 with 1796 cached, completion 392), where Bedrock
/// billed 19 / 2. Its records keep no Bedrock request id: they are joined by the fallback.
#[test]
fn regression_litellm_9577_streamed_converse_records_carry_the_hard_coded_usage() {
    let report = real("1.63.14");
    let c = &report["comparisons"][0];
    assert_eq!(
        (c["matched"].as_u64(), c["matched_by_fallback"].as_u64()),
        (Some(22), Some(22))
    );
    assert_eq!(
        (c["unbilled"].as_u64(), c["unlogged"].as_u64()),
        (Some(0), Some(0))
    );
    let found = classes(&report);
    // Five streamed Converse calls on Haiku, one on Sonnet: 392 logged each, whatever was billed.
    assert_eq!(found["output-differs/output"], (6, 2328));
    assert_eq!(found["cache-read-differs/cache_read"], (6, 6 * 1796));
    let worst = report["worst"].as_array().unwrap();
    assert!(
        worst
            .iter()
            .any(|w| w["class"] == "output-differs" && w["logged"] == 392 && w["billed"] == 2),
        "{worst:?}"
    );
}

/// LiteLLM 1.63.14 and 1.65.1 log an InvokeModel cache stream with `prompt_tokens` that leave
/// the cache out (`billing-and-records.md` §8): the cache split is kept, the prompt is not the
/// total it must be, and the missing cache is priced at the input price.
#[test]
fn litellm_invoke_cache_stream_records_leave_the_cache_out_of_the_input() {
    for version in ["1.63.14", "1.65.1"] {
        let found = classes(&real(version));
        assert_eq!(
            found["cached-beyond-prompt/cache"].0, 1,
            "{version}: {found:?}"
        );
        let (records, tokens) = found["input-differs/input"];
        assert!(records >= 1 && tokens <= -1554, "{version}: {found:?}");
    }
}

/// LiteLLM 1.65.1's plain traffic agrees with the bill token for token; what it gets wrong is
/// the cost it logs for buffered calls on the `invoke/` route (0.0: the route is missing from
/// its price map), and only the Invoke cache stream differs in tokens.
#[test]
fn litellm_1_65_1_plain_traffic_agrees_token_for_token() {
    let report = real("1.65.1");
    assert_eq!(
        report["comparisons"][0]["differing"], 1,
        "only the Invoke cache stream"
    );
    let found = classes(&report);
    let tokens: Vec<&String> = found
        .keys()
        .filter(|k| !k.starts_with("cost-differs") && !k.starts_with("cached-beyond"))
        .collect();
    assert_eq!(tokens, ["input-differs/input"]);
}

/// LiteLLM 1.108.7 keeps Bedrock's request id in `hidden_params.additional_headers`: every
/// record is joined on it, and its token counts agree with the bill.
#[test]
fn litellm_1_108_7_records_join_on_the_bedrock_request_id() {
    let report = real("1.108.7");
    let c = &report["comparisons"][0];
    assert_eq!(
        (c["matched_by_request_id"].as_u64(), c["differing"].as_u64()),
        (Some(22), Some(0))
    );
    let found = classes(&report);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        ["cost-differs/cost"],
        "it logs response_cost 0.0"
    );
}

/// Two identical prompts whose provider records carry the same whole-second timestamp cannot
/// be told apart: they stay one-sided rather than being paired by a guess, while a third call
/// of the same prompt a few seconds later is still joined.
#[test]
fn identical_prompts_the_fallback_cannot_tell_apart_stay_unmatched() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#""inputBodyJson":{"messages":[{"role":"user","content":[{"text":"Write Hi"}]}]}"#;
    let provider: String = [
        ("p1", "01:02:03Z"),
        ("p2", "01:02:03Z"),
        ("p3", "01:02:09Z"),
    ]
    .iter()
    .map(|(id, at)| {
        INVOCATION
            .replace("REQ", id)
            .replace("01:02:03Z", at)
            .replace(
                r#""inputTokenCount":19"#,
                &format!(r#""inputTokenCount":19,{body}"#),
            )
            + "\n"
    })
    .collect();
    let gateway: String = [1795914123.1, 1795914123.4, 1795914129.2]
        .iter()
        .map(|start| {
            let g = GATEWAY
                .replace(r#","hidden_params":{"additional_headers":{"llm_provider-x-amzn-requestid":"REQ"}}"#, "")
                .replace("1795914123.0", &start.to_string())
                .replace("1795914123.5", &(start + 0.2).to_string());
            g.replace("}", r#","messages":[{"role":"user","content":"Write Hi"}]}"#) + "\n"
        })
        .collect();
    let (p, g) = write_sources(dir.path(), &[("p.json.gz", gzip(&provider))], &gateway);
    let r = reconcile_sources(&p, &g, dir.path());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let c = &r.json()["comparisons"][0];
    assert_eq!(c["matched_by_fallback"], 1, "{c}");
    assert_eq!(
        (c["unbilled"].as_u64(), c["unlogged"].as_u64()),
        (Some(2), Some(2)),
        "{c}"
    );
}

/// A gateway that logs the same Bedrock request twice counts its spend twice. Joined on the
/// id, each copy agrees with the bill, so without this check the pair of copies would pass.
#[test]
fn a_request_logged_twice_is_found_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    let provider = format!("{}\n", INVOCATION.replace("REQ", "a"));
    let record = GATEWAY.replace("REQ", "a");
    let gateway = format!("{record}\n{}\n", record.replace("chatcmpl-1", "chatcmpl-2"));
    let (p, g) = write_sources(dir.path(), &[("p.json.gz", gzip(&provider))], &gateway);
    let r = reconcile_sources(&p, &g, dir.path());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let found = classes(&r.json());
    assert_eq!(found["logged-twice/record"], (1, 21), "{found:?}");
}

/// Calls `compare --record` made through `serve --invocation-logs` (with these faults),
/// reconciled: the recordings against the emulator's invocation logs.
#[cfg(unix)]
fn recorded_against_logged(faults: &[&str]) -> crate::util::Run {
    use crate::util::{compare_against, serve_with, terminate};
    let dir = tempfile::tempdir().unwrap();
    let (logs, recordings) = (dir.path().join("logs"), dir.path().join("recordings"));
    let mut server = serve_with(faults, &["--invocation-logs", &logs.display().to_string()]);
    let r = compare_against(
        &server,
        &[
            "--api",
            "both",
            "--record",
            &recordings.display().to_string(),
        ],
    );
    assert!(r.code <= 1, "{}", r.stderr);
    assert_eq!(terminate(&mut server), Some(0));
    run(tokaudit()
        .args(["reconcile", "--format", "json", "--invocation-logs"])
        .arg(&logs)
        .arg("--recordings")
        .arg(&recordings)
        .env("TMPDIR", dir.path()))
}

/// `--recordings`: every side of every recorded case is joined to its invocation log record
/// on Bedrock's request id, and agrees with it.
#[cfg(unix)]
#[test]
fn recordings_agree_with_the_invocation_logs_of_the_same_calls() {
    let r = recorded_against_logged(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    let c = &report["comparisons"][0];
    assert_eq!(
        (c["logged"].as_str(), c["billed"].as_str()),
        (Some("recordings"), Some("invocation_logs"))
    );
    assert_eq!(c["matched"], 4, "{c}");
    assert_eq!(c["matched_by_request_id"], 4, "{c}");
    assert_eq!(report["malformed_total"], 0);
}

/// A recording of streams whose usage was replaced on the wire (LiteLLM 1.63.14's hard-coded
/// block, <https://github.com/BerriAI/litellm/issues/9577>) disagrees with what was billed.
#[cfg(unix)]
#[test]
fn regression_litellm_9577_recorded_streams_disagree_with_the_bill() {
    let r = recorded_against_logged(&["hardcoded-usage"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let found = classes(&r.json());
    assert_eq!(found["output-differs/output"].0, 2, "{found:?}");
    assert!(found["output-differs/output"].1 > 0, "{found:?}");
}

/// A gate suite with `kind = "reconcile"` cases: clean generated logs pass, LiteLLM 1.65.1's
/// records end as the expected failure the suite states, and the JUnit and JSON reports name
/// every finding class.
#[test]
fn a_gate_suite_runs_reconcile_cases_into_junit_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    generate(&clean, 300, 0);
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reconcile/litellm-1.65.1");
    let sources = |d: &Path| {
        format!(
            "kind = \"reconcile\"\ninvocation_logs = [{:?}]\ngateway_logs = [{:?}]\n",
            d.join("invocation-logs"),
            d.join("gateway-logs")
        )
    };
    let suite = dir.path().join("tokaudit.toml");
    std::fs::write(
        &suite,
        format!(
            "[[case]]\nname = \"clean\"\n{}\n[[case]]\nname = \"litellm-1.65.1\"\n{}[case.expect]\nverdict = \"mismatch\"\nreason = \"the Invoke cache stream and $0 invoke/ costs\"\n",
            sources(&clean),
            sources(&real)
        ),
    )
    .unwrap();
    let (junit, json) = (dir.path().join("g.xml"), dir.path().join("g.json"));
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&suite)
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .env("TMPDIR", dir.path()));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases[0]["outcome"], "pass");
    assert_eq!(cases[0]["reconcile"]["matched"], 300);
    assert_eq!(cases[1]["outcome"], "expected-failure");
    let classes: Vec<&str> = cases[1]["reconcile"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"input-differs"), "{classes:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("reconcile: gateway_logs/input-differs/input"),
        "{xml}"
    );
    assert!(
        xml.contains("expected failure: the Invoke cache stream"),
        "{xml}"
    );
}
