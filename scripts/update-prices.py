#!/usr/bin/env python3
"""Regenerate src/core/prices.json, tokaudit's embedded price table, from LiteLLM's maintained
model price map (model_prices_and_context_window.json, MIT License).

    python3 scripts/update-prices.py                      # newest litellm wheel from PyPI
    python3 scripts/update-prices.py path/to/model_prices_and_context_window.json

Kept: Claude models on Bedrock (`anthropic.*`) and on Anthropic's API (`claude-*`), and the
OpenAI models gateways most often front. Region-prefixed Bedrock ids (`us.`, `eu.`, …) are not
kept: tokaudit strips the prefix before looking a model up. Prices are USD per token: input,
output, cache read, cache write for 5 minutes and for 1 hour, reasoning where the source
prices it apart, and the >200k-token tier where the source has one.

LiteLLM has no commercial-region Bedrock entry for Claude 3 Haiku (tokaudit's default model);
its list price is taken from LiteLLM's Vertex AI entry for the same model (the same as
Anthropic's and Bedrock's list price, $0.25 / $1.25 per million tokens) and marked so.
"""
import datetime, json, pathlib, subprocess, sys, tempfile, zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "core" / "prices.json"
OPENAI = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3",
          "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"]
REGIONS = ("us.", "eu.", "apac.", "jp.", "au.", "global.", "us-gov.")
ALIASES = {"anthropic.claude-3-haiku-20240307-v1:0": "vertex_ai/claude-3-haiku@20240307",
           "claude-3-haiku-20240307": "vertex_ai/claude-3-haiku@20240307"}


def load_source(argv):
    if len(argv) > 1:
        path = pathlib.Path(argv[1])
        return json.loads(path.read_text()), f"{path.name}", "main"
    tmp = pathlib.Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "--dest", str(tmp), "litellm"], check=True)
    wheel = next(tmp.glob("litellm-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read("litellm/model_prices_and_context_window_backup.json"))
    version = wheel.name.split("-")[1]
    # The wheel ships the price map as litellm/model_prices_and_context_window_backup.json.
    return data, f"LiteLLM {version} price map", f"v{version}"


def entry(v):
    out = {"input": v.get("input_cost_per_token"), "output": v.get("output_cost_per_token"),
           "cache_read": v.get("cache_read_input_token_cost"),
           "cache_write_5m": v.get("cache_creation_input_token_cost"),
           "cache_write_1h": v.get("cache_creation_input_token_cost_above_1hr"),
           "reasoning": v.get("output_cost_per_reasoning_token")}
    tier = {"input": v.get("input_cost_per_token_above_200k_tokens"),
            "output": v.get("output_cost_per_token_above_200k_tokens"),
            "cache_read": v.get("cache_read_input_token_cost_above_200k_tokens"),
            "cache_write_5m": v.get("cache_creation_input_token_cost_above_200k_tokens"),
            "cache_write_1h": v.get("cache_creation_input_token_cost_above_1hr_above_200k_tokens")}
    out = {k: x for k, x in out.items() if x is not None}
    tier = {k: x for k, x in tier.items() if x is not None}
    if tier:
        out["above_200k"] = tier
    return out


def main(argv):
    data, source, ref = load_source(argv)
    models = {}
    for key, v in data.items():
        if not isinstance(v, dict) or v.get("mode") != "chat" or "input_cost_per_token" not in v:
            continue
        claude = "claude" in key and "/" not in key and not key.startswith(REGIONS) and \
            v.get("litellm_provider") in ("bedrock", "bedrock_converse", "anthropic")
        if claude or (key in OPENAI and v.get("litellm_provider") == "openai"):
            models[key] = entry(v)
    for key, src in ALIASES.items():
        if key not in models and src in data:
            models[key] = dict(entry(data[src]), note=f"list price from {src}")
    table = {"schema_version": 1, "source": source,
             "source_url": f"https://github.com/BerriAI/litellm/blob/{ref}/model_prices_and_context_window.json",
             "licence": "MIT (LiteLLM)", "retrieved": datetime.date.today().isoformat(),
             "currency": "USD", "unit": "per token",
             "models": dict(sorted(models.items()))}
    OUT.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {len(models)} models to {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
