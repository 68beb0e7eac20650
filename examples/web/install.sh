#!/usr/bin/env bash
# Installs what the browser tip page and its tests need on a fresh Debian machine:
# Debian's Chromium (the test drives /usr/bin/chromium through playwright-core; browsers are
# never downloaded by npm tools) and the npm packages pinned in package-lock.json, then builds
# the crypto bundle (vendor/zkcrypto.js). Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  echo "install.sh: installing Debian chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  timeout 600 $SUDO apt-get update -qq
  timeout 900 $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install.sh: node and npm are required (Node.js >= 20.19)" >&2
  exit 1
fi

timeout 600 npm ci --no-audit --no-fund --loglevel=error
node build.mjs
