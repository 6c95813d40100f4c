#!/usr/bin/env bash
# `just bench`: drives `kiln serve --app` with wrk (1 and 32 connections) for the JS hello app and
# the Rust hello component in both isolation modes, side by side with `wasmtime serve` when it is
# installed; then the in-process figures (cargo bench) and `kiln compile` → first response.
#
#   KILN_BENCH_DURATION=10s   wrk duration per run
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${KILN_BENCH_DURATION:-10s}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -p kiln -q
kiln="$PWD/target/release/kiln"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/js" "$work/rust" "$work/compiled"
echo "export default { fetch() { return new Response('Hello, World!'); } };" > "$work/js/index.js"
cp components/hello-rust.wasm "$work/rust/app.wasm"
port=18080

wait_http() { # url
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "server at $1 never answered" >&2; return 1
}

load() { # label mode pid url
  local label="$1" mode="$2" pid="$3" url="$4"
  for conns in 1 32; do
    local threads=2; [ "$conns" = 1 ] && threads=1
    local out; out="$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "$url")"
    local rps p50 p99 rss
    rps="$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<< "$out")"
    p50="$(awk '$1=="50%" {print $2}' <<< "$out")"
    p99="$(awk '$1=="99%" {print $2}' <<< "$out")"
    rss="$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")"
    printf "| %-22s | %-7s | %5s | %9s | %9s | %9s | %8s |\n" "$label" "$mode" "$conns" "$rps" "$p50" "$p99" "$rss"
  done
}

echo "| app                    | mode    | conns |     req/s |       p50 |       p99 | peak RSS MiB |"
echo "|------------------------|---------|-------|-----------|-----------|-----------|----------|"
for app in js rust; do
  for mode in reuse request; do
    port=$((port + 1))
    "$kiln" serve --app "$work/$app" --listen "127.0.0.1:$port" --data-dir "$work/data" --isolation "$mode" \
      > "$work/$app-$mode.log" 2>&1 &
    pid=$!; pids+=("$pid")
    wait_http "http://127.0.0.1:$port/"
    if [ "$app" = js ]; then
      for _ in $(seq 1 600); do grep -q -e "snapshot ready" -e "cache hit" "$work/$app-$mode.log" && break; sleep 0.05; done
    fi
    load "kiln $app hello" "$mode" "$pid" "http://127.0.0.1:$port/"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

if command -v wasmtime >/dev/null; then
  for mode in reuse request; do
    port=$((port + 1))
    reuse=1; [ "$mode" = reuse ] && reuse=1000000
    wasmtime serve -S cli=y --max-instance-reuse-count "$reuse" --addr "127.0.0.1:$port" "$work/rust/app.wasm" \
      > "$work/wasmtime-$mode.log" 2>&1 &
    pid=$!; pids+=("$pid")
    wait_http "http://127.0.0.1:$port/"
    load "wasmtime serve rust" "$mode" "$pid" "http://127.0.0.1:$port/"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
else
  echo "(wasmtime not installed: 'cargo install wasmtime-cli --version 48.0.8' adds the side-by-side rows)"
fi

echo
echo "Fair CPU (a healthy service while a neighbour spins):"
scripts/bench-fairness.sh "$kiln"

echo
echo "In process (cargo bench --bench runtime):"
cargo bench -q --bench runtime 2>/dev/null | sed 's/^/  /'

echo
start=$(date +%s%N)
"$kiln" compile "$work/js/index.js" -o "$work/compiled/app.wasm" --data-dir "$work/data" 2> "$work/compile.log"
compiled=$(date +%s%N)
port=$((port + 1))
"$kiln" serve --app "$work/compiled" --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/compiled.log" 2>&1 &
pid=$!; pids+=("$pid")
wait_http "http://127.0.0.1:$port/"
served=$(date +%s%N)
echo "kiln compile: $(( (compiled - start) / 1000000 )) ms; compile start -> first response of the compiled component (incl. server start): $(( (served - start) / 1000000 )) ms"
