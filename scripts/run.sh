#!/usr/bin/env bash
# Runs the server on its embedded defaults: 127.0.0.1:8080, SQLite file
# ./neuralchat.db, no broker. Extra arguments go to neuralchat-server
# (e.g. --bind 0.0.0.0:8080 --database postgres://...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/ensure-deps.sh" build
exec cargo run --release --manifest-path "$here/../Cargo.toml" -p neuralchat-server -- "$@"
