//! The HTTP side of the emulator: routes, the body limit, `TCP_NODELAY`, and serving until a
//! shutdown signal. Unknown routes and methods get Bedrock's own error shape.

use super::Emulator;
use super::handler::{self, Op};
use crate::defaults::LEDGER_PAGE;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
            get(
                |State(e): State<Arc<Emulator>>, Query(q): Query<PageQuery>| async move {
                    let limit = q.limit.unwrap_or(LEDGER_PAGE).clamp(1, LEDGER_PAGE);
                    axum::Json(e.ledger_page(q.since.unwrap_or(0), limit))
                },
            )
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

/// `GET /_tokaudit/ledger?since=N&limit=M`.
#[derive(Debug, serde::Deserialize)]
struct PageQuery {
    since: Option<u64>,
    limit: Option<usize>,
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
///
/// Bounded whatever the clients do ([`Config`](super::Config) holds the limits, defaults in
/// [`crate::defaults`]): at most `max_connections` connections are open at once (when full,
/// the connection idle the longest is closed to make room; with none idle, the newcomer gets
/// a 503 and is closed), a client has the header-read timeout to send a request's headers, a
/// connection with no byte in either direction for the idle timeout is closed, and a request
/// must start being answered within the request timeout.
pub async fn serve(
    listener: tokio::net::TcpListener,
    emulator: Arc<Emulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pool = Pool::new(emulator.config.max_connections);
    let limits = Limits {
        header_read: emulator.config.header_read_timeout,
        idle: emulator.config.idle_timeout,
        request: emulator.config.request_timeout,
    };
    let app = router(emulator);
    let tracker = Tracker::default();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                // Out of descriptors or a reset before accept: keep serving the others.
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (app, pool) = (app.clone(), pool.clone());
        tracker.spawn(async move {
            let Some(slot) = pool.admit().await else {
                return refuse(tcp, limits.header_read).await;
            };
            connection(tcp, app, limits, &slot).await;
        });
    }
    tracker.wait().await;
    Ok(())
}

/// Connections in flight, so that a shutdown finishes them before returning.
#[derive(Clone, Default)]
struct Tracker(Arc<(AtomicU64, tokio::sync::Notify)>);

impl Tracker {
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let this = self.clone();
        this.0.0.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            task.await;
            if this.0.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.0.1.notify_waiters();
            }
        });
    }

    async fn wait(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.0.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Wait after a failed accept before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The timeouts a connection runs under.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read: Duration,
    idle: Duration,
    request: Duration,
}

/// How long a newcomer waits for an evicted idle connection to free its place.
const EVICTION_WAIT: Duration = Duration::from_millis(200);

/// The open connections, each with what eviction needs to know.
#[derive(Clone)]
struct Pool {
    places: Arc<tokio::sync::Semaphore>,
    open: Arc<Mutex<HashMap<u64, Watch>>>,
    ids: Arc<AtomicU64>,
}

/// What a connection shows the pool: its last byte, its requests in flight, and a way to
/// close it.
#[derive(Clone, Default)]
struct Watch {
    activity: Arc<AtomicU64>,
    busy: Arc<AtomicU64>,
    evict: Arc<tokio::sync::Notify>,
}

/// A place in the pool, given back when dropped.
struct Slot {
    watch: Watch,
    pool: Pool,
    id: u64,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.pool.open).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    fn new(places: usize) -> Pool {
        Pool {
            places: Arc::new(tokio::sync::Semaphore::new(places)),
            open: Arc::default(),
            ids: Arc::default(),
        }
    }

    /// A place for a new connection: a free one, else the place of the connection idle the
    /// longest (closed for it); `None` when every connection is answering a request.
    async fn admit(&self) -> Option<Slot> {
        let place = match self.places.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.evict_idlest()?;
                tokio::time::timeout(EVICTION_WAIT, self.places.clone().acquire_owned())
                    .await
                    .ok()?
                    .ok()?
            }
        };
        let watch = Watch::default();
        watch.activity.store(now_ms(), Ordering::Relaxed);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        lock(&self.open).insert(id, watch.clone());
        Some(Slot {
            watch,
            pool: self.clone(),
            id,
            _place: place,
        })
    }

    fn evict_idlest(&self) -> Option<()> {
        let open = lock(&self.open);
        let idlest = open
            .values()
            .filter(|w| w.busy.load(Ordering::SeqCst) == 0)
            .min_by_key(|w| w.activity.load(Ordering::Relaxed))?;
        idlest.evict.notify_one();
        Some(())
    }
}

/// One connection, HTTP/1.1 with keep-alive, under the header-read, idle and request
/// timeouts, closed early if the pool needs its place while it is idle.
async fn connection(tcp: tokio::net::TcpStream, app: Router, limits: Limits, slot: &Slot) {
    let Watch {
        activity,
        busy,
        evict,
    } = slot.watch.clone();
    let io = TokioIo::new(Watched {
        inner: tcp,
        activity: activity.clone(),
    });
    let app = TowerToHyperService::new(app);
    // A request being answered is not idleness: the request timeout covers it.
    let in_service = busy.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let call = hyper::service::Service::call(&app, req);
        let busy = in_service.clone();
        busy.fetch_add(1, Ordering::SeqCst);
        async move {
            let answer = tokio::time::timeout(limits.request, call).await;
            busy.fetch_sub(1, Ordering::SeqCst);
            match answer {
                Ok(r) => r,
                Err(_) => Ok(aws_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "the emulator did not start answering in time",
                )),
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = idle(activity, busy, limits.idle) => {}
        () = evict.notified() => {}
    }
}

/// Resolves once the connection saw no byte for `limit` with no request being answered.
async fn idle(activity: Arc<AtomicU64>, busy: Arc<AtomicU64>, limit: Duration) {
    loop {
        if busy.load(Ordering::SeqCst) > 0 {
            activity.store(now_ms(), Ordering::Relaxed);
        }
        let last = activity.load(Ordering::Relaxed);
        let quiet = Duration::from_millis(now_ms().saturating_sub(last));
        if quiet >= limit {
            return;
        }
        tokio::time::sleep(limit - quiet).await;
    }
}

/// Milliseconds on a monotonic clock.
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A connection past the limit: a 503 with Bedrock's error shape, then close.
async fn refuse(mut tcp: tokio::net::TcpStream, limit: Duration) {
    use tokio::io::AsyncWriteExt;
    let body = r#"{"message":"too many connections to the tokaudit emulator; retry, or raise serve --max-connections"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-amzn-errortype: ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(limit, async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

/// A stream that notes the time of its last byte read or written.
struct Watched {
    inner: tokio::net::TcpStream,
    activity: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        self.activity.store(now_ms(), Ordering::Relaxed);
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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
