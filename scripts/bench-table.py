#!/usr/bin/env python3
"""Turn criterion results (target/criterion/**/new/estimates.json) into a markdown table.

Usage: scripts/bench-table.py [CRITERION_DIR] > docs/BENCHMARKS.md
"""
import json
import os
import sys


def fmt_ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    rows = []
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        bench_path = os.path.join(dirpath, "benchmark.json")
        name = os.path.relpath(os.path.dirname(dirpath), root)
        throughput = ""
        if os.path.exists(bench_path):
            with open(bench_path) as f:
                meta = json.load(f)
            name = meta.get("full_id", name)
            tp = meta.get("throughput") or {}
            for kind, n in tp.items():
                per = est["mean"]["point_estimate"] / max(n, 1)
                throughput = f"{fmt_ns(per)} per {kind.lower().rstrip('s')}"
                if kind == "Elements":
                    throughput += f" ({n * 1e9 / est['mean']['point_estimate']:,.0f}/s)"
        mean = est["mean"]["point_estimate"]
        lo = est["mean"]["confidence_interval"]["lower_bound"]
        hi = est["mean"]["confidence_interval"]["upper_bound"]
        rows.append((name, fmt_ns(mean), f"{fmt_ns(lo)} – {fmt_ns(hi)}", throughput))
    rows.sort()
    print("| benchmark | mean | 95% CI | per element |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
