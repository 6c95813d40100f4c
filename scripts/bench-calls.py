#!/usr/bin/env python3
"""`just bench-calls`: what a call between apps costs, on one Kiln node in one run.

The JSON handler of `just bench` is deployed as `json`, and `caller` (bench/apps/caller.js)
calls it for every request, through its service binding (`env.JSON.fetch`, in the process) or
over HTTP to Kiln's own listen address (what an app had to do without bindings). wrk drives each
of the three at c=1 and c=32; the server, its apps and their warm instances are the same.

Goals: through a binding, ≥ 0.6× the req/s of the callee served alone (each request is served by
two apps), and ≤ 100 µs added to the p50 at c=1.

    KILN_BENCH_ROUNDS=3      rounds (the three targets in alternating order)
    KILN_BENCH_DURATION=8    seconds of wrk per run
    KILN_BENCH_BIN=path      this kiln binary instead of building target/release/kiln
"""

import http.client
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

PATH = "/greet/kiln?name=kiln&times=2"


def deploy(port, auth, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/admin-api/v2/services", json.dumps(body), auth)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 201:
        raise SystemExit(f"deploying {body['name']} answered {response.status}: {answer[:300]!r}")


def main():
    kiln = os.environ.get("KILN_BENCH_BIN")
    if not kiln:
        bench.run(["cargo", "build", "--release", "-q", "-p", "kiln"], cwd=bench.ROOT)
        kiln = os.path.join(bench.ROOT, "target", "release", "kiln")
    work = tempfile.mkdtemp(prefix="kiln-bench-calls-")
    data = os.path.join(work, "data")
    apps = os.path.join(bench.ROOT, "bench", "apps")
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    targets = {
        "alone": f"{base}/api/v2/json{PATH}",
        "binding": f"{base}/api/v2/caller/bound{PATH}",
        "loopback": f"{base}/api/v2/caller/loop{PATH}&via=127.0.0.1:{port}",
    }
    results = {}
    cmd = [kiln, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
    try:
        with bench.Server("kiln", cmd, f"{base}/health") as server:
            token = subprocess.run([kiln, "token", "--data-dir", data], check=True,
                                   capture_output=True, text=True).stdout.strip()
            auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            code = lambda name: open(os.path.join(apps, name)).read()  # noqa: E731
            deploy(port, auth, {"name": "json", "code": code("json.js")})
            deploy(port, auth, {"name": "caller", "code": code("caller.js"), "permissions": {
                "services": ["json"], "net": [f"127.0.0.1:{port}"]}})
            bodies = {}
            for label, url in targets.items():
                with bench.urllib.request.urlopen(url, timeout=30) as r:
                    bodies[label] = r.read()
            if len(set(bodies.values())) != 1:
                raise SystemExit(f"the three answers differ: {bodies}")
            order = list(targets)
            for round_ in range(bench.ROUNDS):
                for label in order if round_ % 2 == 0 else order[::-1]:
                    bench.log(f"round {round_ + 1}/{bench.ROUNDS}: {label}")
                    server.url = targets[label]
                    results.setdefault(label, []).append(server.measure())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results):
    by = {label: bench.combine(rows) for label, rows in results.items()}
    print(f"wrk {bench.DURATION} s per run, one Kiln node ({os.cpu_count()} CPUs), "
          f"{len(results['alone'])} rounds; medians. CPU is the server's per request at c=32.")
    print()
    print("| JSON handler     | c=1 req/s | c=1 p50 µs | c=1 p99 µs | c=32 req/s | c=32 p99 µs | CPU µs/req |")
    print("|------------------|-----------|------------|------------|------------|-------------|------------|")
    for label, r in by.items():
        one, many = r[1], r[32]
        print(f"| {label:16} | {one['rps']:9.0f} | {one['p50']:10.0f} | {one['p99']:10.0f} "
              f"| {many['rps']:10.0f} | {many['p99']:11.0f} | {many['cpu_us']:10.1f} |")
    ratios = lambda label: [a[32]["rps"] / b[32]["rps"]  # noqa: E731
                            for a, b in zip(results[label], results["alone"])]
    binding, loopback = bench.median(ratios("binding")), bench.median(ratios("loopback"))
    added = by["binding"][1]["p50"] - by["alone"][1]["p50"]
    print()
    print(f"through a binding / alone, c=32: {binding:.2f}× (target ≥ 0.6×: "
          f"{'met' if binding >= 0.6 else 'MISSED'}); over HTTP to itself: {loopback:.2f}×")
    print(f"added p50 at c=1 through a binding: {added:.0f} µs (target ≤ 100 µs: "
          f"{'met' if added <= 100 else 'MISSED'}); over HTTP to itself: "
          f"{by['loopback'][1]['p50'] - by['alone'][1]['p50']:.0f} µs")


if __name__ == "__main__":
    sys.exit(main())
