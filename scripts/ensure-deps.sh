#!/usr/bin/env bash
# Installs the Debian packages NeuralChat builds and tests with, when missing.
# Usage: scripts/ensure-deps.sh [build|mesh|test]
#   build: what compiling needs; mesh: plus Mosquitto; test: plus the test services
set -euo pipefail

# cmake: paho-mqtt (the mesh's MQTT client) builds its bundled C library.
want=(build-essential pkg-config libsqlite3-dev libpq-dev libssl-dev cmake)
if [ "${1:-build}" = mesh ]; then
    want+=(mosquitto mosquitto-clients)
fi
if [ "${1:-build}" = test ]; then
    # PostgreSQL server binaries: the store and end-to-end tests start a
    # throwaway server of their own (never a system service).
    want+=(postgresql)
    # A Python venv (with cmake) builds llama.cpp's server and the tiny test
    # model (scripts/llama/setup.sh).
    want+=(python3 python3-venv)
    # libclang (bindgen) and cmake build llama.cpp into the server for the
    # `local-llm` feature's tests (backend = "local").
    want+=(libclang-dev)
    # Real Mosquitto brokers for the mesh tests (started by the tests on free
    # ports, never as a service).
    want+=(mosquitto mosquitto-clients)
    # The openssl command line: the TLS tests make their own throwaway CA
    # and certificates (neuralchat-testkit's certs.rs).
    want+=(openssl)
fi

missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "ensure-deps: installing ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    # `env` so the variable survives sudo (tzdata would ask otherwise).
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
if ! command -v cargo >/dev/null; then
    echo "ensure-deps: cargo not found; install Rust first (see README: rustup)" >&2
    exit 1
fi
