//! `tokaudit compare`: one prompt, both paths, per API family, `--runs` times.

use super::emit;
use crate::cli::{CompareArgs, TargetKind};
use crate::core::audit::Upstream;
use crate::core::capture::{Api, Capture};
use crate::core::ledger;
use crate::core::normalize::normalize;
use crate::emulator::{self, Config, Emulator};
use crate::fixture::{Fixture, UpstreamRecord};
use crate::provider::bedrock::{BedrockClient, Settings};
use crate::provider::http::HttpTarget;
use crate::provider::{Prompt, Target, fetch_ledger};
use crate::report::{CaseMeta, CaseReport, Report};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// The region the offline emulator claims to be in.
const OFFLINE_REGION: &str = "us-east-1";

/// One pair's raw result.
struct PairCapture {
    run: u32,
    api: Api,
    non_streaming: Capture,
    streaming: Capture,
    /// The `--ledger` markers of the two requests.
    markers: Option<(String, String)>,
}

/// Run `compare`: execute, record, print.
pub async fn run(args: CompareArgs) -> anyhow::Result<i32> {
    // Fail on an unusable record folder before spending any tokens.
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the record folder {}", dir.display()))?;
    }
    let results = execute(&args).await?;
    let mut cases = Vec::with_capacity(results.len());
    for (case, fixture) in results {
        if let Some(dir) = &args.record {
            let path = dir.join(format!("{}.json", fixture.name));
            fixture
                .save(&path)
                .with_context(|| format!("cannot write the fixture {}", path.display()))?;
        }
        if let Some(e) = &case.error {
            eprintln!("tokaudit: error: {}: {e}", case.meta.name);
        }
        cases.push(case);
    }
    let report = if args.runs > 1 {
        Report::over_runs(cases)
    } else {
        Report::new(cases)
    };
    Ok(emit(&report, args.format))
}

/// Run every pair of a compare and audit it: one case report and its fixture per pair, in
/// name order (the order `replay` of the recorded folder gives).
pub async fn execute(args: &CompareArgs) -> anyhow::Result<Vec<(CaseReport, Fixture)>> {
    if args.target != TargetKind::Bedrock && args.base_url.is_none() && !args.offline {
        bail!(
            "--target {} needs --base-url (the gateway's address, e.g. http://127.0.0.1:4000), or --offline",
            args.target.name()
        );
    }
    let settings = Settings {
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        timeout: Duration::from_secs(args.timeout),
        max_attempts: args.max_attempts,
    };
    // --offline never touches aws-config: no environment, profile or metadata probes.
    let (offline_url, _server) = if args.offline {
        let em = Emulator::new(Config {
            faults: args.emulator_fault.clone(),
            ..Config::default()
        });
        let (addr, handle) = emulator::spawn(em, ([127, 0, 0, 1], 0).into())
            .await
            .context("cannot start the built-in emulator on 127.0.0.1")?;
        (Some(format!("http://{addr}")), Some(handle))
    } else {
        (None, None)
    };
    let (target, region, apis) = match args.target {
        TargetKind::Bedrock => {
            let client = match &offline_url {
                Some(url) => BedrockClient::hermetic(
                    url,
                    args.region.as_deref().unwrap_or(OFFLINE_REGION),
                    &settings,
                ),
                None => BedrockClient::live(&settings).await?,
            };
            let region = client.region.clone();
            (Target::Bedrock(client), region, args.api.apis())
        }
        kind => {
            let api = if kind == TargetKind::Openai {
                Api::Chat
            } else {
                Api::Messages
            };
            let var = args.api_key_env.clone().unwrap_or_else(|| {
                if kind == TargetKind::Openai {
                    "OPENAI_API_KEY"
                } else {
                    "ANTHROPIC_API_KEY"
                }
                .to_string()
            });
            let key = std::env::var(&var).ok().filter(|k| !k.is_empty());
            if key.is_none() && args.api_key_env.is_some() {
                bail!("--api-key-env {var}: that environment variable is not set");
            }
            let base = offline_url
                .clone()
                .or(args.base_url.clone())
                .expect("checked above");
            let client = HttpTarget::new(api, &base, key, settings.timeout, args.max_attempts)
                .context("cannot build the HTTP client")?;
            (Target::Http(client), "-".to_string(), vec![api])
        }
    };
    let prompt = Prompt {
        model: args.model.clone(),
        prompt: args.prompt.clone(),
        system: args.system.clone(),
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        cache: args.cache,
        marker: None,
    };
    // Markers identify each request in the upstream's ledger (see core::ledger).
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()).rotate_left(32);
    let jobs: Vec<(u32, Api)> = (1..=args.runs)
        .flat_map(|r| apis.iter().map(move |a| (r, *a)))
        .collect();
    let progress = progress_bar(jobs.len() as u64, args.quiet);
    let with_ledger = args.ledger.is_some();
    let pairs: Vec<PairCapture> = futures_util::stream::iter(jobs.into_iter().enumerate())
        .map(|(job, (run, api))| {
            let (target, prompt, progress) = (target.clone(), prompt.clone(), progress.clone());
            async move {
                let (ns_op, st_op) = api.operations();
                let markers = with_ledger.then(|| {
                    let n = job as u64 * 2;
                    (ledger::marker(run_id, n), ledger::marker(run_id, n + 1))
                });
                let (ns_prompt, st_prompt) = match &markers {
                    Some((a, b)) => (prompt.with_marker(a), prompt.with_marker(b)),
                    None => (prompt.clone(), prompt.clone()),
                };
                // Alternate which path goes first, so cache effects show up instead of hiding.
                let (non_streaming, streaming) = if run % 2 == 1 {
                    let a = target.call(ns_op, &ns_prompt).await;
                    (a, target.call(st_op, &st_prompt).await)
                } else {
                    let b = target.call(st_op, &st_prompt).await;
                    (target.call(ns_op, &ns_prompt).await, b)
                };
                progress.inc(1);
                PairCapture {
                    run,
                    api,
                    non_streaming,
                    streaming,
                    markers,
                }
            }
        })
        .buffered(args.concurrency as usize)
        .collect()
        .await;
    progress.finish_and_clear();

    let ledger_doc = match &args.ledger {
        None => None,
        Some(url) => match fetch_ledger(url).await {
            Ok(doc) => Some(doc),
            Err(e) => {
                eprintln!(
                    "tokaudit: error: cannot read the ledger at {url}: {e}; ledger-parity is not checked"
                );
                Some(serde_json::json!({"entries": []}))
            }
        },
    };

    let mut out = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let name = format!("run-{:03}-{}", pair.run, pair.api);
        let upstream_record = match (&ledger_doc, &pair.markers, &args.ledger) {
            (Some(doc), Some((a, b)), Some(url)) => Some(UpstreamRecord {
                ledger: url.clone(),
                non_streaming: ledger::entries_for(doc, a),
                streaming: ledger::entries_for(doc, b),
            }),
            _ => None,
        };
        let mut fx = Fixture::from_captures(
            &name,
            args.target.name(),
            pair.api,
            &prompt.model,
            &region,
            &pair.non_streaming,
            &pair.streaming,
        );
        fx.upstream = upstream_record.clone();
        let meta = CaseMeta {
            name,
            target: args.target.name().into(),
            api: pair.api,
            model: prompt.model.clone(),
            region: region.clone(),
        };
        let upstream = upstream_record.map(|u| Upstream {
            non_streaming: ledger::upstream_side(&u.non_streaming),
            streaming: ledger::upstream_side(&u.streaming),
        });
        let ns = normalize(&pair.non_streaming);
        let st = normalize(&pair.streaming);
        let case = match (ns, st) {
            (Ok(a), Ok(b)) => CaseReport::audited(meta, a, b, upstream),
            (Err(e), _) => CaseReport::malformed(meta, format!("non_streaming: {e}")),
            (_, Err(e)) => CaseReport::malformed(meta, format!("streaming: {e}")),
        };
        out.push((case, fx));
    }
    // Same order as `replay` of the recorded folder (file names sort by run, then API).
    out.sort_by(|a, b| a.0.meta.name.cmp(&b.0.meta.name));
    Ok(out)
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} pairs {wide_bar} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}
