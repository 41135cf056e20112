#!/usr/bin/env python3
"""The loops of a compiled CUDA kernel, read from its SASS: each backward branch, the length of the body it
closes and the body's opcode mix, so that the instructions a loop spends per multiply-add can be counted
without a GPU.

    python3 benchmarks/group_kernel_resources.py tests/data/cuag/model.h5 --sass /tmp/k   # writes /tmp/k.<body>.sass
    python3 benchmarks/sass_loops.py /tmp/k.group_atom_energy.sass [--min-length 20]
    python3 benchmarks/sass_loops.py f64-sass-group.csv        # Nsight Compute's source page (gpu_ncu.sh)

From a cuobjdump listing the counts are static (one per instruction); from Nsight Compute's source page
each loop also gets its share of the executed warp instructions and of the warp-stall samples (a
nested loop's share is inside its parent's).
"""
from __future__ import annotations

import argparse
import collections
import csv
import re

_INSTRUCTION = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_BRANCH_TARGET = re.compile(r"\bBRA\b.*?0x([0-9a-f]+)")
_PREDICATE = re.compile(r"^@!?U?P\w+\s+")

#: the multiply-adds counted per loop
FMA_OPCODES = ("DFMA", "FFMA", "HFMA2")


def opcode(text: str) -> str:
    """The opcode of one instruction, without its predicate and modifiers ('@P0 LDS.128 ...' → 'LDS')."""
    words = _PREDICATE.sub("", text).split()
    return words[0].split(".")[0] if words else "?"


def instructions(listing: str) -> list[tuple[int, str]]:
    """(address, text) of every instruction of a ``cuobjdump -sass`` listing."""
    found = (_INSTRUCTION.match(line) for line in listing.splitlines())
    return [(int(m.group(1), 16), m.group(2)) for m in found if m]


def profiled_instructions(path: str) -> tuple[list[tuple[int, str]], list[int], list[int]]:
    """(address, text), executed warp instructions and stall samples of each instruction of Nsight
    Compute's source page (``ncu --import R --page source --csv --print-source sass``)."""
    rows = list(csv.reader(open(path)))
    header = next(r for r in rows if "Source" in r and "Instructions Executed" in r)
    at = {name: header.index(name) for name in ("Source", "Instructions Executed")}
    address = next(k for k, name in enumerate(header) if "Address" in name)
    sampled = header.index("Warp Stall Sampling (All Samples)")
    code, executed, samples = [], [], []
    for row in rows[rows.index(header) + 1:]:
        try:
            where = int(row[address], 16)
            n, s = int(row[at["Instructions Executed"]] or 0), int(row[sampled] or 0)
        except (ValueError, IndexError):
            continue
        code.append((where, row[at["Source"]].strip().rstrip(";")))
        executed.append(n)
        samples.append(s)
    return code, executed, samples


def loops(code: list[tuple[int, str]], executed=None, samples=None) -> list[dict]:
    """Every backward branch as a loop: first and last address, body length, opcode counts (and, given
    per-instruction counts, the loop's executed instructions and stall samples)."""
    index = {address: k for k, (address, _) in enumerate(code)}
    found = []
    for k, (address, text) in enumerate(code):
        target = _BRANCH_TARGET.search(text)
        if not target or opcode(text) != "BRA":
            continue
        start = int(target.group(1), 16)
        if start <= address and start in index:
            first = index[start]
            body = code[first:k + 1]
            loop = {"start": start, "end": address, "length": len(body),
                    "opcodes": collections.Counter(opcode(t) for _, t in body)}
            if executed is not None:
                loop["executed"] = sum(executed[first:k + 1])
                loop["samples"] = sum(samples[first:k + 1])
                loop["fma_executed"] = sum(n for n, (_, t) in zip(executed[first:k + 1], body)
                                           if opcode(t) in FMA_OPCODES)
            found.append(loop)
    return sorted(found, key=lambda loop: loop["start"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sass", help="a cuobjdump -sass listing of one kernel")
    p.add_argument("--min-length", type=int, default=0, help="leave out loops shorter than this")
    p.add_argument("--top", type=int, default=12, help="opcodes shown per loop")
    args = p.parse_args(argv)
    executed = samples = None
    if args.sass.endswith(".csv"):
        code, executed, samples = profiled_instructions(args.sass)
        all_executed, all_samples = max(1, sum(executed)), max(1, sum(samples))
    else:
        code = instructions(open(args.sass).read())
    total = collections.Counter(opcode(t) for _, t in code)
    print(f"{args.sass}: {len(code)} instructions; "
          + ", ".join(f"{op} {n}" for op, n in total.most_common(args.top)))
    if executed is not None:
        fma = sum(n for n, (_, t) in zip(executed, code) if opcode(t) in FMA_OPCODES)
        print(f"  executed {sum(executed)} warp instructions, {fma / all_executed * 100:.1f}% FMA; "
              f"{sum(samples)} stall samples")
    for loop in loops(code, executed, samples):
        if loop["length"] < args.min_length:
            continue
        ops = loop["opcodes"]
        fma = sum(ops[op] for op in FMA_OPCODES)
        per_fma = f"{loop['length'] / fma:5.2f} per FMA" if fma else "   no FMA   "
        dynamic = ""
        if executed is not None:
            dynamic = (f" [{loop['executed'] / all_executed * 100:5.1f}% executed, "
                       f"{loop['samples'] / all_samples * 100:5.1f}% samples, "
                       f"{loop['fma_executed'] / max(1, loop['executed']) * 100:4.1f}% FMA]")
        print(f"  {loop['start']:#07x}-{loop['end']:#07x} {loop['length']:5d} instructions, {fma:4d} FMA, {per_fma}"
              f"{dynamic}: " + ", ".join(f"{op} {n}" for op, n in ops.most_common(args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
