#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 10): `fuzz/run.sh [seconds]`.
#
# Needs the nightly toolchain (`rustup toolchain list`); installs cargo-fuzz from crates.io into
# the default cargo bin if it is missing. Builds into a cache outside the repo (not the tests'
# shared target dir: sanitizer flags would rebuild everything there). Inputs libFuzzer finds go to
# the same cache; the committed seeds in fuzz/corpus/<target>/ are only read. A crash stops the
# script with libFuzzer's report; the input is saved under fuzz/artifacts/<target>/.
set -euo pipefail

seconds="${1:-10}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [seconds per target, default 10]" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/connect-sso-operator"
target_dir="$cache/fuzz-target"
found="$cache/fuzz-corpus"
targets=(saml_metadata instance_arn policy_compare onelogin_response)

if ! cargo fuzz --version > /dev/null 2>&1; then
    echo "installing cargo-fuzz (crates.io) ..." >&2
    # Built in a temporary dir, not a CARGO_TARGET_DIR the caller (make) may have exported.
    env -u CARGO_TARGET_DIR cargo +stable install cargo-fuzz --locked
fi
if ! rustup run nightly rustc --version > /dev/null 2>&1; then
    echo "the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi

cd "$here/.."
# The same options for build and run, so run does not rebuild. 16 codegen units: the operator's
# dependency tree (AWS SDK, kube) builds several times faster than with 1, for a little speed.
options=(--target-dir "$target_dir" --codegen-units 16)

start=$(date +%s)
cargo +nightly fuzz build "${options[@]}"
echo "built the fuzz targets in $(( $(date +%s) - start )) s" >&2

for t in "${targets[@]}"; do
    mkdir -p "$found/$t"
    log="$found/$t.log"
    echo "== $t: ${seconds} s" >&2
    rc=0
    cargo +nightly fuzz run "${options[@]}" "$t" "$found/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 \
        > "$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "$t: libFuzzer found a problem (exit $rc); the input is under fuzz/artifacts/$t/, the log in $log" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "$t: ${runs:-?} executions (${rate:-?}/s), no crash" >&2
done
