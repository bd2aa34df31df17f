//! Request handling: number the request, pick its faults (server-wide at their rates, plus the
//! `x-tokaudit-fault` header), read and validate the body as Bedrock would, run the synthetic
//! model, let the responder for the API answer, and write the ledger entry.

use super::faults::{self, FAULT_HEADER, Fault};
use super::model::cache::Route;
use super::respond::{Generation, anthropic, converse, invoke, openai, responses};
use super::server::aws_error;
use super::{Emulator, model};
use crate::core::capture::Operation;
use crate::core::ledger::{LedgerEntry, Usage, find_marker};
use crate::core::redact;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The route a request came in on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
    Invoke,
    InvokeStream,
    Converse,
    ConverseStream,
    /// `/v1/chat/completions`; streaming is decided by the body.
    Chat,
    /// `/v1/messages`; streaming is decided by the body.
    Messages,
    /// `/v1/responses`; streaming is decided by the body.
    Responses,
}

impl Op {
    /// The operation of this route, once the body said whether it streams.
    fn operation(self, streaming: bool) -> Operation {
        match (self, streaming) {
            (Op::Invoke, _) => Operation::InvokeModel,
            (Op::InvokeStream, _) => Operation::InvokeModelWithResponseStream,
            (Op::Converse, _) => Operation::Converse,
            (Op::ConverseStream, _) => Operation::ConverseStream,
            (Op::Chat, false) => Operation::ChatCompletions,
            (Op::Chat, true) => Operation::ChatCompletionsStream,
            (Op::Messages, false) => Operation::Messages,
            (Op::Messages, true) => Operation::MessagesStream,
            (Op::Responses, false) => Operation::Responses,
            (Op::Responses, true) => Operation::ResponsesStream,
        }
    }

    /// Bedrock's own routes, or the gateway routes (which cache differently).
    fn route(self) -> Route {
        match self {
            Op::Chat | Op::Messages | Op::Responses => Route::Gateway,
            _ => Route::Bedrock,
        }
    }

    /// The error body in this API's own style.
    fn error(self, status: StatusCode, kind: &str, message: &str) -> Response {
        match self {
            Op::Chat | Op::Responses => {
                let code = match status.as_u16() {
                    429 => "rate_limit_exceeded",
                    400 => "invalid_request_error",
                    _ => "server_error",
                };
                let body = json!({"error": {"message": message, "type": code, "code": kind}});
                (status, axum::Json(body)).into_response()
            }
            Op::Messages => {
                let t = match status.as_u16() {
                    429 => "rate_limit_error",
                    400 | 413 => "invalid_request_error",
                    _ => "api_error",
                };
                let body = json!({"type": "error", "error": {"type": t, "message": message}});
                (status, axum::Json(body)).into_response()
            }
            _ => aws_error(status, kind, message),
        }
    }
}

/// The Bedrock routes: the model is in the path.
pub(super) async fn bedrock(
    State(em): State<Arc<Emulator>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    op: Op,
) -> Response {
    handle(em, Some(model), headers, body, op).await
}

/// The gateway routes: the model is in the body.
pub(super) async fn gateway(
    State(em): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    op: Op,
) -> Response {
    handle(em, None, headers, body, op).await
}

/// The `x-amzn-requestid` of request number `n` (1-based), fixed-width like AWS's.
fn request_id(n: u64) -> String {
    format!("{:08x}-7a3c-4e1d-9b2f-{:012x}", 0x70ca_0d17u32, n)
}

fn with_request_id(mut resp: Response, rid: &str) -> Response {
    resp.headers_mut().insert(
        "x-amzn-requestid",
        HeaderValue::from_str(rid).expect("request ids are ASCII"),
    );
    resp
}

/// The faults that hit request `n`: each server-wide fault at its rate, plus the header's.
fn faults_for(em: &Emulator, headers: &HeaderMap, n: u64) -> Result<Vec<Fault>, String> {
    let mut specs = em.config.faults.clone();
    if let Some(h) = headers.get(FAULT_HEADER) {
        let listed = h.to_str().map_err(|e| e.to_string())?;
        specs.extend(faults::parse_list(listed)?);
    }
    Ok(specs
        .iter()
        .enumerate()
        .filter(|(i, s)| s.hits(n, *i as u64))
        .map(|(_, s)| s.fault.clone())
        .collect())
}

/// The error a fault injects before any model work, if one does.
fn injected_error(faults: &[Fault], n: u64) -> Option<(StatusCode, &'static str, &'static str)> {
    if faults.contains(&Fault::Throttle) || (faults.contains(&Fault::ThrottleOnce) && n == 0) {
        return Some((
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ));
    }
    faults.contains(&Fault::ServerError).then_some((
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerException",
        "The server encountered an internal error.",
    ))
}

/// One request, start to finish. Every request that got as far as a request number is in the
/// ledger, rejected ones included.
async fn handle(
    em: Arc<Emulator>,
    path_model: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    op: Op,
) -> Response {
    let n = em.next_request();
    let rid = request_id(n + 1);
    let faults = match faults_for(&em, &headers, n) {
        Ok(f) => f,
        Err(e) => return op.error(StatusCode::BAD_REQUEST, "ValidationException", &e),
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let msg = format!(
                "Malformed input request: {} (the limit is {} bytes)",
                rejection.body_text(),
                em.config.max_body
            );
            return op.error(rejection.status(), "ValidationException", &msg);
        }
    };
    if let Some(ms) = faults.iter().find_map(|f| match f {
        Fault::SlowFirstByte(ms) => Some(*ms),
        _ => None,
    }) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut entry = LedgerEntry {
        request_id: rid.clone(),
        operation: op.operation(false).to_string(),
        model: redact::account_ids(path_model.as_deref().unwrap_or_default()).into_owned(),
        status: StatusCode::OK.as_u16(),
        truth: None,
        reported: None,
        faults: faults.iter().map(ToString::to_string).collect(),
        correlation: find_marker(&String::from_utf8_lossy(&body)),
        aborted_after_frames: None,
    };
    let answer = answer(&em, op, path_model, &body, &faults, n, &mut entry);
    let resp = match answer {
        Ok(resp) => resp,
        Err((status, kind, msg)) => {
            entry.status = status.as_u16();
            op.error(status, kind, &msg)
        }
    };
    // A stream is billed as it is generated: a client that leaves early pays for less.
    let metering = super::meter::frames_before_output(&entry.operation)
        .zip(entry.truth.map(|t| t.output))
        .filter(|_| entry.status == StatusCode::OK.as_u16());
    em.record(entry);
    let resp = match metering {
        Some(m) => super::meter::metered(resp, em, (rid.clone(), body), m),
        None => {
            em.log_invocation(&rid, &body);
            resp
        }
    };
    with_request_id(resp, &rid)
}

type Rejection = (StatusCode, &'static str, String);

/// The answer to a request whose faults and body are known, filling in the ledger entry.
fn answer(
    em: &Emulator,
    op: Op,
    path_model: Option<String>,
    body: &[u8],
    faults: &[Fault],
    n: u64,
    entry: &mut LedgerEntry,
) -> Result<Response, Rejection> {
    if let Some((status, kind, msg)) = injected_error(faults, n) {
        return Err((status, kind, msg.to_string()));
    }
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        let msg = format!("Malformed input request: the body is not valid JSON ({e})");
        (StatusCode::BAD_REQUEST, "ValidationException", msg)
    })?;
    // Gateway routes carry the model and the streaming switch in the body.
    let streaming = json.get("stream").and_then(Value::as_bool) == Some(true);
    let model = path_model.unwrap_or_else(|| {
        let m = json
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        entry.model = redact::account_ids(m).into_owned();
        m.to_string()
    });
    entry.operation = op.operation(streaming).to_string();
    let parsed = match op {
        Op::Invoke | Op::InvokeStream => model::from_invoke(&json),
        Op::Converse | Op::ConverseStream => model::from_converse(&json),
        Op::Chat => model::from_openai(&json),
        Op::Messages => model::from_messages(&json),
        Op::Responses => model::from_responses(&json),
    };
    let invalid = |model::Invalid(msg)| (StatusCode::BAD_REQUEST, "ValidationException", msg);
    let req = parsed.map_err(invalid)?;
    let completion = model::generate(&req);
    let truth = em
        .truth(&model, op.route(), &req, &completion)
        .map_err(invalid)?;
    entry.truth = Some(truth);
    // Bedrock answers with the Anthropic model name, never the Bedrock id or ARN it was
    // called with (wire-formats.md §1.3); gateways echo what they were asked for.
    let model = match op.route() {
        Route::Gateway => model,
        Route::Bedrock => model::anthropic_name(&model),
    };
    let g = Generation {
        thinking: completion.thinking,
        pieces: completion.pieces,
        stop: completion.stop,
        truth,
        reported: super::respond::reported_usage(truth, faults),
        rid: entry.request_id.clone(),
        model,
    };
    let include_usage = json
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let (resp, reported) = respond(op.operation(streaming), &g, faults, include_usage);
    entry.reported = reported;
    Ok(resp)
}

/// The responder for an operation.
fn respond(
    operation: Operation,
    g: &Generation,
    faults: &[Fault],
    include_usage: bool,
) -> (Response, Option<Usage>) {
    match operation {
        Operation::InvokeModel => invoke::invoke(g, faults),
        Operation::InvokeModelWithResponseStream => invoke::invoke_stream(g, faults),
        Operation::Converse => converse::converse(g, faults),
        Operation::ConverseStream => converse::converse_stream(g, faults),
        Operation::ChatCompletions => openai::chat(g, faults),
        Operation::ChatCompletionsStream => openai::chat_stream(g, faults, include_usage),
        Operation::Messages => anthropic::messages(g, faults),
        Operation::MessagesStream => anthropic::messages_stream(g, faults),
        Operation::Responses => responses::responses(g, faults),
        Operation::ResponsesStream => responses::responses_stream(g, faults),
    }
}

/// `POST /model/{id}/count-tokens`: the input the synthetic model would bill, free of charge.
pub(super) async fn count_tokens(
    State(em): State<Arc<Emulator>>,
    Path(model): Path<String>,
    body: Bytes,
) -> Response {
    let rid = request_id(em.next_request() + 1);
    let req = match count_tokens_request(&body) {
        Ok(r) => r,
        Err(msg) => return aws_error(StatusCode::BAD_REQUEST, "ValidationException", &msg),
    };
    let counted = Usage {
        input: req.input_total,
        ..Usage::default()
    };
    em.record(LedgerEntry {
        request_id: rid.clone(),
        operation: "CountTokens".into(),
        model: redact::account_ids(&model).into_owned(),
        status: StatusCode::OK.as_u16(),
        truth: Some(counted),
        reported: Some(counted),
        faults: Vec::new(),
        correlation: find_marker(&String::from_utf8_lossy(&body)),
        aborted_after_frames: None,
    });
    let resp = axum::Json(json!({"inputTokens": req.input_total})).into_response();
    with_request_id(resp, &rid)
}

/// The request a CountTokens body wraps: an InvokeModel body (base64) or a Converse input.
fn count_tokens_request(body: &[u8]) -> Result<model::ModelRequest, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| "Malformed input request: the body is not valid JSON".to_string())?;
    let parsed = if let Some(b64) = json
        .pointer("/input/invokeModel/body")
        .and_then(Value::as_str)
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "input.invokeModel.body is not valid base64".to_string())?;
        let inner: Value = serde_json::from_slice(&raw)
            .map_err(|e| format!("input.invokeModel.body is not valid JSON ({e})"))?;
        model::from_invoke(&inner)
    } else if let Some(c) = json.pointer("/input/converse") {
        model::from_converse(c)
    } else {
        return Err("input must contain exactly one of invokeModel or converse".into());
    };
    parsed.map_err(|model::Invalid(msg)| msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::Config;

    fn emulator(faults: &[&str]) -> Arc<Emulator> {
        Emulator::new(Config {
            faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
            ..Config::default()
        })
    }

    fn invoke_body() -> Bytes {
        Bytes::from(
            json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":8,
                "messages":[{"role":"user","content":"Write Hi"}]})
            .to_string(),
        )
    }

    async fn call(em: &Arc<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
        handle(em.clone(), Some("m".into()), headers, Ok(body), Op::Invoke).await
    }

    #[tokio::test]
    async fn throttle_once_rejects_only_the_first_request_and_both_are_in_the_ledger() {
        let em = emulator(&["throttle-once"]);
        let first = call(&em, HeaderMap::new(), invoke_body()).await;
        let second = call(&em, HeaderMap::new(), invoke_body()).await;
        assert_eq!(
            (first.status(), second.status()),
            (StatusCode::TOO_MANY_REQUESTS, StatusCode::OK)
        );
        let ledger = em.ledger();
        assert_eq!(ledger.len(), 2);
        assert_eq!((ledger[0].status, ledger[0].truth), (429, None));
        let truth = ledger[1].truth.unwrap();
        assert_eq!((truth.input, truth.output), (10, 2), "documented tokenizer");
        assert_eq!(ledger[1].reported, Some(truth));
        assert_eq!(ledger[1].request_id, "70ca0d17-7a3c-4e1d-9b2f-000000000002");
    }

    #[tokio::test]
    async fn a_bad_fault_header_or_body_is_a_validation_error() {
        let em = emulator(&[]);
        let mut h = HeaderMap::new();
        h.insert(FAULT_HEADER, HeaderValue::from_static("bogus"));
        let r = call(&em, h, invoke_body()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = call(&em, HeaderMap::new(), Bytes::from_static(b"{not json")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(
            r.headers()["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .starts_with("ValidationException")
        );
        assert_eq!(em.ledger().last().unwrap().status, 400);
    }

    #[tokio::test]
    async fn model_arns_are_recorded_without_their_account_id() {
        let em = emulator(&[]);
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
        let r = handle(
            em.clone(),
            Some(arn.into()),
            HeaderMap::new(),
            Ok(invoke_body()),
            Op::Invoke,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let model = &em.ledger()[0].model;
        assert!(!model.contains("123456789012"), "{model}");
        assert!(model.ends_with("us.anthropic.claude-3-haiku-20240307-v1:0"));
    }

    #[test]
    fn count_tokens_takes_either_input_shape() {
        let invoke = base64::engine::general_purpose::STANDARD.encode(invoke_body());
        let r = count_tokens_request(
            json!({"input":{"invokeModel":{"body": invoke}}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.input_total, 10);
        let c = json!({"input":{"converse":{"messages":[{"role":"user","content":[{"text":"Write Hi"}]}]}}});
        assert_eq!(
            count_tokens_request(c.to_string().as_bytes())
                .unwrap()
                .input_total,
            10
        );
        assert!(count_tokens_request(b"{}").is_err());
    }
}
