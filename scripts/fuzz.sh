#!/usr/bin/env bash
# Run the libFuzzer targets of fuzz/ (cargo-fuzz) one after another and print a table
# of executions, wall time, rate, corpus and findings per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; TARGETS default to every target. Each target runs
# one process (-jobs/-workers 1) under `nice -n 19` on its corpus, fuzz/corpus/TARGET,
# which grows in place (minimize it afterwards with `scripts/fuzz.sh --cmin`: cargo fuzz
# cmin on every target, then `cargo test --release --test fuzz_corpus_replay` replays
# it). Crashes land in fuzz/artifacts/TARGET/ and are counted as findings.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on stable Rust, RUSTC_BOOTSTRAP=1 lets
# it pass its nightly-only sanitizer-coverage flags. No sanitizer: the code fuzzed is
# safe Rust, and without ASan it runs several times faster.
# Env: FUZZ_LOG_DIR (default fuzz/logs), FUZZ_EXTRA (more libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
ALL=(binary_frame json_message batch_record store_record snapshot_file proof_file key_file state_tree_file ledger settlement)
FLAGS=(--sanitizer none -O)

if [[ "${1:-}" == "--cmin" ]]; then
    shift
    targets=("${@:-${ALL[@]}}")
    [[ $# -eq 0 ]] && targets=("${ALL[@]}")
    for t in "${targets[@]}"; do
        nice -n 19 cargo fuzz cmin "${FLAGS[@]}" "$t" "corpus/$t" -- -timeout=30 >"logs/cmin-$t.log" 2>&1 \
            || { echo "cmin $t failed: fuzz/logs/cmin-$t.log"; exit 1; }
        echo "$t: $(ls "corpus/$t" | wc -l) files, $(du -sk --apparent-size "corpus/$t" | cut -f1) KiB"
    done
    exit 0
fi

secs=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${ALL[@]}")
logs=${FUZZ_LOG_DIR:-logs}
mkdir -p "$logs"
nice -n 19 cargo fuzz build "${FLAGS[@]}" >"$logs/build.log" 2>&1 \
    || { echo "build failed: see fuzz/$logs/build.log"; exit 1; }

printf '%-16s %14s %9s %10s %13s %9s\n' target executions seconds exec/s corpus findings
total=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    start=$(date +%s.%N)
    # -fork would restart on a crash; a plain run stops at the first one, which is
    # what we want to see.
    nice -n 19 cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=30 -jobs=1 -workers=1 -print_final_stats=1 \
        ${FUZZ_EXTRA:-} >"$logs/$t.log" 2>&1 || true
    end=$(date +%s.%N)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    runs=${runs:-0}
    # libFuzzer's own fuzzing time ("Done N runs in S second(s)"); the wall clock
    # (which also counts cargo's start-up) where it stopped early on a crash.
    wall=$(grep -o 'runs in [0-9]* second' "$logs/$t.log" | grep -o '[0-9][0-9]*' | tail -1)
    [[ -z "$wall" || "$wall" == 0 ]] && wall=$(echo "$end - $start" | bc)
    after=$(ls "artifacts/$t" | wc -l)
    files=$(ls "corpus/$t" | wc -l)
    kib=$(du -sk --apparent-size "corpus/$t" | cut -f1)
    printf '%-16s %14d %9.0f %10.0f %6d/%4dK %9d\n' "$t" "$runs" "$wall" "$(echo "$runs / $wall" | bc -l)" \
        "$files" "$kib" "$((after - before))"
    total=$((total + runs))
done
echo "total executions: $total"
