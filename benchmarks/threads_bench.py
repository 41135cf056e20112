"""What sharing one DeepPot between threads costs: the evaluator's lock against one DeepPot per thread.

Three ways to evaluate the same 4·R frames (one structure per thread, R repeats each):
  sequential   one thread, one DeepPot
  shared       4 threads on one DeepPot (evaluations queue on the evaluator's lock)
  per-thread   4 threads, one DeepPot each (own buffers, no shared lock; 4× the device memory)
Frames per second of each, and every result checked equal to the sequential one.

    python benchmarks/threads_bench.py --device opencl:cpu --atoms 108 --repeats 20
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from ab_timing import alloy_structure  # noqa: E402


def _threaded(work, n):
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "dpsycl", "data", "cuag.h5"))
    p.add_argument("--device", default="opencl:cpu")
    p.add_argument("--atoms", type=int, default=108)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--output", help="JSON file for the figures")
    args = p.parse_args(argv)

    import numpy as np

    import dpsycl
    model = dpsycl.load_model(args.model)
    frames = [(pos.reshape(1, -1), cell.reshape(1, 9), atype)
              for pos, cell, atype in (alloy_structure(args.atoms, seed=k) for k in range(args.threads))]
    pots = [dpsycl.DeepPot(model, device=args.device) for _ in range(args.threads)]
    for pot in pots:                                         # compile and allocate outside the timing
        pot.eval(*frames[0])
    n, r = args.threads, args.repeats
    start = time.perf_counter()
    want = [[pots[0].eval(*frames[k]) for _ in range(r)] for k in range(n)]
    timings = {"sequential": time.perf_counter() - start}
    got = {name: [None] * n for name in ("shared", "per-thread")}
    timings["shared"] = _threaded(lambda k: got["shared"].__setitem__(k, [pots[0].eval(*frames[k]) for _ in range(r)]), n)
    timings["per-thread"] = _threaded(lambda k: got["per-thread"].__setitem__(k, [pots[k].eval(*frames[k]) for _ in range(r)]), n)
    exact = all(np.array_equal(a, b) for runs in got.values() for k in range(n)
                for g, w in zip(runs[k], want[k]) for a, b in zip(g, w))
    rows = {name: {"seconds": t, "frames_per_s": n * r / t} for name, t in timings.items()}
    print(f"{args.atoms} atoms, {n} threads x {r} frames on {pots[0].describe_device()}; all results equal: {exact}")
    print(f"{'mode':<12} {'frames/s':>10} {'vs sequential':>14}")
    for name, row in rows.items():
        print(f"{name:<12} {row['frames_per_s']:>10.1f} {row['frames_per_s'] / rows['sequential']['frames_per_s']:>14.2f}")
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(dict(device=pots[0].describe_device(), atoms=args.atoms, threads=n, repeats=r, exact=exact,
                           cpu_count=os.cpu_count(), rows=rows), fh, indent=1)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
