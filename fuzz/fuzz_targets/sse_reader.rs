//! The SSE splitter and parser, and the two SSE normalizers behind them, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokaudit::core::capture::{Capture, Operation, ResponseBody};
use tokaudit::core::normalize::normalize;
use tokaudit::core::wire::sse::{parse_sse, split_sse};

fuzz_target!(|data: &[u8]| {
    let events = split_sse(data);
    for e in &events {
        let _ = parse_sse(e);
    }
    for op in [Operation::ChatCompletionsStream, Operation::MessagesStream] {
        let capture = Capture::answered(op, 200, vec![], ResponseBody::Sse(events.clone()))
            .with_request_body(r#"{"stream":true,"stream_options":{"include_usage":true}}"#);
        let _ = normalize(&capture);
    }
});
