//! Executes a [`RunPlan`]: sets up the target (the live AWS SDK, a gateway over HTTP, or the
//! built-in emulator), sends every pair, reads the upstream ledger, and hands back the raw
//! results. Auditing them is the pipeline's job; recording them is the caller's.

use crate::core::capture::{Api, Capture};
use crate::core::case::CaseMeta;
use crate::core::ledger::{self, LedgerDoc, Upstream};
use crate::core::pipeline::Pair;
use crate::core::record::{self, Record, Records};
use crate::core::redact;
use crate::defaults;
use crate::emulator::{self, Emulator};
use crate::fixture::{Fixture, UpstreamRecord};
use crate::plan::{Endpoint, RunPlan, TargetKind};
use crate::provider::bedrock::{BedrockClient, Settings};
use crate::provider::http::HttpTarget;
use crate::provider::otlp::Receiver;
use crate::provider::{Prompt, Target, fetch_ledger};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use indicatif::ProgressBar;
use std::collections::HashMap;

/// One pair's raw result.
#[derive(Debug, Clone)]
pub struct PairResult {
    /// What the case is (its name is `run-001-invoke`, or `p2-run-001-invoke` with several
    /// prompts).
    pub meta: CaseMeta,
    /// The non-streaming exchange.
    pub non_streaming: Capture,
    /// The streaming exchange.
    pub streaming: Capture,
    /// The warm-up call sent first with `--cache` (a setup call, not compared).
    pub warmup: Option<Capture>,
    /// The upstream ledger entries of both requests (`--ledger`).
    pub upstream: Option<UpstreamRecord>,
    /// What the system under test recorded for both requests (`--otlp-listen`).
    pub records: Option<Records>,
}

impl PairResult {
    /// The upstream truth of this pair, for the audit.
    pub fn upstream(&self) -> Option<Upstream> {
        self.upstream
            .as_ref()
            .map(|u| Upstream::from_entries(&u.non_streaming, &u.streaming, &u.warmup))
    }

    /// The captures as the pipeline takes them.
    pub fn pair(&self) -> Pair<'_> {
        Pair {
            non_streaming: &self.non_streaming,
            streaming: &self.streaming,
            warmup: self.warmup.as_ref(),
            origin: None,
            records: self.records.as_ref(),
        }
    }

    /// The recording of this pair.
    pub fn fixture(&self) -> Fixture {
        let mut fx = Fixture::from_captures(&self.meta, &self.non_streaming, &self.streaming);
        fx.warmup = self
            .warmup
            .as_ref()
            .map(crate::fixture::ExchangeRecord::from_capture);
        fx.upstream = self.upstream.clone();
        fx.records = self.records.clone();
        fx
    }
}

/// A target ready to call, and what reports say about it.
struct Prepared {
    target: Target,
    region: String,
    /// Keeps the built-in emulator running for the whole run.
    _emulator: Option<tokio::task::JoinHandle<()>>,
}

/// Run every pair of the plan and hand each to `on_pair` as it is done, in name order (the
/// order `replay` of the recorded folder gives): each run's pairs are handed over together,
/// sorted, as soon as the run is complete, so memory does not grow with `--runs`. With
/// `--ledger`, a prompt's pairs wait for its ledger, read once after all of them. `progress`
/// counts pairs.
pub async fn execute(
    plan: &RunPlan,
    progress: &ProgressBar,
    mut on_pair: impl FnMut(PairResult),
) -> anyhow::Result<()> {
    let run_id = run_id();
    let receiver = match &plan.records {
        Some(r) => Some(
            Receiver::start(r.listen)
                .await
                .with_context(|| format!("cannot listen for OTLP exports on {}", r.listen))?,
        ),
        None => None,
    };
    for (k, text) in plan.prompts.iter().enumerate() {
        // Each prompt starts from a fresh target: offline, a cold emulator (and cache), so a
        // prompt's verdict never depends on the prompts before it.
        let prepared = prepare(plan).await?;
        let prompt = Prompt {
            model: plan.model.clone(),
            prompt: text.clone(),
            system: plan.system.clone(),
            max_tokens: plan.limits.max_tokens,
            temperature: plan.limits.temperature,
            cache: plan.cache,
            thinking: plan.thinking,
            marker: None,
            traceparent: None,
        };
        let names = Names::new(plan, k);
        let mut waiting = Vec::new();
        let mut run = Vec::new();
        let target = (&prepared.target, receiver.as_ref());
        let mut pairs = send_pairs(plan, target, &prompt, run_id ^ k as u64, progress);
        let later = plan.ledger.is_some() || receiver.is_some();
        while let Some(sent) = pairs.next().await {
            run.push(sent);
            if run.len() < plan.apis.len() {
                continue;
            }
            run.sort_by_key(|s| s.api.to_string());
            for sent in run.drain(..) {
                let pending = names.result(plan, &prepared, sent);
                match later {
                    true => waiting.push(pending),
                    false => on_pair(pending.result),
                }
            }
        }
        drop(pairs);
        complete(plan, receiver.as_ref(), waiting, &mut on_pair).await;
    }
    progress.finish_and_clear();
    Ok(())
}

/// Pairs that waited for what comes after them: the upstream ledger, read once, and the
/// records, waited for together (exporters batch), each attached to its pair.
async fn complete(
    plan: &RunPlan,
    receiver: Option<&Receiver>,
    waiting: Vec<Pending>,
    on_pair: &mut impl FnMut(PairResult),
) {
    let mut records = HashMap::new();
    let mut foreign = 0;
    if let (Some(rx), Some(rp)) = (receiver, &plan.records) {
        let traces: Vec<String> = waiting
            .iter()
            .flat_map(|p| p.traces.clone())
            .flatten()
            .collect();
        let (got, f) = rx.collect(&traces, rp.wait).await;
        records.extend(got.into_iter().map(|r| (r.trace_id.clone(), r)));
        foreign = f;
    }
    // After the records: a gateway records a call once it is done with it, upstream
    // included, so the ledger read now also holds what an aborted stream was billed.
    let doc = match &plan.ledger {
        Some(url) => Some((url, read_ledger(url).await)),
        None => None,
    };
    for Pending {
        mut result,
        markers,
        traces,
    } in waiting
    {
        if let (Some((url, doc)), Some(m)) = (&doc, markers) {
            result.upstream = Some(UpstreamRecord {
                ledger: url.to_string(),
                non_streaming: doc.entries_for(&m.non_streaming),
                streaming: doc.entries_for(&m.streaming),
                warmup: doc.entries_for(&m.warmup),
            });
        }
        if let (Some(rx), Some([ns, st])) = (receiver, traces) {
            let mut take = |t: String| {
                records.remove(&t).unwrap_or(Record {
                    trace_id: t,
                    spans: Vec::new(),
                })
            };
            result.records = Some(Records {
                source: rx.url(),
                non_streaming: take(ns),
                streaming: take(st),
                foreign_spans: foreign,
            });
        }
        on_pair(result);
    }
}

/// Pair names whose text order is their run order: `run-001-invoke`, `p2-run-001-invoke`
/// (numbers padded to the widest, so that `run-1000` sorts after `run-0999`).
struct Names {
    prefix: String,
    width: usize,
}

impl Names {
    fn new(plan: &RunPlan, prompt: usize) -> Names {
        let digits = |n: usize| n.to_string().len();
        let prefix = if plan.prompts.len() > 1 {
            format!("p{:0w$}-", prompt + 1, w = digits(plan.prompts.len()))
        } else {
            String::new()
        };
        Names {
            prefix,
            width: digits(plan.runs as usize).max(MIN_RUN_DIGITS),
        }
    }

    /// The result of a sent pair (its markers kept for the ledger, its trace ids for the
    /// records, if any).
    fn result(&self, plan: &RunPlan, prepared: &Prepared, sent: Sent) -> Pending {
        let name = format!(
            "{}run-{:0w$}-{}",
            self.prefix,
            sent.run,
            sent.api,
            w = self.width
        );
        let result = PairResult {
            meta: meta(plan, prepared, name, sent.api),
            non_streaming: sent.non_streaming,
            streaming: sent.streaming,
            warmup: sent.warmup,
            upstream: None,
            records: None,
        };
        Pending {
            result,
            markers: sent.markers,
            traces: sent.traces,
        }
    }
}

/// A pair sent, with what correlates it to the ledger and the records.
struct Pending {
    result: PairResult,
    markers: Option<Markers>,
    traces: Option<[String; 2]>,
}

/// Ledger entries the in-process emulator of `--offline` keeps (no one reads them).
const OFFLINE_LEDGER_SIZE: usize = 1_000;

/// Digits of a run number at least (`run-001`).
const MIN_RUN_DIGITS: usize = 3;

fn meta(plan: &RunPlan, prepared: &Prepared, name: String, api: Api) -> CaseMeta {
    CaseMeta {
        name,
        target: plan.target.name().into(),
        api: Some(api),
        model: redact::account_ids(&plan.model).into_owned(),
        region: prepared.region.clone(),
        emulator: matches!(plan.endpoint, Endpoint::Offline { .. }),
    }
}

/// Markers differ between runs, so a shared upstream's ledger never mixes two runs up.
fn run_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()).rotate_left(32)
}

/// Set up the client, starting the built-in emulator for an offline plan. `--offline`
/// never touches aws-config: no environment, profile or metadata probes.
async fn prepare(plan: &RunPlan) -> anyhow::Result<Prepared> {
    let settings = Settings {
        region: None,
        profile: None,
        endpoint_url: None,
        timeout: plan.limits.timeout,
        max_attempts: plan.limits.max_attempts,
    };
    let (base, region, emulator) = match &plan.endpoint {
        Endpoint::Offline { region, faults } => {
            let em = Emulator::new(emulator::Config {
                faults: faults.clone(),
                // Nobody reads the in-process emulator's ledger: keep it small.
                ledger_size: OFFLINE_LEDGER_SIZE,
                ..emulator::Config::default()
            });
            let (addr, handle) = emulator::spawn(em, ([127, 0, 0, 1], 0).into())
                .await
                .context("cannot start the built-in emulator on 127.0.0.1")?;
            let region = region.clone().unwrap_or(defaults::OFFLINE_REGION.into());
            (format!("http://{addr}"), region, Some(handle))
        }
        Endpoint::Bedrock {
            region,
            profile,
            endpoint_url,
        } => {
            let settings = Settings {
                region: region.clone(),
                profile: profile.clone(),
                endpoint_url: endpoint_url.clone(),
                ..settings
            };
            let client = BedrockClient::live(&settings).await?;
            let region = client.region.clone();
            return Ok(Prepared {
                target: Target::Bedrock(client),
                region,
                _emulator: None,
            });
        }
        Endpoint::Gateway { base_url, .. } => (base_url.clone(), "-".to_string(), None),
    };
    let target = match (plan.target, plan.apis.first()) {
        (TargetKind::Bedrock, _) | (_, None) => {
            Target::Bedrock(BedrockClient::hermetic(&base, &region, &settings))
        }
        (_, Some(&api)) => {
            let key = api_key(plan)?;
            let client = HttpTarget::new(api, &base, key, settings.timeout, settings.max_attempts)
                .context("cannot build the HTTP client")?
                .with_abort_after(plan.abort_after);
            Target::Http(client)
        }
    };
    let region = if plan.target == TargetKind::Bedrock {
        region
    } else {
        "-".into()
    };
    Ok(Prepared {
        target,
        region,
        _emulator: emulator,
    })
}

/// The gateway's API key, from the variable `--api-key-env` names (or the target's default).
fn api_key(plan: &RunPlan) -> anyhow::Result<Option<String>> {
    let named = match &plan.endpoint {
        Endpoint::Gateway { api_key_env, .. } => api_key_env.clone(),
        _ => None,
    };
    let var = named
        .clone()
        .unwrap_or_else(|| plan.target.default_key_env().to_string());
    let key = std::env::var(&var).ok().filter(|k| !k.is_empty());
    if key.is_none() && named.is_some() {
        bail!("--api-key-env {var}: that environment variable is not set");
    }
    Ok(key)
}

/// Read the upstream ledger; an unreadable ledger is reported and audited as empty (each
/// side's `ledger-parity` then says no entry matched).
async fn read_ledger(url: &str) -> LedgerDoc {
    match fetch_ledger(url).await {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!(
                "tokaudit: error: cannot read the ledger at {url}: {e}; ledger-parity is not checked"
            );
            LedgerDoc::default()
        }
    }
}

/// One pair as sent.
struct Sent {
    run: u32,
    api: Api,
    non_streaming: Capture,
    streaming: Capture,
    warmup: Option<Capture>,
    /// The `--ledger` markers of the requests.
    markers: Option<Markers>,
    /// The trace ids of the non-streaming and the streaming request (`--otlp-listen`).
    traces: Option<[String; 2]>,
}

/// The `--ledger` correlation markers of one pair's requests.
struct Markers {
    non_streaming: String,
    streaming: String,
    warmup: String,
}

/// Send every (run, API) pair of one prompt, `concurrency` at a time; the stream yields them
/// in job order (run by run), holding at most `concurrency` of them.
fn send_pairs<'a>(
    plan: &'a RunPlan,
    (target, receiver): (&'a Target, Option<&'a Receiver>),
    prompt: &'a Prompt,
    run_id: u64,
    progress: &'a ProgressBar,
) -> impl futures_util::Stream<Item = Sent> + Unpin + 'a {
    let apis = plan.apis.clone();
    let jobs = (1..=plan.runs).flat_map(move |r| apis.clone().into_iter().map(move |a| (r, a)));
    let with_ledger = plan.ledger.is_some();
    futures_util::stream::iter(jobs.enumerate())
        .map(move |(job, (run, api))| {
            let markers = with_ledger.then(|| {
                let n = job as u64 * 3;
                Markers {
                    non_streaming: ledger::marker(run_id, n),
                    streaming: ledger::marker(run_id, n + 1),
                    warmup: ledger::marker(run_id, n + 2),
                }
            });
            let traces = receiver.map(|rx| {
                let n = job as u64 * 2;
                let ids = [record::trace_id(run_id, n), record::trace_id(run_id, n + 1)];
                ids.iter().for_each(|t| rx.expect(t));
                ids
            });
            let ids = Ids { markers, traces };
            Box::pin(send_pair(target, prompt, run, api, ids, progress))
        })
        .buffered(plan.concurrency as usize)
}

/// What correlates a pair's requests with the ledger and the records.
struct Ids {
    markers: Option<Markers>,
    traces: Option<[String; 2]>,
}

async fn send_pair(
    target: &Target,
    prompt: &Prompt,
    run: u32,
    api: Api,
    Ids { markers, traces }: Ids,
    progress: &ProgressBar,
) -> Sent {
    let (ns_op, st_op) = api.operations();
    let marked = |m: Option<&String>| m.map_or_else(|| prompt.clone(), |m| prompt.with_marker(m));
    // The warm-up writes the prefix (or finds it written), so that both measured calls
    // should read it. Its marker sits after the cache breakpoint, like the others'.
    let warmup = match prompt.cache {
        Some(c) if c.warmup => {
            let p = marked(markers.as_ref().map(|m| &m.warmup));
            Some(target.call(ns_op, &p).await)
        }
        _ => None,
    };
    let mut ns_prompt = marked(markers.as_ref().map(|m| &m.non_streaming));
    let mut st_prompt = marked(markers.as_ref().map(|m| &m.streaming));
    if let Some([ns, st]) = &traces {
        ns_prompt.traceparent = Some(record::traceparent_of(ns));
        st_prompt.traceparent = Some(record::traceparent_of(st));
    }
    // Alternate which path goes first, so cache effects show up instead of hiding.
    let (non_streaming, streaming) = if run % 2 == 1 {
        let a = target.call(ns_op, &ns_prompt).await;
        (a, target.call(st_op, &st_prompt).await)
    } else {
        let b = target.call(st_op, &st_prompt).await;
        (target.call(ns_op, &ns_prompt).await, b)
    };
    progress.inc(1);
    Sent {
        run,
        api,
        non_streaming,
        streaming,
        warmup,
        markers,
        traces,
    }
}
