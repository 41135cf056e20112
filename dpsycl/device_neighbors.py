"""Neighbour lists on the device: cell list → sorted, sel-truncated rows → reverse rows.

    positions ─ fill, bin_atom ─> cell list ─> neighbor_row (neighbor_row_group on wide devices)
              ─> fill, scatter_reverse ─> sort_reverse_row (sort_reverse_row_group)

The kernels are device_kernels/neighbors.py and neighbors_group.py.  What the host must know of a
build, it learns from one small status array that the kernels count into (neighbors.py:
``STATUS_*``): whether a cell or a reverse row overflowed the room it was given, how many rows were
cut at sel, whether two atoms sit at one place, and a histogram of the rows' lengths whose highest
bin is the room the reverse rows need.

A build is either **settled** at once (the status read before the reverse rows: their room is the
longest row and a margin) or **deferred**: the rooms of the cell list and of the reverse rows are
taken from the last settled build of the same size, every kernel is queued without a read, and
:meth:`NeighborBuilder.settle` reads the status after the evaluation.  A deferred build that
overflowed is not used (its rows may miss atoms; no kernel reads out of bounds, as every count is
clamped to its room), and the caller builds again, settled.  The evaluator defers only inside
``evaluate`` (one frame, host to host), where the status read then costs no wait of its own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backends.launch import Args
from .descriptors import NeighborSpec
from .device_kernels.neighbors import (SHIFT_BIAS, STATUS_CELL_OVERFLOW, STATUS_COINCIDENT, STATUS_LENGTHS,
                                       STATUS_REVERSE_OVERFLOW, STATUS_TRUNCATED, status_size)
from .errors import COINCIDENT, InputError, coincident_atoms
from .neighbors import cell_inverse, perpendicular_widths

#: most cells of a cell list per atom (at least MIN_CELLS): a sparse system -- a few atoms in a huge box,
#: or far apart in an open one -- gets fewer, larger cells instead of up to 1024³ empty ones
CELLS_PER_ATOM = 2
MIN_CELLS = 64
#: lanes of a neighbour row's work-group (neighbor_row_group): one warp
NEIGHBOR_LANES = 32
#: periodic images searched on each side are packed into ±(SHIFT_BIAS − 1) (device_kernels/neighbors.py)
MAX_REACH = SHIFT_BIAS - 1
#: room the reverse rows get beyond the longest row: atoms move little between the frames of a
#: trajectory or the steps of a relaxation, so deferred builds, which take the room of the last
#: settled one, rarely overflow.  Given at the settled build itself, so that the deferred ones
#: reuse its buffer: a larger one allocated while the last was still held raised the peak device
#: memory by 0.3–0.8 KB/atom (benchmarks/NOTES.md, session 11)
REVERSE_MARGIN = 8


#: dtype of the packed image shifts: their codes are below 2^30 (device_kernels/neighbors.py: pack_shift)
SHIFT_DTYPE = np.int32


def slot_index_dtype(natoms: int, ncentres: int, nnei: int):
    """dtype of the neighbour rows (atom numbers, −1 for an empty slot) and of the reverse rows (slot
    numbers i·nnei + s): int32 while both fit, which halves the two largest index arrays (1.1 KB/atom
    for cuag's 180 slots and ~105 reverse entries), int64 beyond (12 M atoms at 180 slots)."""
    return np.int32 if max(natoms, ncentres * max(nnei, 1)) < 2 ** 31 else np.int64


@dataclass
class NeighborState:
    """One neighbour list on the device and what it was built for."""
    spec: NeighborSpec
    rc: float               # cutoff it was built with (rcut + skin)
    nlist: object
    nshift: object
    rev: object
    rev_count: object
    rev_cap: int
    n_truncated: int        # centre atoms whose row was cut at sel (deferred: known once settled)
    max_candidates: int     # most neighbours of any atom within rc (before truncation; idem)
    ncentres: int           # atoms 0..ncentres-1 have rows; the others are only neighbours
    status: object = None   # the build's status counts (device)
    cell_cap: int = 0       # room of each cell of the cell list
    settled: bool = True    # status read and acted on


@dataclass
class Neighbors:
    """Every neighbour list a model reads, built from one set of positions."""
    lists: list[NeighborState]

    @property
    def n_truncated(self) -> int:
        return max((nb.n_truncated for nb in self.lists), default=0)


def grid(cell: np.ndarray | None, pos_host_bounds, rc: float, natoms: int | None = None):
    """Cell-list grid: (grid matrix, origin, ncell, reach, periodic); with ``natoms``, at most
    max(MIN_CELLS, CELLS_PER_ATOM·natoms) cells (the list is the same, only the search differs)."""
    if cell is not None:
        widths = perpendicular_widths(cell)
        ncell = limit_cells(np.maximum(np.floor(widths / rc).astype(np.int64), 1), natoms)
        reach = np.maximum(np.ceil(rc * ncell / widths - 1e-12).astype(np.int64), 1)
        if reach.max() > MAX_REACH:
            raise ValueError(f"the cell is {widths.min():.3g} Å thick between two faces: within the cutoff "
                             f"{rc:g} Å an atom has more than {MAX_REACH} periodic images on each side")
        return cell, np.zeros(3), ncell, reach, 1
    lo, hi = pos_host_bounds
    ext = np.maximum(hi - lo, 1e-6) * (1 + 1e-9) + 1e-9
    ncell = limit_cells(np.maximum(np.floor(ext / rc).astype(np.int64), 1), natoms)
    reach = np.ceil(rc * ncell / ext - 1e-12).astype(np.int64)
    return np.diag(ext), lo, ncell, np.minimum(np.maximum(reach, 1), ncell), 0


def cell_capacity(natoms: int, ncells: int) -> int:
    """Atoms a cell of the cell list has room for at first (re-binned with more if one overflows)."""
    return max(8, 2 * int(math.ceil(natoms / ncells)) + 8)


def limit_cells(ncell: np.ndarray, natoms: int | None) -> np.ndarray:
    """At most 1024 cells a side and, with ``natoms``, max(MIN_CELLS, CELLS_PER_ATOM·natoms) in all:
    the longest side is halved until they fit."""
    ncell = np.minimum(np.asarray(ncell, dtype=np.int64), 1024)
    if natoms is not None:
        most = max(MIN_CELLS, CELLS_PER_ATOM * int(natoms))
        while int(np.prod(ncell)) > most:
            k = int(np.argmax(ncell))
            ncell[k] = max(1, ncell[k] // 2)
    return ncell


class NeighborBuilder:
    """Builds neighbour list k of a model's specs in a workspace's buffers, settled or deferred."""

    def __init__(self, backend, workspace, dtype, specs):
        self.backend = backend
        self.workspace = workspace
        self.dtype = dtype
        self.specs = specs
        self.sel_offsets = [workspace.keep(np.concatenate([[0], np.cumsum(spec.sel)]), np.int64) for spec in specs]
        # (list, natoms, ncentres, ncells) -> (cell room, reverse-row room) of the last settled build
        self.rooms: dict = {}
        self.overflows = 0      # deferred builds that overflowed a room (and were built again)

    def can_defer(self, natoms: int, ncentres: int | None, cell, bounds, skin: float = 0.0) -> bool:
        """Whether every list has a settled build of this size to take its rooms from (``build``
        decides the same per list)."""
        ncentres = natoms if ncentres is None else int(ncentres)
        return all(self._room_key(k, spec, natoms, ncentres, cell, bounds, spec.rcut + skin) in self.rooms
                   for k, spec in enumerate(self.specs))

    def _room_key(self, k, spec, natoms, ncentres, cell, bounds, rc):
        return k, natoms, ncentres, int(np.prod(grid(cell, bounds, rc, natoms)[2]))

    def build(self, k: int, pos, atype, cell, rc: float, bounds, ncentres: int | None, by_groups: bool,
              deferred: bool = False) -> NeighborState:
        """List k from device positions: settled (one status read) unless ``deferred`` (no read;
        :meth:`settle` after the evaluation)."""
        spec = self.specs[k]
        b, ws, dt = self.backend, self.workspace, self.dtype
        natoms = int(pos.shape[0]) // 3
        ncentres = natoms if ncentres is None else int(ncentres)
        if not 0 <= ncentres <= natoms:
            raise ValueError(f"ncentres {ncentres} outside 0..{natoms}")
        ntypes = len(spec.sel)
        gmat, origin, ncell, reach, periodic = grid(cell, bounds, rc, natoms)
        grid_inv = ws.constant("grid_inv", cell_inverse(gmat), dt)
        origin_d = ws.constant("origin", origin, dt)
        ncell_d = ws.constant("ncell", ncell, np.int64)
        cell_dev = ws.constant("cell", cell if cell is not None else np.zeros((3, 3)), dt)
        ncells = int(np.prod(ncell))
        nnei = int(sum(spec.sel))
        key = (k, natoms, ncentres, ncells)
        index = slot_index_dtype(natoms, ncentres, nnei)
        nlist = ws.buffer(f"nlist:{k}", ncentres * nnei, index)
        nshift = ws.buffer(f"nshift:{k}", ncentres * nnei, SHIFT_DTYPE)
        type_count = ws.buffer(f"type_count:{k}", ncentres * ntypes, np.int64)
        coincident = ws.buffer("coincident", ncentres, np.int64)
        status = ws.buffer(f"status:{k}", status_size(nnei), np.int64)
        row = Args(ntypes=ntypes, nnei=nnei, nlist=nlist, nshift=nshift, type_count=type_count,
                   coincident=coincident, coincident_r2=COINCIDENT * COINCIDENT, status=status)
        reach_d = ws.constant("reach", reach, np.int64)
        deferred = deferred and key in self.rooms
        cap = self.rooms[key][0] if deferred else cell_capacity(natoms, ncells)

        def rows(cap: int):
            b.launch("fill", status_size(nnei), Args(arr=status, value=0), dtype=dt)
            cell_count = ws.buffer("cell_count", ncells, np.int64)
            b.launch("fill", ncells, Args(arr=cell_count, value=0), dtype=dt)
            cell_atoms = ws.buffer("cell_atoms", ncells * cap, np.int64)
            b.launch("bin_atom", natoms, Args(pos=pos, grid_inv=grid_inv, origin=origin_d, ncell=ncell_d,
                                              cell_count=cell_count, cell_atoms=cell_atoms, cell_cap=cap,
                                              status=status), dtype=dt)
            search = Args(pos=pos, atype=atype, cell=cell_dev, grid_inv=grid_inv, origin=origin_d, ncell=ncell_d,
                          reach=reach_d, periodic=periodic, cell_count=cell_count, cell_atoms=cell_atoms,
                          cell_cap=cap, rc=float(rc), sel_off=self.sel_offsets[k])
            if by_groups:
                b.launch_groups("neighbor_row_group", ncentres, NEIGHBOR_LANES, search, row,
                                local={"sh_d": nnei, "sh_j": nnei, "sh_q": nnei, "sh_t": nnei,
                                       "sh_scan": 2 * NEIGHBOR_LANES, "sh_cell": 5 * NEIGHBOR_LANES},
                                scratch={"dist": nnei}, dtype=dt)
            else:
                b.launch("neighbor_row", ncentres, search, row, scratch={"dist": nnei}, dtype=dt)
            return cell_count

        def reverse_rows(rev_cap: int):
            rev = ws.buffer(f"rev:{k}", natoms * rev_cap, index)
            rev_count = ws.buffer(f"rev_count:{k}", natoms, np.int64)
            b.launch("fill", natoms, Args(arr=rev_count, value=0), dtype=dt)
            b.launch("scatter_reverse", ncentres * nnei,
                     Args(nlist=nlist, rev=rev, rev_count=rev_count, rev_cap=rev_cap, status=status), dtype=dt)
            return rev, rev_count

        def sort(rev, rev_count, rev_cap: int):
            if by_groups:
                b.launch_groups("sort_reverse_row_group", natoms, NEIGHBOR_LANES,
                                Args(rev=rev, rev_count=rev_count, rev_cap=rev_cap, nnei=nnei),
                                local={"sh_hi": nnei, "sh_lo": nnei}, dtype=dt)
            else:
                b.launch("sort_reverse_row", natoms, Args(rev=rev, rev_count=rev_count, rev_cap=rev_cap), dtype=dt)

        if deferred:
            rows(cap)
            rev_cap = self.rooms[key][1]
            rev, rev_count = reverse_rows(rev_cap)
            sort(rev, rev_count, rev_cap)
            return NeighborState(spec, float(rc), nlist, nshift, rev, rev_count, rev_cap, 0, 0, ncentres, status,
                                 cap, settled=False)
        # bin, rows, one read of the status: a cell that overflowed its room (rare: the first
        # capacity is twice the mean) is binned again with room for the fullest, and its rows redone
        while True:
            cell_count = rows(cap)
            counts = b.to_host(status)
            if counts[STATUS_CELL_OVERFLOW] == 0:
                break
            cap = int(b.to_host(cell_count).max())
        if counts[STATUS_COINCIDENT]:   # r = 0 would enter the descriptor: no answer, not a wrong one
            raise_coincident(b.to_host(coincident), cell is not None)
        longest = longest_row(counts, nnei, lambda: b.to_host(type_count).reshape(ncentres, ntypes))
        # with every atom a centre, no atom is in more rows than the longest row has neighbours;
        # a neighbour-only atom can be (a dense ghost region): the status counts what did not fit
        rev_cap = max(1, longest) + REVERSE_MARGIN
        while True:
            rev, rev_count = reverse_rows(rev_cap)
            if ncentres == natoms or b.to_host(status)[STATUS_REVERSE_OVERFLOW] == 0:
                break
            rev_cap = int(b.to_host(rev_count).max())
            b.launch("fill", status_size(nnei), Args(arr=status, value=0), dtype=dt)
        sort(rev, rev_count, rev_cap)
        self._remember(key, cap, rev_cap)
        return NeighborState(spec, float(rc), nlist, nshift, rev, rev_count, rev_cap, int(counts[STATUS_TRUNCATED]),
                             longest, ncentres, status, cap)

    def _remember(self, key, cap: int, rev_cap: int) -> None:
        if len(self.rooms) >= 256:
            self.rooms.clear()
        self.rooms[key] = (cap, rev_cap)

    def settle(self, nb: Neighbors, cell) -> bool:
        """Read the status of a deferred build: False if a list overflowed the room it was given (its
        results are not to be used: build again, settled); InputError for two atoms at one place;
        else the lists' counts are filled in and True."""
        b = self.backend
        read = []
        for lst in nb.lists:
            if lst.settled:
                read.append(None)
                continue
            counts = b.to_host(lst.status)
            if counts[STATUS_CELL_OVERFLOW] or counts[STATUS_REVERSE_OVERFLOW]:
                self.overflows += 1
                return False
            read.append(counts)
        for k, (lst, counts) in enumerate(zip(nb.lists, read)):     # lists in the order of the specs
            if counts is None:
                continue
            if counts[STATUS_COINCIDENT]:
                raise_coincident(b.to_host(self.workspace.buffer("coincident", lst.ncentres, np.int64)),
                                 cell is not None)
            ntypes = len(lst.spec.sel)
            type_count = self.workspace.buffer(f"type_count:{k}", lst.ncentres * ntypes, np.int64)
            lst.max_candidates = longest_row(counts, int(sum(lst.spec.sel)),
                                             lambda: b.to_host(type_count).reshape(lst.ncentres, ntypes))
            lst.n_truncated = int(counts[STATUS_TRUNCATED])
            lst.settled = True
        return True


def longest_row(counts: np.ndarray, nnei: int, exact_counts) -> int:
    """The most atoms within rc of any centre, from the status's histogram of row lengths; beyond a
    whole row (its last bin) counted exactly from ``exact_counts()`` (ncentres × ntypes)."""
    filled = np.flatnonzero(counts[STATUS_LENGTHS:])
    longest = int(filled[-1]) if filled.size else 0
    if longest > nnei:
        longest = int(exact_counts().sum(axis=1).max())
    return longest


def raise_coincident(same_place: np.ndarray, periodic: bool):
    """The InputError for the first centre with another atom at its place (coincident >= 0)."""
    i = int(np.argmax(same_place >= 0))
    raise InputError(coincident_atoms(i, int(same_place[i]), periodic))
