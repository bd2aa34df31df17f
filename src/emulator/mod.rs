//! A wire-faithful Bedrock Runtime on loopback, with known ground truth.
//!
//! Routes: `POST /model/{id}/invoke`, `/invoke-with-response-stream`, `/converse`,
//! `/converse-stream` and `/count-tokens`; `GET /_tokaudit/ledger` (JSON, every request with
//! the usage it reported) and `DELETE /_tokaudit/ledger` (reset). Streams use real
//! event-stream framing (both CRCs, via `aws-smithy-eventstream`), base64 chunks with the
//! `p` padding field, the `output_tokens` placeholder in `message_start`, cumulative
//! `message_delta`, and `invocationMetrics` on the last chunk. Errors carry
//! `x-amzn-errortype` and a JSON `message`. The synthetic model is in [`model`]; faults in
//! [`faults`]. Shapes: `shared/reference/wire-formats.md` §1–4.

pub mod faults;
pub mod model;

use crate::core::capture::Operation;
use crate::core::wire::eventstream::encode_frame;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use bytes::Bytes;
use faults::{FAULT_HEADER, Fault, FaultSpec};
use model::ModelRequest;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest request body accepted (Bedrock's own limit is 25,000,000 bytes).
pub const MAX_BODY_BYTES: usize = 25_000_000;
/// Prompt-cache lifetime.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// Usage the emulator reported for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    /// Uncached input.
    pub input: u64,
    /// Cache read.
    pub cache_read: u64,
    /// Cache write.
    pub cache_write: u64,
    /// Output.
    pub output: u64,
}

impl Usage {
    fn total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write + self.output
    }
}

/// One ledger entry.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    /// `x-amzn-requestid` of the response.
    pub request_id: String,
    /// The operation (`InvokeModel`, …, `CountTokens`).
    pub operation: String,
    /// The model id from the path.
    pub model: String,
    /// HTTP status returned.
    pub status: u16,
    /// The synthetic model's true usage (absent for rejected requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truth: Option<Usage>,
    /// The usage the response carried on its final channel (differs from `truth` under faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<Usage>,
    /// Faults applied.
    pub faults: Vec<String>,
    /// The `[tokaudit:…]` marker found in the request, for `--ledger` correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
}

/// Emulator configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Faults applied to requests (each at its rate).
    pub faults: Vec<FaultSpec>,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            faults: Vec::new(),
            max_body: MAX_BODY_BYTES,
        }
    }
}

/// Shared emulator state.
#[derive(Debug)]
pub struct Emulator {
    config: Config,
    requests: AtomicU64,
    cache: Mutex<HashMap<(String, u64), Instant>>,
    ledger: Mutex<Vec<LedgerEntry>>,
}

impl Emulator {
    /// A new emulator.
    pub fn new(config: Config) -> Arc<Self> {
        Arc::new(Emulator {
            config,
            requests: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
            ledger: Mutex::new(Vec::new()),
        })
    }

    /// A copy of the ledger.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, entry: LedgerEntry) {
        self.ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    /// Split input into (input, cache_read, cache_write) and update the cache.
    fn cache_split(&self, model: &str, req: &ModelRequest) -> (u64, u64, u64) {
        let Some(key) = req.cache_key.filter(|_| req.cache_prefix > 0) else {
            return (req.input_total, 0, 0);
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let k = (model.to_string(), key);
        let hit = cache.get(&k).is_some_and(|exp| *exp > now);
        cache.insert(k, now + CACHE_TTL);
        let rest = req.input_total - req.cache_prefix;
        if hit {
            (rest, req.cache_prefix, 0)
        } else {
            (rest, 0, req.cache_prefix)
        }
    }
}

/// The router, for embedding.
pub fn router(emulator: Arc<Emulator>) -> Router {
    let limit = emulator.config.max_body;
    Router::new()
        .route(
            "/model/{model}/invoke",
            post(|s, p, h, b| bedrock(s, p, h, b, Op::Invoke)),
        )
        .route(
            "/model/{model}/invoke-with-response-stream",
            post(|s, p, h, b| bedrock(s, p, h, b, Op::InvokeStream)),
        )
        .route(
            "/model/{model}/converse",
            post(|s, p, h, b| bedrock(s, p, h, b, Op::Converse)),
        )
        .route(
            "/model/{model}/converse-stream",
            post(|s, p, h, b| bedrock(s, p, h, b, Op::ConverseStream)),
        )
        .route("/model/{model}/count-tokens", post(count_tokens))
        .route(
            "/v1/chat/completions",
            post(|s, h, b| gateway(s, h, b, Op::Chat)),
        )
        .route(
            "/v1/messages",
            post(|s, h, b| gateway(s, h, b, Op::Messages)),
        )
        .route(
            "/_tokaudit/ledger",
            axum::routing::get(|State(e): State<Arc<Emulator>>| async move {
                axum::Json(json!({"entries": e.ledger()}))
            })
            .delete(|State(e): State<Arc<Emulator>>| async move {
                e.ledger.lock().unwrap_or_else(|p| p.into_inner()).clear();
                StatusCode::NO_CONTENT
            }),
        )
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                aws_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "UnknownOperationException",
                    &format!("{method} is not allowed on {}", uri.path()),
                )
            },
        )
        .fallback(|uri: axum::http::Uri| async move {
            aws_error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                &format!("no Bedrock Runtime operation at {}", uri.path()),
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(emulator)
}

/// Bind on `addr` and serve in the background; returns the bound address.
pub async fn spawn(
    emulator: Arc<Emulator>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(no_delay(listener), router(emulator)).await;
    });
    Ok((local, handle))
}

/// Streams are many small writes: without `TCP_NODELAY`, Nagle's algorithm and the peer's
/// delayed ACK add about 40 ms to every streamed response.
pub fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Addr = SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Invoke,
    InvokeStream,
    Converse,
    ConverseStream,
    /// `/v1/chat/completions`; streaming is decided by the body.
    Chat,
    /// `/v1/messages`; streaming is decided by the body.
    Messages,
}

impl Op {
    fn operation(self) -> Operation {
        match self {
            Op::Invoke => Operation::InvokeModel,
            Op::InvokeStream => Operation::InvokeModelWithResponseStream,
            Op::Converse => Operation::Converse,
            Op::ConverseStream => Operation::ConverseStream,
            Op::Chat => Operation::ChatCompletions,
            Op::Messages => Operation::Messages,
        }
    }

    /// The error body in this API's own style.
    fn error(self, status: StatusCode, kind: &str, message: &str) -> Response {
        match self {
            Op::Chat => {
                let code = match status.as_u16() {
                    429 => "rate_limit_exceeded",
                    400 => "invalid_request_error",
                    _ => "server_error",
                };
                (
                    status,
                    axum::Json(json!({"error": {"message": message, "type": code, "code": kind}})),
                )
                    .into_response()
            }
            Op::Messages => {
                let t = match status.as_u16() {
                    429 => "rate_limit_error",
                    400 | 413 => "invalid_request_error",
                    _ => "api_error",
                };
                (
                    status,
                    axum::Json(json!({"type": "error", "error": {"type": t, "message": message}})),
                )
                    .into_response()
            }
            _ => aws_error(status, kind, message),
        }
    }
}

async fn bedrock(
    State(em): State<Arc<Emulator>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    op: Op,
) -> Response {
    handle(em, Some(model), headers, body, op).await
}

async fn gateway(
    State(em): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    op: Op,
) -> Response {
    handle(em, None, headers, body, op).await
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "message": message }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

fn request_id(n: u64) -> String {
    format!("{:08x}-7a3c-4e1d-9b2f-{:012x}", 0x70ca_0d17u32, n)
}

/// Size-hiding padding, deterministic per frame.
fn padding(n: usize) -> String {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456";
    ALPHABET[..(n * 7 + 3) % ALPHABET.len() + 1].to_string()
}

async fn handle(
    em: Arc<Emulator>,
    path_model: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    op: Op,
) -> Response {
    let model = path_model.clone().unwrap_or_default();
    let n = em.requests.fetch_add(1, Ordering::SeqCst);
    let rid = request_id(n + 1);
    let mut specs = em.config.faults.clone();
    if let Some(h) = headers.get(FAULT_HEADER) {
        match h
            .to_str()
            .map_err(|e| e.to_string())
            .and_then(faults::parse_list)
        {
            Ok(more) => specs.extend(more),
            Err(e) => return op.error(StatusCode::BAD_REQUEST, "ValidationException", &e),
        }
    }
    let faults: Vec<Fault> = specs
        .iter()
        .enumerate()
        .filter(|(i, s)| s.hits(n, *i as u64))
        .map(|(_, s)| s.fault.clone())
        .collect();
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            return op.error(
                rejection.status(),
                "ValidationException",
                &format!(
                    "Malformed input request: {} (the limit is {} bytes)",
                    rejection.body_text(),
                    em.config.max_body
                ),
            );
        }
    };
    if let Some(ms) = faults.iter().find_map(|f| match f {
        Fault::SlowFirstByte(ms) => Some(*ms),
        _ => None,
    }) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let fault_names: Vec<String> = faults.iter().map(ToString::to_string).collect();
    let has = |f: &Fault| faults.contains(f);
    let mut entry = LedgerEntry {
        request_id: rid.clone(),
        operation: op.operation().to_string(),
        model: model.clone(),
        status: 200,
        truth: None,
        reported: None,
        faults: fault_names,
        correlation: crate::core::ledger::find_marker(&String::from_utf8_lossy(&body)),
    };
    let reject =
        |em: &Emulator, mut entry: LedgerEntry, status: StatusCode, kind: &str, msg: &str| {
            entry.status = status.as_u16();
            em.record(entry);
            let mut r = op.error(status, kind, msg);
            r.headers_mut().insert(
                "x-amzn-requestid",
                HeaderValue::from_str(&rid).expect("ascii"),
            );
            r
        };
    if has(&Fault::Throttle) || (has(&Fault::ThrottleOnce) && n == 0) {
        return reject(
            &em,
            entry,
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        );
    }
    if has(&Fault::ServerError) {
        return reject(
            &em,
            entry,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an internal error.",
        );
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reject(
                &em,
                entry,
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &format!("Malformed input request: the body is not valid JSON ({e})"),
            );
        }
    };
    // Gateway routes carry the model and the streaming switch in the body.
    let streaming = json.get("stream").and_then(Value::as_bool) == Some(true);
    let model = if path_model.is_none() {
        let m = json
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        entry.model = m.clone();
        m
    } else {
        model
    };
    let kind = match (op, streaming) {
        (Op::Chat, true) => GatewayKind::ChatStream,
        (Op::Chat, false) => GatewayKind::Chat,
        (Op::Messages, true) => GatewayKind::MessagesStream,
        (Op::Messages, false) => GatewayKind::Messages,
        _ => GatewayKind::Bedrock,
    };
    if kind != GatewayKind::Bedrock {
        entry.operation = kind.operation().to_string();
    }
    let parsed = match op {
        Op::Invoke | Op::InvokeStream => model::from_invoke(&json),
        Op::Converse | Op::ConverseStream => model::from_converse(&json),
        Op::Chat => model::from_openai(&json),
        Op::Messages => model::from_messages(&json),
    };
    let req = match parsed {
        Ok(r) => r,
        Err(model::Invalid(msg)) => {
            return reject(
                &em,
                entry,
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &msg,
            );
        }
    };
    let (pieces, stop) = model::generate(&req);
    let (input, cache_read, cache_write) = em.cache_split(&model, &req);
    let truth = Usage {
        input,
        cache_read,
        cache_write,
        output: pieces.len() as u64,
    };
    entry.truth = Some(truth);
    let generation = Generation {
        pieces,
        stop,
        truth,
        rid: rid.clone(),
        model: model.clone(),
    };
    let include_usage = json
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let (mut resp, reported) = match (op, kind) {
        (Op::Invoke, _) => invoke_response(&generation, &faults),
        (Op::InvokeStream, _) => invoke_stream_response(&generation, &faults),
        (Op::Converse, _) => converse_response(&generation, &faults),
        (Op::ConverseStream, _) => converse_stream_response(&generation, &faults),
        (_, GatewayKind::Chat) => chat_response(&generation, &faults),
        (_, GatewayKind::ChatStream) => chat_stream_response(&generation, &faults, include_usage),
        (_, GatewayKind::Messages) => messages_response(&generation, &faults),
        _ => messages_stream_response(&generation, &faults),
    };
    entry.reported = reported;
    em.record(entry);
    resp.headers_mut().insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&rid).expect("ascii"),
    );
    resp
}

/// What a gateway-route request turned out to be once its body was read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GatewayKind {
    Bedrock,
    Chat,
    ChatStream,
    Messages,
    MessagesStream,
}

impl GatewayKind {
    fn operation(self) -> Operation {
        match self {
            GatewayKind::Chat => Operation::ChatCompletions,
            GatewayKind::ChatStream => Operation::ChatCompletionsStream,
            GatewayKind::Messages => Operation::Messages,
            GatewayKind::MessagesStream => Operation::MessagesStream,
            GatewayKind::Bedrock => Operation::InvokeModel,
        }
    }
}

struct Generation {
    pieces: Vec<String>,
    stop: &'static str,
    truth: Usage,
    rid: String,
    model: String,
}

impl Generation {
    fn text(&self) -> String {
        self.pieces.concat()
    }
    fn latency(&self) -> u64 {
        120 + 9 * self.truth.output
    }
}

/// The literal usage block LiteLLM v1.63.14 substituted on every streamed call.
const HARDCODED: Usage = Usage {
    input: 3,
    cache_read: 1796,
    cache_write: 0,
    output: 392,
};

fn anthropic_usage(u: &Usage, output: u64) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
    })
}

/// An Anthropic Messages response body (`bedrock` picks the `msg_bdrk_` id prefix), and
/// whether it carries usage (`no-body-usage` removes it).
fn anthropic_body(g: &Generation, faults: &[Fault], bedrock: bool) -> (Value, bool) {
    let u = g.truth;
    let mut body = json!({
        "id": format!("msg_{}{}", if bedrock { "bdrk_" } else { "" }, &g.rid[..8]),
        "type": "message",
        "role": "assistant",
        "model": g.model,
        "content": [{"type": "text", "text": g.text()}],
        "stop_reason": g.stop,
        "stop_sequence": null,
        "usage": anthropic_usage(&u, u.output),
    });
    let no_usage = faults.contains(&Fault::NoBodyUsage);
    if no_usage && let Some(o) = body.as_object_mut() {
        o.remove("usage");
    }
    (body, no_usage)
}

fn invoke_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let u = g.truth;
    let (body, no_usage) = anthropic_body(g, faults, true);
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert("x-amzn-bedrock-invocation-latency", g.latency().into());
    if !no_usage {
        let skew = if faults.contains(&Fault::HeaderSkew) {
            2
        } else {
            0
        };
        h.insert("x-amzn-bedrock-input-token-count", (u.input + skew).into());
        h.insert("x-amzn-bedrock-output-token-count", u.output.into());
        if u.cache_read + u.cache_write > 0 {
            h.insert(
                "x-amzn-bedrock-cache-read-input-token-count",
                u.cache_read.into(),
            );
            h.insert(
                "x-amzn-bedrock-cache-write-input-token-count",
                u.cache_write.into(),
            );
        }
    }
    (resp, (!no_usage).then_some(u))
}

fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    encode_frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        serde_json::to_vec(payload).expect("json"),
    )
}

fn chunk_frame(index: usize, event: &Value) -> Bytes {
    let inner = serde_json::to_vec(event).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    event_frame("chunk", &json!({"bytes": b64, "p": padding(index)}))
}

fn exception_frame(kind: &str) -> Bytes {
    let payload = if kind == "modelStreamErrorException" {
        json!({"message": "Model Stream Error", "originalStatusCode": 500, "originalMessage": "The model stream failed."})
    } else {
        json!({"message": format!("{kind} raised mid-stream by the tokaudit emulator")})
    };
    encode_frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        serde_json::to_vec(&payload).expect("json"),
    )
}

fn stream_exception(faults: &[Fault]) -> Option<&str> {
    faults.iter().find_map(|f| match f {
        Fault::StreamException(t) => Some(t.as_str()),
        _ => None,
    })
}

fn stream_body(frames: Vec<Bytes>, faults: &[Fault], inner_type: Option<&str>) -> Response {
    stream_body_as(
        frames,
        faults,
        "application/vnd.amazon.eventstream",
        inner_type,
    )
}

fn stream_body_as(
    frames: Vec<Bytes>,
    faults: &[Fault],
    content_type: &'static str,
    inner_type: Option<&str>,
) -> Response {
    let chunks: Vec<Bytes> = if faults.contains(&Fault::TinyWrites) {
        let all: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        all.chunks(7).map(Bytes::copy_from_slice).collect()
    } else {
        frames
    };
    let stream =
        futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Some(ct) = inner_type {
        h.insert(
            "x-amzn-bedrock-content-type",
            HeaderValue::from_str(ct).expect("ascii"),
        );
    }
    resp
}

/// The Anthropic stream events for a generation, with the faults applied. `bedrock` adds
/// `invocationMetrics` to `message_stop`. Returns the events, the index at which an exception
/// replaces the rest (if any), and the usage the final channel reported.
fn anthropic_events(
    g: &Generation,
    faults: &[Fault],
    bedrock: bool,
) -> (Vec<Value>, Option<usize>, Option<Usage>) {
    let has = |f: &Fault| faults.contains(f);
    let reported = if has(&Fault::HardcodedUsage) {
        HARDCODED
    } else {
        g.truth
    };
    let placeholder = 1;
    let mut events: Vec<Value> = vec![json!({
        "type": "message_start",
        "message": {
            "id": format!("msg_{}{}", if bedrock { "bdrk_" } else { "" }, &g.rid[..8]),
            "type": "message", "role": "assistant", "model": g.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": anthropic_usage(&reported, placeholder),
        }
    })];
    events.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
    let mut deltas_at: Vec<(usize, u64)> = Vec::new(); // (event index, cumulative output)
    for (i, piece) in g.pieces.iter().enumerate() {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}));
        let emitted = (i + 1) as u64;
        if (has(&Fault::MultiDelta) || has(&Fault::SummedDeltas))
            && emitted.is_multiple_of(8)
            && emitted < g.truth.output
        {
            deltas_at.push((events.len(), emitted));
            events.push(Value::Null); // replaced by a mid-stream message_delta below
        }
    }
    let exception_after = stream_exception(faults).map(|_| 3); // after the first content delta
    events.push(json!({"type": "content_block_stop", "index": 0}));
    // Cumulative values of the counters, then how a relay rewrote them.
    let mut counters: Vec<u64> = deltas_at.iter().map(|(_, c)| *c).collect();
    counters.push(reported.output);
    if has(&Fault::SummedDeltas) {
        let mut acc = placeholder;
        for c in counters.iter_mut() {
            acc += *c;
            *c = acc;
        }
    }
    for (k, (at, _)) in deltas_at.iter().enumerate() {
        events[*at] = json!({"type": "message_delta", "delta": {"stop_reason": null, "stop_sequence": null}, "usage": {"output_tokens": counters[k]}});
    }
    let final_output = if has(&Fault::PlaceholderFinal) {
        placeholder
    } else {
        *counters.last().expect("one")
    };
    let final_usage = !has(&Fault::NoFinalUsage);
    if final_usage {
        events.push(json!({"type": "message_delta", "delta": {"stop_reason": g.stop, "stop_sequence": null}, "usage": {"output_tokens": final_output}}));
    } else {
        events.retain(|e| e.get("type").and_then(Value::as_str) != Some("message_delta"));
    }
    let mut stop = json!({"type": "message_stop"});
    if bedrock && final_usage && !has(&Fault::NoMetrics) {
        let skew = if has(&Fault::MetricsSkew) { 3 } else { 0 };
        let mut m = json!({
            "inputTokenCount": reported.input,
            "outputTokenCount": reported.output + skew,
            "invocationLatency": g.latency(),
            "firstByteLatency": 95,
        });
        if reported.cache_read + reported.cache_write > 0 {
            m["cacheReadInputTokenCount"] = reported.cache_read.into();
            m["cacheWriteInputTokenCount"] = reported.cache_write.into();
        }
        stop["amazon-bedrock-invocationMetrics"] = m;
    }
    let cut = has(&Fault::CutStream);
    if !cut {
        events.push(stop);
    } else {
        events.retain(|e| {
            !matches!(
                e.get("type").and_then(Value::as_str),
                Some("message_delta" | "message_stop" | "content_block_stop")
            )
        });
    }
    if let Some(at) = exception_after {
        events.truncate(at.min(events.len()));
    }
    let reported = (final_usage && !cut && exception_after.is_none()).then_some(Usage {
        output: final_output,
        ..reported
    });
    (events, exception_after, reported)
}

fn invoke_stream_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let (events, exception, reported) = anthropic_events(g, faults, true);
    let mut frames: Vec<Bytes> = events
        .iter()
        .enumerate()
        .map(|(i, e)| chunk_frame(i, e))
        .collect();
    if exception.is_some() {
        frames.push(exception_frame(stream_exception(faults).expect("set")));
    }
    (
        stream_body(frames, faults, Some("application/json")),
        reported,
    )
}

fn messages_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let (body, no_usage) = anthropic_body(g, faults, false);
    (
        (StatusCode::OK, axum::Json(body)).into_response(),
        (!no_usage).then_some(g.truth),
    )
}

fn sse(event: Option<&str>, data: &str) -> Bytes {
    match event {
        Some(e) => Bytes::from(format!("event: {e}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

fn messages_stream_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let (events, exception, reported) = anthropic_events(g, faults, false);
    let mut out = Vec::with_capacity(events.len() + 2);
    for (i, e) in events.iter().enumerate() {
        let t = e.get("type").and_then(Value::as_str).unwrap_or("event");
        out.push(sse(Some(t), &e.to_string()));
        if i == 0 {
            out.push(sse(Some("ping"), r#"{"type":"ping"}"#));
        }
    }
    if exception.is_some() {
        out.push(sse(
            Some("error"),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ));
    }
    (
        stream_body_as(out, faults, "text/event-stream", None),
        reported,
    )
}

/// OpenAI's `usage` object for a usage the emulator reports (prompt_tokens is inclusive).
fn openai_usage(u: &Usage, faults: &[Fault]) -> Value {
    let prompt = u.input + u.cache_read + u.cache_write;
    let skew = if faults.contains(&Fault::TotalMismatch) {
        5
    } else {
        0
    };
    let cached = if faults.contains(&Fault::CachedOverPrompt) {
        prompt + 10
    } else {
        u.cache_read
    };
    let mut details = json!({"cached_tokens": cached});
    if u.cache_write > 0 {
        details["cache_write_tokens"] = u.cache_write.into();
    }
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output + skew,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

const CREATED: u64 = 1_767_225_600;

fn chat_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let finish = if g.stop == "max_tokens" {
        "length"
    } else {
        "stop"
    };
    let mut body = json!({
        "id": format!("chatcmpl-{}", &g.rid[..8]),
        "object": "chat.completion",
        "created": CREATED,
        "model": g.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": g.text()}, "finish_reason": finish}],
        "usage": openai_usage(&g.truth, faults),
    });
    let no_usage = faults.contains(&Fault::NoBodyUsage);
    if no_usage && let Some(o) = body.as_object_mut() {
        o.remove("usage");
    }
    (
        (StatusCode::OK, axum::Json(body)).into_response(),
        (!no_usage).then_some(g.truth),
    )
}

fn chat_stream_response(
    g: &Generation,
    faults: &[Fault],
    include_usage: bool,
) -> (Response, Option<Usage>) {
    let has = |f: &Fault| faults.contains(f);
    let id = format!("chatcmpl-{}", &g.rid[..8]);
    let chunk = |choices: Value, usage: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": g.model,
               "choices": choices, "usage": usage})
        .to_string()
    };
    let mut out = vec![sse(
        None,
        &chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
            Value::Null,
        ),
    )];
    for (i, piece) in g.pieces.iter().enumerate() {
        if stream_exception(faults).is_some() && i == 1 {
            out.push(sse(None, &json!({"error": {"message": "The upstream model stream failed", "type": "server_error"}}).to_string()));
            return (stream_body_as(out, faults, "text/event-stream", None), None);
        }
        out.push(sse(
            None,
            &chunk(
                json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
                Value::Null,
            ),
        ));
    }
    if has(&Fault::CutStream) {
        return (stream_body_as(out, faults, "text/event-stream", None), None);
    }
    let reported = if has(&Fault::HardcodedUsage) {
        HARDCODED
    } else {
        g.truth
    };
    let usage = openai_usage(&reported, faults);
    let finish = if g.stop == "max_tokens" {
        "length"
    } else {
        "stop"
    };
    let finish_choice = json!([{"index": 0, "delta": {}, "finish_reason": finish}]);
    let send_usage = include_usage && !has(&Fault::NoFinalUsage);
    if send_usage && has(&Fault::UsageOnChoices) {
        out.push(sse(None, &chunk(finish_choice, usage.clone())));
    } else {
        out.push(sse(None, &chunk(finish_choice, Value::Null)));
        if send_usage {
            out.push(sse(None, &chunk(json!([]), usage.clone())));
            if has(&Fault::DuplicateUsage) {
                out.push(sse(None, &chunk(json!([]), usage)));
            }
        }
    }
    out.push(sse(None, "[DONE]"));
    (
        stream_body_as(out, faults, "text/event-stream", None),
        send_usage.then_some(reported),
    )
}

fn converse_usage(u: &Usage) -> Value {
    let mut v = json!({
        "inputTokens": u.input,
        "outputTokens": u.output,
        "totalTokens": u.total(),
    });
    if u.cache_read + u.cache_write > 0 {
        v["cacheReadInputTokens"] = u.cache_read.into();
        v["cacheWriteInputTokens"] = u.cache_write.into();
        if u.cache_write > 0 {
            v["cacheDetails"] = json!([{"ttl": "5m", "inputTokens": u.cache_write}]);
        }
    }
    v
}

fn converse_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let mut body = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": g.text()}]}},
        "stopReason": g.stop,
        "usage": converse_usage(&g.truth),
        "metrics": {"latencyMs": g.latency()},
    });
    let no_usage = faults.contains(&Fault::NoBodyUsage);
    if no_usage && let Some(o) = body.as_object_mut() {
        o.remove("usage");
    }
    (
        (StatusCode::OK, axum::Json(body)).into_response(),
        (!no_usage).then_some(g.truth),
    )
}

fn converse_stream_response(g: &Generation, faults: &[Fault]) -> (Response, Option<Usage>) {
    let has = |f: &Fault| faults.contains(f);
    let reported = if has(&Fault::HardcodedUsage) {
        Usage { ..HARDCODED }
    } else {
        g.truth
    };
    let mut events: Vec<(&str, Value)> = vec![("messageStart", json!({"role": "assistant"}))];
    for piece in &g.pieces {
        events.push((
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
        ));
    }
    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
    let cut = has(&Fault::CutStream);
    if !cut {
        events.push((
            "messageStop",
            json!({"stopReason": g.stop, "additionalModelResponseFields": {"delta": {"stop_sequence": null}}}),
        ));
    }
    let final_usage = !cut && !has(&Fault::NoFinalUsage);
    if final_usage {
        let meta =
            json!({"usage": converse_usage(&reported), "metrics": {"latencyMs": g.latency()}});
        let meta = if has(&Fault::NestedUsage) {
            json!({"metadata": meta})
        } else {
            meta
        };
        events.push(("metadata", meta));
    }
    // ConverseStream has no modelTimeoutException member (wire-formats §3.3): a model that
    // times out mid-stream surfaces as modelStreamErrorException there.
    let exception = stream_exception(faults).map(|t| {
        if t == "modelTimeoutException" {
            "modelStreamErrorException"
        } else {
            t
        }
    });
    let mut frames = Vec::new();
    for (i, (kind, mut payload)) in events.into_iter().enumerate() {
        if let Some(kind) = exception.filter(|_| i == 2) {
            frames.push(exception_frame(kind));
            break;
        }
        payload["p"] = padding(i).into();
        frames.push(event_frame(kind, &payload));
    }
    let reported =
        (final_usage && exception.is_none() && !has(&Fault::NestedUsage)).then_some(reported);
    (stream_body(frames, faults, None), reported)
}

async fn count_tokens(
    State(em): State<Arc<Emulator>>,
    Path(model): Path<String>,
    body: Bytes,
) -> Response {
    let n = em.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let rid = request_id(n);
    let bad = |msg: String| aws_error(StatusCode::BAD_REQUEST, "ValidationException", &msg);
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return bad("Malformed input request: the body is not valid JSON".into());
    };
    let parsed = if let Some(b64) = json
        .pointer("/input/invokeModel/body")
        .and_then(Value::as_str)
    {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return bad("input.invokeModel.body is not valid base64".into());
        };
        match serde_json::from_slice::<Value>(&raw) {
            Ok(inner) => model::from_invoke(&inner),
            Err(e) => return bad(format!("input.invokeModel.body is not valid JSON ({e})")),
        }
    } else if let Some(c) = json.pointer("/input/converse") {
        model::from_converse(c)
    } else {
        return bad("input must contain exactly one of invokeModel or converse".into());
    };
    match parsed {
        Ok(req) => {
            em.record(LedgerEntry {
                request_id: rid.clone(),
                operation: "CountTokens".into(),
                model,
                status: 200,
                truth: Some(Usage {
                    input: req.input_total,
                    ..Usage::default()
                }),
                reported: Some(Usage {
                    input: req.input_total,
                    ..Usage::default()
                }),
                faults: Vec::new(),
                correlation: crate::core::ledger::find_marker(&String::from_utf8_lossy(&body)),
            });
            let mut r = axum::Json(json!({"inputTokens": req.input_total})).into_response();
            r.headers_mut().insert(
                "x-amzn-requestid",
                HeaderValue::from_str(&rid).expect("ascii"),
            );
            r
        }
        Err(model::Invalid(msg)) => bad(msg),
    }
}
