#!/usr/bin/env bash
# Crash-consistency run of the real `zkhub serve` binary (tests/crash.rs): the full
# variant (25 SIGKILLs under load, restarts on the same data directory, every
# committed state checked against the clients' books). Prints the seed, the kills,
# the payments checked and each restart time.
#
#   scripts/crash-test.sh            # a random seed
#   scripts/crash-test.sh 1234       # reproduce the schedule of seed 1234
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ge 1 ]]; then
  export ZKHUB_CRASH_SEED="$1"
fi
exec cargo test --release --test crash -- --ignored --nocapture crash_full
