//! The integration suite: drives the real `tokaudit` binary against the committed fixtures,
//! the in-process emulator (`compare --offline`) and a `tokaudit serve` process, all on
//! loopback. Reports are asserted on parsed JSON, not on strings.

use assert_cmd::Command;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The binary with a hermetic environment: no AWS configuration, no instance-metadata probe.
fn tokaudit() -> Command {
    let mut cmd = Command::cargo_bin("tokaudit").expect("binary built");
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "TOKAUDIT_MODEL" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/tokaudit-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/tokaudit-test/credentials",
        )
        .env("NO_COLOR", "1");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("runs");
    Run {
        code: out.status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn violations(case: &Value) -> Vec<String> {
    let mut v: Vec<String> = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "violation")
        .map(|f| f["invariant"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn exit_for(verdict: &str) -> i32 {
    match verdict {
        "pass" => 0,
        "mismatch" => 1,
        "error" => 3,
        "inconclusive" => 4,
        other => panic!("unknown verdict {other}"),
    }
}

mod replay {
    use super::*;

    /// Every committed fixture replays to the verdict and findings it declares.
    #[test]
    fn corpus_replays_to_its_expected_verdicts() {
        let mut seen = 0;
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let fx: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let expect = &fx["expect"];
            let r = run(tokaudit()
                .arg("replay")
                .arg(&path)
                .args(["--format", "json"]));
            let report = r.json();
            let case = &report["cases"][0];
            let name = path.display();
            assert_eq!(case["verdict"], expect["verdict"], "{name}: {}", r.stdout);
            let mut want: Vec<String> = expect["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            want.sort();
            assert_eq!(violations(case), want, "{name}");
            assert_eq!(
                r.code,
                exit_for(expect["verdict"].as_str().unwrap()),
                "{name}"
            );
            // The table marks the violated invariant on a row, unless it concerns no field.
            for f in case["findings"].as_array().unwrap() {
                if f["severity"] == "violation" && f.get("field").is_some() {
                    let row = case["rows"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|r| r["field"] == f["field"])
                        .unwrap();
                    assert!(
                        row["invariants"]
                            .as_array()
                            .unwrap()
                            .contains(&f["invariant"]),
                        "{name}: {row}"
                    );
                    assert_eq!(row["status"], "mismatch", "{name}");
                }
            }
            seen += 1;
        }
        assert!(seen >= 18, "expected the whole corpus, saw {seen}");
    }

    #[test]
    fn the_good_pair_prints_a_diff_table_and_exits_0() {
        let r = run(tokaudit()
            .args(["replay"])
            .arg(fixtures().join("invoke-write-hi.json")));
        assert_eq!(r.code, 0, "{}", r.stderr);
        for needle in [
            "field",
            "non-streaming (source)",
            "streaming (source)",
            "delta",
            "verdict",
            "body:usage.input_tokens",
            "message_delta.usage.output_tokens",
            "PASS",
        ] {
            assert!(
                r.stdout.contains(needle),
                "missing {needle:?} in\n{}",
                r.stdout
            );
        }
        assert!(
            !r.stdout.contains('\u{1b}'),
            "no colour when stdout is not a terminal"
        );
    }

    #[test]
    fn known_bad_tables_mark_field_and_invariant() {
        let r = run(tokaudit()
            .args(["replay"])
            .arg(fixtures().join("invoke-headers-disagree.json")));
        assert_eq!(r.code, 1);
        let row = r
            .stdout
            .lines()
            .find(|l| l.contains("│ input "))
            .expect("input row");
        assert!(row.contains("✗ headers-match-body"), "{row}");
        assert!(r.stdout.contains("hint:"), "findings carry hints");
    }

    #[test]
    fn json_report_carries_provenance_for_every_number() {
        let r = run(tokaudit()
            .args(["replay", "--format", "json"])
            .arg(fixtures()));
        let report = r.json();
        assert_eq!(report["schema_version"], 1);
        assert_eq!(report["exit_code"], 1);
        let mut numbers = 0;
        fn walk(v: &Value, numbers: &mut usize) {
            match v {
                Value::Object(m) => {
                    if m.contains_key("value") && m["value"].is_u64() {
                        *numbers += 1;
                        assert!(
                            m["source"].as_str().is_some_and(|s| !s.is_empty()),
                            "number without provenance: {v}"
                        );
                        assert!(
                            ["reported", "derived", "placeholder"]
                                .contains(&m["kind"].as_str().unwrap()),
                            "{v}"
                        );
                    }
                    m.values().for_each(|x| walk(x, numbers));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, numbers)),
                _ => {}
            }
        }
        walk(&report, &mut numbers);
        assert!(numbers > 300, "only {numbers} numbers found");
        let summary = &report["summary"];
        assert_eq!(summary["cases"], 18);
    }

    #[test]
    fn zero_fixtures_is_an_error_not_success() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(tokaudit().arg("replay").arg(dir.path()));
        assert_eq!(r.code, 3);
        assert!(
            r.stderr.contains("no fixtures (*.json) found"),
            "{}",
            r.stderr
        );
        let r = run(tokaudit().args(["replay", "/nonexistent/tokaudit"]));
        assert_eq!(r.code, 3);
        assert!(r.stderr.contains("no such file or folder"), "{}", r.stderr);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let r = run(tokaudit().args(["replay", "--format", "yaml", "x"]));
        assert_eq!(r.code, 2);
        let r = run(tokaudit().args(["compare", "--prompt", "x", "--runs", "0", "--offline"]));
        assert_eq!(r.code, 2);
    }
}

/// Malformed input: one clear line naming file, frame and field; exit 3; never a panic.
mod malformed {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    fn good() -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("invoke-write-hi.json")).unwrap(),
        )
        .unwrap()
    }

    /// Write `fixture` (JSON or raw text) to a temp file, replay it, and check the error line.
    fn check(content: String, needles: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.json");
        std::fs::write(&path, content).unwrap();
        let r = run(tokaudit().arg("replay").arg(&path));
        assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "exactly one error line: {}", r.stderr);
        assert!(
            lines[0].contains("case.json"),
            "names the file: {}",
            lines[0]
        );
        for n in needles {
            assert!(lines[0].contains(n), "missing {n:?} in: {}", lines[0]);
        }
        assert!(
            lines[0].contains("re-record") || lines[0].contains("re-record the fixture"),
            "says what to do: {}",
            lines[0]
        );
    }

    /// Replace the raw bytes of streaming frame `i`, keeping the readable view.
    fn with_raw(i: usize, f: impl Fn(Vec<u8>) -> Vec<u8>) -> String {
        let mut fx = good();
        let frame = &mut fx["streaming"]["response"]["frames"][i];
        let raw = B64.decode(frame["raw"].as_str().unwrap()).unwrap();
        frame["raw"] = B64.encode(f(raw)).into();
        fx.to_string()
    }

    /// Rewrite the decoded chunk of streaming frame `i` and re-encode the frame properly
    /// (valid CRCs), so only the content is bad.
    fn with_chunk(i: usize, chunk: &str) -> String {
        let mut fx = good();
        let frame = &mut fx["streaming"]["response"]["frames"][i];
        let payload = serde_json::json!({"bytes": B64.encode(chunk), "p": "abc"});
        let raw = tokaudit::core::capture::encode_frame(
            &[
                (":event-type", "chunk"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string(),
        );
        *frame = serde_json::json!({"raw": B64.encode(&raw)});
        fx.to_string()
    }

    #[test]
    fn truncated_frame() {
        check(
            with_raw(3, |r| r[..r.len() - 10].to_vec()),
            &["streaming: frame 3: truncated frame"],
        );
    }

    #[test]
    fn bad_crc() {
        check(
            with_raw(2, |mut r| {
                let n = r.len();
                r[n - 6] ^= 0x20;
                r
            }),
            &["streaming: frame 2", "checksum"],
        );
    }

    #[test]
    fn invalid_json_file() {
        check(
            "{\"schema_version\": 1, \"name\": ".into(),
            &["invalid JSON at line 1"],
        );
    }

    #[test]
    fn invalid_json_in_a_chunk() {
        check(
            with_chunk(4, "{\"type\":\"message_delta\","),
            &["streaming: frame[4] chunk: invalid JSON"],
        );
    }

    #[test]
    fn missing_count() {
        check(
            with_chunk(
                5,
                r#"{"type":"message_delta","delta":{},"usage":{"input_tokens":3}}"#,
            ),
            &["frame[5] message_delta.usage.output_tokens: missing"],
        );
    }

    #[test]
    fn negative_count() {
        let mut fx = good();
        fx["non_streaming"]["response"]["body"]["usage"]["input_tokens"] = (-10).into();
        check(
            fx.to_string(),
            &["non_streaming: body:usage.input_tokens: negative count -10"],
        );
    }

    #[test]
    fn non_integer_count() {
        check(
            with_chunk(
                5,
                r#"{"type":"message_delta","usage":{"output_tokens":"two"}}"#,
            ),
            &["frame[5] message_delta.usage.output_tokens: \"two\" is not an integer token count"],
        );
        let mut fx = good();
        fx["non_streaming"]["response"]["body"]["usage"]["output_tokens"] = 2.5.into();
        check(
            fx.to_string(),
            &["body:usage.output_tokens: 2.5 is not an integer"],
        );
    }

    #[test]
    fn unknown_schema_version() {
        let mut fx = good();
        fx["schema_version"] = 99.into();
        check(fx.to_string(), &["schema_version 99 is not supported"]);
    }

    #[test]
    fn a_hand_edited_view_is_refused() {
        let mut fx = good();
        fx["streaming"]["response"]["frames"][5]["chunk"]["usage"]["output_tokens"] = 999.into();
        check(
            fx.to_string(),
            &["streaming: frame 5: `chunk` disagrees with `raw`"],
        );
    }

    #[test]
    fn malformed_and_good_fixtures_together_still_report_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixtures().join("invoke-write-hi.json"),
            dir.path().join("a.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join("b.json"), "not json").unwrap();
        let r = run(tokaudit()
            .arg("replay")
            .arg(dir.path())
            .args(["--format", "json"]));
        assert_eq!(r.code, 3);
        let report = r.json();
        assert_eq!(report["summary"]["pass"], 1);
        assert_eq!(report["summary"]["error"], 1);
    }
}

/// `compare`: the real SDK against the emulator over loopback.
mod compare {
    use super::*;

    #[test]
    fn offline_write_hi_passes_for_invoke_and_converse() {
        let r = run(tokaudit().args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let report = r.json();
        let cases = report["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        let ops: Vec<&str> = cases
            .iter()
            .flat_map(|c| {
                [
                    c["non_streaming"]["operation"].as_str().unwrap(),
                    c["streaming"]["operation"].as_str().unwrap(),
                ]
            })
            .collect();
        assert_eq!(
            ops,
            [
                "Converse",
                "ConverseStream",
                "InvokeModel",
                "InvokeModelWithResponseStream"
            ]
        );
        for c in cases {
            assert_eq!(c["verdict"], "pass", "{c}");
            assert_eq!(
                c["non_streaming"]["usage"]["input"]["value"], 10,
                "documented tokenizer: Write Hi = 10 input tokens"
            );
        }
    }

    #[test]
    fn a_recorded_run_replays_to_the_same_json_report() {
        let dir = tempfile::tempdir().unwrap();
        let live = run(tokaudit()
            .args([
                "compare",
                "--prompt",
                "Write 20 words",
                "--offline",
                "--format",
                "json",
                "--runs",
                "2",
                "--system",
                "Be brief.",
                "--cache",
                "--record",
            ])
            .arg(dir.path()));
        assert_eq!(live.code, 0, "{}", live.stderr);
        let replayed = run(tokaudit()
            .arg("replay")
            .arg(dir.path())
            .args(["--format", "json"]));
        let (mut a, b) = (live.json(), replayed.json());
        // Only the spread over runs is specific to a live multi-run report.
        a.as_object_mut().unwrap().remove("spread");
        assert_eq!(a, b);
        // Run 1 goes non-streaming first, so that call writes the cache and the stream reads it:
        // a note, not a mismatch.
        let first = a["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "run-001-invoke")
            .unwrap();
        assert_eq!(first["non_streaming"]["usage"]["cache_write"]["value"], 7);
        assert_eq!(first["streaming"]["usage"]["cache_read"]["value"], 7);
        assert!(
            first["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["severity"] == "note"
                    && f["message"].as_str().unwrap().contains("cache split"))
        );
    }

    #[test]
    fn recorded_fixtures_hold_no_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(tokaudit()
            .args(["compare", "--prompt", "Write Hi", "--offline", "--record"])
            .arg(dir.path()));
        assert_eq!(r.code, 0);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(
                !text.contains("Credential="),
                "SigV4 credential scope leaked"
            );
            assert!(!text.contains("Signature="), "SigV4 signature leaked");
            assert!(!text.contains("TOKAUDITOFFLINE"), "access key id leaked");
            assert!(text.contains("\"authorization\": \"<redacted> (AWS4-HMAC-SHA256)\""));
        }
    }

    #[test]
    fn an_exception_frame_mid_stream_exits_3_and_names_it() {
        let r = run(tokaudit().args([
            "compare",
            "--prompt",
            "Write 30 words",
            "--offline",
            "--api",
            "invoke",
            "--emulator-fault",
            "stream-exception",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 3);
        let case = &r.json()["cases"][0];
        assert_eq!(case["verdict"], "error");
        let failure = &case["streaming"]["failure"];
        assert_eq!(failure["name"], "modelStreamErrorException");
        assert_eq!(failure["message"], "Model Stream Error");
        // What was captured is kept: the message_start usage of the cut stream.
        assert_eq!(
            case["streaming"]["channels"]["message_start"]["input"]["value"],
            12
        );
    }

    #[test]
    fn a_429_is_retried_reported_and_then_passes() {
        let r = run(tokaudit().args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--api",
            "converse",
            "--emulator-fault",
            "throttle-once",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.stdout);
        let case = &r.json()["cases"][0];
        assert_eq!(case["non_streaming"]["attempts"], 2);
        assert!(
            case["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["message"].as_str().unwrap().contains("2 attempts"))
        );
    }

    #[test]
    fn persistent_throttling_is_a_runtime_error() {
        let r = run(tokaudit().args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--api",
            "invoke",
            "--emulator-fault",
            "throttle",
            "--max-attempts",
            "2",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 3);
        let f = &r.json()["cases"][0]["non_streaming"]["failure"];
        assert_eq!(
            (f["name"].as_str(), f["status"].as_u64()),
            (Some("ThrottlingException"), Some(429))
        );
    }

    #[test]
    fn many_runs_in_parallel_without_progress_when_piped() {
        let r = run(tokaudit().args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--runs",
            "20",
            "--concurrency",
            "8",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.is_empty(), "no progress on a pipe: {:?}", r.stderr);
        let report = r.json();
        assert_eq!(report["summary"]["cases"], 40);
        assert_eq!(report["summary"]["pass"], 40);
        let input = report["spread"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["field"] == "input")
            .unwrap();
        assert_eq!(
            (
                input["min"].as_u64(),
                input["max"].as_u64(),
                input["pairs_disagreeing"].as_u64()
            ),
            (Some(10), Some(10), Some(0))
        );
    }

    /// With no AWS configuration at all and no --offline: a clear error, exit 3, fast.
    #[test]
    fn no_credentials_fails_fast_with_a_fix() {
        let home = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let r = run(tokaudit().env("HOME", home.path()).args([
            "compare",
            "--prompt",
            "Write Hi",
            "--region",
            "us-east-1",
        ]));
        let took = started.elapsed();
        assert_eq!(r.code, 3);
        assert!(
            r.stderr.contains("no usable AWS credentials"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("--offline"),
            "says what to do: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(took < Duration::from_secs(2), "took {took:?}");
        let r = run(tokaudit()
            .env("HOME", home.path())
            .args(["compare", "--prompt", "Write Hi"]));
        assert_eq!(r.code, 3);
        assert!(r.stderr.contains("no AWS region"), "{}", r.stderr);
    }
}

/// `serve` as its own process, with `compare --endpoint-url` going through aws-config.
mod serve {
    use super::*;

    pub struct Server {
        child: Child,
        pub url: String,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn serve(faults: &[&str]) -> Server {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"));
        cmd.args(["serve", "--port", "0"]);
        for f in faults {
            cmd.args(["--fault", f]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Server { child, url }
    }

    fn compare_against(server: &Server, extra: &[&str]) -> Run {
        run(tokaudit()
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLETOKAUDIT0")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "not-a-real-secret-for-loopback-tests",
            )
            .args([
                "compare",
                "--prompt",
                "Write Hi",
                "--region",
                "eu-west-1",
                "--format",
                "json",
                "--endpoint-url",
                &server.url,
            ])
            .args(extra))
    }

    /// SIGTERM (what supervisors and CI runners send) stops the emulator cleanly, exit 0.
    #[cfg(unix)]
    #[test]
    fn sigterm_stops_serve_cleanly() {
        let mut server = serve(&[]);
        let pid = server.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = server.child.wait().unwrap();
        assert_eq!(exit.code(), Some(0), "{exit:?}");
    }

    #[test]
    fn compare_through_aws_config_passes_against_serve() {
        let server = serve(&[]);
        let r = compare_against(&server, &[]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert_eq!(r.json()["cases"][0]["region"], "eu-west-1");
    }

    fn post(url: &str, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, String, String) {
        use std::io::{Read, Write};
        let addr = url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let _ = s.write_all(body);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    /// Bad JSON, an oversized body, an unknown route, a wrong method, a bad fault header:
    /// each an AWS-style error, and the server keeps serving.
    #[test]
    fn malformed_requests_get_aws_errors_and_the_server_survives() {
        let server = serve(&[]);
        let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("/model/m/invoke", b"{not json".to_vec(), 400, "validationexception"),
            ("/model/m/converse", b"{\"messages\": []}".to_vec(), 400, "validationexception"),
            ("/model/m/invoke", br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}"#.to_vec(), 400, "validationexception"),
            ("/model/m/invoke", vec![b' '; 26_000_000], 413, "validationexception"),
            ("/nope", b"{}".to_vec(), 404, "unknownoperationexception"),
        ];
        for (path, body, status, kind) in cases {
            let (got, head, text) = post(&server.url, path, &body, &[]);
            assert_eq!(got, status, "{path}: {head}");
            assert!(
                head.contains(&format!("x-amzn-errortype: {kind}")),
                "{path}: {head}"
            );
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path}: body {text:?}: {e}"));
            assert!(v["message"].is_string(), "{path}: {v}");
        }
        let (got, head, _) = post(
            &server.url,
            "/model/m/converse",
            b"{}",
            &[("x-tokaudit-fault", "bogus")],
        );
        assert_eq!(got, 400, "{head}");
        // Still serving.
        let r = compare_against(&server, &["--api", "converse"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    /// The ledger lists every request with what was reported; a cache write then a read is
    /// visible in it.
    #[test]
    fn the_ledger_shows_a_cache_write_then_read() {
        let server = serve(&[]);
        let r = compare_against(
            &server,
            &[
                "--api",
                "invoke",
                "--system",
                "You are terse and exact.",
                "--cache",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stdout);
        let (status, _, body) = {
            use std::io::{Read, Write};
            let addr = server.url.trim_start_matches("http://");
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(
                format!(
                    "GET /_tokaudit/ledger HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            let (head, body) = out.split_once("\r\n\r\n").unwrap();
            (
                head.split(' ').nth(1).unwrap().to_string(),
                head.to_string(),
                body.to_string(),
            )
        };
        assert_eq!(status, "200");
        let ledger: Value = serde_json::from_str(&body).unwrap();
        let entries = ledger["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["operation"], "InvokeModel");
        assert_eq!(entries[1]["operation"], "InvokeModelWithResponseStream");
        let write = entries[0]["reported"]["cache_write"].as_u64().unwrap();
        assert!(write > 0);
        assert_eq!(entries[1]["reported"]["cache_read"].as_u64(), Some(write));
        assert_eq!(entries[1]["reported"]["cache_write"].as_u64(), Some(0));
        assert!(
            entries
                .iter()
                .all(|e| e["request_id"].as_str().is_some_and(|id| id.len() == 36))
        );
    }

    #[test]
    fn a_fault_rate_hits_some_requests_only() {
        let server = serve(&["metrics-skew@0.5"]);
        let r = compare_against(
            &server,
            &["--api", "invoke", "--runs", "12", "--concurrency", "4"],
        );
        let report = r.json();
        let (m, p) = (
            report["summary"]["mismatch"].as_u64().unwrap(),
            report["summary"]["pass"].as_u64().unwrap(),
        );
        assert_eq!(m + p, 12);
        assert!(m > 0 && p > 0, "mismatch {m}, pass {p}");
    }

    #[test]
    fn a_server_wide_fault_is_reported() {
        let server = serve(&["metrics-skew"]);
        let r = compare_against(&server, &["--api", "invoke"]);
        assert_eq!(r.code, 1);
        assert_eq!(violations(&r.json()["cases"][0]), ["metrics-match-events"]);
    }
}

/// Gateway targets (OpenAI-compatible, Anthropic) against the emulator's /v1 routes.
mod gateway {
    use super::*;

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
        let upstream = super::serve::serve(&[]);
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
        let upstream = super::serve::serve(&[]);
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
            "You are terse and exact, always.",
            "--cache",
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
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
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
                                            let c =
                                                v["usage"]["completion_tokens"].as_u64().unwrap();
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
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        format!("http://{}", rx.recv().unwrap())
    }
}

/// `tokaudit gate`: suites, baselines, JUnit / Markdown / JSON.
mod gate {
    use super::*;

    fn suite(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("suite.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn fixture(name: &str) -> String {
        fixtures().join(name).display().to_string()
    }

    /// Parse a JUnit file with an independent XML parser and return
    /// (suites, tests, failures, errors, skipped), checking the declared counts match the elements.
    fn junit_counts(path: &Path) -> (usize, usize, usize, usize, usize) {
        let text = std::fs::read_to_string(path).unwrap();
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("invalid XML: {e}\n{text}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let attr =
            |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or("0").parse::<usize>().unwrap();
        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
        for s in &suites {
            let cases: Vec<_> = s
                .children()
                .filter(|n| n.has_tag_name("testcase"))
                .collect();
            assert_eq!(
                attr(*s, "tests"),
                cases.len(),
                "declared tests of {:?}",
                s.attribute("name")
            );
            let count = |tag: &str| {
                cases
                    .iter()
                    .filter(|c| c.children().any(|x| x.has_tag_name(tag)))
                    .count()
            };
            assert_eq!(attr(*s, "failures"), count("failure"));
            assert_eq!(attr(*s, "errors"), count("error"));
            assert_eq!(attr(*s, "skipped"), count("skipped"));
            tests += cases.len();
            failures += count("failure");
            errors += count("error");
            skipped += count("skipped");
        }
        assert_eq!(attr(root, "tests"), tests);
        (suites.len(), tests, failures, errors, skipped)
    }

    #[test]
    fn the_example_suite_runs_green_offline_and_writes_every_report() {
        let dir = tempfile::tempdir().unwrap();
        let (junit, md, json) = (
            dir.path().join("junit.xml"),
            dir.path().join("r.md"),
            dir.path().join("r.json"),
        );
        let summary = dir.path().join("step-summary.md");
        let r = run(tokaudit()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["gate", "--offline", "--junit"])
            .arg(&junit)
            .arg("--markdown")
            .arg(&md)
            .arg("--json")
            .arg(&json));
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(
                "5 cases: 4 pass, 0 mismatch, 0 inconclusive, 0 error, 1 expected failure (exit 0)"
            ),
            "{}",
            r.stdout
        );
        let (suites, tests, failures, errors, skipped) = junit_counts(&junit);
        assert_eq!((suites, failures, errors), (5, 0, 0));
        assert!(
            tests > 50 && skipped >= 3,
            "{tests} tests, {skipped} skipped"
        );
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            (
                report["kind"].as_str(),
                report["complete"].as_bool(),
                report["exit_code"].as_i64()
            ),
            (Some("gate"), Some(true), Some(0))
        );
        assert_eq!(report["summary"]["expected_failures"], 1);
        let md_text = std::fs::read_to_string(&md).unwrap();
        assert!(
            md_text.contains("### ✅ litellm-1.63.14 — expected-failure"),
            "{md_text}"
        );
        assert_eq!(
            std::fs::read_to_string(&summary).unwrap(),
            md_text,
            "appended to the step summary"
        );
    }

    #[test]
    fn a_known_bad_fixture_fails_the_gate_unless_expected_and_an_error_exits_3() {
        let dir = tempfile::tempdir().unwrap();
        let bad = suite(
            dir.path(),
            &format!(
                "[[case]]\nname = \"headers\"\nfixtures = [{:?}]\n",
                fixture("invoke-headers-disagree.json")
            ),
        );
        let r = run(tokaudit().args(["gate", "--suite"]).arg(&bad));
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(
            r.stdout.contains("== headers (line 1): mismatch"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("✗ headers-match-body"));

        let expected = suite(
            dir.path(),
            &format!(
                "[[case]]\nname = \"headers\"\nfixtures = [{:?}]\n[case.expect]\nverdict = \"mismatch\"\nreason = \"a relay rewrites the header\"\n",
                fixture("invoke-headers-disagree.json")
            ),
        );
        let r = run(tokaudit().args(["gate", "--suite"]).arg(&expected));
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stdout.contains("expected-failure")
                && r.stdout.contains("a relay rewrites the header"),
            "{}",
            r.stdout
        );

        let stale = suite(
            dir.path(),
            &format!(
                "[[case]]\nname = \"good\"\nfixtures = [{:?}]\n[case.expect]\nverdict = \"mismatch\"\nreason = \"was broken\"\n",
                fixture("invoke-write-hi.json")
            ),
        );
        let r = run(tokaudit().args(["gate", "--suite"]).arg(&stale));
        assert_eq!(
            r.code, 1,
            "an unexpected pass is reported and fails: {}",
            r.stdout
        );
        assert!(r.stdout.contains("unexpected-pass"));

        let erroring = suite(
            dir.path(),
            &format!(
                "[[case]]\nname = \"cut\"\nfixtures = [{:?}]\n",
                fixture("invoke-stream-cut-by-exception.json")
            ),
        );
        let r = run(tokaudit().args(["gate", "--suite"]).arg(&erroring));
        assert_eq!(r.code, 3, "{}", r.stdout);

        let tolerated = suite(
            dir.path(),
            &format!(
                "[[case]]\nname = \"headers\"\nfixtures = [{:?}]\n[case.tolerance]\nheaders-match-body = 2\n",
                fixture("invoke-headers-disagree.json")
            ),
        );
        let r = run(tokaudit().args(["gate", "--suite"]).arg(&tolerated));
        assert_eq!(
            r.code, 0,
            "an explicit tolerance of 2 covers a 2-token header skew: {}",
            r.stdout
        );
        assert!(r.stdout.contains("within the suite's tolerance of 2"));
    }

    #[test]
    fn baseline_drift_is_detected_and_update_baseline_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = suite(
            dir.path(),
            "[[case]]\nname = \"hi\"\nprompt = \"Write Hi\"\napi = \"invoke\"\n",
        );
        let baseline = dir.path().join("baseline");
        let r = run(tokaudit()
            .args(["gate", "--offline", "--suite"])
            .arg(&s)
            .arg("--baseline")
            .arg(&baseline)
            .arg("--update-baseline"));
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert!(baseline.join("hi/run-001-invoke.json").exists());
        // Recordings of the same case whose input counts moved (a longer system prompt).
        let moved = dir.path().join("moved");
        let rec = run(tokaudit()
            .args([
                "compare",
                "--prompt",
                "Write Hi",
                "--api",
                "invoke",
                "--offline",
                "--system",
                "Be brief.",
                "--record",
            ])
            .arg(moved.join("hi")));
        assert_eq!(rec.code, 0);
        let json = dir.path().join("r.json");
        let r = run(tokaudit()
            .args(["gate", "--suite"])
            .arg(&s)
            .arg("--replay")
            .arg(&moved)
            .arg("--baseline")
            .arg(&baseline)
            .arg("--json")
            .arg(&json));
        assert_eq!(r.code, 1, "{}", r.stdout);
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let drift: Vec<&Value> = report["cases"][0]["reports"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["invariant"] == "baseline-drift")
            .collect();
        assert_eq!(drift.len(), 2, "both sides drifted");
        assert!(
            drift[0]["message"]
                .as_str()
                .unwrap()
                .contains("total input is 14 now but 10 in the baseline"),
            "{}",
            drift[0]
        );
        // Re-record, then the same replay is clean.
        let r = run(tokaudit()
            .args(["gate", "--suite"])
            .arg(&s)
            .arg("--replay")
            .arg(&moved)
            .arg("--baseline")
            .arg(&baseline)
            .arg("--update-baseline"));
        assert_eq!(r.code, 0, "{}", r.stdout);
        let r = run(tokaudit()
            .args(["gate", "--suite"])
            .arg(&s)
            .arg("--replay")
            .arg(&moved)
            .arg("--baseline")
            .arg(&baseline));
        assert_eq!(r.code, 0, "{}", r.stdout);
    }

    /// Kill the gate in the middle of a slow case: the reports of the finished case are there,
    /// valid, and marked incomplete.
    #[test]
    fn a_run_killed_midway_leaves_valid_partial_reports() {
        let dir = tempfile::tempdir().unwrap();
        let s = suite(
            dir.path(),
            "[[case]]\nname = \"fast\"\nprompt = \"Write Hi\"\napi = \"invoke\"\n\n[[case]]\nname = \"slow\"\nprompt = \"Write 300 words\"\nmax_tokens = 400\nemulator_faults = [\"token-latency=50\"]\n",
        );
        let (junit, md, json) = (
            dir.path().join("j.xml"),
            dir.path().join("r.md"),
            dir.path().join("r.json"),
        );
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"))
            .args(["gate", "--offline", "--suite"])
            .arg(&s)
            .arg("--junit")
            .arg(&junit)
            .arg("--markdown")
            .arg(&md)
            .arg("--json")
            .arg(&json)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            let done = std::fs::read_to_string(&json)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v["summary"]["cases"] == 1);
            if done {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the first case never finished"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "killed before it finished");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            (report["complete"].as_bool(), report["planned"].as_u64()),
            (Some(false), Some(2))
        );
        assert_eq!(report["cases"][0]["name"], "fast");
        assert_eq!(report["exit_code"], 3, "an incomplete run is never success");
        let (suites, ..) = junit_counts(&junit);
        assert_eq!(suites, 1);
        assert!(
            std::fs::read_to_string(&md)
                .unwrap()
                .contains("(incomplete: 1 of 2 cases)")
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left behind");
    }

    #[test]
    fn malformed_suites_are_one_line_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\ntemprature = 0.5\n",
                ":4: unknown field `temprature`",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\nruns = -1\n",
                ":4: case \"a\": runs = -1 must be",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\ntarget = \"azure\"\n",
                ":4: case \"a\": target \"azure\"",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\nemulator_faults = [\"nope\"]\n",
                ":4: case \"a\": unknown fault",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\n[case.expect]\nverdict = \"mismatch\"\n",
                ":4: missing field `reason`",
            ),
            ("[[case]\n", ":1: "),
        ];
        for (text, needle) in cases {
            let p = suite(dir.path(), text);
            let r = run(tokaudit().args(["gate", "--offline", "--suite"]).arg(&p));
            assert_eq!(r.code, 2, "{text:?}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
            assert!(
                r.stderr.contains(&format!("suite.toml{needle}")),
                "{text:?}: {}",
                r.stderr
            );
        }
        let r = run(tokaudit().args(["gate", "--suite", "/nonexistent/tokaudit.toml"]));
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("cannot read the suite"), "{}", r.stderr);
    }
}

/// Regression tests named after real bugs.
mod regression {
    use super::*;

    /// LiteLLM v1.63.14 replaced streamed Bedrock usage with a hard-coded block, so "Write Hi"
    /// was billed 1799/392 streamed against 10/2 buffered.
    /// See: https://github.com/BerriAI/litellm/issues/9577 (fixed by PR #9512).
    #[test]
    fn litellm_9577_bedrock_stream_usage() {
        let r = run(tokaudit()
            .args(["replay", "--format", "json"])
            .arg(fixtures().join("converse-hardcoded-usage-litellm-9577.json")));
        assert_eq!(r.code, 1);
        let case = &r.json()["cases"][0];
        assert_eq!(violations(case), ["input-parity", "output-parity"]);
        let input_total = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["field"] == "input_total")
            .unwrap();
        assert_eq!(
            (
                input_total["non_streaming"]["value"].as_u64(),
                input_total["streaming"]["value"].as_u64()
            ),
            (Some(10), Some(1799))
        );
    }

    /// The same bug, recorded from the real LiteLLM v1.63.14 proxy (installed from PyPI) in front
    /// of `tokaudit serve`: the ledger shows the upstream reported 19 / 2 for that very streamed
    /// request, so the gateway is at fault. v1.108.7 in the same set-up passes.
    /// See: https://github.com/BerriAI/litellm/issues/9577
    #[test]
    fn litellm_9577_real_proxy_v1_63_14() {
        let r = run(tokaudit()
            .args(["replay", "--format", "json"])
            .arg(fixtures().join("litellm-1.63.14-proxy-write-hi.json")));
        assert_eq!(r.code, 1);
        let case = &r.json()["cases"][0];
        let output = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["field"] == "output")
            .unwrap();
        assert_eq!(
            (
                output["streaming"]["value"].as_u64(),
                output["upstream_streaming"].as_u64()
            ),
            (Some(392), Some(2))
        );
        let blamed: Vec<&Value> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["invariant"] == "ledger-parity")
            .collect();
        assert!(
            blamed.iter().all(|f| f["side"] == "streaming"),
            "only the streamed path is wrong"
        );
        let fixed = run(tokaudit()
            .arg("replay")
            .arg(fixtures().join("litellm-1.108.7-proxy-write-hi.json")));
        assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    }

    /// The Anthropic SDK's final message kept the `output_tokens: 1` placeholder.
    /// See: https://github.com/anthropics/anthropic-sdk-python/issues/424
    #[test]
    fn anthropic_sdk_424_placeholder_final() {
        let r = run(tokaudit()
            .args(["replay", "--format", "json"])
            .arg(fixtures().join("invoke-placeholder-final.json")));
        assert!(violations(&r.json()["cases"][0]).contains(&"no-placeholder".to_string()));
    }

    /// pydantic-ai summed cumulative usage events (streamed input doubled).
    /// See: https://github.com/pydantic/pydantic-ai/issues/2770
    #[test]
    fn pydantic_ai_2770_cumulative_summed() {
        let r = run(tokaudit()
            .args(["replay", "--format", "json"])
            .arg(fixtures().join("invoke-cumulative-summed.json")));
        assert!(violations(&r.json()["cases"][0]).contains(&"cumulative-not-summed".to_string()));
    }
}

/// No committed fixture may hold a credential, signature, API key or bearer token.
#[test]
fn committed_fixtures_hold_no_secrets() {
    let patterns = [
        "AKIA",
        "ASIA",
        "Credential=",
        "Signature=",
        "Bearer ",
        "sk-ant-",
        "x-api-key\": \"s",
        "aws_secret_access_key",
    ];
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for p in patterns {
            assert!(!text.contains(p), "{} contains {p:?}", path.display());
        }
        let fx: Value = serde_json::from_str(&text).unwrap();
        for side in ["non_streaming", "streaming"] {
            let h = &fx[side]["request"]["headers"];
            for secret in ["authorization", "x-amz-security-token", "x-amz-date"] {
                if let Some(v) = h.get(secret) {
                    assert!(
                        v.as_str().unwrap().starts_with("<redacted>"),
                        "{}: {secret} = {v}",
                        path.display()
                    );
                }
            }
        }
    }
}
