//! What gets billed (issue 13): the cache split under a known cache state, cache TTLs,
//! reasoning tokens, the Responses API and cost, against the emulator's Bedrock and gateway
//! routes. Each emulator fault gives its finding on the right field and exit 1; the clean run
//! passes; every run replays from its recording to the same report.

use crate::util::*;

/// The three gateway shapes and Bedrock's two families, as `compare` flags.
const ROUTES: [&[&str]; 5] = [
    &["--api", "invoke"],
    &["--api", "converse"],
    &["--target", "openai"],
    &["--target", "openai", "--api", "responses"],
    &["--target", "anthropic"],
];

/// The model for a route: Bedrock's id on Bedrock, the Anthropic name on the gateways.
fn model(route: &[&str]) -> &'static str {
    if route.contains(&"--target") {
        "claude-sonnet-4-5-20250929"
    } else {
        CACHING_MODEL
    }
}

/// `compare --offline --format json` with a cached long system prompt on `route`.
fn cached(route: &[&str], extra: &[&str]) -> Run {
    run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--format",
            "json",
        ])
        .args(["--model", model(route), "--system", LONG_SYSTEM, "--cache"])
        .args(route)
        .args(extra))
}

/// The one case of a report, and the findings of `severity` on invariant `inv`.
fn findings<'a>(report: &'a Value, inv: &str, severity: &str) -> Vec<&'a Value> {
    report["cases"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["invariant"] == inv && f["severity"] == severity)
        .collect()
}

fn row<'a>(report: &'a Value, field: &str) -> &'a Value {
    report["cases"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == field)
        .unwrap_or_else(|| panic!("no {field} row"))
}

#[test]
fn a_cached_run_passes_on_every_route_with_both_paths_reading_the_prefix() {
    for route in ROUTES {
        let r = cached(route, &["--cache-ttl", "1h"]);
        assert_eq!(r.code, 0, "{route:?}: {}", r.stdout);
        let report = r.json();
        let case = &report["cases"][0];
        let read = row(&report, "cache_read");
        assert!(
            read["non_streaming"]["value"].as_u64().unwrap() > 1024,
            "{route:?}"
        );
        assert_eq!(
            read["non_streaming"]["value"], read["streaming"]["value"],
            "{route:?}"
        );
        assert!(
            case["warmup"].is_object(),
            "{route:?}: the warm-up is reported"
        );
        let costs = &case["costs"];
        assert!(
            costs["warmup"]["usd"].as_f64().unwrap() > costs["streaming"]["usd"].as_f64().unwrap(),
            "{route:?}: the warm-up wrote (dearer), the measured calls read"
        );
        assert!(
            case["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["invariant"] == "cache-split-parity" && c["status"] == "held")
        );
    }
}

/// LiteLLM #39088: a stream that drops `prompt_tokens_details` bills the cached prompt as fresh
/// input with equal totals (https://github.com/BerriAI/litellm/issues/39088).
#[test]
fn litellm_39088_a_stream_that_drops_cached_tokens_is_a_mismatch_after_the_warmup() {
    for route in ROUTES {
        let r = cached(route, &["--emulator-fault", "stream-drops-cache"]);
        assert_eq!(r.code, 1, "{route:?}: {}", r.stdout);
        let report = r.json();
        let f = findings(&report, "cache-split-parity", "violation");
        assert_eq!(f.len(), 1, "{route:?}");
        assert_eq!(f[0]["field"], "cache_read", "{route:?}");
        assert!(
            f[0]["message"]
                .as_str()
                .unwrap()
                .contains("streaming bills"),
            "{route:?}"
        );
        assert_eq!(f[0]["cost"]["over_billed"], "streaming");
        assert!(f[0]["cost"]["usd_per_call"].as_f64().unwrap() > 0.0);
        assert_eq!(row(&report, "cache_read")["status"], "mismatch");
    }
}

#[test]
fn without_the_warmup_the_same_stream_is_only_a_note() {
    let r = cached(
        &["--api", "converse"],
        &["--no-warmup", "--emulator-fault", "stream-drops-cache"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let report = r.json();
    assert!(report["cases"][0]["warmup"].is_null());
    let notes = findings(&report, "cache-split-parity", "note");
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("rerun with --cache")
    );
}

/// LiteLLM #28354: an adapter reads the wrong field and reports `cached_tokens` 0
/// (https://github.com/BerriAI/litellm/issues/28354). The emulator's fault leaves the cached
/// tokens out of the input too, so the streamed total input drops.
#[test]
fn litellm_28354_a_streamed_cached_count_of_zero_is_an_input_mismatch() {
    for route in ROUTES {
        let r = cached(route, &["--emulator-fault", "stream-cached-zero"]);
        assert_eq!(r.code, 1, "{route:?}: {}", r.stdout);
        let f = findings(&r.json(), "input-parity", "violation")[0].clone();
        assert_eq!(f["field"], "input_total");
        assert_eq!(
            f["cost"]["over_billed"], "non_streaming",
            "the stream under-bills"
        );
    }
}

/// LiteLLM PRs #36762 / #37104: 1-hour cache writes reported (and priced) as 5-minute ones
/// (https://github.com/BerriAI/litellm/pull/36762). The write is the warm-up's.
#[test]
fn litellm_36762_a_one_hour_write_reported_as_five_minutes_breaks_the_ttl() {
    for route in [
        &["--api", "invoke"][..],
        &["--api", "converse"],
        &["--target", "anthropic"],
    ] {
        let clean = cached(route, &["--cache-ttl", "1h"]);
        assert_eq!(clean.code, 0, "{route:?}: {}", clean.stdout);
        let r = cached(
            route,
            &["--cache-ttl", "1h", "--emulator-fault", "ttl-split-lost"],
        );
        assert_eq!(r.code, 1, "{route:?}: {}", r.stdout);
        let report = r.json();
        let f = findings(&report, "cache-ttl-honored", "violation");
        assert_eq!(
            (f[0]["side"].as_str(), f[0]["field"].as_str()),
            (Some("warmup"), Some("cache_write_5m")),
            "{route:?}"
        );
        assert!(
            f[0]["cost"]["usd_per_call"].as_f64().unwrap() > 0.0,
            "priced at the TTLs' difference"
        );
    }
}

#[test]
fn a_one_hour_ttl_on_a_model_without_it_is_refused_as_bedrock_refuses_it() {
    let r = run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--format",
            "json",
            "--api",
            "invoke",
        ])
        .args([
            "--model",
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "--system",
            LONG_SYSTEM,
        ])
        .args(["--cache", "--cache-ttl", "1h"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    let f = &r.json()["cases"][0]["findings"][0];
    assert_eq!(
        (f["invariant"].as_str(), f["side"].as_str()),
        (Some("exchange"), Some("warmup"))
    );
    assert!(f["message"].as_str().unwrap().contains("1-hour"), "{f}");
}

/// LiteLLM #10554: reasoning tokens 0 only when streaming
/// (https://github.com/BerriAI/litellm/issues/10554).
#[test]
fn litellm_10554_reasoning_lost_on_the_stream_is_a_mismatch_on_every_gateway_shape() {
    for route in &ROUTES[2..] {
        let clean = cached(route, &["--thinking", "1024"]);
        assert_eq!(clean.code, 0, "{route:?}: {}", clean.stdout);
        let reasoning = row(&clean.json(), "reasoning")["streaming"]["value"].as_u64();
        assert!(
            reasoning.is_some_and(|n| n > 0),
            "{route:?}: the emulator thinks"
        );
        let r = cached(
            route,
            &["--thinking", "1024", "--emulator-fault", "reasoning-lost"],
        );
        assert_eq!(r.code, 1, "{route:?}: {}", r.stdout);
        let f = findings(&r.json(), "reasoning-parity", "violation")[0].clone();
        assert_eq!(f["field"], "reasoning");
    }
}

/// LiteLLM #37923: streamed calls logged at a cost of 0 with the right tokens
/// (https://github.com/BerriAI/litellm/issues/37923).
#[test]
fn litellm_37923_a_streamed_cost_of_zero_fails_reported_cost_and_cost_parity() {
    for route in [
        &["--target", "openai"][..],
        &["--target", "openai", "--api", "responses"],
    ] {
        let r = cached(route, &["--emulator-fault", "stream-cost-zero"]);
        assert_eq!(r.code, 1, "{route:?}: {}", r.stdout);
        let report = r.json();
        let f = findings(&report, "reported-cost", "violation");
        assert_eq!((f.len(), f[0]["side"].as_str()), (1, Some("streaming")));
        assert!(
            f[0]["message"].as_str().unwrap().contains("$0 "),
            "{}",
            f[0]["message"]
        );
        assert_eq!(findings(&report, "cost-parity", "violation").len(), 1);
    }
}

/// LiteLLM #14849 (and cloudflare/ai #550): cache hits priced as misses
/// (https://github.com/BerriAI/litellm/issues/14849).
#[test]
fn litellm_14849_a_cache_hit_priced_as_a_miss_fails_the_cache_read_discount() {
    let r = cached(
        &["--target", "openai"],
        &["--emulator-fault", "cache-hit-full-price"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let report = r.json();
    let f = findings(&report, "cache-read-discount", "violation");
    assert_eq!(f.len(), 2, "both paths");
    assert!(f.iter().all(|f| f["field"] == "cache_read"));
    assert!(
        !findings(&report, "cost-parity", "violation").is_empty()
            || report["cases"][0]["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["invariant"] == "cost-parity" && c["status"] == "held"),
        "the same mistake on both paths is not a parity problem"
    );
}

#[test]
fn every_route_replays_from_its_recording_to_the_same_report() {
    let runs: [(&[&str], &[&str]); 5] = [
        (
            &["--api", "invoke"],
            &["--cache-ttl", "1h", "--emulator-fault", "ttl-split-lost"],
        ),
        (
            &["--api", "converse"],
            &[
                "--thinking",
                "1024",
                "--emulator-fault",
                "stream-drops-cache",
            ],
        ),
        (
            &["--target", "openai"],
            &["--thinking", "1024", "--emulator-fault", "stream-cost-zero"],
        ),
        (
            &["--target", "openai", "--api", "responses"],
            &["--thinking", "1024", "--emulator-fault", "reasoning-lost"],
        ),
        (&["--target", "anthropic"], &["--cache-ttl", "1h"]),
    ];
    for (route, extra) in runs {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().to_str().unwrap();
        let live = cached(route, &[extra, &["--record", record]].concat());
        let replayed = run(tokaudit()
            .arg("replay")
            .arg(dir.path())
            .args(["--format", "json"]));
        assert_eq!(live.code, replayed.code, "{route:?}");
        assert_eq!(live.json(), replayed.json(), "{route:?} {extra:?}");
    }
}

#[test]
fn a_gate_case_over_its_cost_budget_fails_and_prices_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        format!("[[case]]\nname = \"dear\"\nmodel = {CACHING_MODEL:?}\nprompt = \"Write 20 words\"\napi = \"invoke\"\nmax_cost = 0.0000001\n"),
    )
    .unwrap();
    let json = dir.path().join("r.json");
    let r = run(tokaudit()
        .args(["gate", "--offline", "--suite"])
        .arg(&suite)
        .arg("--json")
        .arg(&json));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let pair = &report["cases"][0]["reports"][0];
    let over: Vec<&Value> = pair["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["invariant"] == "cost-budget")
        .collect();
    assert_eq!(over.len(), 2, "each measured call");
    assert!(
        pair["costs"]["prices"]
            .as_str()
            .unwrap()
            .starts_with("LiteLLM ")
    );
}

#[test]
fn prices_shows_what_a_model_is_costed_at_and_refuses_an_unknown_one() {
    let r = run(tokaudit().args(["prices", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for needle in [
        "priced as: anthropic.claude-sonnet-4-5-20250929-v1:0",
        "input           $3",
        "cache write 1h  $6",
        "LiteLLM",
    ] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
    let r = run(tokaudit().args(["prices", "no-such-model"]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("--price-model"), "{}", r.stderr);
    // A table written by `prices --json` reads back through --prices.
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("prices.json");
    std::fs::write(&table, run(tokaudit().args(["prices", "--json"])).stdout).unwrap();
    let r = run(tokaudit()
        .args(["prices", "gpt-4o", "--prices"])
        .arg(&table));
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(&table, "{\"schema_version\": 1}").unwrap();
    let r = run(tokaudit()
        .args(["compare", "--prompt", "x", "--offline", "--prices"])
        .arg(&table));
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("--prices") && r.stderr.contains("not a price table"),
        "{}",
        r.stderr
    );
}

#[test]
fn thinking_flags_are_checked_before_any_call() {
    let r = run(tokaudit().args(["compare", "--prompt", "x", "--offline", "--thinking", "500"]));
    assert_eq!(r.code, 2, "below Anthropic's 1,024-token minimum");
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "x",
        "--offline",
        "--thinking",
        "1024",
        "--max-tokens",
        "100",
    ]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("--max-tokens 100 must be above the thinking budget 1024"),
        "{}",
        r.stderr
    );
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "x",
        "--offline",
        "--api",
        "responses",
    ]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not an API of --target bedrock"),
        "{}",
        r.stderr
    );
}

#[test]
fn over_runs_an_intermittent_split_is_counted() {
    let r = cached(
        &["--api", "invoke"],
        &["--runs", "8", "--emulator-fault", "stream-drops-cache@0.5"],
    );
    let report = r.json();
    let (mismatch, pass) = (
        report["summary"]["mismatch"].as_u64().unwrap(),
        report["summary"]["pass"].as_u64().unwrap(),
    );
    assert!(mismatch > 0 && pass > 0, "{mismatch} / {pass}");
    assert_eq!(report["cache_split_differs"].as_u64(), Some(mismatch));
    let table = run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--api",
            "invoke",
            "--model",
            CACHING_MODEL,
        ])
        .args([
            "--system",
            LONG_SYSTEM,
            "--cache",
            "--runs",
            "8",
            "--emulator-fault",
            "stream-drops-cache@0.5",
        ]));
    assert!(
        table.stdout.contains(&format!(
            "cache split differed between the paths in {mismatch} of 8 pairs"
        )),
        "{}",
        table.stdout
    );
}
