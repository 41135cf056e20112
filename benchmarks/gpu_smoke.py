"""Quick timing of DeepPot evaluation on one device (first look; the full benchmark is benchmarks/bench.py).

    python3 gpu_smoke.py MODEL DEVICE N_CELLS...      (from benchmarks/; N_CELLS³ fcc cells each)
"""
import sys
import time

import numpy as np

import dpsycl


def timed(fn, repeats=5):
    """Median wall time of fn() over repeats, after one untimed warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def alloy(n_cells, a=3.85, seed=0):
    """n_cells³ fcc cells, 0.05 Å noise, Cu/Ag drawn independently per atom.

    NumPy only, unlike ``dpsycl.structures.random_alloy`` (ASE): gpu_validate.sh runs these scripts
    on the bare GPU image, where no ASE is installed."""
    base = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    g = np.stack(np.meshgrid(*[np.arange(n_cells)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    pos = ((g + base[None]).reshape(-1, 3)) * a
    rng = np.random.default_rng(seed)
    pos += rng.normal(0, 0.05, pos.shape)
    return pos, np.eye(3) * a * n_cells, rng.integers(0, 2, len(pos))


def main():
    model, device = sys.argv[1], sys.argv[2]
    dp = dpsycl.DeepPot(model, device=device)
    print(dp.describe_device(), flush=True)
    for n_cells in map(int, sys.argv[3:]):
        x, cell, at = alloy(n_cells)
        t0 = time.perf_counter()
        e = dp.eval(x[None], cell.reshape(1, 9), at)[0]
        t_first = time.perf_counter() - t0
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            dp.eval(x[None], cell.reshape(1, 9), at)
            ts.append(time.perf_counter() - t0)
        t = np.median(ts)
        print(f"N={len(x):8d}  first {t_first:7.2f} s  median {t:8.4f} s  {t / len(x) * 1e6:8.2f} us/atom  "
              f"E/N={e[0, 0] / len(x):.6f}", flush=True)


if __name__ == "__main__":
    main()
