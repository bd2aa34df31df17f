//! No false passes: each class of input that used to replay to PASS although it was plainly
//! wrong, derived from a committed fixture by the smallest mutation that shows it. Each test
//! asserts the exact exit code and the finding or error text.

use crate::util::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokaudit::core::wire::eventstream::encode_event;

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

/// Replay a mutated fixture from a temp dir.
fn replay(fx: &Value) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.json");
    std::fs::write(&path, serde_json::to_string_pretty(fx).unwrap()).unwrap();
    run(tokaudit()
        .arg("replay")
        .arg(&path)
        .args(["--format", "json"]))
}

/// The one error line of a replay that refused its input.
fn refused(r: &Run) -> String {
    assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {}", r.stderr);
    assert!(
        lines[0].contains("mutant.json"),
        "names the file: {}",
        lines[0]
    );
    lines[0].to_string()
}

/// Replace ConverseStream frame `i` by an event of the same type with this payload.
fn converse_frame(fx: &mut Value, i: usize, kind: &str, payload: Value) {
    let raw = encode_event(kind, payload.to_string());
    fx["streaming"]["response"]["frames"][i] = serde_json::json!({"raw": B64.encode(&raw)});
}

#[test]
fn a_count_that_would_wrap_is_an_error_naming_the_field() {
    let mut fx = load("converse-write-hi.json");
    let usage = serde_json::json!({"inputTokens": u64::MAX, "outputTokens": 2,
        "totalTokens": 12, "cacheReadInputTokens": 11});
    converse_frame(&mut fx, 5, "metadata", serde_json::json!({"usage": usage}));
    let line = refused(&replay(&fx));
    assert!(
        line.contains("streaming: frame[5] metadata.usage.inputTokens: 18446744073709551615 is beyond any real usage"),
        "{line}"
    );
    let mut fx = load("invoke-write-hi.json");
    fx["non_streaming"]["response"]["headers"]["x-amzn-bedrock-input-token-count"] =
        "9007199254740993".into();
    let line = refused(&replay(&fx));
    assert!(
        line.contains(
            "header:x-amzn-bedrock-input-token-count: 9007199254740993 is beyond any real usage"
        ),
        "{line}"
    );
}

#[test]
fn a_streaming_side_replaced_by_a_copy_of_the_other_is_refused() {
    // LiteLLM #9577 recorded: exit 1 as it is; the copy must not turn it into a pass.
    let mut fx = load("litellm-1.63.14-proxy-write-hi.json");
    fx["streaming"] = fx["non_streaming"].clone();
    let line = refused(&replay(&fx));
    assert!(
        line.contains("streaming.operation: ChatCompletions is not the streaming operation of the chat API (ChatCompletionsStream); the two sides are swapped or one was copied over the other"),
        "{line}"
    );
}

#[test]
fn swapped_sides_and_a_foreign_api_are_refused() {
    let mut fx = load("invoke-write-hi.json");
    let ns = fx["non_streaming"].clone();
    fx["non_streaming"] = fx["streaming"].clone();
    fx["streaming"] = ns;
    let line = refused(&replay(&fx));
    assert!(
        line.contains("non_streaming.operation: InvokeModelWithResponseStream is not the non-streaming operation of the invoke API"),
        "{line}"
    );
    let mut fx = load("invoke-write-hi.json");
    fx["api"] = "converse".into();
    let line = refused(&replay(&fx));
    assert!(
        line.contains("non_streaming.operation: InvokeModel is not the non-streaming operation of the converse API (Converse); the exchange belongs to another API"),
        "{line}"
    );
    let mut fx = load("invoke-write-hi.json");
    fx["target"] = "openai".into();
    let line = refused(&replay(&fx));
    assert!(
        line.contains("target \"openai\" does not speak the invoke API"),
        "{line}"
    );
}

#[test]
fn a_streaming_operation_with_a_flat_body_is_refused() {
    let mut fx = load("converse-write-hi.json");
    let body = fx["non_streaming"]["response"]["body"].clone();
    let resp = fx["streaming"]["response"].as_object_mut().unwrap();
    resp.remove("frames");
    resp.insert("body".into(), body);
    let line = refused(&replay(&fx));
    assert!(
        line.contains("streaming.response: a buffered 200 body on ConverseStream, which answers with event-stream frames"),
        "{line}"
    );
}

#[test]
fn loosely_written_ledger_numbers_are_errors_not_skipped_checks() {
    for (bad, needle) in [
        (
            serde_json::json!("999"),
            "\"999\" is not an integer token count",
        ),
        (serde_json::json!(-5), "negative count -5"),
        (serde_json::json!(2.5), "2.5 is not an integer token count"),
        (
            serde_json::json!(18446744073709551616.0_f64),
            "is beyond any real usage",
        ),
    ] {
        let mut fx = load("litellm-1.108.7-proxy-write-hi.json");
        fx["upstream"]["streaming"][0]["reported"]["output"] = bad.clone();
        let line = refused(&replay(&fx));
        assert!(
            line.contains("upstream.streaming[0].reported.output: ") && line.contains(needle),
            "{bad}: {line}"
        );
    }
    let mut fx = load("litellm-1.108.7-proxy-write-hi.json");
    fx["upstream"]["streaming"][0]["reported"] = serde_json::json!({"tokens": 3});
    let line = refused(&replay(&fx));
    assert!(
        line.contains("upstream.streaming[0].reported.tokens: unknown field `tokens`"),
        "{line}"
    );
}

#[test]
fn a_stream_whose_terminal_event_comes_first_is_out_of_order() {
    let mut fx = load("invoke-write-hi.json");
    let frames = fx["streaming"]["response"]["frames"]
        .as_array_mut()
        .unwrap();
    let stop = frames.pop().unwrap();
    frames.insert(0, stop);
    let r = replay(&fx);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    assert_eq!(violations(case), ["stream-order"]);
    let finding = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["invariant"] == "stream-order")
        .unwrap();
    assert_eq!(
        finding["message"],
        "InvokeModelWithResponseStream out of order: frame[0] message_stop before message_start"
    );
}

#[test]
fn marking_a_frame_undecodable_does_not_switch_off_the_view_check() {
    let mut fx = load("invoke-write-hi.json");
    let frame = &mut fx["streaming"]["response"]["frames"][5];
    frame["undecodable"] = "truncated frame".into();
    frame["chunk"]["usage"]["output_tokens"] = 999.into();
    let line = refused(&replay(&fx));
    assert!(
        line.contains("streaming: frame 5: `undecodable` disagrees with `raw`"),
        "{line}"
    );
}

#[test]
fn two_counts_of_one_usage_object_that_disagree_are_a_finding() {
    // A gateway's prompt_tokens_details.cached_tokens against its cache_read_input_tokens.
    let mut fx = load("litellm-1.108.7-proxy-write-hi.json");
    fx["non_streaming"]["response"]["body"]["usage"]["cache_read_input_tokens"] = 5.into();
    let r = replay(&fx);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    assert_eq!(violations(case), ["usage-self-consistent"]);
    let row = case["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "cache_read")
        .unwrap();
    assert_eq!(
        row["non_streaming"]["source"], "body:usage.prompt_tokens_details.cached_tokens",
        "the table says which one was used"
    );
    // Converse cacheDetails against the cache-write total.
    let mut fx = load("converse-cache-write-then-read.json");
    let usage = &mut fx["non_streaming"]["response"]["body"]["usage"];
    let write = usage["cacheWriteInputTokens"].as_u64().unwrap();
    usage["cacheDetails"] = serde_json::json!([{"ttl": "5m", "inputTokens": write - 1}]);
    let r = replay(&fx);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    assert_eq!(violations(case), ["usage-self-consistent"]);
}

#[cfg(unix)]
#[test]
fn folders_with_link_loops_and_fifos_replay_each_fixture_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(fixtures().join("invoke-write-hi.json"), root.join("a.json")).unwrap();
    std::os::unix::fs::symlink(root, root.join("self")).unwrap();
    std::os::unix::fs::symlink(root.join("a.json"), root.join("b.json")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(root.join("pipe.json"))
        .status();
    let started = Instant::now();
    let r = run(tokaudit()
        .arg("replay")
        .arg(root)
        .args(["--format", "json"]));
    assert!(started.elapsed() < Duration::from_secs(20), "replay hung");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["summary"]["cases"], 1, "each file once");
    assert!(r.stderr.contains("symlink loop"), "{}", r.stderr);
    if fifo.is_ok_and(|s| s.success()) {
        assert!(
            r.stderr.contains("pipe.json: not a regular file"),
            "{}",
            r.stderr
        );
    }
}

/// An "aborted" marker must not excuse a stream from the wire audit. On LiteLLM #9577's
/// complete stream it is ignored (the stream ended, so the abort came too late) and the
/// mismatch stands; on a buffered call it is refused; on a real cut stream without records
/// the case is inconclusive, never a pass.
#[test]
fn an_aborted_marker_cannot_turn_a_mismatch_into_a_pass() {
    let aborted = json!({"kind": "aborted", "message": "edited in"});
    let mut fx = load("converse-hardcoded-usage-litellm-9577.json");
    fx["streaming"]["transport_error"] = aborted.clone();
    let r = replay(&fx);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(violations(&r.json()["cases"][0]).contains(&"input-parity".to_string()));

    let mut fx = load("converse-hardcoded-usage-litellm-9577.json");
    fx["non_streaming"]["transport_error"] = aborted.clone();
    let line = refused(&replay(&fx));
    assert!(
        line.contains("non_streaming.transport_error") && line.contains("buffered call"),
        "{line}"
    );

    let mut fx = load("litellm-1.108.7-records-invoke-abort.json");
    fx.as_object_mut().unwrap().remove("records");
    let r = replay(&fx);
    assert_eq!(r.code, 4, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    let why = case["findings"].as_array().unwrap().iter().any(|f| {
        f["invariant"] == "record-present"
            && f["message"].as_str().unwrap().contains("closed on purpose")
    });
    assert!(why, "{case}");
}

/// Records moved between the sides, or copied from another request, are refused: each side's
/// record must be the trace its request was sent under.
#[test]
fn records_of_another_request_are_refused() {
    let mut fx = load("litellm-1.77.7-records-invoke-abort.json");
    let records = fx["records"].as_object_mut().unwrap();
    let ns = records["non_streaming"].clone();
    records.insert("streaming".into(), ns);
    let line = refused(&replay(&fx));
    assert!(
        line.contains("records.streaming.trace_id") && line.contains("sent under"),
        "{line}"
    );
}
