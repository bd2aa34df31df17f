//! Replay throughput: decode + normalize + audit of large synthetic event streams.
//!
//! `cargo bench --bench replay_throughput` builds an InvokeModelWithResponseStream capture and
//! a ConverseStream capture of about 50 MB of event-stream frames each (every frame CRC-checked
//! by aws-smithy-eventstream, every chunk base64-decoded and parsed), then times the pure core
//! on one thread and prints MB/s (best and median of several rounds). Target (PRODUCT.md §8):
//! at least 200 MB/s on one core. It also times a full `replay` of one recorded fixture
//! (parse the file + the same core).

use base64::Engine;
use bytes::Bytes;
use std::time::{Duration, Instant};
use tokaudit::core::audit::audit;
use tokaudit::core::capture::{Capture, Operation, ResponseBody};
use tokaudit::core::normalize::normalize;
use tokaudit::core::wire::eventstream::encode_frame;

const TARGET_BYTES: usize = 50 * 1024 * 1024;
const ROUNDS: usize = 7;

fn capture(op: Operation, body: ResponseBody) -> Capture {
    Capture::answered(op, 200, vec![], body)
}

fn chunk(event: &serde_json::Value) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(event.to_string());
    encode_frame(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        serde_json::json!({"bytes": b64, "p": "abcdefghijklmnop"}).to_string(),
    )
}

/// A long Claude stream: one text delta of ~40 words per frame, a cumulative message_delta
/// every 1,000 frames, metrics on message_stop. Returns (stream, buffered twin, bytes).
fn invoke_pair() -> (Capture, Capture, usize) {
    let word = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
    let text = word.repeat(5);
    let mut frames = vec![chunk(
        &serde_json::json!({"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}}}),
    )];
    let mut bytes = frames[0].len();
    let mut out = 0u64;
    let mut full = String::new();
    while bytes < TARGET_BYTES {
        let f = chunk(
            &serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}),
        );
        bytes += f.len();
        frames.push(f);
        full.push_str(&text);
        out += 40;
        if frames.len() % 1000 == 0 {
            frames.push(chunk(
                &serde_json::json!({"type":"message_delta","usage":{"output_tokens":out}}),
            ));
        }
    }
    frames.push(chunk(&serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":out}})));
    frames.push(chunk(&serde_json::json!({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":10,"outputTokenCount":out}})));
    let bytes: usize = frames.iter().map(Bytes::len).sum();
    let body = serde_json::json!({"content":[{"type":"text","text":full}],"usage":{"input_tokens":10,"output_tokens":out}});
    (
        capture(
            Operation::InvokeModelWithResponseStream,
            ResponseBody::Frames(frames),
        ),
        capture(
            Operation::InvokeModel,
            ResponseBody::Buffered(body.to_string().into()),
        ),
        bytes,
    )
}

fn converse_pair() -> (Capture, Capture, usize) {
    let text = "lorem ipsum dolor sit amet consectetur adipiscing elit ".repeat(5);
    let event = |kind: &str, v: serde_json::Value| {
        encode_frame(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            v.to_string(),
        )
    };
    let mut frames = vec![event(
        "messageStart",
        serde_json::json!({"role":"assistant","p":"abc"}),
    )];
    let mut bytes = 0;
    let mut full = String::new();
    while bytes < TARGET_BYTES {
        let f = event(
            "contentBlockDelta",
            serde_json::json!({"contentBlockIndex":0,"delta":{"text":text},"p":"abcdefgh"}),
        );
        bytes += f.len();
        frames.push(f);
        full.push_str(&text);
    }
    let out = (frames.len() as u64) * 40;
    frames.push(event(
        "messageStop",
        serde_json::json!({"stopReason":"end_turn"}),
    ));
    frames.push(event("metadata", serde_json::json!({"usage":{"inputTokens":10,"outputTokens":out,"totalTokens":out+10},"metrics":{"latencyMs":1}})));
    let bytes: usize = frames.iter().map(Bytes::len).sum();
    let body = serde_json::json!({"output":{"message":{"content":[{"text":full}]}},"usage":{"inputTokens":10,"outputTokens":out,"totalTokens":out+10}});
    (
        capture(Operation::ConverseStream, ResponseBody::Frames(frames)),
        capture(
            Operation::Converse,
            ResponseBody::Buffered(body.to_string().into()),
        ),
        bytes,
    )
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut t: Vec<Duration> = (0..rounds)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t
}

fn bench_pair(label: &str, (stream, buffered, bytes): (Capture, Capture, usize)) {
    let frames = match &stream.response.as_ref().unwrap().body {
        ResponseBody::Frames(f) => f.len(),
        _ => 0,
    };
    let t = time(ROUNDS, || {
        let st = normalize(&stream).expect("valid stream");
        let ns = normalize(&buffered).expect("valid body");
        let a = audit(&ns, &st, &Default::default());
        assert_eq!(
            a.verdict,
            tokaudit::core::audit::Verdict::Pass,
            "{:?}",
            a.findings
        );
    });
    let mb = bytes as f64 / 1e6;
    println!(
        "{label}: {mb:.1} MB in {frames} frames; best {:.1} ms = {:.0} MB/s, median {:.1} ms = {:.0} MB/s",
        t[0].as_secs_f64() * 1e3,
        mb / t[0].as_secs_f64(),
        t[t.len() / 2].as_secs_f64() * 1e3,
        mb / t[t.len() / 2].as_secs_f64(),
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args; keep that cheap.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    bench_pair(
        "invoke-with-response-stream decode+normalize+audit",
        invoke_pair(),
    );
    bench_pair("converse-stream decode+normalize+audit", converse_pair());

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/invoke-long-multi-delta.json");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let t = time(50, || {
        let fx = tokaudit::fixture::Fixture::load(&path).expect("fixture");
        let (ns, st) = fx.captures().expect("captures");
        let _ = audit(
            &normalize(&ns).unwrap(),
            &normalize(&st).unwrap(),
            &Default::default(),
        );
    });
    println!(
        "replay of fixtures/invoke-long-multi-delta.json ({} KB): best {:.2} ms, median {:.2} ms",
        size / 1024,
        t[0].as_secs_f64() * 1e3,
        t[t.len() / 2].as_secs_f64() * 1e3
    );
}
