#!/usr/bin/env python3
"""`just bench-density`: many small JS services on one `kiln serve`.

Deploys N services through the admin API with 4 concurrent clients, calls each once, waits an
idle minute, calls each again; prints create / first-call / later-call latency (p50, p99), the
server's RSS after each phase, and data-dir bytes per service.

    KILN_DENSITY_SERVICES=1000   services to deploy
    KILN_DENSITY_IDLE=60         seconds to wait between the two rounds of calls
    KILN_DENSITY_ARGS=""         extra `kiln serve` flags (e.g. "--max-idle-instances 32")
    KILN_DENSITY_KV=1            each service is granted a key-value store and increments a
                                 counter in it on every call (what 1,000 apps with a store cost)
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = int(os.environ.get("KILN_DENSITY_SERVICES", "1000"))
IDLE = int(os.environ.get("KILN_DENSITY_IDLE", "60"))
EXTRA = os.environ.get("KILN_DENSITY_ARGS", "").split()
KV = os.environ.get("KILN_DENSITY_KV", "") not in ("", "0")
CLIENTS = 4
SECRET = "bench-density-secret-" + os.urandom(8).hex()


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def fmt(ms):
    return f"{percentile(ms, 50):7.1f} / {percentile(ms, 99):7.1f}"


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None):
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000


def in_parallel(port, items, work):
    """Runs work(client, item) over items with CLIENTS threads; returns the latencies."""
    latencies, failures, lock = [], [], threading.Lock()
    queue = list(items)

    def run():
        client = Client(port)
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                ms = work(client, item)
            except Exception as error:  # noqa: BLE001 - reported below
                with lock:
                    failures.append(f"{item}: {error}")
                client = Client(port)
                continue
            with lock:
                latencies.append(ms)

    threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print(f"{len(failures)} failures, first: {failures[0]}", file=sys.stderr)
        sys.exit(1)
    return latencies


def metric(port, name):
    _, body, _ = Client(port).request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def main():
    subprocess.run(["cargo", "build", "--release", "-p", "kiln", "-q"], cwd=ROOT, check=True)
    kiln = os.environ.get("KILN_DENSITY_BIN") or os.path.join(ROOT, "target/release/kiln")
    work = tempfile.mkdtemp(prefix="kiln-density-")
    data = os.path.join(work, "data")
    port = 18700 + os.getpid() % 1000
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["KILN_JWT_SECRET"] = SECRET
    env["RUST_LOG"] = "warn"
    log = open(os.path.join(work, "kiln.log"), "w")
    server = subprocess.Popen(
        [kiln, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, *EXTRA],
        env=env, stdout=log, stderr=log,
    )
    try:
        for _ in range(600):
            try:
                if Client(port).request("GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        token = subprocess.run(
            [kiln, "token", "--data-dir", data], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        # Warm the shared engine (built once per cache directory) before timing creates.
        Client(port).request("GET", "/api/v2/hello")
        base_rss = rss_mib(server.pid)
        base_disk = dir_bytes(data)

        def create(client, i):
            if KV:
                code = (f"export default {{ async fetch(req, env) {{ const n = await env.KV.increment('calls'); "
                        f"return new Response('tenant {i} ' + new URL(req.url).pathname + ' ' + n); }} }};")
                body = json.dumps({"name": f"tenant-{i}", "code": code, "permissions": {"kv": ["default"]}})
            else:
                code = f"export default {{ fetch(req) {{ return new Response('tenant {i} ' + new URL(req.url).pathname); }} }};"
                body = json.dumps({"name": f"tenant-{i}", "code": code})
            status, data_, ms = client.request("POST", "/admin-api/v2/services", body, auth)
            if status != 201:
                raise RuntimeError(f"create answered {status}: {data_[:200]!r}")
            return ms

        def call(client, i):
            status, body, ms = client.request("GET", f"/api/v2/tenant-{i}")
            if status != 200 or not body.startswith(f"tenant {i} ".encode()):
                raise RuntimeError(f"call answered {status}: {body[:200]!r}")
            return ms

        creates = in_parallel(port, range(SERVICES), create)
        after_create = rss_mib(server.pid)
        first = in_parallel(port, range(SERVICES), call)
        after_first = rss_mib(server.pid)
        loaded_after_first = metric(port, "kiln_apps_loaded")
        time.sleep(IDLE)
        after_idle = rss_mib(server.pid)
        loaded_after_idle = metric(port, "kiln_apps_loaded")
        later = in_parallel(port, range(SERVICES), call)
        after_later = rss_mib(server.pid)
        time.sleep(IDLE)
        after_second_idle = rss_mib(server.pid)
        disk = dir_bytes(data)
        artifact_bytes = metric(port, "kiln_artifact_bytes")

        what = "JS services, each counting its calls in a key-value store" if KV else "JS services"
        print(f"{SERVICES} {what}, {CLIENTS} concurrent clients, {IDLE} s idle between rounds")
        print()
        print("| figure | value |")
        print("|---|---|")
        print(f"| create → 201, p50 / p99 ms | {fmt(creates)} |")
        print(f"| first call, p50 / p99 ms | {fmt(first)} |")
        print(f"| later call (after idle), p50 / p99 ms | {fmt(later)} |")
        print(f"| RSS at start (seeds served) MiB | {base_rss:.0f} |")
        print(f"| RSS after creates MiB | {after_create:.0f} |")
        print(f"| RSS after first calls MiB (apps loaded: {loaded_after_first:.0f}) | {after_first:.0f} |")
        print(f"| RSS after an idle minute MiB (apps loaded: {loaded_after_idle:.0f}) | {after_idle:.0f} |")
        print(f"| RSS after later calls MiB | {after_later:.0f} |")
        print(f"| RSS after a second idle minute MiB | {after_second_idle:.0f} |")
        print(f"| data dir: total MiB (at start) | {disk / 2**20:.1f} ({base_disk / 2**20:.1f}) |")
        print(f"| data dir per service KiB (growth / services) | {(disk - base_disk) / SERVICES / 1024:.1f} |")
        print(f"| compiled artifacts on disk MiB | {artifact_bytes / 2**20:.1f} |")
    finally:
        server.terminate()
        server.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
