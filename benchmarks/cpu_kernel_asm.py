#!/usr/bin/env python3
"""What the OpenCL CPU compiler made of each kernel of one evaluation: a census of its machine code.

    PYTHONPATH=. python benchmarks/cpu_kernel_asm.py --model .ab/cuag_compressed.h5 --natoms 2048 \
        [--precision float32] [--keep DIR] [--output results/asm-census.json]

This VM exposes no PMU counters (``perf stat``: cycles "not supported"), so the evidence of what a CPU kernel
spends its time on is its code.  One ``DeepPot.eval`` runs in a child process with the runtime's dump switches
(``CL_CONFIG_DUMP_ASM=True``, ``CL_CONFIG_DUMP_FILE_NAME_PREFIX``: the 2024.2 runtime's variables, found with
``strings libintelocl.so``, benchmarks/NOTES.md session 6); each kernel's ``.s`` holds its entry function
("entry") and, for work-group kernels the vectoriser took, a ``_ZGV…N<width>`` variant that runs over whole
vectors of a group.  A kernel without barriers may be vectorised in place, its entry then being vector code
(se_e2_a's chunk passes: twice as slow with ``CL_CONFIG_CPU_VECTORIZER_MODE=1``, session 29).  For each
function the census counts the instructions that mark a slow path on x86:

- ``calls``: library calls, by routine (``__ocl_svml_*``: e.g. one call per lane for a conversion AVX2 lacks);
- ``gathers``, masked loads and stores (``vmaskmov``), blends (``vblendv``: a masked branch's values);
- ``fma`` against separate ``mul``/``add``; ``div`` and ``sqrt``;
- ``to_int``: scalar float → int conversions (``cvttsd2si``: extracted lane by lane);
- ``stack``: operands on the stack frame (``(%rbx)``/``(%rsp)``/``(%rbp)``: spilled registers, private arrays).

Counts are static (instructions in the code, not executed): compare a kernel before and after a change, or
against the stage profile (cpu_stage_profile.py), not across kernels.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

#: (label, pattern) of the instruction classes counted in each variant
CLASSES = (
    ("gathers", re.compile(r"^\s*vp?gather")),
    ("masked", re.compile(r"^\s*vp?maskmov")),
    ("blends", re.compile(r"^\s*vp?blendv")),
    ("fma", re.compile(r"^\s*vfn?m(add|sub)")),
    ("mul", re.compile(r"^\s*vmul[ps][sd]")),
    ("add", re.compile(r"^\s*v(add|sub)[ps][sd]")),
    ("div", re.compile(r"^\s*v?div[ps][sd]")),
    ("sqrt", re.compile(r"^\s*v?sqrt[ps][sd]")),
    ("to_int", re.compile(r"^\s*v?cvtts[sd]2si")),
    ("stack", re.compile(r"\((%rbx|%rsp|%rbp)\)")),
)
CALL_TARGET = re.compile(r"\$(__ocl_svml_[A-Za-z0-9_]+|__[A-Za-z0-9_]+)")
FUNCTION = re.compile(r"^(\S+):\s*$")
KERNEL_NAME = re.compile(r"kernel_([a-z0-9_]+?)_\d+[A-Za-z0-9]")
VECTOR_WIDTH = re.compile(r"^_ZGV[a-z]N(\d+)")

CHILD = r"""
import sys
sys.path.insert(0, sys.argv[4])
from ab_timing import alloy_structure
import dpsycl
pos, cell, atype = alloy_structure(int(sys.argv[2]))
dp = dpsycl.DeepPot(sys.argv[1], device="opencl:cpu", precision=sys.argv[3] or None)
dp.eval(pos[None], cell[None], atype)
"""


def dump_kernels(model: str, natoms: int, precision: str, folder: str) -> None:
    """One evaluation in a child process whose OpenCL runtime writes each kernel's assembly into ``folder``."""
    env = dict(os.environ, CL_CONFIG_DUMP_ASM="True", CL_CONFIG_DUMP_FILE_NAME_PREFIX=os.path.join(folder, "k"))
    subprocess.run([sys.executable, "-c", CHILD, model, str(natoms), precision, HERE], env=env, check=True)


def census(path: str) -> dict:
    """{"kernel": name, "variants": {"entry" | "vector<w>": counts}} of one dumped assembly file."""
    kernel, variants, current = None, {}, None
    with open(path) as f:
        for line in f:
            head = FUNCTION.match(line)
            if head and not line.startswith((".", "\t")):
                symbol = head.group(1)
                found = KERNEL_NAME.search(symbol)
                if found is None:
                    continue
                kernel = kernel or found.group(1)
                width = VECTOR_WIDTH.match(symbol)
                name = f"vector{width.group(1)}" if width else "entry"
                current = variants.setdefault(name, collections.Counter())
                continue
            if current is None or not line.startswith("\t") or line.startswith("\t."):
                continue
            current["instructions"] += 1
            for label, pattern in CLASSES:
                if pattern.search(line):
                    current[label] += 1
            target = CALL_TARGET.search(line)
            if target and ("movabsq" in line or "call" in line):
                current["call " + target.group(1)] += 1
    return {"kernel": kernel or os.path.basename(path), "variants": {k: dict(v) for k, v in variants.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(HERE, "..", "tests", "data", "cuag", "model.h5"))
    p.add_argument("--natoms", type=int, default=2048)
    p.add_argument("--precision", default="", help="float64, float32 (default: the model's)")
    p.add_argument("--keep", help="folder for the .s files (default: a temporary one, removed)")
    p.add_argument("--output")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="asm_") as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        dump_kernels(os.path.abspath(args.model), args.natoms, args.precision, folder)
        kernels = sorted((census(f) for f in glob.glob(os.path.join(folder, "*.s"))), key=lambda k: k["kernel"])
    labels = ["instructions"] + [label for label, _ in CLASSES]
    print(f"{'kernel':34s} {'variant':9s} " + " ".join(f"{label[:7]:>7s}" for label in labels) + "  calls")
    for k in kernels:
        for variant, counts in sorted(k["variants"].items()):
            calls = ", ".join(f"{name[5:] if name.startswith('call ') else name}×{n}" for name, n in sorted(counts.items())
                              if name.startswith("call "))
            print(f"{k['kernel'][:34]:34s} {variant:9s} " + " ".join(f"{counts.get(label, 0):7d}" for label in labels)
                  + f"  {calls}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"model": args.model, "natoms": args.natoms, "precision": args.precision or "model",
                       "kernels": kernels}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
