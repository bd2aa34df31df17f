//! Structure before any audit: a pair must be what it claims to be. The two sides are the twin
//! operations of the case's API family (the non-streaming one first), that family belongs to
//! the case's target, and each response has the shape its operation answers with. A pair that
//! breaks this is malformed input (exit 3), never audited: swapping the sides, or replacing the
//! streaming side by a copy of the other, must not be able to turn a mismatch into a pass.

use crate::core::capture::{ABORTED, Api, Capture, Framing, ResponseBody};
use crate::core::case::CaseMeta;
use crate::core::pipeline::Pair;
use crate::core::record::{Records, trace_of};

/// Check a pair's structure (and its warm-up call's, which is the non-streaming operation);
/// the error names the field and what it should be.
pub fn pair(meta: &CaseMeta, pair: &Pair) -> Result<(), String> {
    let Some(api) = meta.api else {
        return Err("the case names no API family, so its operations cannot be checked".into());
    };
    let expected_target = api.target();
    if meta.target != expected_target {
        return Err(format!(
            "target {:?} does not speak the {api} API (that is target {expected_target:?}); the recording's metadata was edited",
            meta.target
        ));
    }
    let (ns_op, st_op) = api.operations();
    let sides = [
        Some(("non_streaming", pair.non_streaming, ns_op, "non-streaming")),
        Some(("streaming", pair.streaming, st_op, "streaming")),
        pair.warmup.map(|w| ("warmup", w, ns_op, "non-streaming")),
    ];
    for (side, capture, want, role) in sides.into_iter().flatten() {
        if capture.operation != want {
            return Err(format!(
                "{side}.operation: {} is not the {role} operation of the {} API ({want}){}",
                capture.operation,
                api,
                swap_hint(capture.operation, api)
            ));
        }
        response_shape(side, capture)?;
        abort_shape(side, capture)?;
    }
    if let Some(records) = pair.records {
        record_traces(pair, records)?;
    }
    Ok(())
}

/// Only a stream that was answering can have been closed on purpose (`--abort-after`): an
/// "aborted" marker anywhere else would turn a failed call into an unchecked one.
fn abort_shape(side: &str, capture: &Capture) -> Result<(), String> {
    let aborted = capture
        .transport_error
        .as_ref()
        .is_some_and(|e| e.kind == ABORTED);
    let answering = capture
        .response
        .as_ref()
        .is_some_and(|r| (200..300).contains(&r.status));
    let why = match (capture.operation.is_streaming(), answering) {
        (false, _) => "a buffered call cannot be closed mid-stream",
        (true, false) => "the stream never answered with a 2xx status",
        (true, true) => return Ok(()),
    };
    if aborted {
        return Err(format!(
            "{side}.transport_error: kind {ABORTED:?} on {}, but {why}",
            capture.operation
        ));
    }
    Ok(())
}

/// Each side's record is the trace its request was sent under: records moved between the
/// sides, or copied from another request, would hold a request to someone else's record.
fn record_traces(pair: &Pair, records: &Records) -> Result<(), String> {
    let sides = [
        ("non_streaming", pair.non_streaming, &records.non_streaming),
        ("streaming", pair.streaming, &records.streaming),
    ];
    for (side, capture, record) in sides {
        let sent = trace_of(&capture.request.headers);
        if sent.as_deref() != Some(record.trace_id.as_str()) {
            return Err(format!(
                "records.{side}.trace_id: {} is not the trace the {side} request was sent under ({})",
                record.trace_id,
                sent.as_deref().unwrap_or("no traceparent header")
            ));
        }
    }
    Ok(())
}

/// What probably happened when a side holds the wrong operation.
fn swap_hint(found: crate::core::capture::Operation, api: Api) -> &'static str {
    let (ns, st) = api.operations();
    if found == ns || found == st {
        "; the two sides are swapped or one was copied over the other"
    } else {
        "; the exchange belongs to another API"
    }
}

/// A response has the body its operation answers with: one body for buffered operations,
/// frames for event streams, events for SSE; a streaming operation refused before streaming
/// (a non-2xx status) answers with one error body.
fn response_shape(side: &str, capture: &Capture) -> Result<(), String> {
    let Some(resp) = &capture.response else {
        return Ok(());
    };
    let refused = !(200..300).contains(&resp.status);
    let ok = match (capture.operation.framing(), &resp.body) {
        (_, ResponseBody::Buffered(_)) if refused => true,
        (Framing::Body, ResponseBody::Buffered(_)) => true,
        (Framing::EventStream, ResponseBody::Frames(_)) => true,
        (Framing::Sse, ResponseBody::Sse(_)) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let found = match &resp.body {
        ResponseBody::Buffered(_) => format!("a buffered {} body", resp.status),
        ResponseBody::Frames(_) => "event-stream frames".to_string(),
        ResponseBody::Sse(_) => "server-sent events".to_string(),
    };
    Err(format!(
        "{side}.response: {found} on {}, which answers with {}",
        capture.operation,
        capture.operation.framing().describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(m: &CaseMeta, ns: &Capture, st: &Capture) -> Result<(), String> {
        pair(
            m,
            &Pair {
                non_streaming: ns,
                streaming: st,
                warmup: None,
                origin: None,
                records: None,
            },
        )
    }
    use crate::core::capture::Operation;

    fn meta(target: &str, api: Api) -> CaseMeta {
        CaseMeta {
            name: "x".into(),
            target: target.into(),
            api: Some(api),
            model: "m".into(),
            region: "r".into(),
            emulator: false,
        }
    }

    fn buffered(op: Operation, status: u16) -> Capture {
        Capture::answered(op, status, vec![], ResponseBody::Buffered("{}".into()))
    }

    fn framed(op: Operation) -> Capture {
        Capture::answered(op, 200, vec![], ResponseBody::Frames(vec![]))
    }

    #[test]
    fn twin_operations_in_their_roles_pass() {
        let m = meta("bedrock", Api::Invoke);
        let ns = buffered(Operation::InvokeModel, 200);
        let st = framed(Operation::InvokeModelWithResponseStream);
        assert_eq!(check(&m, &ns, &st), Ok(()));
        let refused = buffered(Operation::InvokeModelWithResponseStream, 429);
        assert_eq!(
            check(&m, &ns, &refused),
            Ok(()),
            "an error body before streaming"
        );
    }

    #[test]
    fn swapped_copied_and_foreign_sides_are_refused() {
        let m = meta("bedrock", Api::Invoke);
        let ns = buffered(Operation::InvokeModel, 200);
        let st = framed(Operation::InvokeModelWithResponseStream);
        let e = check(&m, &st, &ns).unwrap_err();
        assert!(e.starts_with("non_streaming.operation: InvokeModelWithResponseStream is not the non-streaming operation"), "{e}");
        assert!(e.contains("swapped"), "{e}");
        let e = check(&m, &ns, &ns).unwrap_err();
        assert!(
            e.starts_with("streaming.operation: InvokeModel is not the streaming"),
            "{e}"
        );
        let e = check(&meta("bedrock", Api::Converse), &ns, &st).unwrap_err();
        assert!(e.contains("another API"), "{e}");
        let e = check(&meta("openai", Api::Invoke), &ns, &st).unwrap_err();
        assert!(
            e.starts_with("target \"openai\" does not speak the invoke API"),
            "{e}"
        );
    }

    #[test]
    fn a_response_must_have_its_operations_shape() {
        let m = meta("bedrock", Api::Invoke);
        let ns = buffered(Operation::InvokeModel, 200);
        let flat = buffered(Operation::InvokeModelWithResponseStream, 200);
        let e = check(&m, &ns, &flat).unwrap_err();
        assert_eq!(
            e,
            "streaming.response: a buffered 200 body on InvokeModelWithResponseStream, which answers with event-stream frames"
        );
        let framed_ns = framed(Operation::InvokeModel);
        let st = framed(Operation::InvokeModelWithResponseStream);
        assert!(
            check(&m, &framed_ns, &st)
                .unwrap_err()
                .contains("answers with one body")
        );
    }
}
