//! `tokaudit compare`: one prompt, both paths, per API family, `--runs` times.

use super::emit;
use crate::cli::CompareArgs;
use crate::core::capture::{Api, Capture};
use crate::core::normalize::normalize;
use crate::emulator::{self, Config, Emulator};
use crate::fixture::Fixture;
use crate::provider::Prompt;
use crate::provider::bedrock::{BedrockClient, Settings};
use crate::report::{CaseMeta, CaseReport, Report};
use anyhow::Context;
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
}

/// Run `compare`.
pub async fn run(args: CompareArgs) -> anyhow::Result<i32> {
    // Fail on an unusable record folder before spending any tokens.
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the record folder {}", dir.display()))?;
    }
    let settings = Settings {
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        timeout: Duration::from_secs(args.timeout),
        max_attempts: args.max_attempts,
    };
    // --offline never touches aws-config: no environment, profile or metadata probes.
    let (client, _server) = if args.offline {
        let em = Emulator::new(Config {
            faults: args.emulator_fault.clone(),
            ..Config::default()
        });
        let (addr, handle) = emulator::spawn(em, ([127, 0, 0, 1], 0).into())
            .await
            .context("cannot start the built-in emulator on 127.0.0.1")?;
        let region = args.region.as_deref().unwrap_or(OFFLINE_REGION);
        (
            BedrockClient::hermetic(&format!("http://{addr}"), region, &settings),
            Some(handle),
        )
    } else {
        (BedrockClient::live(&settings).await?, None)
    };
    let prompt = Prompt {
        model: args.model.clone(),
        prompt: args.prompt.clone(),
        system: args.system.clone(),
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        cache: args.cache,
    };
    let apis = args.api.apis();
    let jobs: Vec<(u32, Api)> = (1..=args.runs)
        .flat_map(|r| apis.iter().map(move |a| (r, *a)))
        .collect();
    let progress = progress_bar(jobs.len() as u64, args.quiet);
    let pairs: Vec<PairCapture> = futures_util::stream::iter(jobs)
        .map(|(run, api)| {
            let (client, prompt, progress) = (client.clone(), prompt.clone(), progress.clone());
            async move {
                let (ns_op, st_op) = api.operations();
                // Alternate which path goes first, so cache effects show up instead of hiding.
                let (non_streaming, streaming) = if run % 2 == 1 {
                    let a = client.call(ns_op, &prompt).await;
                    (a, client.call(st_op, &prompt).await)
                } else {
                    let b = client.call(st_op, &prompt).await;
                    (client.call(ns_op, &prompt).await, b)
                };
                progress.inc(1);
                PairCapture {
                    run,
                    api,
                    non_streaming,
                    streaming,
                }
            }
        })
        .buffered(args.concurrency as usize)
        .collect()
        .await;
    progress.finish_and_clear();

    let mut cases = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let name = format!("run-{:03}-{}", pair.run, pair.api);
        if let Some(dir) = &args.record {
            let fx = Fixture::from_captures(
                &name,
                "bedrock",
                pair.api,
                &prompt.model,
                &client.region,
                &pair.non_streaming,
                &pair.streaming,
            );
            let path = dir.join(format!("{name}.json"));
            fx.save(&path)
                .with_context(|| format!("cannot write the fixture {}", path.display()))?;
        }
        let meta = CaseMeta {
            name,
            target: "bedrock".into(),
            api: pair.api,
            model: prompt.model.clone(),
            region: client.region.clone(),
        };
        let ns = normalize(&pair.non_streaming);
        let st = normalize(&pair.streaming);
        cases.push(match (ns, st) {
            (Ok(a), Ok(b)) => CaseReport::audited(meta, a, b),
            (Err(e), _) => CaseReport::malformed(meta, format!("non_streaming: {e}")),
            (_, Err(e)) => CaseReport::malformed(meta, format!("streaming: {e}")),
        });
    }
    // Same order as `replay` of the recorded folder (file names sort by run, then API).
    cases.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    for c in &cases {
        if let Some(e) = &c.error {
            eprintln!("tokaudit: error: {}: {e}", c.meta.name);
        }
    }
    let report = if args.runs > 1 {
        Report::over_runs(cases)
    } else {
        Report::new(cases)
    };
    Ok(emit(&report, args.format))
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
