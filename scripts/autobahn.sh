#!/usr/bin/env bash
# WebSocket conformance: the Autobahn fuzzing client against the hub's WebSocket layer.
#
# Usage: scripts/autobahn.sh [--no-build]
#
# 1. Sets up Python 2.7 (pyenv 2.7.18) in .ab-py2/ with the pinned autobahntestsuite
#    (the suite is Python 2 code; see /work/shared/autobahn/README.md), once.
# 2. Builds and starts `cargo run --release -p hub --example ws_echo` on 127.0.0.1:9001:
#    the hub's own WebSocket configuration with an echo handler at /echo.
# 3. Runs `wstest -m fuzzingclient` on every case except 9.* (performance) and
#    12.*/13.* (permessage-deflate, which the hub does not negotiate), from
#    target/autobahn/ (reports in target/autobahn/reports/servers/).
# 4. Summarizes reports/servers/index.json: counts per behavior, and fails (exit 1)
#    if any case is FAILED or UNIMPLEMENTED, other than those in ALLOW below.
#
# Environment: AB_PORT (default 9001), AB_CASES (JSON list, default ["*"]).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT=${AB_PORT:-9001}
CASES=${AB_CASES:-'["*"]'}
WORK="$ROOT/target/autobahn"
VENV="$ROOT/.ab-py2"
SHARED=${AB_SHARED:-/work/shared/autobahn}

# Cases allowed to be FAILED or UNIMPLEMENTED, each with its reason (docs/AUTOBAHN.md).
# Empty: every case must pass.
ALLOW=()

if [[ ! -x "$VENV/bin/wstest" ]]; then
    echo "== setting up Python 2.7 + autobahntestsuite in $VENV"
    py2=$(PYENV_VERSION=2.7.18 pyenv which python2.7)
    python3 -m venv "$ROOT/.ab-boot"
    "$ROOT/.ab-boot/bin/pip" install -q "virtualenv==20.21.1"
    "$ROOT/.ab-boot/bin/virtualenv" -q -p "$py2" "$VENV"
    "$VENV/bin/pip" install -q -r "$SHARED/requirements-py27.txt" autobahntestsuite==25.10.1
fi

if [[ "${1:-}" != "--no-build" ]]; then
    cargo build --release -p hub --example ws_echo
fi

mkdir -p "$WORK"
rm -rf "$WORK/reports"
"$ROOT/target/release/examples/ws_echo" "127.0.0.1:$PORT" 2>"$WORK/ws_echo.log" &
ECHO_PID=$!
trap 'kill "$ECHO_PID" 2>/dev/null || true; wait "$ECHO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q "serving" "$WORK/ws_echo.log" 2>/dev/null && break
    sleep 0.1
done
kill -0 "$ECHO_PID" || { cat "$WORK/ws_echo.log"; exit 1; }

# The template from the shared folder, with our URL and case selection.
python3 - "$SHARED/fuzzingclient.json" "$WORK/fuzzingclient.json" "$PORT" "$CASES" <<'EOF'
import json, sys
src, dst, port, cases = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
cfg = json.load(open(src))
cfg["outdir"] = "./reports/servers"
cfg["servers"] = [{"agent": "zkhub", "url": "ws://127.0.0.1:%s/echo" % port}]
cfg["cases"] = json.loads(cases)
cfg["exclude-cases"] = ["9.*", "12.*", "13.*"]
json.dump(cfg, open(dst, "w"), indent=2)
EOF

echo "== wstest -m fuzzingclient against ws://127.0.0.1:$PORT/echo"
start=$(date +%s)
(cd "$WORK" && "$VENV/bin/wstest" -m fuzzingclient -s fuzzingclient.json) >"$WORK/wstest.log" 2>&1
echo "   finished in $(( $(date +%s) - start )) s (log: $WORK/wstest.log)"

python3 - "$WORK/reports/servers/index.json" "${ALLOW[@]+"${ALLOW[@]}"}" <<'EOF'
import collections, json, sys
index = json.load(open(sys.argv[1]))
allow = set(sys.argv[2:])
def key(case):
    return [int(p) for p in case.split(".")]
bad = []
for agent, cases in index.items():
    counts = collections.Counter()
    close = collections.Counter()
    for case in sorted(cases, key=key):
        r = cases[case]
        counts[r["behavior"]] += 1
        close[r["behaviorClose"]] += 1
        if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL"):
            bad.append((case, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode")))
        elif r["behavior"] != "OK":
            print("  %-8s %-13s close=%-13s remote code=%s" % (
                case, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode")))
    print("%s: %d cases: %s" % (agent, sum(counts.values()),
          ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    print("  close behavior: " + ", ".join("%s %d" % kv for kv in sorted(close.items())))
unexpected = [b for b in bad if b[0] not in allow]
for case, behavior, close, code in bad:
    print("  %-8s %-13s close=%-13s remote code=%s%s" % (
        case, behavior, close, code, "  (allowed)" if case in allow else ""))
if unexpected:
    print("FAILED: %d case(s) not OK/NON-STRICT/INFORMATIONAL" % len(unexpected))
    sys.exit(1)
print("PASS")
EOF
