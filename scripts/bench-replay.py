#!/usr/bin/env python3
"""End-to-end replay benchmark: tokaudit against botocore, on the same frames.

One generator makes both inputs: a long InvokeModelWithResponseStream (or ConverseStream)
recording of ~250-byte event-stream frames, written as the fixture `compare --record` writes
(raw base64 plus readable views), and the same frames as one raw byte stream. Then it times

  * botocore: its EventStreamBuffer decoding the raw bytes (prelude, CRCs, headers), each
    payload parsed as JSON and, for InvokeModel, each chunk's base64 decoded and parsed: what a
    Python client does with a stream (botocore from PyPI, in a private venv);
  * tokaudit: `tokaudit replay FILE --format json`, end to end from the file, with its peak
    memory (ru_maxrss of the child).

and prints MB/s of raw frame bytes for both and the ratio.

    python3 scripts/bench-replay.py --mb 50 --api invoke [--tokaudit target/release/tokaudit]
    python3 scripts/bench-replay.py --mb 1 50 500 --api invoke converse

Inputs are written under target/bench/ and reused when they exist with the same size.
"""
import argparse, base64, binascii, json, os, pathlib, struct, subprocess, sys, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


def header(name, value):
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def frame(event_type, payload):
    headers = header(":event-type", event_type) + header(":content-type", "application/json") \
        + header(":message-type", "event")
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", binascii.crc32(body))


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def view(raw, event_type, payload, chunk):
    """One frame as `--record` writes it (schema 2): one line, views verbatim."""
    headers = {":event-type": event_type, ":content-type": "application/json",
               ":message-type": "event"}
    line = '{"raw":"%s","headers":%s,"payload":%s' % (
        base64.b64encode(raw).decode(), compact(headers), payload)
    if chunk is not None:
        line += ',"chunk":' + chunk
    return line + "}"


def invoke_event(event):
    chunk = compact(event)
    payload = compact({"bytes": base64.b64encode(chunk.encode()).decode(), "p": PAD})
    raw = frame("chunk", payload.encode())
    return raw, view(raw, "chunk", payload, chunk)


def converse_event(kind, event):
    payload = compact(dict(event, p=PAD + PAD))
    raw = frame(kind, payload.encode())
    return raw, view(raw, kind, payload, None)


def tokens(text):
    """The emulator's tokenizer: runs of letters/digits in pieces of 4, other non-blank 1."""
    n, run = 0, 0
    for c in text:
        if c.isalnum():
            run += 1
        else:
            n += (run + 3) // 4
            run = 0
            n += 0 if c.isspace() else 1
    return n + (run + 3) // 4


def stream(api, target):
    """Yield (raw, view) frames of about `target` raw bytes; return the text via .text."""
    out = {"text": [], "tokens": 0}
    def deltas():
        i = 0
        size = 0
        while size < target:
            # One word per delta, as Claude streams (a token or two at a time); Bedrock's `p`
            # padding brings each frame to ~250 bytes.
            text = WORDS[i % len(WORDS)] + " "
            i += 1
            out["text"].append(text)
            out["tokens"] += tokens(text)
            if api == "invoke":
                f = invoke_event({"type": "content_block_delta", "index": 0,
                                  "delta": {"type": "text_delta", "text": text}})
            else:
                f = converse_event("contentBlockDelta",
                                   {"contentBlockIndex": 0, "delta": {"text": text}})
            size += len(f[0])
            yield f
    return out, deltas


def write_fixture(api, mb, path, raw_path):
    template = json.loads((ROOT / "fixtures" / f"{api}-write-hi.json").read_text())
    info, deltas = stream(api, mb * 1024 * 1024)
    usage_in = 10
    frames_out = open(raw_path, "wb")
    with open(path, "w") as f:
        head = {k: v for k, v in template.items() if k not in ("non_streaming", "streaming", "expect", "description")}
        head["name"] = f"bench-{api}-{mb}mb"
        f.write(json.dumps(head)[:-1] + ', "streaming": ')
        st = template["streaming"]
        resp = {k: v for k, v in st["response"].items() if k != "frames"}
        f.write(json.dumps({k: v for k, v in st.items() if k != "response"})[:-1])
        f.write(', "response": ' + json.dumps(resp)[:-1] + ', "frames": [')
        first = True
        def put(fr):
            nonlocal first
            frames_out.write(fr[0])
            f.write(("" if first else ",") + "\n        " + fr[1])
            first = False
        if api == "invoke":
            put(invoke_event({"type": "message_start", "message": {"role": "assistant", "usage": {
                "input_tokens": usage_in, "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0, "output_tokens": 1}}}))
            put(invoke_event({"type": "content_block_start", "index": 0,
                              "content_block": {"type": "text", "text": ""}}))
        else:
            put(converse_event("messageStart", {"role": "assistant"}))
        for fr in deltas():
            put(fr)
        out = info["tokens"]
        if api == "invoke":
            put(invoke_event({"type": "content_block_stop", "index": 0}))
            put(invoke_event({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                              "usage": {"output_tokens": out}}))
            put(invoke_event({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": usage_in, "outputTokenCount": out,
                "invocationLatency": 100, "firstByteLatency": 10}}))
        else:
            put(converse_event("contentBlockStop", {"contentBlockIndex": 0}))
            put(converse_event("messageStop", {"stopReason": "end_turn"}))
            put(converse_event("metadata", {"usage": {"inputTokens": usage_in, "outputTokens": out,
                "totalTokens": usage_in + out}, "metrics": {"latencyMs": 100}}))
        f.write("]}}, ")
        ns = template["non_streaming"]
        body = ns["response"]["body"]
        text = "".join(info["text"])
        if api == "invoke":
            body["content"] = [{"type": "text", "text": text}]
            body["usage"]["output_tokens"] = out
        else:
            body["output"]["message"]["content"] = [{"text": text}]
            body["usage"].update(outputTokens=out, totalTokens=usage_in + out)
        ns["response"]["headers"] = [h for h in ns["response"]["headers"]] if isinstance(
            ns["response"]["headers"], list) else {k: v for k, v in ns["response"]["headers"].items()
                                                  if "token-count" not in k}
        f.write('"non_streaming": ' + json.dumps(ns) + "}\n")
    frames_out.close()


def botocore_python():
    venv = ROOT / "target" / "boto3-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "boto3"], check=True)
    return py


# botocore's EventStream feeds its buffer the chunks urllib3's stream() yields (64 KiB by
# default) and drains it after each: fed the whole input at once, the buffer's slicing is
# quadratic, which would be unfair to botocore.
BOTOCORE = r"""
import base64, json, sys, time
from botocore.eventstream import EventStreamBuffer
data = open(sys.argv[1], "rb").read()
invoke = sys.argv[2] == "invoke"
CHUNK = 64 * 1024
best = None
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    buf = EventStreamBuffer()
    n = 0
    for i in range(0, len(data), CHUNK):
        buf.add_data(data[i:i + CHUNK])
        for msg in buf:
            payload = json.loads(msg.payload)
            if invoke:
                json.loads(base64.b64decode(payload["bytes"]))
            n += 1
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
print(json.dumps({"seconds": best, "frames": n}))
"""


def run_botocore(raw_path, api, rounds):
    py = botocore_python()
    r = subprocess.run([str(py), "-c", BOTOCORE, str(raw_path), api, str(rounds)],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def run_tokaudit(binary, path, rounds):
    """Best wall time over `rounds`, and the peak RSS of tokaudit itself, from GNU time: a
    child forked from this (large) Python process would report the parent's pages as its own
    maximum."""
    best, peak, verdict = None, 0, None
    out, err = OUT / "replay.out", OUT / "replay.time"
    for _ in range(rounds):
        with open(out, "w") as o, open(err, "w") as e:
            t = time.perf_counter()
            subprocess.run(["/usr/bin/time", "-f", "%M", binary, "replay", str(path),
                            "--format", "json"], stdout=o, stderr=e)
            dt = time.perf_counter() - t
        peak = max(peak, int(err.read_text().split()[-1]))
        text = out.read_text()
        verdict = json.loads(text)["verdict"] if text.startswith("{") else "no report"
        best = dt if best is None else min(best, dt)
    return {"seconds": best, "peak_kib": peak, "verdict": verdict}


def main():
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, nargs="+", default=[50])
    ap.add_argument("--api", nargs="+", default=["invoke"], choices=["invoke", "converse"])
    ap.add_argument("--tokaudit", default=str(ROOT / "target" / "release" / "tokaudit"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-botocore", action="store_true")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'api':<9}{'MB':>5}{'fixture MB':>12}{'tokaudit MB/s':>15}{'peak MiB':>10}"
          f"{'botocore MB/s':>15}{'ratio':>8}  verdict")
    for api in a.api:
        for mb in a.mb:
            path, raw = OUT / f"{api}-{mb}mb-v2.json", OUT / f"{api}-{mb}mb.frames"
            if not (path.exists() and raw.exists()):
                write_fixture(api, mb, path, raw)
            size = raw.stat().st_size / 1e6
            t = run_tokaudit(a.tokaudit, path, a.rounds)
            tok = size / t["seconds"]
            if a.no_botocore:
                boto, ratio = float("nan"), float("nan")
            else:
                b = run_botocore(raw, api, a.rounds)
                boto = size / b["seconds"]
                ratio = tok / boto
            print(f"{api:<9}{mb:>5}{path.stat().st_size / 1e6:>12.0f}{tok:>15.1f}"
                  f"{t['peak_kib'] / 1024:>10.1f}{boto:>15.1f}{ratio:>7.1f}x  {t['verdict']}")


if __name__ == "__main__":
    main()
