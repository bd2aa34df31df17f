//! A wire-faithful Bedrock Runtime on loopback, with known ground truth.
//!
//! Routes ([`server`]): `POST /model/{id}/invoke`, `/invoke-with-response-stream`,
//! `/converse`, `/converse-stream` and `/count-tokens`; `POST /v1/chat/completions` and
//! `/v1/messages` for gateway tests; `GET /_tokaudit/ledger` (every request with the usage it
//! reported) and `DELETE /_tokaudit/ledger` (reset). [`handler`] reads a request, picks its
//! faults and asks the synthetic [`model`] for a completion; one responder per API in
//! [`respond`] (mirroring `core::normalize`) writes the answer: real event-stream framing
//! (both CRCs), base64 chunks with the `p` padding field, the `output_tokens` placeholder in
//! `message_start`, cumulative `message_delta`, `invocationMetrics` on the last chunk, and
//! errors with `x-amzn-errortype` and a JSON `message`. Named [`faults`] reproduce each bug
//! class. Shapes: `shared/reference/wire-formats.md` §1–6.

pub mod faults;
mod handler;
pub mod model;
mod respond;
mod server;

pub use server::{no_delay, router, serve, spawn};

use crate::core::ledger::{LedgerEntry, Usage};
use faults::FaultSpec;
use model::ModelRequest;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Prompt-cache lifetime.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

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
            max_body: crate::defaults::MAX_BODY_BYTES,
        }
    }
}

/// Shared emulator state: the request counter, the prompt cache and the ledger.
#[derive(Debug)]
pub struct Emulator {
    config: Config,
    requests: AtomicU64,
    cache: Mutex<HashMap<(String, u64), Instant>>,
    ledger: Mutex<Vec<LedgerEntry>>,
}

/// A lock whose holder panicked is still usable: every update here is a single push or insert.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        lock(&self.ledger).clone()
    }

    /// Forget every entry.
    pub fn reset_ledger(&self) {
        lock(&self.ledger).clear();
    }

    fn record(&self, entry: LedgerEntry) {
        lock(&self.ledger).push(entry);
    }

    /// The 0-based number of the next request.
    fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::SeqCst)
    }

    /// The true usage of a request: its input split into (input, cache read, cache write) by
    /// the state of the cache, which this request then updates.
    fn truth(&self, model: &str, req: &ModelRequest, output: u64) -> Usage {
        let (input, cache_read, cache_write) = self.cache_split(model, req);
        Usage {
            input,
            cache_read,
            cache_write,
            output,
        }
    }

    fn cache_split(&self, model: &str, req: &ModelRequest) -> (u64, u64, u64) {
        let Some(key) = req.cache_key.filter(|_| req.cache_prefix > 0) else {
            return (req.input_total, 0, 0);
        };
        let mut cache = lock(&self.cache);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_request_writes_the_cache_and_the_next_reads_it() {
        let em = Emulator::new(Config::default());
        let req = model::from_invoke(
            &json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":8,
            "system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":"Write Hi"}]}),
        )
        .unwrap();
        let first = em.truth("m", &req, 2);
        let second = em.truth("m", &req, 2);
        assert_eq!((first.cache_write, first.cache_read), (req.cache_prefix, 0));
        assert_eq!(
            (second.cache_write, second.cache_read),
            (0, req.cache_prefix)
        );
        assert_eq!(first.input + first.cache_write, req.input_total);
        let other_model = em.truth("other", &req, 2);
        assert_eq!(
            other_model.cache_write, req.cache_prefix,
            "caches are per model"
        );
    }
}
