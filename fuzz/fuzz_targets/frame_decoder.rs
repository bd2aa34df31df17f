//! The event-stream frame decoder and the stream normalizers, on any bytes. Raw fuzz bytes
//! almost never carry valid CRCs, so the harness repairs both CRCs of every length-prefixed
//! frame before decoding: the fuzzer then explores headers, payloads and the normalizers
//! behind them instead of stopping at the checksum. Differential too: tokaudit's in-place
//! frame reader must give the SDK decoder's verdict on every frame, and the same payload.
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
        let mine = decode_frame(f);
        let sdk = aws_smithy_eventstream::frame::read_message_from(f.clone());
        let complete = f.len() >= MIN_FRAME_LEN
            && u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize == f.len();
        if complete {
            match (&mine, &sdk) {
                (Ok(m), Ok(s)) => assert_eq!(m.payload, &s.payload()[..]),
                // A frame the SDK reads but that lacks the message type is refused by tokaudit.
                (Err(tokaudit::core::wire::eventstream::FrameError::MissingHeader(_)), Ok(_)) => {}
                (Err(_), Err(_)) => {}
                _ => panic!("verdicts differ: tokaudit {mine:?}, SDK {sdk:?}"),
            }
        }
    }
    for op in [
        Operation::InvokeModelWithResponseStream,
        Operation::ConverseStream,
    ] {
        let capture = Capture::answered(op, 200, vec![], ResponseBody::Frames(frames.clone()));
        let _ = normalize(&capture);
    }
});
