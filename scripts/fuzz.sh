#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for a bounded time (default 30 s
# each; FUZZ_SECONDS overrides). cargo-fuzz builds with compiler flags
# only nightly takes: the nightly toolchain when it is installed, else the
# stable one with RUSTC_BOOTSTRAP=1 (it ships the sanitizer runtime too;
# FUZZ_TOOLCHAIN=stable picks it even when nightly is there). Installs
# cargo-fuzz from crates.io when missing. A crash fails the run (after the
# other targets have had their turn); its input, left in
# fuzz/artifacts/TARGET/, is copied to fuzz/regressions/TARGET/, where
# `cargo test -p neuralchat-core --test fuzz_regressions` replays it
# through the same checks: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz.sh: fuzzing with the stable toolchain (RUSTC_BOOTSTRAP=1)" >&2
    # Only for the fuzz builds: not for installing cargo-fuzz below.
    fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cd fuzz
"${fuzz[@]}" build
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
failed=()
for target in $("${fuzz[@]}" list); do
    echo "fuzz.sh: $target for ${seconds}s"
    touch "$marker"
    # The saved inputs seed the run; new finds go to corpus/ (git-ignored).
    mkdir -p "corpus/$target"
    if "${fuzz[@]}" run "$target" "$PWD/corpus/$target" "$PWD/regressions/$target" \
        -- -max_total_time="$seconds" -max_len=4096; then
        continue
    fi
    failed+=("$target")
    # libFuzzer names what it failed on crash-*, leak-*, oom-*, timeout-*
    # or slow-unit-*, in the target's artifact folder.
    mkdir -p "regressions/$target"
    saved=0
    while IFS= read -r -d '' input; do
        cp "$input" "regressions/$target/"
        echo "fuzz.sh: $target failed on fuzz/$input; saved as fuzz/regressions/$target/$(basename "$input"): commit it with the fix" >&2
        saved=$((saved + 1))
    done < <(find "artifacts/$target" -type f -newer "$marker" -print0 2>/dev/null)
    if [ "$saved" -eq 0 ]; then
        echo "fuzz.sh: $target failed and left no input in fuzz/artifacts/$target/" >&2
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
