#!/usr/bin/env bash
# Builds and runs every example of neuralchat-core (neuralchat-core/examples/)
# and fails if any fails. They need no network beyond loopback and no model:
# local_bot prints the bot's failure message when no model server answers
# (set NEURALCHAT_BOT_URL to point it at one).
#
# Usage: scripts/examples.sh   (from anywhere; honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

examples=(embedded custom_transport local_bot)
# Each example runs in a few seconds; this only stops one that hangs.
limit=${NEURALCHAT_EXAMPLE_TIMEOUT:-120}

cargo build -p neuralchat-core --examples

failed=()
for name in "${examples[@]}"; do
    echo "=== example: $name"
    if ! timeout "$limit" cargo run -q -p neuralchat-core --example "$name"; then
        failed+=("$name")
    fi
done

# custom_transport's line mode: JSON frames on stdin, frames on stdout.
echo "=== example: custom_transport --stdin"
answer=$(printf '%s\n' '{"type":"ping","ref":"p1"}' \
    | timeout "$limit" cargo run -q -p neuralchat-core --example custom_transport -- --stdin) \
    || failed+=("custom_transport --stdin")
echo "$answer"
if ! grep -q '"type":"pong","ref":"p1"' <<<"$answer"; then
    echo "custom_transport --stdin: no pong for the ping" >&2
    failed+=("custom_transport --stdin (no pong)")
fi

if ((${#failed[@]})); then
    echo "examples failed: ${failed[*]}" >&2
    exit 1
fi
echo "all examples passed"
