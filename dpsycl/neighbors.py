"""Periodic neighbour lists in DeePMD-kit's se_e2_a layout (float64 host reference).

For each centre atom i the list holds, species block by species block, the neighbours j with
|r_ij| < rcut, r_ij = x_j + S·h − x_i (S an integer image shift, h the cell), sorted inside each
block by (|r_ij|, local-before-image, j, S) and truncated at sel[type_j]; empty slots hold −1.
Images are found with a cell list over ghost copies of the wrapped cell, so any cell shape works,
including cells narrower than 2·rcut (several images of one atom).  Cost is O(N).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .errors import COINCIDENT, InputError, coincident_atoms


class SelTruncationWarning(UserWarning):
    """More neighbours of one species than ``sel`` allows; DeePMD-kit drops the farthest too."""


DROPPED = "the farthest were dropped, as DeePMD-kit does"


def sel_truncation_message(n_truncated: int, sel, within: str = "rcut", consequence: str = DROPPED) -> str:
    """The one wording of the sel-truncation warning (reference, device evaluator and MD)."""
    return (f"{n_truncated} atom(s) have more neighbours of one species within {within} than "
            f"sel={list(map(int, sel))}; {consequence}")


def warn_sel_truncation(n_truncated: int, sel, stacklevel: int = 3) -> None:
    warnings.warn(sel_truncation_message(n_truncated, sel), SelTruncationWarning, stacklevel=stacklevel + 1)


@dataclass
class NeighborList:
    nlist: np.ndarray      # (ncentres, nnei) owner index of each neighbour, -1 = empty slot
    shift: np.ndarray      # (nloc, nnei, 3) integer image shift S of each neighbour
    rij: np.ndarray        # (nloc, nnei, 3) x_j + S·h − x_i (zero for empty slots)
    n_truncated: int       # centre atoms whose list was cut at sel


#: per-cell results of the cells seen last, by the cell's bytes: an evaluation asks for them more
#: than once (input check, cell list, wrap) and an MD run or a trajectory repeats one cell; each
#: took 0.02–0.1 ms of NumPy a call
_WIDTHS: dict[bytes, np.ndarray] = {}
_INVERSES: dict[bytes, np.ndarray] = {}


def _per_cell(cache: dict, cell, compute) -> np.ndarray:
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    key = cell.tobytes()
    value = cache.get(key)
    if value is None:
        value = compute(cell)
        value.setflags(write=False)
        if len(cache) >= 64:
            cache.clear()
        cache[key] = value
    return value


def _widths(cell: np.ndarray) -> np.ndarray:
    volume = abs(np.linalg.det(cell))
    areas = np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return volume / areas


def perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell spanned by the rows of ``cell`` (read-only)."""
    return _per_cell(_WIDTHS, cell, _widths)


def cell_inverse(cell: np.ndarray) -> np.ndarray:
    """The inverse of the cell matrix (rows = box vectors; read-only)."""
    return _per_cell(_INVERSES, cell, np.linalg.inv)


def wrap_positions(coords: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Map positions into the cell: fractional coordinates modulo 1."""
    frac = coords @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0  # -1e-18 mod 1 rounds to 1.0
    return frac @ cell


def _ghost_images(wrapped: np.ndarray, cell: np.ndarray, rcut: float):
    """Owner index and shift of every periodic copy within rcut of the cell (the cell included)."""
    reach = rcut / perpendicular_widths(cell)
    nimg = np.ceil(reach).astype(int)
    frac = wrapped @ np.linalg.inv(cell)
    grids = [np.arange(-n, n + 1) for n in nimg]
    shifts = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1).reshape(-1, 3)
    # local copies first: a tie at equal distance prefers the atom inside the cell, as DeePMD-kit
    shifts = shifts[np.argsort(np.abs(shifts).sum(axis=1) > 0, kind="stable")]
    fs = frac[None, :, :] + shifts[:, None, :]
    keep = np.all((fs >= -reach) & (fs < 1.0 + reach), axis=2)
    keep[0, :] = True
    s_idx, owner = np.nonzero(keep)
    return owner, shifts[s_idx]


def _candidate_pairs(centres: np.ndarray, points: np.ndarray, rcut: float):
    """All (centre, point) index pairs closer than rcut, by a k-d tree (scipy): its cost follows
    the atoms, not the volume they span (binning the bounding box asked for 10¹² bins for two atoms
    10⁵ Å apart)."""
    from scipy.spatial import cKDTree
    if len(centres) == 0 or len(points) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs = cKDTree(centres).sparse_distance_matrix(cKDTree(points), rcut, output_type="ndarray")
    ci, pj = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    d2 = np.sum((points[pj] - centres[ci]) ** 2, axis=1)   # the strict bound, in this module's arithmetic
    close = d2 < rcut * rcut
    return ci[close], pj[close]


def pairs_within(coords, cell, r: float):
    """Every pair of atoms closer than ``r`` (periodic images included): arrays i, j, distance with
    i < j, one row per pair and image; an atom and its own image are not a pair."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    if cell is None:
        wrapped, owner, images = coords, np.arange(len(coords)), coords
    else:
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        wrapped = wrap_positions(coords, cell)
        owner, shifts = _ghost_images(wrapped, cell, r)
        images = wrapped[owner] + shifts @ cell
    ci, pj = _candidate_pairs(wrapped, images, r)
    j = owner[pj]
    keep = ci < j
    ci, j, pj = ci[keep], j[keep], pj[keep]
    return ci, j, np.sqrt(np.sum((images[pj] - wrapped[ci]) ** 2, axis=1))


def build_neighbor_list(coords, cell, atype, rcut: float, sel, warn: bool = True,
                        ncentres: int | None = None) -> NeighborList:
    """Neighbour list of ``coords`` (natoms, 3) in ``cell`` (3, 3) rows, or no PBC if None; rows
    for the first ``ncentres`` atoms (default all: the rest are neighbours only, DeePMD-kit's ghosts)."""
    coords = np.asarray(coords, dtype=np.float64)
    atype = np.asarray(atype)
    natoms = len(coords)
    ncentres = natoms if ncentres is None else int(ncentres)
    sel = np.asarray(sel, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sel)])
    nnei = int(offsets[-1])
    if cell is None:
        wrapped = coords
        owner = np.arange(natoms)
        shifts = np.zeros((natoms, 3), dtype=np.int64)
        images = coords
    else:
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        wrapped = wrap_positions(coords, cell)
        owner, shifts = _ghost_images(wrapped, cell, rcut)
        images = wrapped[owner] + shifts @ cell
    ci, pj = _candidate_pairs(wrapped[:ncentres], images, rcut)
    j = owner[pj]
    is_image = np.any(shifts[pj] != 0, axis=1)
    not_self = (j != ci) | is_image
    ci, pj, j, is_image = ci[not_self], pj[not_self], j[not_self], is_image[not_self]
    rvec = images[pj] - wrapped[ci]
    dist = np.sqrt(np.sum(rvec * rvec, axis=1))
    if len(dist) and dist.min() < COINCIDENT:        # r = 0 has no environment: no answer, not a NaN one
        k = int(np.argmin(dist))
        raise InputError(coincident_atoms(int(ci[k]), int(j[k]), cell is not None))
    tj = atype[j]
    order = np.lexsort((pj, j, is_image, dist, tj, ci))
    ci, pj, j, tj, rvec = ci[order], pj[order], j[order], tj[order], rvec[order]
    # rank of each pair inside its (centre, neighbour species) group
    group = ci * len(sel) + tj
    new_group = np.concatenate([[True], group[1:] != group[:-1]])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(group)), 0))
    rank = np.arange(len(group)) - group_start
    kept = rank < sel[tj]
    n_truncated = len(np.unique(ci[~kept]))
    if n_truncated and warn:
        warn_sel_truncation(n_truncated, sel)
    slot = offsets[tj[kept]] + rank[kept]
    nlist = np.full((ncentres, nnei), -1, dtype=np.int64)
    shift = np.zeros((ncentres, nnei, 3), dtype=np.int64)
    rij = np.zeros((ncentres, nnei, 3), dtype=np.float64)
    nlist[ci[kept], slot] = j[kept]
    shift[ci[kept], slot] = shifts[pj[kept]]
    rij[ci[kept], slot] = rvec[kept]
    return NeighborList(nlist=nlist, shift=shift, rij=rij, n_truncated=n_truncated)
