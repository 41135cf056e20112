"""The CUDA backend (same kernel bodies, numba's CUDA target) under numba's CUDA simulator.

The simulator must be enabled before numba is imported, so the check runs in a subprocess.  It
interprets kernels in Python, hence small systems only (4 and 27 atoms), both kernel layouts.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from conftest import TOL

WORKER = pathlib.Path(__file__).parent / "cuda_sim_worker.py"


def test_cuda_backend_under_simulator_matches_reference(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    # the work-group layout (what real GPUs run) is slow to simulate — one Python thread per lane —
    # so it gets the 4-atom box; the per-atom layout also gets the 27-atom triclinic cell.
    # The five se_e2_a cases cost ~135 of the ~200 s (cuag:triclinic alone ~60 s), so they come first:
    # the workers claim cases in this order, each the next one unclaimed, and finish together
    cases = ["cuag:triclinic:chunk", "cuag:small_box:group", "cuagau_f32:triclinic:chunk",
             "cuagau_f32:small_box:group", "cuag_pair:small_box:group",
             "tiny_se_r_exclude:small_box:chunk",
             "tiny_fparam:small_box:group", "threads:tiny_se_r_exclude:small_box:chunk",
             "tiny_se_e3:triclinic:chunk", "tiny_tebd_pair:small_box:group", "tiny_tebd:small_box:chunk",
             "tiny_compress:small_box:group", "tiny_se_r_compress:small_box:chunk",
             "tiny_pair_compress:small_box:chunk",
             "tiny_hybrid:small_box:chunk", "tiny_hybrid_pair:small_box:chunk",
             "tiny_hybrid_e3:small_box:chunk", "tiny_hybrid_compress:small_box:chunk",
             "tiny_se_e3_compress:triclinic:chunk", "tiny_hybrid_tebd:small_box:chunk",
             "tiny_se_e3_tebd:small_box:chunk", "tiny_hybrid_e3_tebd:small_box:chunk",
             "tiny_hybrid_e3_compress:small_box:chunk",
             # float32 models (TOL["float32"]): the 4-atom box, each in its unit's GPU layout
             "tiny_f32_se_r:small_box:chunk", "tiny_f32_se_e3:small_box:chunk", "tiny_f32_tebd:small_box:group",
             "tiny_f32_compress:small_box:group", "tiny_f32_se_r_compress:small_box:chunk",
             "tiny_f32_hybrid:small_box:chunk"]
    # two workers at once: the simulator is one Python thread each, and CI has two cores
    procs = [subprocess.Popen([sys.executable, str(WORKER), "--claim", str(tmp_path), *cases], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    rows = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=1200)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        assert proc.returncode == 0, err[-3000:]
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(rows) == len(cases)
    # every case ran, once
    done = [("threads:" if "threads" in row else "") + f"{row['model']}:{row['case']}:{row['layout']}" for row in rows]
    assert sorted(done) == sorted(cases), done
    for row in rows:
        assert "simulator" in row["device"]
        if "threads" in row:
            # four threads on one DeepPot: every result equals the same evaluation done alone
            assert row["threads"] == 0.0, row
            continue
        tol = TOL[row["precision"]]
        assert row["energy"] <= tol["energy"], row
        assert row["force"] <= tol["force"], row
        assert row["virial"] <= tol["virial"], row
