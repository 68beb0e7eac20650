#!/usr/bin/env bash
# Crash-consistency run of the real `zkhub serve` binary (tests/crash.rs, `crash_full`):
# SIGKILLs under load, aimed at start-up, steady load, the epoch cut, the snapshot and
# the checkpointer's fold; after each kill the hub restarts on the same data directory
# and every committed state is checked against the clients' books (nothing acked lost,
# nothing applied twice, Σ B = Σ D). Prints each kill's phase and a summary line:
#   crash test summary: seed=… kills=… (startup=… steady=… cut=… snapshot=… fold=…) … lost=0 duplicated=0
#
#   scripts/crash-test.sh                          # 25 kills within 15 minutes, a random seed
#   scripts/crash-test.sh --kills 1000 --budget 40m --seed 1234
#   scripts/crash-test.sh 1234                     # reproduce the schedule of seed 1234
#
# --budget: stop killing after this long (s, m or h suffix; plain number = seconds); the
# run then drains, checks and reports the kills it made. CI runs only `crash_short`
# (5 kills, part of `cargo test`), not this script.
set -euo pipefail
cd "$(dirname "$0")/.."

kills=25
budget=15m
usage() { sed -n '2,17p' "$0" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kills) kills="${2:?}"; shift 2 ;;
    --budget) budget="${2:?}"; shift 2 ;;
    --seed) export ZKHUB_CRASH_SEED="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown flag $1" >&2; usage ;;
    *) export ZKHUB_CRASH_SEED="$1"; shift ;;
  esac
done

secs() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
[[ "$kills" =~ ^[0-9]+$ ]] || { echo "--kills wants a number, got $kills" >&2; exit 2; }
export ZKHUB_CRASH_KILLS="$kills"
ZKHUB_CRASH_BUDGET_SECS="$(secs "$budget")"
[[ "$ZKHUB_CRASH_BUDGET_SECS" =~ ^[0-9]+$ ]] || { echo "--budget wants e.g. 600, 40m or 1h, got $budget" >&2; exit 2; }
export ZKHUB_CRASH_BUDGET_SECS
exec cargo test --release --test crash -- --ignored --nocapture crash_full
