"""The benchmark harness (benchmarks/dpsycl_bench, not installed): structures, FLOP model, timers,
budget, and one tiny run on the OpenCL CPU device against DeePMD-kit's TensorFlow peer.

The two device tests share one kernel compilation for float64 (~15 s on 2 cores) and load the
TensorFlow peer (~5 s) each; one 64-atom point, two repeats, no MD, no CPU-peak GEMM.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
import sys
import time

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from dpsycl_bench import models, peers, report, runner, structures, timing  # noqa: E402

needs_stack = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("dpctl", "numba_dpex", "deepmd", "tensorflow")),
    reason="needs the SYCL stack (dpctl, numba-dpex) and DeePMD-kit with TensorFlow")

#: added to every DeepPot.eval of either code in the device test: the timers must see it exactly once
SLEEP = 0.25
NATOMS = 64      # above the 32-atom warm-up cell, so that this size sets every workspace buffer


def _opencl_cpu():
    import dpsycl
    devs = [d for d in dpsycl.devices() if d.startswith("opencl:cpu")]
    if not devs:
        pytest.skip("no opencl:cpu device")
    return devs[0]


def _config(tmp_path, **kw):
    cfg = dict(devices=[_opencl_cpu()], precisions=("float64",), sizes=[NATOMS], repeats=2, peer="deepmd-tf",
               md=False, output=str(tmp_path), readme=None, plots=False, measure_cpu_peak=False,
               budget_seconds=None)
    cfg.update(kw)
    return runner.BenchConfig(**cfg)


def _bundled_model():
    import dpsycl
    return dpsycl.load_model(dpsycl.bundled_model())


def test_supercells_and_alloy():
    assert structures.supercell_for(2048) == (8, 8, 8)
    assert structures.supercell_for(8788) == (13, 13, 13)
    assert structures.supercell_for(32768) == (16, 16, 32)
    assert structures.supercell_for(1048576) == (64, 64, 64)
    with pytest.raises(ValueError):
        structures.supercell_for(30)
    x, cell, atype = structures.alloy(256, seed=3)
    assert x.shape == (256, 3) and np.bincount(atype).tolist() == [128, 128]
    assert np.allclose(cell, np.diag([4 * structures.LATTICE] * 3))
    assert np.all(x >= 0) and np.all(x < np.diag(cell))
    # fcc sites lie on the a/2 grid: what is left is the Gaussian noise, σ = 0.05 Å per coordinate
    half = structures.LATTICE / 2
    displacement = x - np.round(x / half) * half
    assert np.std(displacement) == pytest.approx(structures.NOISE, rel=0.1)
    x2, _, atype2 = structures.alloy(256, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(atype, atype2)
    x3, _, atype3 = structures.alloy(256, seed=4)
    assert not np.array_equal(atype, atype3) and not np.allclose(x, x3)


def test_flop_model_counts_padding_for_deepmd_only():
    m = _bundled_model()
    few = models.flop_model(m, n_real=100 * 50, n_padded_blocks=200, natoms=100)
    many = models.flop_model(m, n_real=100 * 80, n_padded_blocks=200, natoms=100)
    # DeePMD-kit evaluates every sel slot: its embedding work does not depend on the real count
    assert few["parts"]["deepmd"]["embedding_forward_all_slots"] == many["parts"]["deepmd"]["embedding_forward_all_slots"]
    assert many["dpsycl"] > few["dpsycl"] and many["useful"] > few["useful"]
    assert few["useful"] < few["deepmd"] and few["useful"] < few["dpsycl"]


def test_flop_model_matches_the_figures_in_notes():
    """benchmarks/NOTES.md quotes 1.52 / 2.72 / 1.18 MFLOP per atom at 56.5 real neighbours."""
    n = 1000
    flops = models.flop_model(_bundled_model(), n_real=56.5 * n, n_padded_blocks=2 * n, natoms=n)
    assert flops["dpsycl"] / n == pytest.approx(1.52e6, rel=5e-3)
    assert flops["deepmd"] / n == pytest.approx(2.72e6, rel=5e-3)
    assert flops["useful"] / n == pytest.approx(1.18e6, rel=5e-3)


def test_time_calls_against_an_independent_clock():
    start = time.monotonic()
    times = timing.time_calls(lambda: time.sleep(0.05), 3)
    elapsed = time.monotonic() - start
    assert len(times) == 3
    assert all(0.05 <= t < 0.1 for t in times), times
    assert sum(times) <= elapsed


def test_repeats_drop_to_fit_the_budget():
    budget = timing.Budget(seconds=10.0, t0=time.perf_counter())
    budget.rate["big"] = 1e-3                     # 1 ms per atom: 8.2 s per evaluation at 8,192 atoms
    remaining = [("big", 8192)]
    reps, rule = timing.choose_repeats(None, 1, 10, target_seconds=6.0, t_warm=0.5, budget=budget,
                                       remaining=remaining)
    assert reps < 10 and rule.startswith("budget")
    assert timing.choose_repeats(None, 1, 10, 6.0, 0.5, timing.Budget(None, 0.0), remaining) == (10, "adaptive")
    assert timing.choose_repeats(3, 1, 10, 6.0, 0.5, budget, remaining) == (3, "fixed")


def _slow(monkeypatch, cls):
    """Every ``cls.eval`` sleeps SLEEP seconds before evaluating."""
    evaluate = cls.eval

    def slow_eval(self, *args, **kwargs):
        time.sleep(SLEEP)
        return evaluate(self, *args, **kwargs)
    monkeypatch.setattr(cls, "eval", slow_eval)


@needs_stack
def test_bench_tiny_run(tmp_path, monkeypatch):
    import dpsycl
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nkept text\n\n<!-- dpsycl-bench:cpu begin -->\nold\n<!-- dpsycl-bench:cpu end -->\n"
                      "\nkept below\n")
    _slow(monkeypatch, dpsycl.DeepPot)
    _slow(monkeypatch, peers.DeepmdPeer)
    res = runner.run_benchmark(_config(tmp_path, readme=str(readme)))
    monkeypatch.undo()
    with open(res["json"]) as fh:
        run = json.load(fh)
    assert run["status"] == "complete"
    for key in ("machine", "versions", "config", "model", "peaks", "peer", "results", "compile", "scaling",
                "targets", "portability", "structures", "flops"):
        assert key in run, key
    for dist in ("dpsycl", "numba", "dpctl", "deepmd-kit", "torch"):
        assert dist in run["versions"]
    (r,) = [r for r in run["results"] if r["code"] == "dpsycl"]
    (peer,) = [r for r in run["results"] if r["code"] == "deepmd-tf"]
    for key in ("t_nb_s", "t_compute_s", "t_total_s", "us_per_step_atom", "peak_memory_bytes", "compile_s",
                "flops_own", "flops_useful", "achieved_flops_own", "speed_ratio_vs_peer", "neighbours",
                "bytes_moved", "check", "workspace_bytes"):
        assert r.get(key) is not None, key

    # timers: the total is DeepPot.eval, which sleeps SLEEP once per call; the phases do not call it
    assert r["repeats"] == 2 and len(r["times_total_s"]) == 2 and len(r["times_nb_s"]) == 2
    assert all(SLEEP <= t < 2 * SLEEP for t in r["times_total_s"]), r["times_total_s"]
    assert r["t_nb_s"] + r["t_compute_s"] < SLEEP
    assert peer["status"] == "ok" and len(peer["times_total_s"]) == peer["repeats"] == 2
    assert all(SLEEP <= t < 2 * SLEEP for t in peer["times_total_s"]), peer["times_total_s"]

    # energies agree, and FLOPs follow the measured neighbours
    assert r["check"]["passed"] is True and r["check"]["abs_dE_per_atom"] <= 1e-8
    assert r["check"]["against"] == "deepmd-tf"
    assert peer["flops_own"] > r["flops_useful"]
    assert r["neighbours"]["n_truncated"] == 0 and 40 < r["neighbours"]["mean_real"] < 70

    # memory: the recorded workspace is what a fresh evaluator holds after the same structure
    dp = dpsycl.DeepPot(_bundled_model(), device=_opencl_cpu(), precision="float64")
    x, cell, atype = structures.alloy(NATOMS, seed=0)
    dp.eval(x[None], cell.reshape(1, 9), atype)
    assert r["workspace_bytes"] == dp.evaluator.workspace_bytes()
    assert r["workspace_bytes_per_atom"] == pytest.approx(r["workspace_bytes"] / NATOMS)
    assert r["peak_memory_bytes"] > 0

    # the README: this run's section replaced, the text around it kept
    text = readme.read_text()
    assert "kept text" in text and "kept below" in text and "\nold\n" not in text
    assert f"`{run['run_id']}`" in text and "<!-- dpsycl-bench:portability begin -->" in text
    assert text == report.replace_block(text, "cpu", report.markdown_section(run))


@needs_stack
def test_bench_refuses_to_time_a_disagreeing_model(tmp_path):
    model = _bundled_model()
    # every atomic energy 1 meV above DeePMD-kit's graph
    model = dataclasses.replace(model, fitting=dataclasses.replace(model.fitting,
                                                                   out_bias=np.asarray(model.fitting.out_bias) + 1e-3))
    with pytest.raises(runner.EnergyMismatch, match="ΔE"):
        runner.run_benchmark(_config(tmp_path, model=model))
    (path,) = [p for p in os.listdir(tmp_path) if p.endswith(".json")]
    with open(tmp_path / path) as fh:
        run = json.load(fh)
    assert run["status"] == "energy mismatch"
    (bad,) = [r for r in run["results"] if r["code"] == "dpsycl"]
    assert bad["check"]["passed"] is False
    assert bad["check"]["abs_dE_per_atom"] == pytest.approx(1e-3, abs=1e-8)
    assert "times_total_s" not in bad and "t_total_s" not in bad     # nothing was timed
