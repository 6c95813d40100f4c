#!/usr/bin/env python3
"""`just bench-tenants`: many tenants busy at once, Kiln beside workerd in one run.

N small JS services (a JSON handler each, its own text) are deployed on one `kiln serve` through
the admin API; workerd serves the same N workers behind one dispatcher worker that routes by path
over service bindings (the way a multi-tenant Workers host routes by tenant). Requests are spread
over the tenants by a Zipf law (s = 1.1 by default: the top 10 of 1,000 get ~43 % of requests,
the top 100 ~71 %), driven by wrk with 32 connections after a warm-up. For scale, the same handler
as one hot app on Kiln is measured in the same run.

Per server: req/s, p50 / p99, peak and final RSS; for Kiln also the instances created, evictions
and snapshots built during the measured run, from `/metrics`. Then the ratios with the goals.

    KILN_TENANTS=1000            tenants
    KILN_TENANTS_ZIPF=1.1        Zipf exponent
    KILN_TENANTS_DURATION=20     seconds measured (after KILN_TENANTS_WARMUP=5 of warm-up)
    KILN_TENANTS_PEERS=0         Kiln only
    KILN_TENANTS_ARGS=""         extra `kiln serve` flags
    KILN_BENCH_BIN=path          this kiln binary instead of building target/release/kiln
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "bench", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.py")
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ROOT = bench.ROOT
TENANTS = int(os.environ.get("KILN_TENANTS", "1000"))
ZIPF = float(os.environ.get("KILN_TENANTS_ZIPF", "1.1"))
DURATION = int(os.environ.get("KILN_TENANTS_DURATION", "20"))
WARMUP = int(os.environ.get("KILN_TENANTS_WARMUP", "5"))
PEERS = os.environ.get("KILN_TENANTS_PEERS", "1") != "0"
EXTRA = os.environ.get("KILN_TENANTS_ARGS", "").split()
SECRET = "bench-tenants-secret-" + os.urandom(8).hex()
CLIENTS = 4


def tenant_code(i):
    """Tenant i's worker: the JSON handler of `just bench`, answering with its own name."""
    return (
        "export default { fetch(request) { const url = new URL(request.url); "
        f"return Response.json({{ tenant: {i}, path: url.pathname, method: request.method }}); }} }};\n"
    )


def zipf_script(path, prefix):
    """A wrk Lua script requesting `{prefix}{i}` with i drawn from Zipf(ZIPF) over the tenants
    (rank 1 is tenant 0). Each wrk thread seeds its own generator."""
    weights = [1 / (k**ZIPF) for k in range(1, TENANTS + 1)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    with open(path, "w") as f:
        f.write("local cdf = {" + ",".join(f"{c:.9f}" for c in cdf) + "}\n")
        f.write(
            f"""local n = #cdf
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter * 7919)
end
function init(args)
  math.randomseed(seed or 1)
end
function request()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return wrk.format("GET", "{prefix}" .. (lo - 1))
end
"""
        )


def share_of_top(k):
    weights = [1 / (r**ZIPF) for r in range(1, TENANTS + 1)]
    return sum(weights[:k]) / sum(weights)


def wrk(url, seconds, script=None):
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = bench.parse_latency(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = bench.parse_latency(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    if bad or sock:
        bench.log(f"  warning: {url}: {bad.group(0) if bad else sock.group(0)}")
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(bad.group(1)) if bad else 0}


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def in_parallel(items, work):
    queue, failures, lock = list(items), [], threading.Lock()

    def run():
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                work(item)
            except Exception as error:  # noqa: BLE001 - reported below
                with lock:
                    failures.append(f"{item}: {error}")

    threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{len(failures)} failures, first: {failures[0]}")


def metrics(port):
    _, body = request(port, "GET", "/metrics")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def wait_ready(proc, port, path, log_path):
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {open(log_path).read()[-2000:]}")
        try:
            if request(port, "GET", path)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server never answered {path}")


def measure(label, pid, url, script, check):
    bench.log(f"{label}: warm-up {WARMUP} s")
    wrk(url, WARMUP, script)
    before = check()
    figures = wrk(url, DURATION, script)
    after = check()
    figures["rss"] = bench.status_mib(pid, "VmRSS")
    figures["peak"] = bench.peak_rss_mib(pid)
    figures["counters"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    figures["idle"] = after.get('kiln_instances{state="idle"}', 0)
    figures["idle_bytes"] = after.get("kiln_idle_instance_bytes", 0)
    figures["budget"] = after.get("kiln_idle_budget_bytes", 0)
    bench.log(f"{label}: {figures['rps']:.0f} req/s, p99 {figures['p99'] / 1000:.1f} ms, RSS {figures['rss']:.0f} MiB")
    return figures


def run_kiln(kiln, work):
    data = os.path.join(work, "kiln-data")
    port = bench.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_") and k not in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")}
    env["KILN_JWT_SECRET"] = SECRET
    env["RUST_LOG"] = "warn"
    log_path = os.path.join(work, "kiln.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [kiln, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, *EXTRA],
        env=env, stdout=log, stderr=log,
    )
    try:
        wait_ready(proc, port, "/health", log_path)
        token = subprocess.run(
            [kiln, "token", "--data-dir", data], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}

        def create(i):
            body = json.dumps({"name": f"tenant-{i}", "code": tenant_code(i)})
            status, answer = request(port, "POST", "/admin-api/v2/services", body, auth)
            if status != 201:
                raise RuntimeError(f"create answered {status}: {answer[:200]!r}")

        def call(i):
            status, answer = request(port, "GET", f"/api/v2/tenant-{i}/x")
            if status != 200 or json.loads(answer)["tenant"] != i:
                raise RuntimeError(f"call answered {status}: {answer[:200]!r}")

        bench.log(f"kiln: deploying {TENANTS} services")
        in_parallel(range(TENANTS), create)
        in_parallel(range(TENANTS), call)
        script = os.path.join(work, "kiln.lua")
        zipf_script(script, "/api/v2/tenant-")
        counters = lambda: metrics(port)  # noqa: E731
        spread = measure("kiln, spread", proc.pid, f"http://127.0.0.1:{port}/", script, counters)
        one = measure("kiln, one app", proc.pid, f"http://127.0.0.1:{port}/api/v2/tenant-0/x", None, counters)
        in_parallel(range(TENANTS), call)
        return spread, one
    finally:
        proc.terminate()
        proc.wait()
        log.close()


def run_workerd(workerd, work):
    folder = os.path.join(work, "workerd")
    os.makedirs(folder, exist_ok=True)
    port = bench.free_port()
    for i in range(TENANTS):
        with open(os.path.join(folder, f"t{i}.js"), "w") as f:
            f.write(tenant_code(i))
    with open(os.path.join(folder, "dispatch.js"), "w") as f:
        f.write(
            "export default { fetch(request, env) {\n"
            "  const name = new URL(request.url).pathname.split('/')[3] ?? '';\n"
            "  const tenant = env['t' + name.slice('tenant-'.length)];\n"
            "  return tenant ? tenant.fetch(request) : new Response('no such tenant', { status: 404 });\n"
            "} };\n"
        )
    bindings = ",\n".join(f'    (name = "t{i}", service = "t{i}")' for i in range(TENANTS))
    services = ",\n".join(
        f'  (name = "t{i}", worker = (modules = [(name = "w", esModule = embed "t{i}.js")], compatibilityDate = "2024-09-23"))'
        for i in range(TENANTS)
    )
    config = os.path.join(folder, "config.capnp")
    with open(config, "w") as f:
        f.write(
            f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
  (name = "dispatch", worker = .dispatcher),
{services}
  ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "dispatch") ],
);
const dispatcher :Workerd.Worker = (
  modules = [ (name = "dispatch", esModule = embed "dispatch.js") ],
  compatibilityDate = "2024-09-23",
  bindings = [
{bindings}
  ],
);
"""
        )
    log_path = os.path.join(work, "workerd.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([workerd, "serve", config], cwd=folder, stdout=log, stderr=log)
    try:
        bench.log(f"workerd: starting {TENANTS} workers")
        wait_ready(proc, port, "/api/v2/tenant-0/x", log_path)
        for i in range(TENANTS):
            status, answer = request(port, "GET", f"/api/v2/tenant-{i}/x")
            if status != 200 or json.loads(answer)["tenant"] != i:
                raise SystemExit(f"workerd tenant {i} answered {status}: {answer[:200]!r}")
        script = os.path.join(work, "workerd.lua")
        zipf_script(script, "/api/v2/tenant-")
        return measure("workerd, spread", proc.pid, f"http://127.0.0.1:{port}/", script, dict)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install wrk)")
    kiln = os.environ.get("KILN_BENCH_BIN")
    if not kiln:
        bench.run(["cargo", "build", "--release", "-q", "-p", "kiln"], cwd=ROOT)
        kiln = os.path.join(ROOT, "target", "release", "kiln")
    work = tempfile.mkdtemp(prefix="kiln-tenants-")
    try:
        spread, one = run_kiln(kiln, work)
        peer = None
        if PEERS:
            workerd, _ = bench.install_peers()
            peer = run_workerd(workerd, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{TENANTS} JS services, Zipf s = {ZIPF} (top 10: {share_of_top(10):.0%}, top 100: "
        f"{share_of_top(100):.0%} of requests), wrk -t2 -c32, {DURATION} s after {WARMUP} s warm-up"
    )
    print()
    print("| server | req/s | p50 ms | p99 ms | RSS MiB (peak) |")
    print("|---|---|---|---|---|")
    rows = [("Kiln, spread", spread), ("Kiln, one app (same handler)", one)]
    if peer:
        rows.insert(1, (f"workerd, {TENANTS} workers + dispatcher", peer))
    for label, f in rows:
        print(f"| {label} | {f['rps']:.0f} | {f['p50'] / 1000:.2f} | {f['p99'] / 1000:.2f} | {f['rss']:.0f} ({f['peak']:.0f}) |")
    c = spread["counters"]
    seconds = DURATION
    created = c.get("kiln_instantiations_total", 0)
    total = spread["rps"] * seconds
    print()
    print(
        f"Kiln during the spread run: {created:.0f} instances created ({created / seconds:.0f}/s, "
        f"{created / max(total, 1):.1%} of requests), {c.get('kiln_snapshots_total', 0):.0f} snapshots built, "
        f"{c.get('kiln_code_loads_total', 0):.0f} code loads; warm hits "
        f"{c.get('kiln_warm_hits_total', 0) / max(total, 1):.1%}, {c.get('kiln_idle_evictions_total', 0):.0f} "
        f"idle instances evicted, idle instances at the end: {spread['idle']:.0f} holding "
        f"{spread['idle_bytes'] / 2**20:.0f} MiB of {spread['budget'] / 2**20:.0f} MiB budget"
    )
    if peer:
        print()
        print("| goal | measured | target |")
        print("|---|---|---|")
        print(f"| Kiln req/s ÷ workerd | {spread['rps'] / peer['rps']:.2f}× | ≥ 2.0× |")
        print(f"| Kiln p99 | {spread['p99'] / 1000:.1f} ms | ≤ 10 ms |")
        print(f"| Kiln RSS ÷ workerd | {spread['peak'] / max(peer['peak'], 1):.2f}× | ≤ 0.5× |")


if __name__ == "__main__":
    main()
