//! The event-stream frame decoder and the stream normalizers, on any bytes. Raw fuzz bytes
//! almost never carry valid CRCs, so the harness repairs both CRCs of every length-prefixed
//! frame before decoding: the fuzzer then explores headers, payloads and the normalizers
//! behind them instead of stopping at the checksum.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tokaudit::core::capture::{Capture, Operation, ResponseBody};
use tokaudit::core::normalize::normalize;
use tokaudit::core::wire::eventstream::{MIN_FRAME_LEN, PRELUDE_LEN, decode_frame, split_frames};

/// Rewrite the prelude CRC and the message CRC of a frame in place, when it is long enough.
fn repair(frame: &mut [u8]) {
    if frame.len() < MIN_FRAME_LEN {
        return;
    }
    let prelude = crc32fast::hash(&frame[..8]);
    frame[8..PRELUDE_LEN].copy_from_slice(&prelude.to_be_bytes());
    let end = frame.len() - 4;
    let message = crc32fast::hash(&frame[..end]);
    frame[end..].copy_from_slice(&message.to_be_bytes());
}

fuzz_target!(|data: &[u8]| {
    let frames: Vec<Bytes> = split_frames(data)
        .into_iter()
        .map(|f| {
            let mut v = f.to_vec();
            repair(&mut v);
            Bytes::from(v)
        })
        .collect();
    for f in &frames {
        let _ = decode_frame(f);
    }
    for op in [
        Operation::InvokeModelWithResponseStream,
        Operation::ConverseStream,
    ] {
        let capture = Capture::answered(op, 200, vec![], ResponseBody::Frames(frames.clone()));
        let _ = normalize(&capture);
    }
});
