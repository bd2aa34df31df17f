//! The OTLP/HTTP receiver of `--otlp-listen`: the system under test exports its spans here
//! (`POST /v1/traces`, or `POST /`; `application/x-protobuf` or `application/json`), and
//! tokaudit keeps the spans of the traces it started, one per request it sent. Spans of any
//! other trace are counted and dropped, so memory is bounded by the requests in flight, not by
//! what the exporter sends.

use crate::core::normalize::recorded;
use crate::core::record::{self, Record, Span};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest export body accepted (the OpenTelemetry SDKs' batches are far smaller).
pub const MAX_EXPORT_BYTES: usize = 16 * 1024 * 1024;
/// Spans kept per trace: a request's record is a handful of spans.
pub const MAX_SPANS_PER_TRACE: usize = 256;
/// How often a wait for records looks again.
const POLL: Duration = Duration::from_millis(50);

/// A running receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    /// The traces tokaudit started and has not collected yet.
    wanted: HashMap<String, Vec<Span>>,
    /// Spans of traces tokaudit did not start.
    foreign: u64,
}

impl Receiver {
    /// Listen on `addr` (port 0: any free port) and serve until the process ends.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Mutex::new(Store::default()));
        // Some exporters post to the configured endpoint verbatim instead of appending
        // `/v1/traces` (LiteLLM 1.77 with OTEL_EXPORTER_OTLP_ENDPOINT): the root works too.
        let app = Router::new()
            .route("/v1/traces", post(export))
            .route("/", post(export))
            .layer(DefaultBodyLimit::max(MAX_EXPORT_BYTES))
            .with_state(store.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, store })
    }

    /// Where exporters send (`http://ADDR/v1/traces`).
    pub fn url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// Keep the spans of `trace_id` from now on.
    pub fn expect(&self, trace_id: &str) {
        self.lock().wanted.entry(trace_id.to_string()).or_default();
    }

    /// Wait until every trace has a span carrying usage, or `wait` has passed, then hand the
    /// traces' spans over (forgetting them). Also returns the count of foreign spans so far.
    pub async fn collect(&self, traces: &[String], wait: Duration) -> (Vec<Record>, u64) {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline && !self.all_recorded(traces) {
            tokio::time::sleep(POLL).await;
        }
        let mut store = self.lock();
        let records = traces
            .iter()
            .map(|t| Record {
                trace_id: t.clone(),
                spans: store.wanted.remove(t).unwrap_or_default(),
            })
            .collect();
        (records, store.foreign)
    }

    fn all_recorded(&self, traces: &[String]) -> bool {
        let store = self.lock();
        traces.iter().all(|t| {
            let spans = store.wanted.get(t).map_or(&[][..], Vec::as_slice);
            matches!(recorded::recorded_in(spans), Ok(Some(_)) | Err(_))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters here: keep serving.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn export(
    State(store): State<Arc<Mutex<Store>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |h| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("");
    let encoding = text(header::CONTENT_ENCODING);
    if !encoding.is_empty() && encoding != "identity" {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content-encoding {encoding:?} is not supported: set the exporter's compression to none (OTEL_EXPORTER_OTLP_COMPRESSION=none)"
            ),
        );
    }
    let content_type = text(header::CONTENT_TYPE).to_string();
    let spans = match record::decode(&content_type, &body) {
        Ok(spans) => spans,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    {
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        for (trace, span) in spans {
            match store.wanted.get_mut(&trace) {
                Some(kept) if kept.len() < MAX_SPANS_PER_TRACE => kept.push(span),
                Some(_) => {}
                None => store.foreign += 1,
            }
        }
    }
    // An empty ExportTraceServiceResponse, in the request's encoding.
    if content_type.starts_with("application/json") {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Bytes::new(),
        )
            .into_response()
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], message).into_response()
}
