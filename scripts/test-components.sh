#!/usr/bin/env bash
# Builds the test components that come from npm toolchains (not committed: they are large and
# quick to rebuild). Needs Node.js and npm; fails, never skips, when they are missing.
#   components/fetch-event-js → components/fetch-event-js/dist/fetch-event.wasm (componentize-js)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "error: Node.js and npm are needed to build the test components (apt-get install nodejs npm)" >&2
  exit 1
}

dir=components/fetch-event-js
out="$dir/dist/fetch-event.wasm"
stamp="$out.sources-sha256"
want="$(cd "$dir" && find src wit build.mjs package.json package-lock.json -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "building $out (componentize-js, ~40 s)"
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error && mkdir -p dist && node build.mjs dist/fetch-event.wasm)
echo "$want" > "$stamp"
