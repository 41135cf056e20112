"""Run a LAMMPS input script with a dpsycl model as its force field, serial or under mpirun.

    from dpsycl.lammps import run_input
    report = run_input("in.cuag", model="cuag.h5", device="cuda", elements=["Cu", "Ag"])

(``dpsycl lammps in.cuag --model cuag.h5 --device cuda`` is the same from the shell, and
``mpirun -np 4 dpsycl lammps ...`` runs it on 4 ranks.)  Every rank takes its own device
(dpsycl/lammps/library.py: device_for_rank), LAMMPS runs the script up to its ``pair_style
dpsycl`` line, dpsycl installs itself there (force_field.attach), LAMMPS runs the rest.

Failures.  Set-up failures (script, model file, a rank's device) are gathered from every rank at
two meeting points and reported once by rank 0; every rank then raises :class:`RunFailed`.  A
failure in the middle of a run (a device error in one rank's force call, a LAMMPS error on one
rank) cannot wait for the others, which sit in collectives: that rank prints one line and calls
MPI_Abort, which ends every rank.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from .force_field import attach
from .library import LammpsError, abort, device_for_rank, load_modules, rank_info
from .script import split_script


class RunFailed(LammpsError):
    """Set-up failed on one or more ranks; ``report_here`` is True on the rank that reports it."""

    def __init__(self, message: str, report_here: bool):
        super().__init__(message)
        self.report_here = report_here


@dataclass
class RunReport:
    """What a finished run did: its ghost shell and, per rank, device and force-call accounting."""
    ghost_shell: str
    ranks: list[dict]          # per rank: device, stats summary (ForceFieldStats.summary)
    rank: int                  # this process's rank


def _agree(comm, rank: int, failure: str | None) -> None:
    """Meeting point: if any rank failed, every rank raises RunFailed with one message."""
    failures = comm.allgather(failure)
    bad = [(r, m) for r, m in enumerate(failures) if m]
    if not bad:
        return
    texts = {m for _, m in bad}
    if len(texts) == 1 and len(bad) == len(failures):
        message = bad[0][1]
    else:
        message = "; ".join(f"rank {r}: {m}" for r, m in bad)
    raise RunFailed(message, report_here=rank == 0)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return " ".join((str(exc) or type(exc).__name__).split())


def lammps_arguments(log: str | None, screen: bool, variables: dict | None) -> list[str]:
    args = ["-nocite", "-log", log or "none"]
    if not screen:
        args += ["-screen", "none"]
    for name, value in (variables or {}).items():
        args += ["-var", str(name), str(value)]
    return args


def run_input(script: str | os.PathLike, model=None, device: str = "auto", elements: list[str] | None = None,
              ghost_shell: str = "auto", variables: dict | None = None, log: str | None = "log.lammps",
              screen: bool = True, precision: str | None = None) -> RunReport:
    """Run ``script`` with ``model`` (a file, or None for the one named on its pair_style line)."""
    from ..deep_pot import DeepPot

    lammps, MPI = load_modules()
    comm = MPI.COMM_WORLD
    info = rank_info(comm, MPI)
    # 1. the script and the model file: the same on every rank
    failure = split = None
    try:
        with open(script) as fh:
            split = split_script(fh.read(), os.fspath(script))
        model = model if model is not None else split.model
        if model is None:
            raise LammpsError("no model: give --model or name it on the line 'pair_style dpsycl MODEL'")
        elements = elements if elements is not None else split.elements
    except Exception as exc:  # noqa: BLE001 - gathered and reported once
        failure = _one_line(exc)
    _agree(comm, info.rank, failure)
    # 2. each rank's device
    failure, device_name = None, device
    try:
        device_name = device_for_rank(device, info.local_rank)
        potential = DeepPot(model, device_name, precision)
        device_name = potential.device
    except Exception as exc:  # noqa: BLE001
        failure = f"{device_name}: {_one_line(exc)}" if info.size > 1 else _one_line(exc)
    _agree(comm, info.rank, failure)
    # 3. LAMMPS: the script's head, dpsycl, its tail
    workdir = tempfile.mkdtemp(prefix="dpsycl-lammps-")
    lmp = None
    try:
        head, tail = os.path.join(workdir, "head.in"), os.path.join(workdir, "tail.in")
        with open(head, "w") as fh:
            fh.write(split.head)
        with open(tail, "w") as fh:
            fh.write(split.tail)
        lmp = lammps.lammps(cmdargs=lammps_arguments(log, screen, variables), comm=comm)
        field = None
        try:
            lmp.file(head)
            field = attach(lmp, potential, elements, ghost_shell, comm=comm, MPI=MPI)
            lmp.file(tail)
        except lammps.MPIAbortException as exc:      # LAMMPS's error on this rank only
            abort(comm, f"rank {info.rank}: LAMMPS: {_one_line(exc)}")
        except LammpsError as exc:                   # attach: the same on every rank
            raise RunFailed(_one_line(exc), report_here=info.rank == 0) from None
        except Exception as exc:  # noqa: BLE001 - LAMMPS's error->all: raised on every rank
            raise RunFailed(f"LAMMPS: {_one_line(exc)}", report_here=info.rank == 0) from None
        summaries = comm.allgather({"rank": info.rank, "device": device_name, **field.stats.summary()})
        return RunReport(field.ghost_shell, summaries, info.rank)
    finally:
        if lmp is not None:
            lmp.close()
        shutil.rmtree(workdir, ignore_errors=True)


def describe(report: RunReport) -> str:
    """One line: ghost shell, ranks and devices, force calls and their cost."""
    ranks = report.ranks
    calls = ranks[0]["calls"] if ranks else 0
    devices = ", ".join(sorted({r["device"] for r in ranks}))
    slowest = max(ranks, key=lambda r: r["callback_ms"]) if ranks else {}
    return (f"dpsycl: {len(ranks)} rank(s) on {devices}, ghost shell {report.ghost_shell}: {calls} force calls, "
            f"slowest rank {slowest.get('evaluate_ms', 0):.1f} ms evaluating + {slowest.get('exchange_ms', 0):.1f} ms "
            f"exchanging per call, {sum(r['ghost_atoms'] for r in ranks) / max(len(ranks), 1):.0f} ghosts per rank")
