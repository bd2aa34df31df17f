#!/usr/bin/env python3
"""End-to-end reconcile benchmark: generated logs at N records per side, read from their files.

For each size, `tokaudit gen-logs` writes Bedrock invocation logs (gzip JSON lines in Bedrock's
S3 layout) and LiteLLM logging payloads (JSON lines), 1 call in 50 with a discrepancy, 1 gateway
record in 10 without a request id (joined by the fallback). Then it times

    tokaudit reconcile --invocation-logs … --gateway-logs … --format json [--engine …]

and prints records/s (records per side / wall time), MB/s of input as stored (gzip and plain),
peak memory (ru_maxrss of that run; for Ballista also of the scheduler and executor processes
it is told about with --cluster-pids), the memory pool's peak as the report gives it (embedded
only), and whether the findings match the generated truth.

    python3 scripts/bench-reconcile.py --records 1000000 10000000
    python3 scripts/bench-reconcile.py --records 10000000 --engine ballista --scheduler df://127.0.0.1:50050

Inputs are written under target/bench/reconcile-N/ and reused when their truth.json exists.
"""
import argparse, json, os, pathlib, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"


def generate(tokaudit, n):
    d = OUT / f"reconcile-{n}"
    if not (d / "truth.json").exists():
        t0 = time.time()
        subprocess.run([tokaudit, "gen-logs", "--out", str(d), "--records", str(n),
                        "--per-file", "100000", "--every", "50", "--without-id-every", "10"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"generated {n:,} calls in {time.time() - t0:.0f} s", file=sys.stderr)
    return d, json.loads((d / "truth.json").read_text())


def matches(report, truth):
    found = {f"{c['class']}/{c['field']}": c for c in report["classes"]}
    if sorted(found) != sorted(truth["classes"]):
        return False
    for k, want in truth["classes"].items():
        got = found[k]
        if got["records"] != want["records"] or got["tokens"] != want["tokens"]:
            return False
        if abs(got["usd"] - want["usd"]) > 1e-6 + 1e-9 * abs(want["usd"]):
            return False
    c = report["comparisons"][0]
    return all(c[k] == truth[k] for k in ("matched", "matched_by_request_id", "matched_by_fallback"))


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(tokaudit, d, engine, scheduler, cluster_pids, memory_mib):
    cmd = [tokaudit, "reconcile", "--invocation-logs", str(d / "invocation-logs"),
           "--gateway-logs", str(d / "gateway-logs"), "--format", "json",
           "--memory-limit", str(memory_mib), "--work-dir", str(OUT)]
    if engine == "ballista":
        cmd += ["--engine", "ballista", "--scheduler", scheduler]
    # The run's own peak (wait4), not the largest of every child so far: a smaller peak at a
    # larger size must show.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.time() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode not in (0, 1):
        sys.exit(f"reconcile failed ({p.returncode}): {stderr}")
    cluster = {pid: rss_kib(pid) for pid in cluster_pids}
    return json.loads(stdout), wall, usage.ru_maxrss, cluster


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--tokaudit", default=str(ROOT / "target" / "release" / "tokaudit"))
    ap.add_argument("--engine", default="datafusion", choices=["datafusion", "ballista"])
    ap.add_argument("--scheduler", default="df://127.0.0.1:50050")
    ap.add_argument("--cluster-pids", type=int, nargs="*", default=[])
    ap.add_argument("--memory-limit", type=int, default=2048, help="MiB (tokaudit's default)")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print("| records per side | engine | input | wall | records/s | MB/s | peak RSS | pool peak | truth |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n in a.records:
        d, truth = generate(a.tokaudit, n)
        size = sum(truth["bytes"].values())
        report, wall, peak_kib, cluster = run(a.tokaudit, d, a.engine, a.scheduler,
                                              a.cluster_pids, a.memory_limit)
        extra = "".join(f", pid {p} {k / 1024:.0f} MiB" for p, k in cluster.items())
        pool = report.get("memory")
        pool = f"{pool['peak_bytes'] / 2**20:.0f} MiB" if pool else "—"
        print(f"| {n:,} | {a.engine} | {size / 1e6:,.0f} MB | {wall:.1f} s | {n / wall:,.0f} |"
              f" {size / 1e6 / wall:.1f} | {peak_kib / 1024:.0f} MiB{extra} | {pool} |"
              f" {'exact' if matches(report, truth) else 'DIFFERS'} |", flush=True)


if __name__ == "__main__":
    main()
