#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for a bounded time (default 30 s
# each; FUZZ_SECONDS overrides). Needs the nightly toolchain; installs
# cargo-fuzz from crates.io when missing. A crash fails the run and leaves
# its input in fuzz/artifacts/TARGET/: add it as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain; install it with: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cd fuzz
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
    echo "fuzz.sh: $target for ${seconds}s"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=4096
done
