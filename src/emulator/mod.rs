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
mod invocation_log;
mod meter;
pub mod model;
mod respond;
mod server;

pub use server::{router, serve, spawn};

use crate::core::ledger::{LedgerEntry, Usage};
use faults::FaultSpec;
use invocation_log::InvocationLog;
use model::cache::Route;
use model::{Completion, ModelRequest, Ttl};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Emulator configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Faults applied to requests (each at its rate).
    pub faults: Vec<FaultSpec>,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// Ledger entries kept (the oldest go first).
    pub ledger_size: usize,
    /// Connections served at once; past it, new ones get a 503 and are closed.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// Time a connection may sit with no byte in either direction.
    pub idle_timeout: std::time::Duration,
    /// Time the emulator has to start answering a request.
    pub request_timeout: std::time::Duration,
    /// Where to write Bedrock model invocation logs (`serve --invocation-logs`), and for
    /// which region.
    pub invocation_logs: Option<(std::path::PathBuf, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            faults: Vec::new(),
            max_body: crate::defaults::MAX_BODY_BYTES,
            ledger_size: crate::defaults::LEDGER_SIZE,
            max_connections: crate::defaults::MAX_CONNECTIONS,
            header_read_timeout: crate::defaults::HEADER_READ_TIMEOUT,
            idle_timeout: crate::defaults::IDLE_TIMEOUT,
            request_timeout: crate::defaults::REQUEST_TIMEOUT,
            invocation_logs: None,
        }
    }
}

/// Prompt-cache entries kept: past it, expired ones are dropped, then the rest (the real
/// service evicts under pressure too).
const CACHE_ENTRIES: usize = 100_000;
/// Characters of a model id kept in the ledger.
const LEDGER_MODEL_CHARS: usize = 256;

/// The ledger: the last `capacity` entries, each with its sequence number (1, 2, …).
#[derive(Debug, Default)]
struct Ledger {
    entries: std::collections::VecDeque<(u64, LedgerEntry)>,
    recorded: u64,
}

/// One page of the ledger (`GET /_tokaudit/ledger?since=&limit=`).
#[derive(Debug, serde::Serialize)]
pub struct LedgerPage {
    /// Entries after `since`, oldest first.
    pub entries: Vec<LedgerEntry>,
    /// The sequence number to ask for next (`?since=`).
    pub next: u64,
    /// Entries after `since` that were dropped before they were read (the ring was full).
    pub dropped: u64,
    /// Whether entries remain after this page.
    pub more: bool,
}

/// Shared emulator state: the request counter, the prompt cache and the ledger.
#[derive(Debug)]
pub struct Emulator {
    config: Config,
    requests: AtomicU64,
    cache: Mutex<HashMap<(String, u64), Instant>>,
    ledger: Mutex<Ledger>,
    invocation_log: Option<InvocationLog>,
}

/// A lock whose holder panicked is still usable: every update here is a single push or insert.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Emulator {
    /// A new emulator.
    pub fn new(config: Config) -> Arc<Self> {
        let invocation_log = config
            .invocation_logs
            .clone()
            .map(|(dir, region)| InvocationLog::new(dir, region));
        Arc::new(Emulator {
            config,
            requests: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
            ledger: Mutex::new(Ledger::default()),
            invocation_log,
        })
    }

    /// A copy of the entries kept.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        lock(&self.ledger)
            .entries
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// At most `limit` entries recorded after sequence number `since`.
    pub fn ledger_page(&self, since: u64, limit: usize) -> LedgerPage {
        let l = lock(&self.ledger);
        let oldest = l.entries.front().map_or(l.recorded + 1, |(seq, _)| *seq);
        let after: Vec<&(u64, LedgerEntry)> = l
            .entries
            .iter()
            .filter(|(seq, _)| *seq > since)
            .take(limit + 1)
            .collect();
        let more = after.len() > limit;
        let page: Vec<LedgerEntry> = after.iter().take(limit).map(|(_, e)| e.clone()).collect();
        let next = after[..after.len().min(limit)]
            .last()
            .map_or(since.max(oldest - 1), |(s, _)| *s);
        LedgerPage {
            entries: page,
            next,
            dropped: oldest.saturating_sub(since + 1),
            more,
        }
    }

    /// Forget every entry.
    pub fn reset_ledger(&self) {
        lock(&self.ledger).entries.clear();
    }

    fn record(&self, mut entry: LedgerEntry) {
        if entry.model.chars().count() > LEDGER_MODEL_CHARS {
            entry.model = entry
                .model
                .chars()
                .take(LEDGER_MODEL_CHARS)
                .collect::<String>()
                + "…";
        }
        let mut l = lock(&self.ledger);
        l.recorded += 1;
        let seq = l.recorded;
        l.entries.push_back((seq, entry));
        while l.entries.len() > self.config.ledger_size {
            l.entries.pop_front();
        }
    }

    /// Rewrite the entry of a stream whose client left after `frames` frames: it is billed
    /// the `output` generated until then (thinking first, as it was generated).
    fn bill_abort(&self, request_id: &str, frames: u64, output: u64) {
        self.with_entry(request_id, |e| {
            e.aborted_after_frames = Some(frames);
            if let Some(t) = e.truth.as_mut() {
                t.output = output.min(t.output);
                t.reasoning = t.reasoning.min(t.output);
            }
        });
    }

    /// Apply `f` to the ledger entry of `request_id` (searched newest first: it was written
    /// moments ago), if the ring still holds it.
    fn with_entry<R>(&self, request_id: &str, f: impl FnOnce(&mut LedgerEntry) -> R) -> Option<R> {
        let mut l = lock(&self.ledger);
        let found = l
            .entries
            .iter_mut()
            .rev()
            .find(|(_, e)| e.request_id == request_id);
        found.map(|(_, e)| f(e))
    }

    /// Log a finished call in the invocation log (with `--invocation-logs`), as its ledger
    /// entry says it was billed.
    fn log_invocation(&self, request_id: &str, input_body: &[u8]) {
        let Some(log) = &self.invocation_log else {
            return;
        };
        if let Some(entry) = self.with_entry(request_id, |e| e.clone()) {
            log.push(&entry, input_body);
        }
    }

    /// Write the invocation log records not written yet.
    pub fn flush_invocation_log(&self) {
        if let Some(log) = &self.invocation_log {
            log.flush();
        }
    }

    /// The 0-based number of the next request.
    fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::SeqCst)
    }

    /// The true usage of a request: its input split into uncached input, cache read and cache
    /// write by the state of the cache (which this request then updates), its output and the
    /// thinking in it. A 1-hour TTL on a model that keeps only 5 minutes is refused.
    fn truth(
        &self,
        model: &str,
        route: Route,
        req: &ModelRequest,
        completion: &Completion,
    ) -> Result<Usage, model::Invalid> {
        let mut usage = Usage {
            input: req.input_total,
            output: completion.output(),
            reasoning: completion.thinking.len() as u64,
            ..Usage::default()
        };
        let Some(key) = req.cache_key.filter(|_| req.cache_prefix > 0) else {
            return Ok(usage);
        };
        let Some(rule) = model::cache::rule(model, route) else {
            return Ok(usage);
        };
        if req.cache_ttl == Ttl::OneHour && !rule.one_hour {
            return Err(model::Invalid(format!(
                "The model {model} does not support a 1-hour prompt-cache TTL; use \"5m\" or leave ttl out"
            )));
        }
        if req.cache_prefix < rule.min_tokens {
            return Ok(usage);
        }
        let now = Instant::now();
        let hit = {
            let mut cache = lock(&self.cache);
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, exp| *exp > now);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            let k = (model.to_string(), key);
            let hit = cache.get(&k).is_some_and(|exp| *exp > now);
            cache.insert(k, now + req.cache_ttl.duration());
            hit
        };
        usage.input = req.input_total - req.cache_prefix;
        if hit {
            usage.cache_read = req.cache_prefix;
        } else {
            usage.cache_write = req.cache_prefix;
            if req.cache_ttl == Ttl::OneHour {
                usage.cache_write_1h = req.cache_prefix;
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SONNET_45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    const SONNET_37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

    fn request(system: &str, ttl: Option<&str>) -> ModelRequest {
        let mut mark = json!({"type": "ephemeral"});
        if let Some(ttl) = ttl {
            mark["ttl"] = json!(ttl);
        }
        model::from_invoke(
            &json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":8,
            "system":[{"type":"text","text":system,"cache_control":mark}],
            "messages":[{"role":"user","content":"Write Hi"}]}),
        )
        .unwrap()
    }

    fn truth(em: &Emulator, model: &str, req: &ModelRequest) -> Result<Usage, model::Invalid> {
        em.truth(model, Route::Bedrock, req, &model::generate(req))
    }

    #[test]
    fn the_first_request_writes_the_cache_and_the_next_reads_it() {
        let em = Emulator::new(Config::default());
        let req = request(&"Answer tersely. ".repeat(700), None);
        assert!(req.cache_prefix >= 1024, "{}", req.cache_prefix);
        let first = truth(&em, SONNET_45, &req).unwrap();
        let second = truth(&em, SONNET_45, &req).unwrap();
        assert_eq!((first.cache_write, first.cache_read), (req.cache_prefix, 0));
        assert_eq!(
            (second.cache_write, second.cache_read),
            (0, req.cache_prefix)
        );
        assert_eq!(first.input + first.cache_write, req.input_total);
        let other = truth(&em, SONNET_37, &req).unwrap();
        assert_eq!(other.cache_write, req.cache_prefix, "caches are per model");
    }

    #[test]
    fn the_ledger_keeps_the_newest_entries_and_truncates_long_model_ids() {
        let em = Emulator::new(Config {
            ledger_size: 2,
            ..Config::default()
        });
        for i in 0..3 {
            em.record(LedgerEntry {
                request_id: format!("r{i}"),
                operation: "Converse".into(),
                model: "m".repeat(if i == 2 { 10_000 } else { 1 }),
                status: 200,
                truth: None,
                reported: None,
                faults: vec![],
                correlation: None,
                aborted_after_frames: None,
            });
        }
        let kept = em.ledger();
        assert_eq!(
            kept.iter()
                .map(|e| e.request_id.as_str())
                .collect::<Vec<_>>(),
            ["r1", "r2"]
        );
        assert_eq!(
            kept[1].model.chars().count(),
            LEDGER_MODEL_CHARS + 1,
            "truncated, with an ellipsis"
        );
        let page = em.ledger_page(0, 1);
        assert_eq!(
            (page.dropped, page.next, page.more, page.entries.len()),
            (1, 2, true, 1)
        );
        let page = em.ledger_page(2, 1);
        assert_eq!((page.dropped, page.next, page.more), (0, 3, false));
        assert!(em.ledger_page(3, 10).entries.is_empty());
    }

    #[test]
    fn a_prefix_below_the_minimum_or_a_model_without_caching_is_not_cached() {
        let em = Emulator::new(Config::default());
        let short = request("You are terse.", None);
        let u = truth(&em, SONNET_45, &short).unwrap();
        assert_eq!((u.input, u.cache_write), (short.input_total, 0));
        let long = request(&"Answer tersely. ".repeat(700), None);
        let haiku3 = truth(&em, "anthropic.claude-3-haiku-20240307-v1:0", &long).unwrap();
        assert_eq!((haiku3.cache_write, haiku3.cache_read), (0, 0));
    }

    #[test]
    fn a_one_hour_write_is_split_out_and_refused_where_unsupported() {
        let em = Emulator::new(Config::default());
        let req = request(&"Answer tersely. ".repeat(700), Some("1h"));
        let u = truth(&em, SONNET_45, &req).unwrap();
        assert_eq!(
            (u.cache_write_1h, u.cache_write_5m()),
            (req.cache_prefix, 0)
        );
        let err = truth(&em, SONNET_37, &req).unwrap_err();
        assert!(err.0.contains("1-hour"), "{}", err.0);
    }
}
