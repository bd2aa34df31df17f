//! `compare`: the real SDK against the emulator over loopback.

use crate::util::*;

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
    let system = long_system();
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
            "--model",
            CACHING_MODEL,
            "--system",
            &system,
            "--cache",
            "--no-warmup",
            "--record",
        ])
        .arg(dir.path()));
    assert_eq!(live.code, 0, "{}", live.stderr);
    let replayed = run(tokaudit()
        .arg("replay")
        .arg(dir.path())
        .args(["--format", "json"]));
    let (mut a, b) = (live.json(), replayed.json());
    // Only the spread over runs and the count of differing splits are specific to a live
    // multi-run report.
    a.as_object_mut().unwrap().remove("spread");
    assert_eq!(
        a.as_object_mut().unwrap().remove("cache_split_differs"),
        Some(1.into()),
        "run 1 writes, then everything reads"
    );
    assert_eq!(a, b);
    // Run 1 goes non-streaming first, so that call writes the cache and the stream reads it:
    // a note, not a mismatch.
    let first = a["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "run-001-invoke")
        .unwrap();
    let written = &first["non_streaming"]["usage"]["cache_write"]["value"];
    assert!(written.as_u64().unwrap() > 1024, "{written}");
    assert_eq!(&first["streaming"]["usage"]["cache_read"]["value"], written);
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

/// Inference profiles and provisioned models are addressed by ARN, which carries the AWS
/// account id: it is sent, but never recorded, reported or put in the ledger.
#[test]
fn an_arn_model_id_is_recorded_without_its_account_id() {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
    let dir = tempfile::tempdir().unwrap();
    let r = run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--format",
            "json",
        ])
        .args(["--model", arn, "--record"])
        .arg(dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("123456789012"),
        "account id in the report"
    );
    let case = &r.json()["cases"][0];
    assert_eq!(
        case["model"],
        "arn:aws:bedrock:us-east-1:<account>:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    );
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("123456789012"), "account id in a fixture");
        assert!(
            text.contains("us.anthropic.claude-3-haiku-20240307-v1"),
            "the model stays readable"
        );
        files += 1;
    }
    assert_eq!(files, 2);
}
