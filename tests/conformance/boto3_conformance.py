"""Conformance of `tokaudit serve` with an independent client: Python boto3/botocore.

botocore decodes the emulator's responses with its own parsers: JSON bodies, event-stream
framing with both CRCs checked, base64 chunk payloads, Converse stream events, modelled
exceptions (x-amzn-errortype) and mid-stream exception frames. Run by .ci/run:

    python boto3_conformance.py http://127.0.0.1:PORT
"""

import base64
import json
import pathlib
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

URL = sys.argv[1]
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# Claude 3 Haiku does not cache on Bedrock; Sonnet 4.5 does, from 1,024 tokens, with 1 hour.
CACHING_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
LONG_SYSTEM = (pathlib.Path(__file__).resolve().parents[2] / "prompts" / "billing-analyst.txt").read_text()
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


client = boto3.client(
    "bedrock-runtime",
    endpoint_url=URL,
    region_name="us-east-1",
    aws_access_key_id="AKIDBOTO3CONFORMANCE",
    aws_secret_access_key="not-a-secret",
    config=Config(retries={"max_attempts": 1}),
)


def with_fault(fault):
    def add(request, **_):
        request.headers["x-tokaudit-fault"] = fault
    return add


invoke_body = json.dumps({
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Write Hi"}]}],
})

# 1. InvokeModel: body usage and the token-count headers.
r = client.invoke_model(modelId=MODEL, body=invoke_body, contentType="application/json", accept="application/json")
body = json.loads(r["body"].read())
headers = r["ResponseMetadata"]["HTTPHeaders"]
check("invoke: body usage", body["usage"]["input_tokens"] == 10 and body["usage"]["output_tokens"] == 2, body)
check("invoke: headers equal body", headers.get("x-amzn-bedrock-input-token-count") == "10"
      and headers.get("x-amzn-bedrock-output-token-count") == "2", headers)
check("invoke: text", body["content"][0]["text"] == "Hi!", body)

# 2. InvokeModelWithResponseStream: every frame decoded by botocore (CRCs checked).
r = client.invoke_model_with_response_stream(modelId=PROFILE_ARN, body=invoke_body, contentType="application/json")
events = [json.loads(e["chunk"]["bytes"]) for e in r["body"]]
types = [e["type"] for e in events]
check("invoke-stream: event sequence", types == ["message_start", "content_block_start", "content_block_delta",
      "content_block_delta", "content_block_stop", "message_delta", "message_stop"], types)
check("invoke-stream: placeholder then cumulative", events[0]["message"]["usage"]["output_tokens"] == 1
      and events[-2]["usage"]["output_tokens"] == 2, events)
metrics = events[-1].get("amazon-bedrock-invocationMetrics", {})
check("invoke-stream: invocationMetrics on the last chunk", metrics.get("inputTokenCount") == 10
      and metrics.get("outputTokenCount") == 2, events[-1])

# 3. Converse.
conv = dict(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Write Hi"}]}],
            inferenceConfig={"maxTokens": 64, "temperature": 0})
r = client.converse(**conv)
check("converse: usage", r["usage"] == {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}, r["usage"])
check("converse: text", r["output"]["message"]["content"][0]["text"] == "Hi!", r["output"])

# 4. ConverseStream: metadata after messageStop.
r = client.converse_stream(**conv)
stream_events = list(r["stream"])
kinds = [next(iter(e)) for e in stream_events]
check("converse-stream: metadata last", kinds[-2:] == ["messageStop", "metadata"], kinds)
check("converse-stream: usage", stream_events[-1]["metadata"]["usage"]["totalTokens"] == 12, stream_events[-1])

# 5. CountTokens, both input members.
if hasattr(client, "count_tokens"):
    r = client.count_tokens(modelId=MODEL, input={"invokeModel": {"body": invoke_body.encode()}})
    check("count-tokens: invokeModel", r["inputTokens"] == 10, r)
    r = client.count_tokens(modelId=MODEL, input={"converse": {"messages": conv["messages"]}})
    check("count-tokens: converse", r["inputTokens"] == 10, r)
else:
    check("count-tokens: this botocore knows CountTokens", False, botocore.__version__)

# 6. Prompt caching: the second identical prefix reads what the first wrote; a short prefix and
# a model that does not cache on Bedrock are processed uncached, without error.
cached = dict(conv, modelId=CACHING_MODEL,
              system=[{"text": LONG_SYSTEM}, {"cachePoint": {"type": "default"}}])
first, second = client.converse(**cached)["usage"], client.converse(**cached)["usage"]
check("cache: write then read", first.get("cacheWriteInputTokens", 0) > 1024
      and second.get("cacheReadInputTokens") == first["cacheWriteInputTokens"], (first, second))
check("cache: totalTokens includes cache", second["totalTokens"] == second["inputTokens"]
      + second["outputTokens"] + second["cacheReadInputTokens"], second)
short = dict(conv, modelId=CACHING_MODEL,
             system=[{"text": "You are terse and exact."}, {"cachePoint": {"type": "default"}}])
u = client.converse(**short)["usage"]
check("cache: below the minimum prefix nothing is cached",
      u.get("cacheWriteInputTokens", 0) == 0 and u.get("cacheReadInputTokens", 0) == 0, u)
u = client.converse(**dict(cached, modelId=MODEL))["usage"]
check("cache: Claude 3 Haiku does not cache on Bedrock", u.get("cacheWriteInputTokens", 0) == 0, u)
try:
    hour = dict(cached, system=[{"text": LONG_SYSTEM + " (1h)"}, {"cachePoint": {"type": "default", "ttl": "1h"}}])
    u = client.converse(**hour)["usage"]
    details = {d["ttl"]: d["inputTokens"] for d in u.get("cacheDetails", [])}
    check("cache: a 1-hour write is reported under 1h in cacheDetails",
          details.get("1h") == u.get("cacheWriteInputTokens") and u["cacheWriteInputTokens"] > 0, u)
except botocore.exceptions.ParamValidationError as e:
    check("cache: this botocore knows cachePoint.ttl", False, e)

# 7. Errors: a modelled HTTP error and a mid-stream exception frame.
client.meta.events.register("before-send.bedrock-runtime.Converse", with_fault("throttle"))
try:
    client.converse(**conv)
    check("errors: 429 ThrottlingException", False, "no error")
except client.exceptions.ThrottlingException as e:
    check("errors: 429 ThrottlingException", e.response["ResponseMetadata"]["HTTPStatusCode"] == 429)
client.meta.events.unregister("before-send.bedrock-runtime.Converse", with_fault("throttle"))

client.meta.events.register("before-send.bedrock-runtime.InvokeModelWithResponseStream", with_fault("stream-exception"))
try:
    for _ in client.invoke_model_with_response_stream(modelId=MODEL, body=invoke_body)["body"]:
        pass
    check("errors: modelStreamErrorException frame", False, "stream ended normally")
except botocore.exceptions.EventStreamError as e:
    check("errors: modelStreamErrorException frame", e.response["Error"]["Code"] == "modelStreamErrorException", e.response)

try:
    client.invoke_model(modelId=MODEL, body=json.dumps({"max_tokens": 5, "messages": []}))
    check("errors: 400 ValidationException", False, "no error")
except client.exceptions.ValidationException as e:
    check("errors: 400 ValidationException", "anthropic_version" in str(e))

print(f"{len(failures)} failed" if failures else "all boto3 conformance checks passed")
sys.exit(1 if failures else 0)
