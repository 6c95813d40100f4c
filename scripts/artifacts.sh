#!/usr/bin/env bash
# Keeps the committed wasm artifacts in step with their sources.
#   artifacts.sh stamp  — record the sources' digest next to each artifact (after a rebuild)
#   artifacts.sh check  — fail if sources changed since the artifact was built
set -euo pipefail
cd "$(dirname "$0")/.."

digest() { # digest of every tracked-or-present source file under the given paths
  find "$@" -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' -o -name '*.js' -o -name '*.wit' -o -name 'config.toml' -o -name 'Cargo.toml' -o -name 'Cargo.lock' \) \
    -not -path '*/target/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

# artifact:sources...
entries=(
  "components/js-engine.wasm:guest-js wit"
  "components/hello-rust.wasm:components/hello-rust"
  "components/hello-function.wasm:components/hello-function wit"
  "components/fetch-rust.wasm:components/fetch-rust"
  "components/kv-rust.wasm:components/kv-rust wit/deps/keyvalue wit/deps/config"
)

status=0
for entry in "${entries[@]}"; do
  artifact="${entry%%:*}"
  read -r -a sources <<< "${entry#*:}"
  want="$(digest "${sources[@]}")"
  stamp="$artifact.sources-sha256"
  case "${1:-check}" in
    stamp) echo "$want" > "$stamp"; echo "stamped $artifact" ;;
    check)
      if [ ! -f "$artifact" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "error: $artifact is out of date with ${sources[*]}: run 'just guest' / 'just components' and commit the result" >&2
        status=1
      fi ;;
    *) echo "usage: $0 stamp|check" >&2; exit 2 ;;
  esac
done
# The pre-initialised engine must come from the committed engine.
if [ "${1:-check}" = check ] && [ "$(cat components/js-engine-base.wasm.engine-sha256 2>/dev/null)" != "$(sha256sum components/js-engine.wasm | cut -d' ' -f1)" ]; then
  echo "error: components/js-engine-base.wasm was not made from components/js-engine.wasm: run 'just guest' and commit the result" >&2
  status=1
fi
exit $status
