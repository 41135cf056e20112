"""The whole benchmark run: dpsycl against DeePMD-kit on every device, precision and size.

For every device (``dpsycl.devices()`` less ``numpy``, or those asked for) and precision (float64,
and a float32 twin running the same float64 weights in float32), on each structure size:

1. DeePMD-kit's peer evaluates the structure (its first evaluation is the reference energy) and
   is timed;
2. dpsycl evaluates it once and must agree with the peer (|ΔE|/N ≤ 1e-8 eV/atom float64, 1e-4
   float32; with no peer, float32 is checked against dpsycl float64): a disagreement writes the
   JSON with status "energy mismatch" and raises :class:`EnergyMismatch` before anything of that
   point is timed;
3. dpsycl is timed (:func:`dpsycl_bench.timing.measure_dpsycl`), and FLOP/s, fractions of peak
   and the speed ratio are derived.

The JSON file is rewritten after every size; the end of the run adds scaling, targets,
portability, plots and the README section (:mod:`dpsycl_bench.report`).

    from dpsycl_bench.runner import BenchConfig, run_benchmark
    result = run_benchmark(BenchConfig(sizes=[2048], devices=["opencl:cpu:0"], output="out/bench"))
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import time
from dataclasses import dataclass, field, fields

from . import report
from .analysis import evaluate_targets, portability, scaling
from .dpsycl_target import DpsyclTarget
from .machine import cpu_peak, gpu_peak, loadavg, machine_info, versions
from .md_throughput import md_ns_per_day
from .models import flop_model, network_dims
from .peers import DeepmdPeer, default_peer_model, is_out_of_memory, pick_peer
from .results_files import SCHEMA, latest_runs, write_run
from .structures import CPU_SIZES, GPU_SIZES, alloy, structure_record, supercell_for
from .timing import Budget, choose_repeats, energy_check, log, measure_dpsycl, measure_peer

TOLERANCE = {"float64": 1e-8, "float32": 1e-4}   # |ΔE|/N, eV/atom


class EnergyMismatch(ValueError):
    """dpsycl and its reference disagree on the energy of a benchmarked structure."""


@dataclass
class BenchConfig:
    model: object = None                 # dpsycl model (path or dpsycl.Model); default: dpsycl.bundled_model()
    peer: str = "auto"                   # auto | deepmd-tf | deepmd-pt | none
    peer_model: str | None = None        # .pb (tf) or .pth (pt); default: the repository's cuag.pb for tf
    devices: list | None = None          # default: every device but numpy
    precisions: tuple = ("float64", "float32")
    sizes: list | None = None            # default: CPU_SIZES, or GPU_SIZES when a CUDA device is measured
    repeats: int | None = None           # fixed repeats (default: adaptive)
    min_repeats: int = 1
    max_repeats: int = 10
    target_seconds: float = 6.0          # adaptive repeats aim at this much timed work per point
    budget_seconds: float | None = 840.0  # whole run; past the projection, repeats drop to 1
    peer_max_atoms: int | None = None
    numpy_size: int = 0                  # optional tiny NumPy-reference point (0: off)
    md: bool = True
    md_seconds: float = 10.0
    output: str = "benchmarks/results"
    readme: str | None = "auto"
    plots: bool = True
    section: str | None = None
    seed: int = 0
    measure_cpu_peak: bool = True
    warmup_atoms: int = 32               # the cell on which kernel compilation is timed
    tolerance: dict = field(default_factory=lambda: dict(TOLERANCE))


def _load_model(source):
    import dpsycl
    if isinstance(source, dpsycl.Model):
        return source, source.source or "<Model>"
    path = os.fspath(source) if source is not None else dpsycl.bundled_model()
    return dpsycl.load_model(path), path


def _cuda_requested(requested) -> bool:
    """Whether a CUDA device will be measured, found without enumerating SYCL devices (which loads
    oneMKL: see :meth:`_Run.load_peer`)."""
    if requested:
        return any(str(d).startswith("cuda") for d in requested)
    from dpsycl.backends import cuda_available
    return cuda_available()


def _devices(requested) -> list[str]:
    import dpsycl
    return [d for d in (list(requested) if requested else dpsycl.devices()) if d != "numpy"]


def _series_key(code: str, device: str, precision: str) -> str:
    return f"{code}|{device}|{precision}"


def _out_of_memory(record: dict, exc: BaseException) -> None:
    record.update(status="oom", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")


class _Run:
    """The state of one run: configuration, the result dict being filled, peer, targets, budget.
    Steps, in order: load_peer, start, build_targets, measure_size for each size, finish."""

    def __init__(self, cfg: BenchConfig):
        self.cfg = cfg
        self.t0 = time.perf_counter()
        self.model, self.model_source = _load_model(cfg.model)
        for n in cfg.sizes or ():
            supercell_for(int(n))          # a bad size fails now, not after an hour
        self.peer_kind = pick_peer(cfg.peer, _cuda_requested(cfg.devices))
        self.peer = None
        self.peer_skip_reason = None
        self.targets: list[DpsyclTarget] = []
        self.budget = Budget(cfg.budget_seconds, self.t0)

    def log(self, msg: str) -> None:
        log(msg, self.t0)

    # -- set-up ------------------------------------------------------------------------------
    def load_peer(self) -> None:
        # The peer is loaded and run once before dpsycl enumerates or opens a SYCL device: dpsycl's
        # SYCL backend puts oneMKL's ILP64 BLAS/LAPACK into the global symbol scope, where torch's
        # CPU LAPACK calls would otherwise bind to them (garbage pivots in torch.linalg.inv_ex).
        if self.peer_kind == "none":
            return
        path = self.cfg.peer_model or default_peer_model(self.peer_kind)
        self.log(f"loading DeePMD-kit peer {self.peer_kind}: {path}")
        self.peer = DeepmdPeer(self.peer_kind, path)
        if self.peer.type_map != list(self.model.type_map):
            raise ValueError(f"the peer's type_map {self.peer.type_map} differs from the dpsycl model's "
                             f"{list(self.model.type_map)}: they cannot evaluate the same structures")
        self.peer.settle(self.cfg.warmup_atoms)
        self.log(f"peer on {self.peer.hardware} ({self.peer.device})")

    def start(self) -> None:
        """Devices, sizes, the run's id and JSON path, and the result dict with what is known now."""
        cfg = self.cfg
        self.devices = _devices(cfg.devices)
        has_cuda = any(d.startswith("cuda") for d in self.devices)
        self.sizes = sorted({int(n) for n in (cfg.sizes or (GPU_SIZES if has_cuda else CPU_SIZES))})
        started = dt.datetime.now(dt.timezone.utc)
        section = cfg.section or ("gpu" if has_cuda else "cpu")
        run_id = started.strftime("%Y%m%dT%H%M%SZ") + f"-{section}-{socket.gethostname()}"
        os.makedirs(cfg.output, exist_ok=True)
        self.json_path = os.path.join(cfg.output, f"bench-{run_id}.json")
        from dpsycl.cli import model_summary
        d = self.model.descriptor
        embedding, fitting = network_dims(self.model)
        self.result = {
            "schema": SCHEMA, "run_id": run_id, "section": section, "started": started.isoformat(),
            "machine": machine_info(), "versions": versions(),
            "config": {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "model"}
            | {"devices": self.devices, "sizes": self.sizes, "peer": self.peer_kind},
            "model": {"source": self.model_source, "summary": model_summary(self.model), "nnei": d.nnei,
                      "sel": list(d.sel), "embedding": embedding, "axis_neuron": d.axis_neuron,
                      "fitting": fitting, "precision": self.model.precision},
            "structures": [], "peaks": {}, "peer": None, "results": [], "compile": [], "md": [],
            "notes": [], "status": "running",
        }
        if self.peer is not None:
            self.result["peer"] = self.peer.describe() | {
                "note": "DeePMD-kit's peer runs the float64 graph only; dpsycl's float32 twin is compared with it "
                        "(speed) and checked against it at the float32 tolerance"}
            if self.peer.cuda:
                self.result["peaks"]["deepmd-pt:cuda"] = gpu_peak(self.peer.hardware)

    def build_targets(self) -> None:
        """One DpsyclTarget per (device, precision); their kernel compilation is timed here."""
        for device in self.devices:
            mem_base = None    # CUDA: one baseline per device, taken before its first evaluator
            for precision in self.cfg.precisions:
                t_start = time.perf_counter()
                self.log(f"building dpsycl on {device} {precision} (kernel compilation on a "
                         f"{self.cfg.warmup_atoms}-atom cell)...")
                target = DpsyclTarget(self.model, device, precision, mem_base=mem_base,
                                      warmup_atoms=self.cfg.warmup_atoms)
                mem_base = target.mem_base
                self.targets.append(target)
                peak = target.peak()
                self.result["peaks"][target.device] = peak if peak.get("kind") == "gpu" else {"kind": "cpu",
                                                                                              "same_as": "host"}
                self.result["compile"].append({"device": target.device, "describe": target.describe,
                                               "precision": precision, "compile_s": target.compile_s,
                                               "first_call_s": target.first_call_s,
                                               "setup_s": time.perf_counter() - t_start})
                self.log(f"  {target.describe} {precision}: compile {target.compile_s:.1f} s")

    # -- budget ------------------------------------------------------------------------------
    def series(self) -> list[str]:
        return (([_series_key(self.peer.kind, "peer", "float64")] if self.peer else [])
                + [_series_key("dpsycl", t.device, t.precision) for t in self.targets])

    def repeats_rule(self, key: str, natoms: int, size_index: int, series_index: int):
        """``repeats_for(t_first)`` of one point: records the series' rate, then picks the repeats
        against what the points after this one will need."""
        keys = self.series()
        remaining = [(s, n) for si, n in enumerate(self.sizes) for ki, s in enumerate(keys)
                     if si > size_index or (si == size_index and ki > series_index)]
        cfg = self.cfg

        def repeats_for(t_first: float):
            self.budget.rate[key] = t_first / natoms
            return choose_repeats(cfg.repeats, cfg.min_repeats, cfg.max_repeats, cfg.target_seconds, t_first,
                                  self.budget, remaining)
        return repeats_for

    # -- one size ----------------------------------------------------------------------------
    def measure_size(self, size_index: int, natoms: int) -> None:
        x, cell, atype = alloy(natoms, seed=self.cfg.seed, type_map=self.model.type_map)
        self.result["structures"].append(structure_record(natoms, self.cfg.seed, cell, atype, self.model.type_map))
        peer_reference = self.time_peer(size_index, natoms, x, cell, atype) if self.peer else None
        float64_results = {}
        for k, target in enumerate(self.targets):
            record = self.time_dpsycl(size_index, k + (1 if self.peer else 0), target, x, cell, atype,
                                      peer_reference, float64_results)
            self.result["results"].append(record)
            check = record.get("check") or {}
            if check.get("passed") is False:
                self.result["status"] = "energy mismatch"
                self.finish(partial=True)
                raise EnergyMismatch(
                    f"N={natoms}: dpsycl {target.device} {target.precision} E={check['energy']:.10f} eV vs "
                    f"{check['against']} {check['reference_energy']:.10f} eV, |ΔE|/N = "
                    f"{check['abs_dE_per_atom']:.3g} eV/atom > {check['tolerance']:g}; nothing was timed for "
                    f"this point (partial results: {self.json_path})")
        self.add_flops(natoms)
        write_run(self.result | {"wall_s": time.perf_counter() - self.t0}, self.json_path)

    def time_peer(self, size_index: int, natoms: int, x, cell, atype):
        """Time the peer at this size; returns its (energy, forces, virial) or None (skipped, OOM)."""
        peer = self.peer
        record = {"code": peer.kind, "device": peer.device, "hardware": peer.hardware, "precision": "float64",
                  "natoms": natoms, "memory_method": peer.memory_method}
        self.result["results"].append(record)
        if self.peer_skip_reason or (self.cfg.peer_max_atoms and natoms > self.cfg.peer_max_atoms):
            record.update(status="skipped",
                          reason=self.peer_skip_reason or f"N > --peer-max-atoms {self.cfg.peer_max_atoms}")
            self.log(f"N={natoms:8d}  {peer.label:28s} skipped: {record['reason']}")
            return None
        key = self.series()[0]
        try:
            measured, reference = measure_peer(peer, x, cell, atype, self.repeats_rule(key, natoms, size_index, 0))
        except Exception as exc:  # noqa: BLE001 - out of memory is a result; anything else propagates
            if not is_out_of_memory(exc):
                raise
            _out_of_memory(record, exc)
            self.peer_skip_reason = f"OOM at N={natoms}"
            self.log(f"N={natoms:8d}  {peer.label:28s} OUT OF MEMORY ({record['error'][:120]})")
            return None
        finally:
            peer.release()
        record.update(measured)
        self.budget.rate[key] = record["t_total_s"] / natoms
        t, mem = record["t_total_s"], record["peak_memory_bytes"]
        self.log(f"N={natoms:8d}  {peer.label:28s} E/N={record['energy'] / natoms:.9f}  first "
                 f"{record['first_eval_s']:.3f} s; {record['repeats']}× median {t:.4f} s = "
                 f"{t / natoms * 1e6:8.2f} µs/step/atom; peak mem {mem / 2**20:.0f} MiB ({mem / natoms / 1024:.1f} KiB/atom)")
        return reference

    def time_dpsycl(self, size_index, series_index, target, x, cell, atype, peer_reference, float64_results) -> dict:
        natoms = len(atype)
        peer = self.peer
        record = {"code": "dpsycl", "device": target.device, "describe": target.describe,
                  "precision": target.precision, "natoms": natoms, "memory_method": target.memory_method,
                  "compile_s": target.compile_s, "peer": peer.kind if peer else None}
        tolerance = self.cfg.tolerance[target.precision]
        if peer_reference is not None:
            reference, against = peer_reference, peer.kind
        elif target.precision != "float64" and target.device in float64_results:
            reference, against = float64_results[target.device], "dpsycl float64 (peer unavailable)"
        else:
            reference, against = None, f"peer {self.peer_skip_reason or 'absent'}"

        def check(energy, force, virial):
            return energy_check(natoms, energy, force, virial, reference, against, tolerance)

        others = [t for t in self.targets if t is not target and t.device == target.device]
        key = _series_key("dpsycl", target.device, target.precision)
        try:
            measured, results = measure_dpsycl(target, x, cell, atype,
                                              self.repeats_rule(key, natoms, size_index, series_index), check,
                                              lambda: sum(t.evaluator.workspace_bytes() for t in others))
        except Exception as exc:  # noqa: BLE001 - out of memory is a result; anything else propagates
            if not is_out_of_memory(exc):
                raise
            _out_of_memory(record, exc)
            self.log(f"N={natoms:8d}  dpsycl {target.device} {target.precision}: OUT OF MEMORY")
            return record
        record.update(measured)
        if record["status"] != "ok":
            return record
        self.budget.rate[key] = record["t_total_s"] / natoms
        if target.precision == "float64":
            float64_results[target.device] = results
        peer_record = next((r for r in self.result["results"] if peer and r["code"] == peer.kind
                            and r["natoms"] == natoms and r.get("status") == "ok"), None)
        record["speed_ratio_vs_peer"] = peer_record["t_total_s"] / record["t_total_s"] if peer_record else None
        chk, ratio = record["check"], record["speed_ratio_vs_peer"]
        verdict = "—" if chk["passed"] is None else ("ok" if chk["passed"] else "FAIL")
        self.log(f"N={natoms:8d}  dpsycl {target.device} {target.precision[-2:]:>2}{'':9s} |ΔE|/N="
                 f"{chk.get('abs_dE_per_atom', float('nan')):.1e} {verdict}; nb {record['t_nb_s']:.4f} + compute "
                 f"{record['t_compute_s']:.4f}, eval {record['t_total_s']:.4f} s = "
                 f"{record['us_per_step_atom']:8.2f} µs/step/atom" + (f"; {ratio:.2f}× {peer.kind}" if ratio else "")
                 + f"; peak mem {record['peak_memory_bytes'] / 2**20:.0f} MiB, workspace "
                 f"{record['workspace_bytes_per_atom'] / 1024:.1f} KiB/atom")
        return record

    def peak_flops(self, record: dict) -> float | None:
        """The FLOP/s peak of the hardware a record ran on, in its precision."""
        if record["code"] == "dpsycl":
            peak = self.result["peaks"].get(record["device"]) or {}
        else:
            peak = self.result["peaks"].get("deepmd-pt:cuda") if (self.peer and self.peer.cuda) else None
        if not peak or peak.get("same_as") == "host":
            peak = self.result["peaks"]["host"]
        return peak.get(f"peak_{'fp64' if record['precision'] == 'float64' else 'fp32'}")

    def add_flops(self, natoms: int) -> None:
        """FLOPs and fractions of peak of this size's records (neighbour counts from the first dpsycl target)."""
        stats = next((r["neighbours"] for r in self.result["results"]
                      if r["natoms"] == natoms and r.get("neighbours")), None)
        if not stats:
            return
        counts = (stats["n_real"], stats["padded_blocks"], natoms)
        common = flop_model(self.model, *counts)
        for r in self.result["results"]:
            if r["natoms"] != natoms or r.get("status") != "ok":
                continue
            own = (flop_model(self.model, *counts, r["kernel_traits"])["dpsycl"] if r["code"] == "dpsycl"
                   else common["deepmd"])
            peak = self.peak_flops(r)
            t = r["t_total_s"]
            r.update(flops_own=own, flops_useful=common["useful"], flops_per_atom_own=own / natoms,
                     flops_per_atom_useful=common["useful"] / natoms, achieved_flops_own=own / t,
                     achieved_flops_useful=common["useful"] / t, peak_flops=peak,
                     fraction_of_peak_own=own / t / peak if peak else None,
                     fraction_of_peak_useful=common["useful"] / t / peak if peak else None)
            if r.get("t_compute_s"):
                r["achieved_flops_own_compute_only"] = own / r["t_compute_s"]
        self.result.setdefault("flops", []).append({
            "natoms": natoms, "neighbours": stats,
            "per_atom": {k: common[k] / natoms for k in ("dpsycl", "deepmd", "useful")},
            "parts_per_atom": {code: {k: v / natoms for k, v in parts.items()} for code, parts in common["parts"].items()},
            "terms": common["terms"]})

    # -- the rest ----------------------------------------------------------------------------
    def numpy_point(self, natoms: int) -> dict:
        """One evaluation (no warm-up, no repeats) by the float64 NumPy reference, for scale."""
        import dpsycl
        x, cell, atype = alloy(natoms, seed=self.cfg.seed, type_map=self.model.type_map)
        dp = dpsycl.DeepPot(self.model, device="numpy")
        t0 = time.perf_counter()
        energy = dp.eval(x[None], cell.reshape(1, 9), atype)[0]
        t = time.perf_counter() - t0
        self.log(f"N={natoms:8d}  dpsycl numpy reference       {t:.3f} s = {t / natoms * 1e6:.1f} µs/step/atom "
                 "(one evaluation)")
        return {"code": "dpsycl", "device": "numpy", "precision": "float64", "natoms": natoms, "status": "ok",
                "energy": float(energy[0, 0]), "t_total_s": t, "t_nb_s": None, "t_compute_s": None, "repeats": 1,
                "us_per_step_atom": t / natoms * 1e6,
                "check": {"against": None, "passed": None, "reason": "tiny reference point"}}

    def finish(self, partial: bool = False) -> dict:
        """Final JSON; unless ``partial``, plots, README and the console summary too."""
        result, cfg = self.result, self.cfg
        result["finished"] = dt.datetime.now(dt.timezone.utc).isoformat()
        result["machine"]["loadavg_end"] = loadavg()
        result["wall_s"] = time.perf_counter() - self.t0
        result["scaling"] = scaling(result["results"])
        result["targets"] = evaluate_targets([result])
        result["portability"] = portability([result])
        written = write_run(result, self.json_path)
        result["json"] = self.json_path
        if partial:
            return result
        runs = latest_runs(cfg.output, written)
        if cfg.plots:
            result["plots"] = report.make_plots(cfg.output, [written], f"bench-{result['run_id']}")
            if len(runs) > 1:
                result["plots"] += report.make_plots(cfg.output, runs, "bench-all")
        readme = report.readme_path(cfg.readme, cfg.output)
        if readme:
            report.write_readme(readme, runs)
            result["readme"] = readme
        report.print_summary(result)
        return result


def run_benchmark(cfg: BenchConfig) -> dict:
    """Run the benchmark described by ``cfg``; writes the JSON (+ plots, README) and returns the result
    (its "json" key: the file).  Raises :class:`EnergyMismatch` when dpsycl disagrees with its reference."""
    run = _Run(cfg)
    run.load_peer()
    run.start()
    run.log(f"benchmark {run.result['run_id']}: devices {run.devices}, precisions {list(cfg.precisions)}, "
            f"sizes {run.sizes}, peer {run.peer_kind}")
    run.log(f"model: {run.result['model']['summary']}")
    host = cpu_peak(measure=cfg.measure_cpu_peak)
    run.result["peaks"]["host"] = host
    run.log(f"host peak: {host['peak_source']}")
    run.build_targets()
    for size_index, natoms in enumerate(run.sizes):
        run.measure_size(size_index, natoms)
    if cfg.numpy_size:
        run.result["results"].append(run.numpy_point(cfg.numpy_size))
    if cfg.md:
        for device in run.devices:
            run.result["md"].append(md_ns_per_day(run.model, device, "float64", cfg.md_seconds, run.t0))
    run.result["status"] = "complete"
    return run.finish()
