#!/usr/bin/env python3
"""Prints the short table gpu-check.sh ends with, from vgg-gpu-check's bench JSON, the PyTorch JSON
(optional) and the self-test log (optional).
Usage: summary.py BENCH_JSON [TORCH_JSON] [SELFTEST_LOG] [DEVICE_NAME]
"""
import json
import os
import re
import sys


def load(path):
    if not path or not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def main() -> int:
    bench = load(sys.argv[1] if len(sys.argv) > 1 else None)
    torch = load(sys.argv[2] if len(sys.argv) > 2 else None)
    log = sys.argv[3] if len(sys.argv) > 3 else None
    device = sys.argv[4] if len(sys.argv) > 4 else "GPU"
    rows = bench + torch
    batches = sorted({r["batch"] for r in rows})
    key = {}
    for r in rows:
        key[(r["engine"], r["precision"], r["mode"], r["batch"])] = r
    print()
    print(f"VGG-16 224x224 on {device}: batch-1 latency (ms, wall, copies included) and images/s")
    head = f"{'engine':<6} {'prec':<5} {'mode':<5} {'b1 ms':>8}" + "".join(f" {'b' + str(b) + ' img/s':>11}" for b in batches)
    print(head)
    print("-" * len(head))
    order = {"vgg": 0, "cudnn": 1, "torch": 2}
    combos = sorted({(r["engine"], r["precision"], r["mode"]) for r in rows},
                    key=lambda c: (["fp32", "fp16", "int8"].index(c[1]) if c[1] in ("fp32", "fp16", "int8") else 9, order.get(c[0], 9), c[2]))
    for e, p, m in combos:
        b1 = key.get((e, p, m, 1))
        b1ms = "%.3f" % b1["latencyMs"] if b1 else "n/a"
        line = f"{e:<6} {p:<5} {m:<5} {b1ms:>8}"
        for b in batches:
            r = key.get((e, p, m, b))
            ips = "%.0f" % r["imagesPerSecond"] if r else "n/a"
            line += f" {ips:>11}"
        print(line)
    if not torch:
        print("torch: not measured (no PyTorch with CUDA on this machine)")
    if log and os.path.exists(log):
        with open(log) as f:
            summary = [l.strip() for l in f if re.match(r"^selftest: \d+ passed", l)]
        print(summary[-1] if summary else "selftest: no summary line (see selftest.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
