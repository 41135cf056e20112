"""The benchmark's code path on a tiny cell: JSON fields, and the energies-agree check enforced.

Each device test compiles dpsycl's kernels once for float64 (~15 s on 2 cores) and loads
DeePMD-kit's TensorFlow peer (~5 s); one 32-atom point, one repeat, no MD, no CPU-peak GEMM.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os

import numpy as np
import pytest

from dpsycl import bench

needs_stack = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("dpctl", "numba_dpex", "deepmd", "tensorflow")),
    reason="needs the SYCL stack (dpctl, numba-dpex) and DeePMD-kit with TensorFlow")


def _opencl_cpu():
    import dpsycl
    devs = [d for d in dpsycl.devices() if d.startswith("opencl:cpu")]
    if not devs:
        pytest.skip("no opencl:cpu device")
    return devs[0]


def _config(tmp_path, **kw):
    cfg = dict(devices=[_opencl_cpu()], precisions=("float64",), sizes=[32], repeats=1, peer="deepmd-tf",
               md=False, output=str(tmp_path), readme=None, plots=False, measure_cpu_peak=False,
               budget_seconds=None)
    cfg.update(kw)
    return bench.BenchConfig(**cfg)


def test_supercells_and_alloy():
    assert bench.supercell_for(2048) == (8, 8, 8)
    assert bench.supercell_for(8788) == (13, 13, 13)
    assert bench.supercell_for(32768) == (16, 16, 32)
    assert bench.supercell_for(1048576) == (64, 64, 64)
    with pytest.raises(ValueError):
        bench.supercell_for(30)
    x, cell, at = bench.alloy(256, seed=3)
    assert x.shape == (256, 3) and at.sum() == 128
    assert np.all(x >= 0) and np.all(x < np.diag(cell))
    x2, _, at2 = bench.alloy(256, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(at, at2)


def test_flop_model_counts_padding_for_deepmd_only():
    import dpsycl
    from dpsycl.bench import _data_file
    m = dpsycl.load_model(_data_file("cuag.h5"))
    few = bench.flop_model(m, n_real=100 * 50, n_padded_blocks=200, natoms=100)
    many = bench.flop_model(m, n_real=100 * 80, n_padded_blocks=200, natoms=100)
    # DeePMD-kit evaluates every sel slot: its embedding work does not depend on the real count
    assert few["parts"]["deepmd"]["embedding_forward_all_slots"] == many["parts"]["deepmd"]["embedding_forward_all_slots"]
    assert many["dpsycl"] > few["dpsycl"] and many["useful"] > few["useful"]
    assert few["useful"] < few["deepmd"] and few["useful"] < few["dpsycl"]


@needs_stack
def test_bench_tiny_json(tmp_path):
    res = bench.run_benchmark(_config(tmp_path))
    path = res["json"]
    assert os.path.isfile(path)
    with open(path) as fh:
        run = json.load(fh)
    assert run["schema"] == bench.SCHEMA and run["status"] == "complete"
    for key in ("machine", "versions", "config", "model", "peaks", "peer", "results", "compile", "scaling",
                "targets", "portability", "structures", "flops"):
        assert key in run, key
    for dist in ("dpsycl", "numba", "dpctl", "deepmd-kit", "torch"):
        assert dist in run["versions"]
    dp = [r for r in run["results"] if r["code"] == "dpsycl"]
    peer = [r for r in run["results"] if r["code"] == "deepmd-tf"]
    assert len(dp) == 1 and len(peer) == 1
    r = dp[0]
    for key in ("t_nb_s", "t_compute_s", "t_total_s", "us_per_step_atom", "peak_memory_bytes", "compile_s",
                "flops_own", "flops_useful", "achieved_flops_own", "speed_ratio_vs_peer", "neighbours",
                "bytes_moved", "check"):
        assert r.get(key) is not None, key
    # the split is timed phase by phase; the total is DeepPot.eval end to end, like the peer's call
    assert r["t_phases_sum_s"] == pytest.approx(r["t_nb_s"] + r["t_compute_s"], rel=1e-9)
    assert r["t_total_s"] == pytest.approx(float(np.median(r["times_total_s"])), rel=1e-9)
    assert len(r["times_total_s"]) == r["repeats"]
    assert r["check"]["passed"] is True and r["check"]["abs_dE_per_atom"] <= 1e-8
    assert r["check"]["against"] == "deepmd-tf"
    assert peer[0]["status"] == "ok" and peer[0]["flops_own"] > r["flops_useful"]


@needs_stack
def test_bench_refuses_to_time_a_disagreeing_model(tmp_path):
    import dpsycl
    from dpsycl.bench import _data_file
    model = copy.deepcopy(dpsycl.load_model(_data_file("cuag.h5")))
    model.bias_atom_e = np.asarray(model.bias_atom_e) + 1e-3     # 1 meV/atom off DeePMD-kit's graph
    with pytest.raises(bench.EnergyMismatch, match="ΔE"):
        bench.run_benchmark(_config(tmp_path, model=model))
    (path,) = [p for p in os.listdir(tmp_path) if p.endswith(".json")]
    with open(tmp_path / path) as fh:
        run = json.load(fh)
    assert run["status"] == "energy mismatch"
    bad = [r for r in run["results"] if r["code"] == "dpsycl"][0]
    assert bad["check"]["passed"] is False
