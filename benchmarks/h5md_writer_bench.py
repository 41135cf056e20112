"""Time of one H5MD frame (dpsycl.h5md.H5MDWriter, committed every frame as `dpsycl run` does by
default) for N atoms: random positions, velocities and forces, so gzip cannot hide the I/O.

    python benchmarks/h5md_writer_bench.py N FRAMES

A/B of two trees: stage both with benchmarks/ab_timing.py:stage and run this with each on PYTHONPATH
(python -P, so that the checkout does not shadow the staged package).
"""
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from dpsycl.h5md import H5MDWriter
from dpsycl.md import Frame, MDSettings, MDState

N, F = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
pos = rng.random((N, 3)) * 30
state = MDState(positions=pos.ravel(), velocities=np.zeros(3 * N), forces=np.zeros(3 * N),
                image=np.zeros(3 * N, dtype=np.int64), atype=np.zeros(N, dtype=np.int64), type_map=["Cu", "Ag"],
                cell=np.eye(3) * 30, step=0, time=0.0, seed=0)
settings = MDSettings(dt=1.0, ensemble="nve", every=10)
obs = {k: 1.0 for k in ("potential_energy", "kinetic_energy", "total_energy", "temperature", "pressure")}
obs["stress"] = np.zeros((3, 3))
d = tempfile.mkdtemp(dir="/tmp")
path = os.path.join(d, "w.h5")
w = H5MDWriter.create(path, state, settings, model_path="m", model_sha256="x", device="cpu", rcut=6.0)
frames = []
for k in range(F):
    frames.append(Frame(step=10 * k, time=10.0 * k, positions=pos + k * 1e-3, velocities=rng.random((N, 3)),
                        forces=rng.random((N, 3)), image=np.zeros((N, 3), dtype=np.int64),
                        species=np.zeros(N, dtype=np.int64), cell=np.eye(3) * 30, observables=obs,
                        exact_neighbors_from=None))
t0 = time.perf_counter()
for fr in frames:
    w.write(fr)
w.close()
dt = time.perf_counter() - t0
print(f"{N} atoms {F} frames: {dt / F * 1e3:.2f} ms/frame, file {os.path.getsize(path) / 2**20:.1f} MiB")
shutil.rmtree(d)
