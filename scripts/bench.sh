#!/usr/bin/env bash
# Run the whole criterion suite and write docs/BENCHMARKS.md (a markdown table).
# Usage: scripts/bench.sh [extra criterion args, e.g. --quick]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p benches -- "$@"
{
  echo "# Benchmarks"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB, $(uname -m); $(date -u +%Y-%m-%d)."
  echo "Command: \`scripts/bench.sh $*\`"
  echo
  python3 scripts/bench-table.py target/criterion
} > docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md"
