#!/usr/bin/env bash
# Runs the server on its embedded defaults: 127.0.0.1:8080, SQLite file
# ./neuralchat.db, no broker. Extra arguments go to neuralchat-server
# (e.g. --bind 0.0.0.0:8080 --database postgres://...).
#
# One release build makes both binaries, the server and the CLI
# (target/release/neuralchat-cli), so trying the CLI needs no second build.
# The first build takes about 5 minutes on 2 cores; later ones are quick.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
"$here/ensure-deps.sh" build
cargo build --release --manifest-path "$root/Cargo.toml" -p neuralchat-server -p neuralchat-cli
# Where cargo put them: $CARGO_TARGET_DIR (relative to the current directory, as for cargo) or target/.
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in
/*) ;;
*) target="$PWD/$target" ;;
esac
echo "run.sh: the CLI is $target/release/neuralchat-cli" >&2
exec "$target/release/neuralchat-server" "$@"
