#!/usr/bin/env bash
# End-to-end test of the browser tip page: installs Debian's Chromium and the pinned npm packages
# (install.sh), builds the hub, then runs the crypto unit tests and the headless-Chromium test
# (node's built-in test runner). The hub runs on a loopback port with a temporary data dir and is
# stopped by the test; every step is bounded in time. Exits non-zero on any failure.
# Screenshots: examples/web/test/screenshot.png (fan) and screenshot-creator.png (creator).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
start=$(date +%s)

"$here/install.sh"

if [ -z "${ZKHUB_BIN:-}" ]; then
  (cd "$root" && timeout 1800 cargo build --release --bin zkhub --quiet)
  ZKHUB_BIN="${CARGO_TARGET_DIR:-$root/target}/release/zkhub"
fi
export ZKHUB_BIN CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

cd "$here"
# The node-side client test needs a WebSocket global: built in from node 22, behind a flag in 20.
ws_flag=""
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)'; then ws_flag="--experimental-websocket"; fi
timeout --kill-after=10 300 node $ws_flag --no-warnings --test --test-timeout=180000 --test-concurrency=1 \
  test/crypto.test.mjs test/session.test.mjs test/tip.test.mjs
echo "examples/web: tests passed in $(( $(date +%s) - start ))s"
