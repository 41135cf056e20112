#!/usr/bin/env python3
"""Executed SASS instructions of one kernel by opcode, from Nsight Compute's source page
(``ncu --import R --page source --csv --print-source sass``, written by benchmarks/gpu_ncu.sh):
each opcode's share of the executed warp instructions and of the warp-stall samples.

    python3 benchmarks/ncu_sass_mix.py f64-sass-group.csv [--top 30]
"""
from __future__ import annotations

import argparse
import collections
import csv
import re


def opcode_mix(path: str):
    """(executed per opcode, stall samples per opcode, number of SASS lines)."""
    rows = list(csv.reader(open(path)))
    header = next(r for r in rows if "Source" in r and "Instructions Executed" in r)
    start = rows.index(header) + 1
    src, executed = header.index("Source"), header.index("Instructions Executed")
    sampled = header.index("Warp Stall Sampling (All Samples)")
    count, samples = collections.Counter(), collections.Counter()
    for row in rows[start:]:
        try:
            n, s = int(row[executed]), int(row[sampled])
        except (ValueError, IndexError):
            continue
        text = re.sub(r"^@!?U?P\w+\s+", "", row[src].strip())     # drop the predicate
        op = text.split()[0].split(".")[0] if text else "?"
        count[op] += n
        samples[op] += s
    return count, samples, len(rows) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    count, samples, lines = opcode_mix(args.csv)
    total, total_samples = sum(count.values()), max(1, sum(samples.values()))
    print(f"{args.csv}: {lines} SASS lines, {total} warp instructions executed, {total_samples} stall samples")
    for op, n in count.most_common(args.top):
        print(f"  {op:10s} {n / total * 100:6.2f}% of instructions  {samples[op] / total_samples * 100:6.2f}% of samples")


if __name__ == "__main__":
    main()
