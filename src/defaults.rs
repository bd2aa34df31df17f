//! Every default and limit the command line, suites and the emulator share, in one place, so
//! a flag and a suite key can never disagree on what "unset" means.

use std::time::Duration;

/// The default model: a cheap Claude that is on-demand in most Bedrock regions.
pub const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// Output tokens allowed per call.
pub const MAX_TOKENS: u32 = 64;
/// The smallest extended-thinking budget Anthropic accepts (its extended-thinking docs).
pub const MIN_THINKING_BUDGET: u32 = 1024;
/// The `reasoning_effort` an OpenAI-compatible target is sent for a thinking budget: the
/// largest budget each effort stands for (LiteLLM maps low / medium / high to Anthropic
/// budgets of 1,024 / 2,048 / 4,096 tokens).
pub const REASONING_EFFORTS: [(u32, &str); 3] =
    [(1024, "low"), (2048, "medium"), (u32::MAX, "high")];
/// Sampling temperature: 0, so that both paths should produce the same text.
pub const TEMPERATURE: f32 = 0.0;
/// Seconds allowed per call, the whole stream included.
pub const TIMEOUT_SECS: u64 = 60;
/// HTTP attempts per call (retries back off on throttling and 5xx).
pub const MAX_ATTEMPTS: u32 = 3;
/// Most attempts a user may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;
/// Pairs per prompt.
pub const RUNS: u32 = 1;
/// Pairs in flight at once.
pub const CONCURRENCY: u32 = 1;
/// Most pairs in flight a user may ask for.
pub const CONCURRENCY_LIMIT: u32 = 256;
/// Time allowed to connect to an endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to read an upstream ledger.
pub const LEDGER_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds `--otlp-listen` waits for records after a prompt's last pair: twice the
/// OpenTelemetry SDKs' default batch delay (`OTEL_BSP_SCHEDULE_DELAY`, 5 s).
pub const RECORD_WAIT_SECS: u64 = 10;
/// The region the offline emulator claims to be in.
pub const OFFLINE_REGION: &str = "us-east-1";
/// The suite `tokaudit gate` reads when `--suite` is not given.
pub const SUITE_FILE: &str = "tokaudit.toml";
/// The emulator's port for `tokaudit serve`.
pub const SERVE_PORT: u16 = 8787;
/// Largest request body the emulator accepts (Bedrock's own limit).
pub const MAX_BODY_BYTES: usize = 25_000_000;
/// Ledger entries the emulator keeps (about 400 bytes each); `serve --ledger-size`.
pub const LEDGER_SIZE: usize = 100_000;
/// Ledger entries one `GET /_tokaudit/ledger` returns at most (`?limit=`).
pub const LEDGER_PAGE: usize = 1_000;
/// Connections the emulator serves at once; `serve --max-connections`.
pub const MAX_CONNECTIONS: usize = 1_024;
/// Time a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a connection may sit with no byte in either direction before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time the emulator has to start answering a request (its body then streams under the idle
/// timeout).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `reconcile`'s fallback join window: a provider timestamp may lie this far (ms) outside the
/// logged call. Bedrock's invocation logs carry whole seconds; LiteLLM's call starts 3–59 ms
/// before Bedrock's (`billing-and-records.md` §8).
pub const RECONCILE_WINDOW_MS: u32 = 2_000;
/// `reconcile`'s tolerance between a logged cost and its usage at list price: price tables
/// are rounded and dated differently.
pub const RECONCILE_COST_TOLERANCE: f64 = 0.01;
/// Memory (MiB) `reconcile`'s embedded engine holds before it spills to disk.
pub const RECONCILE_MEMORY_MIB: u64 = 2048;
