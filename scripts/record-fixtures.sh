#!/usr/bin/env bash
# Re-record the fixture corpus in fixtures/ from the built-in emulator.
#
# Every fixture is a real capture: the real AWS SDK talks to `tokaudit compare --offline`'s
# emulator, with one named fault per known-bad case. This script only adds metadata
# (name, description, expected verdict and finding ids) to what `--record` wrote; it never
# touches a captured byte. Run it from the repository root after changing the emulator;
# pass a folder to record elsewhere (e.g. to compare with the committed corpus).
set -euo pipefail
cargo build --quiet
bin=target/debug/tokaudit
out=${1:-fixtures}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A prefix above the 1,024-token minimum, and a model that caches on Bedrock (Claude 3 Haiku,
# the default model, does not).
long_system=$(cat prompts/billing-analyst.txt)
caching_model=anthropic.claude-sonnet-4-5-20250929-v1:0
gateway_model=claude-sonnet-4-5-20250929

# record NAME API VERDICT FINDINGS DESCRIPTION -- compare args...
record() {
  local name=$1 api=$2 verdict=$3 findings=$4 description=$5
  shift 6
  rm -rf "$tmp/rec" && mkdir -p "$tmp/rec"
  "$bin" compare --offline --quiet --api "$api" --record "$tmp/rec" "$@" >/dev/null || true
  python3 - "$tmp/rec/run-001-$api.json" "$out/$name.json" "$name" "$verdict" "$findings" "$description" <<'PY'
import json, sys
src, dst, name, verdict, findings, description = sys.argv[1:]
with open(src) as f:
    fx = json.load(f)
meta = {"schema_version": fx.pop("schema_version"), "tokaudit_version": fx.pop("tokaudit_version")}
fx.pop("name")
rest = fx
out = dict(meta)
out["name"] = name
out["description"] = description
for k in ("target", "api", "model", "region"):
    out[k] = rest.pop(k)
out["expect"] = {"verdict": verdict, "findings": [f for f in findings.split(",") if f]}
out.update(rest)
with open(dst, "w") as f:
    f.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
PY
  echo "recorded $out/$name.json"
}

mkdir -p "$out"
record invoke-write-hi invoke pass "" "Consistent InvokeModel pair for the prompt \"Write Hi\"." -- --prompt "Write Hi"
record converse-write-hi converse pass "" "Consistent Converse pair for the prompt \"Write Hi\"." -- --prompt "Write Hi"
record invoke-cache-write-then-read invoke pass "" "cache_control on the system prompt, no warm-up: the non-streaming call writes the cache, the streaming call reads it. Total input agrees; the split differs (a note, not a mismatch)." -- --prompt "Write Hi" --model "$caching_model" --system "$long_system" --cache --no-warmup
record converse-cache-write-then-read converse pass "" "cachePoint after the system prompt, no warm-up: the first call writes the cache, the second reads it. totalTokens includes cache tokens." -- --prompt "Write Hi" --model "$caching_model" --system "$long_system" --cache --no-warmup
record converse-cache-warm-stream-drops-cache converse mismatch "cache-split-parity" "A warm-up call writes the prefix, so both calls should read it; the stream reports the cached prompt as fresh input with the same total (LiteLLM#39088 class)." -- --prompt "Write Hi" --model "$caching_model" --system "$long_system" --cache --emulator-fault stream-drops-cache
record invoke-cache-1h-ttl-split-lost invoke mismatch "cache-ttl-honored" "The warm-up asked for a 1-hour cache write and it is reported as a 5-minute one (LiteLLM PRs #36762 / #37104 class): priced about 37% low." -- --prompt "Write Hi" --model "$caching_model" --system "$long_system" --cache --cache-ttl 1h --emulator-fault ttl-split-lost
record responses-thinking-reasoning-lost responses mismatch "reasoning-parity" "The OpenAI Responses API with reasoning: the stream's response.completed reports 0 reasoning tokens for the same completion (LiteLLM#10554 class)." -- --prompt "Write Hi" --target openai --model "$gateway_model" --thinking 1024 --emulator-fault reasoning-lost
record chat-stream-cost-zero chat mismatch "cost-parity,reported-cost" "A gateway reports the streamed call's cost as 0 with the right tokens (LiteLLM#37923 class)." -- --prompt "Write Hi" --target openai --model "$gateway_model" --system "$long_system" --cache --emulator-fault stream-cost-zero
record invoke-long-multi-delta invoke pass "" "A 400-token stream with a cumulative message_delta every 8 tokens: the last counter is final, none is summed." -- --prompt "Write 400 words" --max-tokens 400 --emulator-fault multi-delta
record converse-hardcoded-usage-litellm-9577 converse mismatch "input-parity,output-parity" "LiteLLM v1.63.14 class (BerriAI/litellm#9577, fixed by #9512): the streamed usage is a hard-coded block (input 3, output 392, cache read 1796, total 2191) whatever the prompt." -- --prompt "Write Hi" --emulator-fault hardcoded-usage
record invoke-placeholder-final invoke mismatch "no-placeholder,metrics-match-events,output-parity" "The final message_delta repeats the message_start output_tokens placeholder (anthropic-sdk-python#424 class)." -- --prompt "Write 30 words" --emulator-fault placeholder-final
record invoke-cumulative-summed invoke mismatch "cumulative-not-summed,metrics-match-events,output-parity" "A relay summed the cumulative message_delta counters (placeholder + each snapshot), as in pydantic-ai#2770 and TensorZero#5481." -- --prompt "Write 30 words" --emulator-fault summed-deltas
record invoke-metrics-disagree invoke mismatch "metrics-match-events" "amazon-bedrock-invocationMetrics.outputTokenCount disagrees with the last message_delta (langchain-aws#164 class: two usage channels)." -- --prompt "Write Hi" --emulator-fault metrics-skew
record invoke-headers-disagree invoke mismatch "headers-match-body" "X-Amzn-Bedrock-Input-Token-Count disagrees with body usage.input_tokens." -- --prompt "Write Hi" --emulator-fault header-skew
record converse-final-usage-missing converse mismatch "usage-present" "ConverseStream completes (messageStop) but the trailing metadata event with usage never arrives (LiteLLM#14935, Effect#6237 class)." -- --prompt "Write Hi" --emulator-fault no-final-usage
record invoke-final-usage-missing invoke mismatch "usage-present,no-placeholder,output-parity" "The stream completes with message_stop but carries no message_delta usage and no invocationMetrics: only the placeholder is left." -- --prompt "Write Hi" --emulator-fault no-final-usage
record converse-usage-wrong-nesting converse mismatch "usage-present" "ConverseStream metadata wrapped one level too deep ({\"metadata\":{\"usage\":…}}): typed SDKs read all zeros." -- --prompt "Write Hi" --emulator-fault nested-usage
record invoke-stream-cut-by-exception invoke error "" "The stream is cut after the first delta by a modelStreamErrorException frame: a runtime error, not a mismatch." -- --prompt "Write 30 words" --emulator-fault stream-exception
record invoke-stream-cut-without-stop invoke mismatch "stream-complete" "The stream stops after its content without message_delta or message_stop." -- --prompt "Write Hi" --emulator-fault cut-stream
record converse-no-usage-non-streaming converse inconclusive "" "The non-streaming Converse body carries no usage at all (a proxy stripped it): nothing to compare, so inconclusive." -- --prompt "Write Hi" --emulator-fault no-body-usage

# The metadata was added with Python's JSON writer: lay the files out as `--record` does
# (one line per frame, views verbatim), which also makes their replay the fast one.
"$bin" migrate "$out" >/dev/null
