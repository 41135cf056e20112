#!/usr/bin/env python3
"""The loops of a compiled CUDA kernel, read from its SASS: each backward branch, the length of the body it
closes and the body's opcode mix, so that the instructions a loop spends per multiply-add can be counted
without a GPU.

    python3 benchmarks/group_kernel_resources.py tests/data/cuag/model.h5 --sass /tmp/k   # writes /tmp/k.<body>.sass
    python3 benchmarks/sass_loops.py /tmp/k.group_atom_energy.sass [--min-length 20]

Counts are static (one per instruction in the listing): a loop's share of the executed instructions
needs its trip count, or Nsight Compute's source page (benchmarks/gpu_ncu.sh).
"""
from __future__ import annotations

import argparse
import collections
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


def loops(code: list[tuple[int, str]]) -> list[dict]:
    """Every backward branch as a loop: first and last address, body length, opcode counts."""
    index = {address: k for k, (address, _) in enumerate(code)}
    found = []
    for k, (address, text) in enumerate(code):
        target = _BRANCH_TARGET.search(text)
        if not target or opcode(text) != "BRA":
            continue
        start = int(target.group(1), 16)
        if start <= address and start in index:
            body = code[index[start]:k + 1]
            found.append({"start": start, "end": address, "length": len(body),
                          "opcodes": collections.Counter(opcode(t) for _, t in body)})
    return sorted(found, key=lambda loop: loop["start"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sass", help="a cuobjdump -sass listing of one kernel")
    p.add_argument("--min-length", type=int, default=0, help="leave out loops shorter than this")
    p.add_argument("--top", type=int, default=12, help="opcodes shown per loop")
    args = p.parse_args(argv)
    code = instructions(open(args.sass).read())
    total = collections.Counter(opcode(t) for _, t in code)
    print(f"{args.sass}: {len(code)} instructions; "
          + ", ".join(f"{op} {n}" for op, n in total.most_common(args.top)))
    for loop in loops(code):
        if loop["length"] < args.min_length:
            continue
        ops = loop["opcodes"]
        fma = sum(ops[op] for op in FMA_OPCODES)
        per_fma = f"{loop['length'] / fma:5.2f} per FMA" if fma else "   no FMA   "
        print(f"  {loop['start']:#07x}-{loop['end']:#07x} {loop['length']:5d} instructions, {fma:4d} FMA, {per_fma}: "
              + ", ".join(f"{op} {n}" for op, n in ops.most_common(args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
