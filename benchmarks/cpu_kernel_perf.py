#!/usr/bin/env python3
"""Where the time of repeated ``DeepPot.eval`` calls goes on a CPU, down to the instructions of each SYCL kernel.

    PYTHONPATH=. python benchmarks/cpu_kernel_perf.py --model .ab/cuag_compressed.h5 --natoms 2048 --evals 100 \
        [--annotate pair_gradient_tables_group --windows 6] [--output results/perf.json]

``perf record`` (software clock sampling: this VM has no PMU counters, ``perf_event_paranoid`` ≤ 2 suffices)
runs a child process that evaluates the structure, with events off until the kernels are compiled and warm: the
child turns them on and off through perf's control FIFO around the timed evaluations.  The OpenCL CPU runtime
emits each kernel's machine code into anonymous executable memory, which perf reports as ``[JIT]`` without
names; the child notes which pages turn executable at each kernel's first launch (one program per
kernel, sycl_kernel_files.py) and, after the timed evaluations, copies those mappings into files.  Each sample
is then charged to its kernel (or to its shared object: oneMKL, libintelocl, Python, ...), and ``--annotate``
disassembles one kernel (``objdump``) and prints its hottest windows of instructions with their sample counts.
A sample lands on the instruction after the one that stalled more often than not (skid): read a window, not a
line.  cpu_kernel_asm.py names the same instructions in the compiler's own assembly.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[5])
from ab_timing import alloy_structure
import dpsycl
from dpsycl.backends import sycl_kernel_files

# neighbouring anonymous mappings merge in /proc/self/maps: a kernel's code is known by the pages that turn
# executable at its first launch, not by a mapping
def executable_pages():
    pages = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if "x" in fields[1] and len(fields) < 6:          # anonymous: no file, no [vdso]-like name
                start, end = (int(v, 16) >> 12 for v in fields[0].split("-"))
                pages.update(range(start, end))
    return pages

owners, launched = {}, set()
launch = sycl_kernel_files.CachedKernel.launch

def noting_launch(self, queue, *args, **kwargs):
    name = self.wrapper.__name__
    before = None if name in launched else executable_pages()
    result = launch(self, queue, *args, **kwargs)
    if before is not None:
        launched.add(name)
        for page in executable_pages() - before:
            owners[page] = name
    return result

sycl_kernel_files.CachedKernel.launch = noting_launch
model, natoms, evals, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pos, cell, atype = alloy_structure(natoms)
dp = dpsycl.DeepPot(model, device="opencl:cpu")
for _ in range(2):
    dp.eval(pos[None], cell[None], atype)
with open(os.environ["DPSYCL_PERF_CTL"], "w") as ctl, open(os.environ["DPSYCL_PERF_ACK"]) as ack:
    ctl.write("enable\n"); ctl.flush(); ack.readline()
    t = time.perf_counter()
    for _ in range(evals):
        dp.eval(pos[None], cell[None], atype)
    seconds = time.perf_counter() - t
    ctl.write("disable\n"); ctl.flush(); ack.readline()
runs = []                                                # each kernel's runs of consecutive pages
for page in sorted(owners):
    if runs and runs[-1][1] == page and runs[-1][2] == owners[page]:
        runs[-1][1] = page + 1
    else:
        runs.append([page, page + 1, owners[page]])
mappings = []
with open("/proc/self/mem", "rb") as mem:
    for first, end, kernel in runs:
        mem.seek(first << 12)
        path = os.path.join(out, f"{first:x}.bin")
        with open(path, "wb") as f:
            f.write(mem.read((end - first) << 12))
        mappings.append(dict(start=first << 12, end=end << 12, kernel=kernel, file=path))
with open(os.path.join(out, "mappings.json"), "w") as f:
    json.dump(dict(mappings=mappings, eval_ms=seconds / evals * 1e3), f)
"""


def record(model: str, natoms: int, evals: int, freq: int, folder: str) -> dict:
    """perf samples of ``evals`` evaluations (events on only around them), and the child's code mappings."""
    ctl, ack = os.path.join(folder, "ctl"), os.path.join(folder, "ack")
    os.mkfifo(ctl)
    os.mkfifo(ack)
    data = os.path.join(folder, "perf.data")
    env = dict(os.environ, DPSYCL_PERF_CTL=ctl, DPSYCL_PERF_ACK=ack)
    subprocess.run(["perf", "record", "-q", "-F", str(freq), "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-o", data,
                    "--", sys.executable, "-c", CHILD, model, str(natoms), str(evals), folder, HERE], env=env,
                   check=True)
    with open(os.path.join(folder, "mappings.json")) as f:
        child = json.load(f)
    script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,dso"], capture_output=True, text=True,
                            check=True).stdout
    return dict(child, samples=[line.split() for line in script.splitlines() if line.strip()])


def charge(run: dict):
    """(share per kernel or shared object, samples per kernel by offset in its mapping)."""
    mappings = [m for m in run["mappings"] if m["kernel"]]
    totals, offsets = collections.Counter(), collections.defaultdict(collections.Counter)
    for fields in run["samples"]:
        ip = int(fields[0], 16)
        where = next((m for m in mappings if m["start"] <= ip < m["end"]), None)
        if where is not None:
            name = where["kernel"].removeprefix("kernel_")
            totals[name] += 1
            offsets[name][ip - where["start"]] += 1
        else:
            dso = fields[1].strip("()") if len(fields) > 1 else "?"
            dso = "[JIT] code of no kernel's first launch" if dso.startswith("[JIT]") else dso
            totals[os.path.basename(dso) if dso.startswith("/") else dso] += 1
    return totals, offsets


def hot_windows(run: dict, kernel: str, offsets: collections.Counter, width: int, count: int) -> list[dict]:
    """The ``count`` hottest non-overlapping windows of ``width`` instructions of one kernel's code."""
    mapping = next(m for m in run["mappings"] if m["kernel"] and m["kernel"].removeprefix("kernel_") == kernel)
    listing = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", mapping["file"]],
                             capture_output=True, text=True, check=True).stdout
    code = [(int(m.group(1), 16), m.group(2).strip()) for m in
            (re.match(r"\s+([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)", line) for line in listing.splitlines()) if m]
    hits = [offsets.get(at, 0) for at, _ in code]
    total = max(sum(offsets.values()), 1)
    sums = [sum(hits[i:i + width]) for i in range(len(code))]
    taken, windows = set(), []
    for i in sorted(range(len(code)), key=lambda k: -sums[k]):
        if len(windows) == count or sums[i] == 0:
            break
        if taken & set(range(i, i + width)):
            continue
        taken |= set(range(i, i + width))
        windows.append(dict(offset=code[i][0], share=sums[i] / total,
                            lines=[(hits[k], code[k][0], code[k][1]) for k in range(i, min(i + width, len(code)))]))
    return windows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(HERE, "..", "tests", "data", "cuag", "model.h5"))
    p.add_argument("--natoms", type=int, default=2048)
    p.add_argument("--evals", type=int, default=50)
    p.add_argument("--freq", type=int, default=4000, help="samples per second and thread")
    p.add_argument("--annotate", help="a kernel (e.g. pair_gradient_tables_group) whose hottest code to print")
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--width", type=int, default=40, help="instructions per window")
    p.add_argument("--output")
    args = p.parse_args(argv)
    for tool in ("perf", "objdump"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed here", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="cpu_perf_") as folder:
        run = record(os.path.abspath(args.model), args.natoms, args.evals, args.freq, folder)
        totals, offsets = charge(run)
        windows = (hot_windows(run, args.annotate, offsets[args.annotate], args.width, args.windows)
                   if args.annotate else [])
    total = max(sum(totals.values()), 1)
    if args.output:               # first: a reader that stops early (| head) must not lose it
        with open(args.output, "w") as f:
            json.dump(dict(model=args.model, natoms=args.natoms, evals=args.evals, eval_ms=run["eval_ms"],
                           samples=total, shares={k: v / total for k, v in totals.most_common()},
                           annotate=args.annotate, windows=windows), f, indent=1)
    print(f"{args.evals} evaluations of {args.natoms} atoms, {run['eval_ms']:.1f} ms each; {total} samples")
    for name, n in totals.most_common():
        if n / total >= 0.002:
            print(f"{100 * n / total:6.2f}%  {name}")
    for w in windows:
        print(f"--- {args.annotate} +{w['offset']:#x}: {100 * w['share']:.1f}% of the kernel's samples")
        for hits, at, text in w["lines"]:
            print(f"{hits:6d} {at:6x}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
