#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, taken from the committed fixtures and suite.

fixture_reader gets every fixture; frame_decoder every event stream's frames, concatenated;
sse_reader every SSE stream's events, concatenated; suite_parser the repository's suite.
Written to fuzz/corpus/<target>/ (not committed: regenerate with this script).
"""
import base64, hashlib, json, pathlib, sys

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(__file__).resolve().parent / "corpus"

def put(target, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)

for path in sorted((root / "fixtures").glob("*.json")):
    text = path.read_bytes()
    put("fixture_reader", text)
    fx = json.loads(text)
    for side in ("non_streaming", "streaming"):
        resp = (fx.get(side) or {}).get("response") or {}
        if resp.get("frames"):
            put("frame_decoder", b"".join(base64.b64decode(f["raw"]) for f in resp["frames"]))
        if resp.get("events"):
            put("sse_reader", "".join(e["raw"] for e in resp["events"]).encode())
put("suite_parser", (root / "tokaudit.toml").read_bytes())
print(f"seeded {sum(1 for _ in out.rglob('*') if _.is_file())} inputs under {out}", file=sys.stderr)
