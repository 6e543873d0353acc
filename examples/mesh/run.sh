#!/usr/bin/env bash
# Three Mosquitto brokers (ports 18831-18833) and three NeuralChat nodes
# (ws://127.0.0.1:8091/ws, :8092, :8093) on this machine, every node
# connected to every broker. Each node keeps its own SQLite database in the
# work directory (default: a new temporary one; NEURALCHAT_MESH_DIR to
# choose). Ctrl-C stops everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
"$root/scripts/ensure-deps.sh" mesh
cargo build --release --manifest-path "$root/Cargo.toml" -p neuralchat-server -p neuralchat-cli
# Where cargo put it: $CARGO_TARGET_DIR (relative to the current directory, as for cargo) or target/.
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in
/*) ;;
*) target="$PWD/$target" ;;
esac
server="$target/release/neuralchat-server"
work="${NEURALCHAT_MESH_DIR:-$(mktemp -d -t neuralchat-mesh-XXXX)}"
mkdir -p "$work"
cd "$work"

pids=()
stop() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
for i in 1 2 3; do
    # Started in this directory: the configs name `acl` and `passwords`.
    (cd "$here" && exec "$mosquitto_bin" -c "mosquitto-$i.conf") >"broker-$i.log" 2>&1 &
    pids+=($!)
done
for n in a b c; do
    "$server" --config "$here/node-$n.toml" >"node-$n.log" 2>&1 &
    pids+=($!)
done
echo "brokers: mqtt://127.0.0.1:18831 18832 18833; nodes: ws://127.0.0.1:8091/ws 8092 8093"
echo "chat through a broker: neuralchat-cli --mqtt 127.0.0.1:18831 --mqtt 127.0.0.1:18832 ..."
echo "logs and databases in $work; Ctrl-C stops everything"
wait
