#!/usr/bin/env bash
# `just test-postgres`: the end-to-end suite with every platform server on PostgreSQL instead of
# SQLite (a throwaway server on a free port; a database per test server). Extra arguments go to
# the test binary (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort | tail -n 1)")"
[ -x "$bin/initdb" ] || bin="$(dirname "$(command -v initdb)")" || { echo "PostgreSQL is required (apt-get install postgresql)" >&2; exit 1; }
work="$(mktemp -d)"
chmod 755 "$work"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() { as_postgres "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
(cd "$work" && as_postgres "$bin/initdb" -D "$work/data" -U kiln --auth=trust -E UTF8 --no-sync >/dev/null)
(cd "$work" && as_postgres "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=500" start >/dev/null)
export KILN_TEST_DATABASE="postgres://kiln@127.0.0.1:$port"
cargo test --release --test e2e -- --skip cluster:: "$@"
