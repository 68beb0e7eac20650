#!/usr/bin/env bash
# Load-test matrix against a fresh local hub: 1 and 1,000 connections, a checkpoint every
# 64 vouchers and a signature on every voucher, at max rate and at half of it (p99 target).
# Writes JSON reports to target/load/ and prints one line per run. Loopback only; bounded.
# Usage: scripts/load-matrix.sh [payments]   (default 1,000,000 payments per max-rate run)
set -euo pipefail
cd "$(dirname "$0")/.."
payments=${1:-1000000}
cargo build --release --quiet --bin zkhub
bin=target/release/zkhub
out=target/load; mkdir -p "$out"
data=$(mktemp -d); port=18181
$bin serve --data "$data" --listen 127.0.0.1:$port > "$out/serve.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf 127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
seed=100
run() { # name connections sign_every payments rate window
  seed=$((seed + 1))
  $bin load --url ws://127.0.0.1:$port/v1 --connections "$2" --channels 20 --sign-every "$3" \
    --payments "$4" --rate "$5" --window "$6" --duration 30 --seed $seed --report "$out/$1.json" > /dev/null 2>&1 || true
  python3 - "$out/$1.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["latency"]; w = r.get("latency_after_warm_up") or {}
print(f'{sys.argv[2]:<28} {r["acked"]:>9} acked {r["payments_per_s"]:>11,.0f}/s  p50 {l["p50_ms"]:7.2f} ms  p99 {l["p99_ms"]:7.2f} ms  p99.9 {l["p999_ms"]:7.2f} ms  (after 500 ms: p99 {w.get("p99_ms", float("nan")):7.2f} ms)  rejected {r["rejected"]}')
PY
}
rate_of() { python3 -c "import json;print(max(1,int(json.load(open('$out/$1.json'))['payments_per_s']/2)))"; }
run max-1conn-k64        1    64 "$payments" max 4096
run max-1000conn-k64  1000    64 "$payments" max 256
run half-1000conn-k64 1000    64 "$payments" "$(rate_of max-1000conn-k64)" 256
# Steady state: longer runs, so that channels' first (unprepared-key) checkpoints and the
# connection ramp are a small share; the half-rate run with 100 connections is the p99 target.
run max-1000conn-k64-long  1000 64 $((payments * 6)) max 256
run half-100conn-k64-long   100 64 $((payments * 4)) "$(rate_of max-1000conn-k64-long)" 256
run max-1conn-k1         1     1 $((payments / 10)) max 256
run max-1000conn-k1   1000     1 $((payments / 10)) max 64
run half-1000conn-k1  1000     1 $((payments / 10)) "$(rate_of max-1000conn-k1)" 64
