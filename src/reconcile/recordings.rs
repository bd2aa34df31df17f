//! tokaudit's own recordings (`compare --record DIR`) as billing records: each side of a
//! recorded case is one call, with the usage the wire carried, normalized by the same
//! normalizers `replay` uses, so reconciling recordings against the provider's invocation
//! logs checks that what the client was told is what was billed.
//!
//! A recording keeps the provider's response headers: Bedrock's request id
//! (`x-amzn-RequestId`) is the join key, and the HTTP `Date` header (to the second) places the
//! call in time for the fallback join. The request body gives the conversation digest.

use super::row::{self, Row};
use crate::core::capture::Capture;
use crate::core::normalize::{self, NormalizeError, Normalized, Obs};
use crate::fixture::{Fixture, FixtureError};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use std::path::Path;

/// The HTTP `Date` header has a resolution of one second: a call is placed within it.
const DATE_RESOLUTION_MS: i64 = 999;
/// The sides of a recording, in the order their rows are written.
const SIDES: [&str; 3] = ["non_streaming", "streaming", "warmup"];

/// One side of a recording: its capture and, where it was read frame by frame, its usage.
type Side = (Capture, Option<Result<Normalized, NormalizeError>>);

/// The rows of a recording on the local disk, read in one pass with bounded memory (a long
/// stream's frames are normalized as they are read, as `replay` does).
pub fn rows_of_file(path: &Path) -> Result<Vec<Result<Row, String>>, String> {
    let r = crate::fixture::load_streaming(path).map_err(not_a_recording)?;
    let (ns, st, warmup) = r.captures;
    let [pre_ns, pre_st, pre_w] = r.normalized;
    let mut sides = vec![(ns, pre_ns), (st, pre_st)];
    if let Some(w) = warmup {
        sides.push((w, pre_w));
    }
    rows(&r.fixture, sides)
}

/// The rows of a recording held in memory (an S3 object).
pub fn rows_of_bytes(bytes: &[u8]) -> Result<Vec<Result<Row, String>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not a recording: not UTF-8 text")?;
    let fixture = Fixture::parse(text).map_err(not_a_recording)?;
    let (ns, st) = fixture.captures().map_err(not_a_recording)?;
    let mut sides = vec![(ns, None), (st, None)];
    if let Some(w) = fixture.warmup_capture().map_err(not_a_recording)? {
        sides.push((w, None));
    }
    rows(&fixture, sides)
}

fn not_a_recording(e: FixtureError) -> String {
    format!("not a tokaudit recording: {e}")
}

/// One row per side, or why a side cannot be read (naming it). A recording whose sides are
/// not the twin operations of its API (swapped, edited) is refused whole, as `replay` does.
fn rows(fixture: &Fixture, sides: Vec<Side>) -> Result<Vec<Result<Row, String>>, String> {
    let pair = crate::core::pipeline::Pair {
        non_streaming: &sides[0].0,
        streaming: &sides[1].0,
        warmup: sides.get(2).map(|(w, _)| w),
        origin: None,
        records: None,
    };
    crate::core::validate::pair(&fixture.meta(), &pair)
        .map_err(|e| format!("not what it claims: {e}"))?;
    let prompt_hash = |c: &Capture| {
        serde_json::from_slice(&c.request.body)
            .ok()
            .and_then(|v| row::prompt_hash(&v))
    };
    Ok(sides
        .into_iter()
        .zip(SIDES)
        .map(|((capture, pre), side)| {
            let normalized = pre
                .unwrap_or_else(|| normalize::normalize(&capture))
                .map_err(|e| format!("{side}: {e}"))?;
            let at = date_ms(&capture).ok_or_else(|| {
                format!("{side}: no HTTP Date header to place the call in time; re-record it")
            })?;
            Ok(side_row(
                fixture,
                &capture,
                &normalized,
                side,
                at,
                prompt_hash(&capture),
            ))
        })
        .collect())
}

fn side_row(
    fixture: &Fixture,
    capture: &Capture,
    n: &Normalized,
    side: &str,
    at: i64,
    prompt_hash: Option<String>,
) -> Row {
    let get = |o: &Option<Obs>| o.as_ref().map(|o| o.value);
    let u = &n.usage;
    let (cache_read, cache_write) = (get(&u.cache_read), get(&u.cache_write));
    let response = capture.response.as_ref();
    Row {
        request_id: response
            .and_then(|r| r.header("x-amzn-requestid"))
            .map(str::to_string),
        record_id: Some(format!("{}#{side}", fixture.name)),
        model_key: row::model_key(&fixture.model),
        model: fixture.model.clone(),
        operation: Some(capture.operation.to_string()),
        stream: Some(capture.operation.is_streaming()),
        start_ms: at,
        end_ms: at + DATE_RESOLUTION_MS,
        api_key: None,
        prompt_hash,
        input_total: u.input_total().unwrap_or(0),
        cache_read,
        cache_write,
        output: get(&u.output).unwrap_or(0),
        total: get(&u.total),
        cost: None,
    }
}

/// The response's `Date` header in milliseconds since the epoch.
fn date_ms(capture: &Capture) -> Option<i64> {
    let date = capture.response.as_ref()?.header("date")?;
    DateTime::from_str(date, Format::HttpDate)
        .ok()?
        .to_millis()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    #[test]
    fn each_side_of_a_recording_is_a_row_with_its_request_id_time_and_usage() {
        let rows: Vec<Row> = rows_of_file(&fixture("converse-write-hi.json"))
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2);
        let (ns, st) = (&rows[0], &rows[1]);
        assert_eq!(
            ns.request_id.as_deref(),
            Some("70ca0d17-7a3c-4e1d-9b2f-000000000001")
        );
        assert_eq!(
            ns.record_id.as_deref(),
            Some("converse-write-hi#non_streaming")
        );
        assert_eq!((ns.stream, st.stream), (Some(false), Some(true)));
        assert_eq!(ns.model_key, "anthropic.claude-3-haiku-20240307-v1:0");
        // Sat, 28 Nov 2026 02:29:26 GMT, to the second.
        assert_eq!(ns.start_ms, 1_795_832_966_000);
        assert_eq!(ns.end_ms - ns.start_ms, DATE_RESOLUTION_MS);
        assert!(ns.prompt_hash.is_some() && ns.prompt_hash == st.prompt_hash);
        assert!(ns.input_total > 0 && ns.output > 0);
        assert_eq!((ns.input_total, ns.output), (st.input_total, st.output));
    }

    #[test]
    fn the_same_recording_from_memory_reads_the_same_rows() {
        let path = fixture("converse-write-hi.json");
        let from_file = rows_of_file(&path).unwrap();
        let from_bytes = rows_of_bytes(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(from_file, from_bytes);
    }

    #[test]
    fn what_is_not_a_recording_says_so() {
        let e = rows_of_bytes(b"{\"requestId\": \"x\"}").unwrap_err();
        assert!(e.starts_with("not a tokaudit recording"), "{e}");
        let text = std::fs::read_to_string(fixture("converse-write-hi.json")).unwrap();
        let mut swapped: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = swapped.as_object_mut().unwrap();
        let ns = obj.remove("non_streaming").unwrap();
        let st = obj.insert("streaming".into(), ns).unwrap();
        obj.insert("non_streaming".into(), st);
        let e = rows_of_bytes(swapped.to_string().as_bytes()).unwrap_err();
        assert!(e.starts_with("not what it claims"), "{e}");
        let e = rows_of_bytes(&[0xff, 0xfe]).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
