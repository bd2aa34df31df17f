#!/usr/bin/env python3
"""Load the emulator the way a long-lived test fleet would, and show it stays bounded.

    python3 scripts/load-emulator.py [--requests 1000000] [--idle 20000]

Starts `tokaudit serve` (release build), sends it REQUESTS real AWS SDK calls through
`tokaudit compare --endpoint-url` (InvokeModel and Converse pairs, 16 in flight), then opens
IDLE connections that never send a byte, and times a normal Converse request while they are
open. Prints the server's resident memory after each phase (VmRSS, and VmHWM, its peak).
"""
import argparse, http.client, json, os, pathlib, resource, socket, statistics, subprocess, sys, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "tokaudit"


def memory(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            fields[k] = int(v.split()[0]) / 1024
    return f"RSS {fields['VmRSS']:.1f} MiB (peak {fields['VmHWM']:.1f} MiB)"


def timed_request(host, port):
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "Write Hi"}]}]})
    t = time.perf_counter()
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("POST", "/model/anthropic.claude-3-haiku-20240307-v1:0/converse", body,
              {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--idle", type=int, default=20_000)
    a = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    server = subprocess.Popen([BIN, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split()[-1]
    host, port = url.removeprefix("http://").split(":")
    port = int(port)
    print(f"serve at {url}: {memory(server.pid)}")
    runs = max(1, a.requests // 4)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDLOADTEST", AWS_SECRET_ACCESS_KEY="not-a-secret",
               AWS_EC2_METADATA_DISABLED="true")
    t = time.perf_counter()
    subprocess.run([BIN, "compare", "--prompt", "Write Hi", "--endpoint-url", url, "--region",
                    "us-east-1", "--runs", str(runs), "--concurrency", "16", "--quiet",
                    "--format", "json"], env=env, stdout=subprocess.DEVNULL, check=False)
    dt = time.perf_counter() - t
    print(f"after {runs * 4:,} SDK requests in {dt:.0f} s ({runs * 4 / dt:,.0f}/s): {memory(server.pid)}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    idle = []
    for _ in range(min(a.idle, hard - 100)):
        try:
            idle.append(socket.create_connection((host, port)))
        except OSError as e:
            print(f"stopped opening connections at {len(idle)}: {e}")
            break
    time.sleep(1)
    samples = [timed_request(host, port) for _ in range(20)]
    ms = [m for _, m in samples]
    statuses = sorted({s for s, _ in samples})
    print(f"with {len(idle):,} idle connections opened: a Converse request answers "
          f"{statuses} in {statistics.median(ms):.1f} ms median, {max(ms):.1f} ms max; "
          f"{memory(server.pid)}")
    for s in idle:
        s.close()
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
