#!/usr/bin/env bash
# Fair CPU: a healthy service's latency at 16 connections alone, then while a neighbour spins in
# a CPU loop (four requests to it at once, each until its deadline), side by side in one run.
#   scripts/bench-fairness.sh [KILN_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
kiln="${1:-$PWD/target/release/kiln}"
duration="${KILN_BENCH_DURATION:-8s}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=18990
KILN_JWT_SECRET=bench-secret-0123456789 "$kiln" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
  > "$work/kiln.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.05; done
jwt="$(KILN_JWT_SECRET=bench-secret-0123456789 "$kiln" token --data-dir "$work/data")"
create() { # name code
  curl -fsS -o /dev/null -H "Authorization: Bearer $jwt" -H "content-type: application/json" \
    -d "{\"name\":\"$1\",\"code\":\"$2\",\"limits\":{\"timeout_ms\":20000}}" "http://127.0.0.1:$port/admin-api/v2/services"
}
create healthy "export default { fetch() { return new Response('ok'); } };"
create spinner "export default { fetch() { for (;;) {} } };"
sleep 3 # let both snapshots land
url="http://127.0.0.1:$port/api/v2/healthy"
wrk -t2 -c16 -d2s "$url" > /dev/null # warm up

p99() { awk '$1=="99%" {print $2}'; }
rps() { awk '/Requests\/sec/ {printf "%.0f", $2}'; }
alone="$(wrk -t2 -c16 -d"$duration" --latency "$url")"
for _ in 1 2 3 4; do
  curl -s -o /dev/null -m 30 "http://127.0.0.1:$port/api/v2/spinner" &
  pids+=("$!")
done
sleep 0.5
spun="$(wrk -t2 -c16 -d"$duration" --latency "$url")"
echo "| healthy service, c=16 | req/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| alone | $(rps <<< "$alone") | $(awk '$1=="50%" {print $2}' <<< "$alone") | $(p99 <<< "$alone") |"
echo "| 4 neighbour requests spinning | $(rps <<< "$spun") | $(awk '$1=="50%" {print $2}' <<< "$spun") | $(p99 <<< "$spun") |"
