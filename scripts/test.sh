#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when
# missing, checks formatting and lints, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh test
# A real llama.cpp server and a tiny LLaMA model for the AI-bot tests: built
# once (about 5 minutes on 2 cores) and cached in ~/.cache/neuralchat/llama.
llama_env=$(scripts/llama/setup.sh | tail -n 1)
eval "$llama_env"
export LLAMA_SERVER LLAMA_MODEL

# Incremental compilation helps an edit-compile loop, not one full build:
# off here unless asked for, so a fresh clone's target/ stays small.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end tests run the server and CLI binaries: build them first.
cargo build --workspace --bins
cargo test --workspace --all-targets
cargo test --workspace --doc
# A model inside the node (backend = "local"): llama.cpp built from the
# llama-cpp-2 crate's source (cmake, libclang-dev), the tiny model above.
cargo test -p neuralchat-core --features local-llm --test local_backend
cargo test -p neuralchat-server --features local-llm --test local_bot
# The library's examples (neuralchat-core/examples), built and run.
scripts/examples.sh
# libFuzzer on frame decoding, commands, mentions and names (30 s each).
scripts/fuzz.sh
