"""Many frames on many devices: ``test_model`` (as ``dp test``) and ``model_deviation`` (as
``dp model-devi``).

    from dpsycl.frame_jobs import test_model, model_deviation
    report = test_model("frozen_model.pb", ["data/sys000", "data/md000"], devices="all")
    print("\\n".join(report.lines()))                  # dp test's report
    blocks = model_deviation(["m0.pb", "m1.pb", "m2.pb", "m3.pb"], ["run.h5"], output="model_devi.out",
                             client=dask_client)          # one Dask worker per device

Frames are read on the host (:mod:`dpsycl.frame_sources`), cut into batches of consecutive frames
of one run (``batch_size`` frames; default about 8192 atoms a batch), spread over the devices
(:mod:`dpsycl.device_pool`) and consumed in input order: errors accumulate system by system
(:mod:`dpsycl.label_errors`, DeePMD-kit's definitions) and the detail files and ``model_devi.out``
(:mod:`dpsycl.model_devi`) are written as the batches come back.  Models are loaded once, on the
host, and sent to the workers as dpsycl models (a worker needs no TensorFlow); each process keeps
one DeepPot per (model, device).  A model-deviation batch is reduced on its device's worker, so
only the seven (or 7 + N) numbers per frame travel back.

DeePMD-kit's mixed format may pad frames with virtual atoms (species −1): they are left out of the
evaluation, get zero force, and count in N, as in DeePMD-kit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from .device_pool import DEFAULT_BATCH_TIMEOUT, Batch, run_ordered
from .frame_sources import FrameSystem, read_sources
from .label_errors import DetailFiles, SystemErrors, average_report, merge_errors, system_report
from .model_devi import deviation_rows, write_block

#: atoms per batch when no batch size is given: big enough to hide the scheduling, small enough
#: that the devices share a job of a few hundred frames
ATOMS_PER_BATCH = 8192


# ---------------------------------------------------------------------------------------------
# what travels to the workers
@dataclass(frozen=True)
class EvalJob:
    """Sent once to every worker: the models (key, Model) and what to compute."""
    kind: str                           # "test": E, F, W of the one model; "devi": deviation rows
    models: tuple
    atomic: bool = False
    relative: float | None = None
    relative_v: float | None = None


@dataclass(frozen=True)
class FramePayload:
    coords: np.ndarray                  # (nf, N, 3)
    cells: np.ndarray | None            # (nf, 3, 3) or None
    atype: np.ndarray                   # (N,), -1: virtual atom


_POTENTIALS: dict = {}                  # (model key, device) -> DeepPot, in this process


def potential(key: str, model, device: str):
    """The process's DeepPot of a model on a device (kernels compiled once per process)."""
    from .deep_pot import DeepPot
    pot = _POTENTIALS.get((key, device))
    if pot is None:
        pot = _POTENTIALS[(key, device)] = DeepPot(model, device=device)
    return pot


def evaluate_batch(job: EvalJob, payload: FramePayload, device: str):
    """On a worker: energies (nf,), forces (nf, N, 3), virials (nf, 9) of the one model ("test"), or
    the deviation rows of the ensemble ("devi")."""
    real = payload.atype >= 0
    every_atom_real = bool(real.all())
    coords = payload.coords if every_atom_real else payload.coords[:, real]
    nframes, natoms = payload.coords.shape[:2]
    energies, forces, virials = [], [], []
    for key, model in job.models:
        e, f, v = potential(key, model, device).eval(coords, payload.cells, payload.atype[real])
        if not every_atom_real:
            padded = np.zeros((nframes, natoms, 3))
            padded[:, real] = f
            f = padded
        energies.append(np.reshape(e, nframes))
        forces.append(np.reshape(f, (nframes, natoms, 3)))
        virials.append(np.reshape(v, (nframes, 9)))
    if job.kind == "test":
        return energies[0], forces[0], virials[0]
    return deviation_rows(np.stack(energies), np.stack(forces), np.stack(virials), natoms,
                          relative=job.relative, relative_v=job.relative_v, atomic=job.atomic)


# ---------------------------------------------------------------------------------------------
# host side
def load_models(models) -> list[tuple[str, object, str]]:
    """(key, Model, label) of model paths or Model objects; the key is a digest of the model's
    content, so a worker reuses its DeepPot for the same model however it was given."""
    from .model import Model, ModelError
    from .model_io import load_model
    out = []
    for given in models:
        if isinstance(given, Model):
            model, label = given, f"model {len(out)}"
        else:
            path = os.fspath(given)
            if not os.path.isfile(path):
                raise ModelError(f"model file not found: {path}")
            model, label = load_model(path), path
        key = model_digest(model)
        out.append((key, model, label))
    if not out:
        raise ValueError("no model given")
    return out


def model_digest(model) -> str:
    """SHA-256 over a model's hyper-parameters and arrays (dtype, shape and bytes of each), walked
    field by field: equal models give equal keys, and no pickle is involved anywhere."""
    h = hashlib.sha256()

    def feed(node) -> None:
        if isinstance(node, np.ndarray):
            h.update(f"array {node.dtype.str} {node.shape}".encode())
            h.update(np.ascontiguousarray(node).tobytes())
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            h.update(f"object {type(node).__qualname__}".encode())
            for f in dataclasses.fields(node):
                h.update(f.name.encode())
                feed(getattr(node, f.name))
        elif isinstance(node, dict):
            h.update(f"dict {len(node)}".encode())
            for k in sorted(node, key=str):
                h.update(repr(k).encode())
                feed(node[k])
        elif isinstance(node, (list, tuple)):
            h.update(f"{type(node).__name__} {len(node)}".encode())
            for item in node:
                feed(item)
        else:
            h.update(f"{type(node).__name__} {node!r}".encode())

    feed(model)
    return h.hexdigest()


def _check_parameters(model, systems: list[FrameSystem]) -> None:
    """fparam/aparam: refused when the data carry them and the model takes none (and vice versa)."""
    from .deep_pot import DeepPot
    pot = DeepPot(model, device="numpy")      # the host reference: only its accessors are used
    dims = {"fparam": pot.get_dim_fparam(), "aparam": pot.get_dim_aparam()}
    for system in systems:
        for name, dim in dims.items():
            if name in system.parameters and dim == 0:
                raise ValueError(f"{system.name} carries {name}.npy but the model takes no {name} "
                                 f"(dpsycl evaluates models without frame/atomic parameters)")
            if dim > 0 and name not in system.parameters:
                raise ValueError(f"the model needs {name} ({dim} values) but {system.name} has no {name}.npy")


def default_batch_size(natoms: int) -> int:
    return max(1, ATOMS_PER_BATCH // max(1, natoms))


def make_batches(systems: list[FrameSystem], batch_size: int | None):
    """Batches of consecutive frames of one run, and host-side (system, run, start, stop) of each."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    batches, where = [], []
    for s, system in enumerate(systems):
        first = 0
        for run in system.runs:
            size = batch_size or default_batch_size(run.natoms)
            for a in range(0, run.nframes, size):
                b = min(a + size, run.nframes)
                cells = None if run.cells is None else run.cells[a:b]
                payload = FramePayload(run.coords[a:b], cells, run.atype)
                batches.append(Batch(len(batches), b - a, f"frames {first + a}-{first + b - 1} of {system.name}",
                                     payload))
                where.append((s, run, a, b))
            first += run.nframes
    return batches, where


@dataclass
class TestReport:
    """Errors of every system, in input order, and their weighted average (``dp test``)."""
    systems: list = field(default_factory=list)     # SystemErrors

    __test__ = False                                # a result, not a pytest test class

    def errors(self) -> dict:
        """Weighted average over the systems: {key: value}, DeePMD-kit's keys (rmse_f, mae_ea, ...)."""
        return {k: v for k, (v, _) in merge_errors([s.errors() for s in self.systems]).items()}

    def lines(self) -> list[str]:
        out = []
        for s in self.systems:
            out += system_report(s)
        return out + average_report(self.systems)

    def to_dict(self) -> dict:
        return {"systems": [{"system": s.name, "nframes": s.nframes,
                             **{k: v for k, (v, _) in s.errors().items()}} for s in self.systems],
                "average": self.errors()}


def test_model(model, systems, *, devices=None, client=None, numb_test: int = 0, detail_file=None,
               batch_size: int | None = None, fmt: str | None = None, progress: bool = False,
               on_system=None, batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT) -> TestReport:
    """``dp test``: the errors of ``model`` on labelled ``systems`` (DeePMD-kit npy systems or
    directories of them, mixed format included; or any file ASE reads, e.g. extxyz).

    ``numb_test``: test only the first n frames of each system (0: all).  ``detail_file``: prefix of
    the per-frame files.  ``on_system(SystemErrors)`` is called as each system completes.
    ``batch_timeout``: seconds a worker may return nothing before the job ends as hung.
    """
    (key, loaded, _), = load_models([model])
    found = read_sources(systems if isinstance(systems, (list, tuple)) else [systems], loaded.type_map,
                         labels=True, fmt=fmt)
    _check_parameters(loaded, found)
    if numb_test:
        found = [s.head(numb_test) for s in found]
    details = DetailFiles(detail_file) if detail_file else None
    batches, where = make_batches(found, batch_size)
    report = TestReport([SystemErrors(s.name, s.labels, s.pbc) for s in found])
    remaining = [s.nframes for s in found]
    job = EvalJob("test", ((key, loaded),))
    for batch, (energy, force, virial) in run_ordered(evaluate_batch, job, batches, devices=devices,
                                                      client=client, progress=progress,
                                                      progress_label="dpsycl test",
                                                      batch_timeout=batch_timeout):
        s, run, a, b = where[batch.index]
        labels = {k: v[a:b] for k, v in run.labels.items()}
        cells = None if run.cells is None else run.cells[a:b]
        stresses = report.systems[s].add(labels, energy, force, virial, run.natoms, cells)
        if details is not None:
            details.write(found[s].name, run.natoms, labels, energy, force, virial, stresses)
        remaining[s] -= b - a
        if remaining[s] == 0 and on_system is not None:
            on_system(report.systems[s])
    return report


test_model.__test__ = False                          # not a pytest test when imported into one


@dataclass
class DeviationBlock:
    """One trajectory's rows of ``model_devi.out``: column 0 the step, then the seven deviations
    (and with ``atomic`` the force deviation of every atom)."""
    name: str
    rows: np.ndarray


def model_deviation(models, trajectories, *, devices=None, client=None, output=None, frequency: int = 1,
                    atomic: bool = False, relative: float | None = None, relative_v: float | None = None,
                    batch_size: int | None = None, fmt: str | None = None, lammps_type_map=None,
                    progress: bool = False, batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT
                    ) -> list[DeviationBlock]:
    """``dp model-devi``: the deviation of an ensemble of models (sharing one type map) over the
    frames of ``trajectories`` (dpsycl H5MD files, LAMMPS dumps, extxyz or any ASE format, DeePMD-kit
    npy systems), written to ``output`` in DeePMD-kit's ``model_devi.out`` format when given.

    Steps: the MD step stored in the trajectory (H5MD, LAMMPS dump TIMESTEP), else the frame index ×
    ``frequency`` counted per trajectory (as ``dp model-devi``).
    """
    loaded = load_models(models)
    if len(loaded) < 2:
        raise ValueError(f"a model deviation needs at least two models, got {len(loaded)}")
    type_map = list(loaded[0][1].type_map)
    for _, model, label in loaded[1:]:
        if list(model.type_map) != type_map:
            raise ValueError(f"the models do not share one type map: {loaded[0][2]} has {type_map}, "
                             f"{label} has {list(model.type_map)}")
    if frequency < 0:
        raise ValueError(f"frequency must not be negative, got {frequency}")
    found = read_sources(trajectories if isinstance(trajectories, (list, tuple)) else [trajectories], type_map,
                         labels=False, frequency=frequency, fmt=fmt, lammps_type_map=lammps_type_map)
    for _, model, _ in loaded:
        _check_parameters(model, found)
    if atomic:
        for system in found:
            if len({r.natoms for r in system.runs}) > 1:
                raise ValueError(f"--atomic needs one atom count per trajectory; {system.name} has several")
    batches, where = make_batches(found, batch_size)
    job = EvalJob("devi", tuple((key, model) for key, model, _ in loaded), atomic, relative, relative_v)
    collected: list[list] = [[] for _ in found]
    fh = open(output, "w", encoding="utf-8") if output is not None else None
    try:
        started = set()
        for batch, rows in run_ordered(evaluate_batch, job, batches, devices=devices, client=client,
                                       progress=progress, progress_label="dpsycl model-devi",
                                       batch_timeout=batch_timeout):
            s, run, a, b = where[batch.index]
            steps = run.steps[a:b]
            collected[s].append(np.column_stack([steps.astype(np.float64), rows]))
            if fh is not None:
                write_block(fh, found[s].name, steps, rows, atomic, with_header=s not in started)
                fh.flush()
            started.add(s)
    finally:
        if fh is not None:
            fh.close()
    return [DeviationBlock(system.name, np.concatenate(parts)) for system, parts in zip(found, collected)]
