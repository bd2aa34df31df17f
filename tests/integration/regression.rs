//! Regression tests named after real bugs.

use crate::util::*;

/// LiteLLM v1.63.14 replaced streamed Bedrock usage with a hard-coded block, so "Write Hi"
/// was billed 1799/392 streamed against 10/2 buffered.
/// See: https://github.com/BerriAI/litellm/issues/9577 (fixed by PR #9512).
#[test]
fn litellm_9577_bedrock_stream_usage() {
    let r = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(fixtures().join("converse-hardcoded-usage-litellm-9577.json")));
    assert_eq!(r.code, 1);
    let case = &r.json()["cases"][0];
    assert_eq!(violations(case), ["input-parity", "output-parity"]);
    let input_total = case["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "input_total")
        .unwrap();
    assert_eq!(
        (
            input_total["non_streaming"]["value"].as_u64(),
            input_total["streaming"]["value"].as_u64()
        ),
        (Some(10), Some(1799))
    );
}

/// The same bug, recorded from the real LiteLLM v1.63.14 proxy (installed from PyPI) in front
/// of `tokaudit serve`: the ledger shows the upstream reported 19 / 2 for that very streamed
/// request, so the gateway is at fault. v1.108.7 in the same set-up passes.
/// See: https://github.com/BerriAI/litellm/issues/9577
#[test]
fn litellm_9577_real_proxy_v1_63_14() {
    let r = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(fixtures().join("litellm-1.63.14-proxy-write-hi.json")));
    assert_eq!(r.code, 1);
    let case = &r.json()["cases"][0];
    let output = case["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "output")
        .unwrap();
    assert_eq!(
        (
            output["streaming"]["value"].as_u64(),
            output["upstream_streaming"].as_u64()
        ),
        (Some(392), Some(2))
    );
    let blamed: Vec<&Value> = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["invariant"] == "ledger-parity")
        .collect();
    assert!(
        blamed.iter().all(|f| f["side"] == "streaming"),
        "only the streamed path is wrong"
    );
    let fixed = run(tokaudit()
        .arg("replay")
        .arg(fixtures().join("litellm-1.108.7-proxy-write-hi.json")));
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
}

/// The Anthropic SDK's final message kept the `output_tokens: 1` placeholder.
/// See: https://github.com/anthropics/anthropic-sdk-python/issues/424
#[test]
fn anthropic_sdk_424_placeholder_final() {
    let r = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(fixtures().join("invoke-placeholder-final.json")));
    assert!(violations(&r.json()["cases"][0]).contains(&"no-placeholder".to_string()));
}

/// pydantic-ai summed cumulative usage events (streamed input doubled).
/// See: https://github.com/pydantic/pydantic-ai/issues/2770
#[test]
fn pydantic_ai_2770_cumulative_summed() {
    let r = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(fixtures().join("invoke-cumulative-summed.json")));
    assert!(violations(&r.json()["cases"][0]).contains(&"cumulative-not-summed".to_string()));
}
