# Kiln's tasks. `just test` is what CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run every test (unit + end-to-end against the real binary, then the end-to-end suite again
# with every platform server on PostgreSQL).
test: check-artifacts test-components
    cargo test --release --workspace
    scripts/test-postgres.sh

# Build the test components that come from npm toolchains (componentize-js); needs Node and npm.
test-components:
    scripts/test-components.sh

# Serve one app directory (index.js or app.wasm) at http://127.0.0.1:8000/.
serve APP="examples/hello" *ARGS="":
    cargo run --release -p kiln -- serve --app {{APP}} {{ARGS}}

# Rebuild the JS engine guest into components/js-engine.wasm (needs clang-19, wasi-libc, wasm32-wasip2).
guest:
    eval "$(scripts/wasi-env.sh)" && cd guest-js && cargo build --release --target wasm32-wasip2
    cp guest-js/target/wasm32-wasip2/release/kiln_guest_js.wasm components/js-engine.wasm
    scripts/artifacts.sh stamp
    # The engine pre-initialised without an app, so that a first start only compiles it (a host
    # built with a stale one builds it itself; `kiln engine` always does).
    cargo run --release -q -p kiln -- engine -o components/js-engine-base.wasm
    sha256sum components/js-engine.wasm | cut -d' ' -f1 > components/js-engine-base.wasm.engine-sha256

# Rebuild the sample components under components/.
components:
    cd components/hello-rust && cargo build --release --target wasm32-wasip2
    cp components/hello-rust/target/wasm32-wasip2/release/hello_rust.wasm components/hello-rust.wasm
    cd components/hello-function && cargo build --release --target wasm32-wasip2
    cp components/hello-function/target/wasm32-wasip2/release/hello_function.wasm components/hello-function.wasm
    cd components/fetch-rust && cargo build --release --target wasm32-wasip2
    cp components/fetch-rust/target/wasm32-wasip2/release/fetch_rust.wasm components/fetch-rust.wasm
    cd components/kv-rust && cargo build --release --target wasm32-wasip2
    cp components/kv-rust/target/wasm32-wasip2/release/kv_rust.wasm components/kv-rust.wasm
    scripts/artifacts.sh stamp

# Fail if a committed wasm artifact is older than its sources.
check-artifacts:
    scripts/artifacts.sh check

# Throughput, latency, memory and deploy-time figures (see scripts/bench.sh).
bench *ARGS="":
    scripts/bench.sh {{ARGS}}

# Many tenants on one node: 1,000 JS services created, called, left idle, called again; latency,
# RSS per phase and disk per service (see scripts/bench-density.py).
bench-density:
    python3 scripts/bench-density.py

# The end-to-end suite with every platform server on PostgreSQL (see scripts/test-postgres.sh).
test-postgres *ARGS="":
    scripts/test-postgres.sh {{ARGS}}

# Three nodes on one PostgreSQL: deploy -> served everywhere (p50/p99), and the hello figures
# with each store (see scripts/bench-cluster.py).
bench-cluster:
    python3 scripts/bench-cluster.py

# Format everything.
fmt:
    cargo fmt --all
    cd guest-js && cargo fmt
    cd components/hello-rust && cargo fmt
    cd components/hello-function && cargo fmt
    cd components/fetch-rust && cargo fmt
    cd components/kv-rust && cargo fmt

# Lints.
lint:
    cargo clippy --release --workspace --all-targets -- -D warnings

# What a call between apps costs: through a binding and over HTTP, against the callee alone
# (see scripts/bench-calls.py).
bench-calls:
    python3 scripts/bench-calls.py

# A thousand tenants busy at once under a Zipf load, beside workerd (see scripts/bench-tenants.py).
bench-tenants:
    python3 scripts/bench-tenants.py
