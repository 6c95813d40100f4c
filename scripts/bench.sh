#!/usr/bin/env bash
# `just bench`: Kiln side by side with workerd and `wasmtime serve` (scripts/bench.py), then fair
# CPU between tenants, the in-process figures (cargo bench) and `kiln compile` → first response.
#
#   KILN_BENCH_DURATION=8   seconds of wrk per run (see scripts/bench.py for the other settings)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
python3 scripts/bench.py
kiln="$PWD/target/release/kiln"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo
echo "Calls between apps (service bindings):"
KILN_BENCH_BIN="$PWD/target/release/kiln" python3 scripts/bench-calls.py

echo
echo "Fair CPU (a healthy service while a neighbour spins):"
scripts/bench-fairness.sh "$kiln"

echo
echo "In process (cargo bench --bench runtime):"
cargo bench -q --bench runtime 2>/dev/null | sed 's/^/  /'

echo
mkdir -p "$work/js" "$work/compiled"
cp bench/apps/hello.js "$work/js/index.js"
start=$(date +%s%N)
"$kiln" compile "$work/js/index.js" -o "$work/compiled/app.wasm" --data-dir "$work/data" 2> "$work/compile.log"
compiled=$(date +%s%N)
port=18999
"$kiln" serve --app "$work/compiled" --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/compiled.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.05; done
served=$(date +%s%N)
echo "kiln compile: $(( (compiled - start) / 1000000 )) ms; compile start -> first response of the compiled component (incl. server start): $(( (served - start) / 1000000 )) ms"
