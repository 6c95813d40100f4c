#!/usr/bin/env python3
"""`just bench-cluster`: three Kiln nodes on one throwaway PostgreSQL.

Reports deploy -> served on all 3 nodes (p50/p99 over KILN_CLUSTER_DEPLOYS updates, each made on
the next node in turn), then the hello service's req/s on one node with the PostgreSQL store beside
one with the SQLite store, measured in the same run (the request path never touches the database).

  KILN_CLUSTER_DEPLOYS=100   updates to time
  KILN_BENCH_DURATION=6      seconds of wrk per store
"""

import glob
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILN = os.environ.get("KILN_BIN", os.path.join(ROOT, "target/release/kiln"))
DEPLOYS = int(os.environ.get("KILN_CLUSTER_DEPLOYS", "100"))
DURATION = int(os.environ.get("KILN_BENCH_DURATION", "6"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if not initdb:
        sys.exit("PostgreSQL is required (apt-get install postgresql)")
    return os.path.dirname(initdb)


def as_postgres(args):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + args
    return args


def start_postgres(work):
    bin_dir = pg_bin()
    port = free_port()
    data = os.path.join(work, "pg")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres", work], check=True)
    subprocess.run(as_postgres([f"{bin_dir}/initdb", "-D", data, "-U", "kiln", "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, stdout=subprocess.DEVNULL, cwd=work)
    options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1"
    subprocess.run(as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-l", f"{work}/pg.log", "-o", options, "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL, cwd=work)
    stop = as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"])
    return f"postgres://kiln@127.0.0.1:{port}/postgres", stop


def start_node(work, name, args):
    data = os.path.join(work, name)
    os.makedirs(data, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["RUST_LOG"] = "warn"
    proc = subprocess.Popen([KILN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--promote-rps", "0"] + args,
                            stdout=subprocess.PIPE, stderr=open(os.path.join(work, f"{name}.log"), "w"), env=env, text=True)
    line = proc.stdout.readline()
    if not line.startswith("kiln listening on http://"):
        sys.exit(f"{name} did not start: {line}")
    port = int(line.strip().rsplit(":", 1)[1])
    return proc, port


def request(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wrk(port, path):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{DURATION}s", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return 0.0


def main():
    work = tempfile.mkdtemp(prefix="kiln-cluster-")
    os.chmod(work, 0o755)
    url, stop = start_postgres(work)
    procs = []
    try:
        nodes = []
        for i in range(3):
            proc, port = start_node(work, f"node{i + 1}", ["--database", url])
            procs.append(proc)
            nodes.append(port)
        token = subprocess.run([KILN, "token", "--database", url], capture_output=True, text=True, check=True).stdout.strip()
        code = lambda n: f'export default {{ fetch() {{ return new Response("v{n}"); }} }};'
        status, body = request(nodes[0], "POST", "/admin-api/v2/services", {"name": "bench", "code": code(0)}, token)
        assert status == 201, body
        times = []
        for n in range(1, DEPLOYS + 1):
            node = nodes[n % 3]
            started = time.perf_counter()
            status, body = request(node, "PUT", "/admin-api/v2/services/bench", {"code": code(n)}, token)
            assert status == 200, body
            want = f"v{n}".encode()
            pending = set(nodes)
            while pending:
                for port in list(pending):
                    if request(port, "GET", "/api/v2/bench")[1] == want:
                        pending.discard(port)
                if time.perf_counter() - started > 10:
                    sys.exit(f"deploy {n} not served everywhere after 10 s")
            times.append((time.perf_counter() - started) * 1000)
        print(f"Deploy -> served on all 3 nodes ({DEPLOYS} updates, each through the next node; "
              f"includes the update request itself):")
        print(f"  p50 {percentile(times, 50):.0f} ms   p99 {percentile(times, 99):.0f} ms   max {max(times):.0f} ms")
        for p in procs:
            p.terminate()
            p.wait()
        procs.clear()
        # One node per store, the same hello service, measured one after the other.
        hello = 'export default { fetch() { return new Response("Hello, World!"); } };'
        figures = {"sqlite": [], "postgres": []}
        rounds = [("sqlite", []), ("postgres", ["--database", url])] * 3
        for round_no, (store, args) in enumerate(rounds):
            proc, port = start_node(work, f"single-{store}-{round_no}", args)
            procs.append(proc)
            if store == "sqlite":
                token_single = subprocess.run([KILN, "token", "--data-dir", os.path.join(work, f"single-{store}-{round_no}")],
                                              capture_output=True, text=True, check=True).stdout.strip()
            else:
                token_single = token
            request(port, "DELETE", "/admin-api/v2/services/hello-bench", None, token_single)
            request(port, "POST", "/admin-api/v2/services", {"name": "hello-bench", "code": hello}, token_single)
            wrk(port, "/api/v2/hello-bench")  # warm-up
            figures[store].append(wrk(port, "/api/v2/hello-bench"))
            proc.terminate()
            proc.wait()
            procs.remove(proc)
        best = {store: sorted(values)[1] for store, values in figures.items()}
        ratio = best["postgres"] / best["sqlite"] if best["sqlite"] else 0
        print(f"Hello on one node, c=32, {DURATION} s, median of 3 alternating runs: SQLite store "
              f"{best['sqlite']:,.0f} req/s, PostgreSQL store {best['postgres']:,.0f} req/s ({ratio:.2f}x)")
    finally:
        for p in procs:
            p.kill()
        subprocess.run(stop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
