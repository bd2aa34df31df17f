//! Malformed input: one clear line naming file, frame and field; exit 3; never a panic.

use crate::util::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

fn good() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("invoke-write-hi.json")).unwrap())
        .unwrap()
}

/// Write `fixture` (JSON or raw text) to a temp file, replay it, and check the error line
/// (which says to re-record: the bytes are damaged).
fn check(content: String, needles: &[&str]) {
    let line = error_line(content, needles);
    assert!(line.contains("re-record"), "says what to do: {line}");
}

/// Replay `content` and return its one error line, checked for the file name and `needles`.
fn error_line(content: String, needles: &[&str]) -> String {
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
    lines[0].to_string()
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
    let raw = tokaudit::core::wire::eventstream::encode_event("chunk", payload.to_string());
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
    fx["schema_version"] = 0.into();
    check(fx.to_string(), &["schema_version 0 is not one", "edited"]);
}

/// Files that are not damaged recordings say what they are, and never "re-record".
#[test]
fn a_file_that_is_not_a_fixture_says_what_it_is() {
    let mut newer = good();
    newer["schema_version"] = 99.into();
    let report = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(fixtures().join("invoke-write-hi.json")));
    let cases: [(String, &[&str]); 4] = [
        (
            newer.to_string(),
            &["written by a newer tokaudit", "upgrade tokaudit"],
        ),
        (
            report.stdout,
            &["a tokaudit compare report, not a recording"],
        ),
        (
            "[tool]\nx = 1\n".into(),
            &["not a fixture (not a JSON object)"],
        ),
        (r#"{"usage": {}}"#.into(), &["not a tokaudit fixture"]),
    ];
    for (content, needles) in cases {
        let line = error_line(content, needles);
        assert!(!line.contains("re-record"), "{line}");
        assert!(
            line.contains("compare --record DIR") || line.contains("upgrade"),
            "{line}"
        );
    }
}

/// A file that did not load shows no invented metadata.
#[test]
fn a_file_that_did_not_load_has_unknown_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.json");
    std::fs::write(&path, "hello").unwrap();
    let r = run(tokaudit().args(["replay", "--format", "json"]).arg(&path));
    assert_eq!(r.code, 3);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let meta = &v["cases"][0];
    assert_eq!(
        (
            &meta["target"],
            &meta["api"],
            &meta["model"],
            &meta["region"]
        ),
        (
            &json!("unknown"),
            &Value::Null,
            &json!("unknown"),
            &json!("unknown")
        ),
        "{meta}"
    );
    let table = run(tokaudit().arg("replay").arg(&path));
    assert!(
        table.stdout.contains("notes · unknown · unknown"),
        "{}",
        table.stdout
    );
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

/// The file as `--record` lays it out (one line per frame), with one frame's line edited.
fn with_line_edit(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(fixtures().join("invoke-write-hi.json")).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(from) && l.trim_start().starts_with("{\"raw\""))
        .unwrap();
    text.replacen(line, &line.replacen(from, to, 1), 1)
}

#[test]
fn an_edited_view_in_a_recorded_layout_is_refused_on_the_fast_path_too() {
    check(
        with_line_edit(
            "\"usage\":{\"output_tokens\":2}}}",
            "\"usage\":{\"output_tokens\":9}}}",
        ),
        &["streaming: frame 5: `chunk` disagrees with `raw`"],
    );
    check(
        with_line_edit("\":event-type\":\"chunk\"", "\":event-type\":\"chunky\""),
        &["`headers` disagrees with `raw`"],
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
