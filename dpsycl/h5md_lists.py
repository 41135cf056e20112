"""The neighbour list's origin in an H5MD trajectory: what makes a restart between two list builds bit-identical.

dpsycl's MD rebuilds the neighbour list only when the Verlet skin asks (dpsycl/md/forces.py), so a frame's list was
usually built some steps before it, from the positions of that step (wrapped then).  A run continued from the frame
must build its first list from those positions, not from the frame's, to have the uninterrupted run's list (the
same neighbours in the same slots, so the same sums in the same order).  They are kept as one more H5MD
time-dependent element beside the frames::

    /parameters/list_reference/{step,time,value}    value (nbuilds, N, 3): the positions a list build took,
                                                     step and time: that build's

An entry is written with the first frame after its build (the builds a later build superseded before any frame are
not kept), in the frames' two commit phases: value and time with the frame's values, step with the frame's steps.
An entry whose step is later than the last complete frame's belongs to a frame never committed: reopening the file
drops it.  Runs without a skin in use (``--skin 0``, or after sel overflow) build every step and write none.  Files
written before dpsycl kept this element rebuilt the list at every frame: a restart from them builds from the frame.
"""
from __future__ import annotations

import h5py
import numpy as np

SERIES = "parameters/list_reference"


def create(parameters: h5py.Group, natoms: int, dtype, element) -> None:
    """The empty series (``element``: h5md's builder of a time-dependent element, one chunk per entry)."""
    element(parameters, "list_reference", (natoms, 3), dtype, "Angstrom")


class ListReferences:
    """The series of an open file for its writer: ``add(frame, dt)`` in a frame's first phase, ``commit()``
    in its second; files without the series take no entries."""

    def __init__(self, f: h5py.File):
        self.group = f[SERIES] if SERIES in f else None
        self.datasets = None if self.group is None else {key: self.group[key] for key in ("value", "time", "step")}
        self.count = 0 if self.group is None else committed_entries(self.group)
        self.last_built_at = int(self.group["step"][self.count - 1]) if self.count else None
        self._pending: list[int] = []

    def add(self, frame, dt: float) -> None:
        """The entry of ``frame``'s list build, unless it was written with an earlier frame."""
        built_at = frame.list_built_at
        if self.datasets is None or built_at is None or built_at == self.last_built_at:
            return
        reference = frame.positions if frame.list_reference is None else frame.list_reference
        k = self.count + len(self._pending)
        for key, v in (("value", np.asarray(reference, dtype=self.datasets["value"].dtype)), ("time", built_at * dt)):
            self.datasets[key].resize(k + 1, axis=0)
            self.datasets[key][k] = v
        self._pending.append(int(built_at))
        self.last_built_at = int(built_at)

    def commit(self) -> None:
        """The steps of the entries added since the last commit (the caller flushes around it)."""
        if not self._pending:
            return
        ds = self.datasets["step"]
        ds.resize(self.count + len(self._pending), axis=0)
        ds[self.count:] = np.asarray(self._pending, dtype=np.int64)
        self.count += len(self._pending)
        self._pending = []


def committed_entries(group: h5py.Group) -> int:
    return min(group[key].shape[0] for key in ("value", "time", "step"))


def drop_uncommitted(f: h5py.File, last_step: int) -> None:
    """Entries written in part, or with frames after the one of ``last_step`` (the last complete frame)."""
    if SERIES not in f:
        return
    group = f[SERIES]
    n = committed_entries(group)
    while n > 0 and int(group["step"][n - 1]) > last_step:
        n -= 1
    for key in ("value", "time", "step"):
        if group[key].shape[0] != n:
            group[key].resize(n, axis=0)


def origin_at(f: h5py.File, step: int) -> tuple[np.ndarray | None, int | None]:
    """(positions, build step) of the list in use at the frame of ``step``: its last build before that step;
    (None, None) when it was built at that step, or the file keeps no series (the frame's positions then)."""
    if SERIES not in f:
        return None, None
    group = f[SERIES]
    steps = group["step"][:committed_entries(group)]
    earlier = np.flatnonzero(steps <= step)
    if len(earlier) == 0 or int(steps[earlier[-1]]) == step:
        return None, None
    j = int(earlier[-1])
    return np.asarray(group["value"][j]).ravel(), int(steps[j])
