#!/usr/bin/env bash
# Prints the environment that builds QuickJS (C) for wasm32 with Debian's clang-19 and wasi-libc.
# Usage: eval "$(scripts/wasi-env.sh)"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$root/target/wasi-sdk"
for need in /usr/bin/clang-19 /usr/include/wasm32-wasi/stdio.h /usr/lib/llvm-19/lib/libclang.so; do
  if [ ! -e "$need" ]; then
    echo "building the JS engine guest needs $need: apt-get install clang-19 llvm-19 libclang-19-dev wasi-libc" >&2
    exit 1
  fi
done
if [ ! -e "$sdk/bin/clang" ]; then
  mkdir -p "$sdk/bin" "$sdk/share/wasi-sysroot/include" "$sdk/share/wasi-sysroot/lib"
  ln -sf /usr/bin/clang-19 "$sdk/bin/clang"
  ln -sf /usr/bin/llvm-ar-19 "$sdk/bin/ar"
  ln -sf /usr/bin/llvm-ar-19 "$sdk/bin/llvm-ar"
  for triple in wasm32-wasi wasm32-wasip1 wasm32-wasip2; do
    ln -sfn /usr/include/wasm32-wasi "$sdk/share/wasi-sysroot/include/$triple"
    ln -sfn /usr/lib/wasm32-wasi "$sdk/share/wasi-sysroot/lib/$triple"
  done
fi
echo "export WASI_SDK='$sdk'"
echo "export LIBCLANG_PATH=/usr/lib/llvm-19/lib"
