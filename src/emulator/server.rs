//! The HTTP side of the emulator: routes, the body limit, `TCP_NODELAY`, and serving until a
//! shutdown signal. Unknown routes and methods get Bedrock's own error shape.

use super::Emulator;
use super::handler::{self, Op};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// The router, for embedding.
pub fn router(emulator: Arc<Emulator>) -> Router {
    let limit = emulator.config.max_body;
    let bedrock = |op: Op| post(move |s, p, h, b| handler::bedrock(s, p, h, b, op));
    let gateway = |op: Op| post(move |s, h, b| handler::gateway(s, h, b, op));
    Router::new()
        .route("/model/{model}/invoke", bedrock(Op::Invoke))
        .route(
            "/model/{model}/invoke-with-response-stream",
            bedrock(Op::InvokeStream),
        )
        .route("/model/{model}/converse", bedrock(Op::Converse))
        .route(
            "/model/{model}/converse-stream",
            bedrock(Op::ConverseStream),
        )
        .route("/model/{model}/count-tokens", post(handler::count_tokens))
        .route("/v1/chat/completions", gateway(Op::Chat))
        .route("/v1/messages", gateway(Op::Messages))
        .route("/v1/responses", gateway(Op::Responses))
        .route(
            "/_tokaudit/ledger",
            get(|State(e): State<Arc<Emulator>>| async move {
                axum::Json(json!({"entries": e.ledger()}))
            })
            .delete(|State(e): State<Arc<Emulator>>| async move {
                e.reset_ledger();
                StatusCode::NO_CONTENT
            }),
        )
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            aws_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UnknownOperationException",
                &format!("{method} is not allowed on {}", uri.path()),
            )
        })
        .fallback(|uri: Uri| async move {
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
        let _ = serve(listener, emulator, std::future::pending()).await;
    });
    Ok((local, handle))
}

/// Serve on `listener` until `shutdown` completes, then finish the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    emulator: Arc<Emulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(no_delay(listener), router(emulator))
        .with_graceful_shutdown(shutdown)
        .await
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

/// A Bedrock-style error: the status, `x-amzn-errortype` and a JSON `message`.
pub(super) fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "message": message }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}
