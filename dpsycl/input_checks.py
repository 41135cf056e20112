"""What a structure must satisfy before it is evaluated: the one place these rules are written.

Each rule stops an input that would otherwise give a silent wrong answer, a hang or an exhausted
memory rather than an error: non-finite or far-away coordinates (float64 positions beyond
``MAX_COORDINATE`` are too coarse to wrap or difference), singular cells, cells so thin for the
cutoff that an atom has more than ``MAX_PERIODIC_IMAGES`` periodic images within it.  Errors are
one line, raised as ``error``.  Atoms at the same place (closer than ``dpsycl.errors.COINCIDENT``:
r = 0 has no environment) are refused by the neighbour searches, host and device, which see every
pair anyway.

Atoms closer than ``CLOSE_FRACTION`` × the sum of their covalent radii are not an error (a model
gives finite, smooth numbers there) but far outside any training set: :func:`crowding` words the
warning that ``dpsycl eval`` and ``dpsycl run`` print for them.
"""
from __future__ import annotations

import numpy as np

from .neighbors import pairs_within, perpendicular_widths

#: |coordinate| beyond this (Å) is refused: there float64 spacing exceeds 1e-8 Å
MAX_COORDINATE = 1e8
#: periodic images of one atom searched within the cutoff; a 1-atom fcc cell needs a few hundred
MAX_PERIODIC_IMAGES = 100_000
#: atoms closer than this × the sum of their covalent radii: a structure no model was trained on
CLOSE_FRACTION = 0.5


#: (cell bytes, rcut) of the cells that passed check_cell last: an MD run or a trajectory checks one
#: cell at every evaluation
_GOOD_CELLS: set = set()


def check_cell(cell: np.ndarray, rcut: float | None = None, error=ValueError, where: str = "cell") -> None:
    """A usable periodic cell (rows are the box vectors); left-handed cells are fine."""
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    key = (cell.tobytes(), rcut)
    if key in _GOOD_CELLS:
        return
    if not np.all(np.isfinite(cell)):
        raise error(f"{where} contains NaN or infinite values")
    if np.any(np.abs(cell) > MAX_COORDINATE):
        raise error(f"{where} has a box vector component beyond ±{MAX_COORDINATE:.0e} Å")
    vol = np.linalg.det(cell)
    if abs(vol) < 1e-8 * max(np.prod(np.linalg.norm(cell, axis=1)), 1e-300) or abs(vol) < 1e-300:
        raise error(f"{where} is singular (volume {vol:.3g} Å³)")
    if rcut is not None:
        widths = perpendicular_widths(cell)
        images = int(np.prod(2 * np.ceil(rcut / widths) + 1))
        if images > MAX_PERIODIC_IMAGES:
            raise error(f"{where} is too thin for the cutoff {rcut:g} Å (widths {' '.join(f'{w:.3g}' for w in widths)} Å: "
                        f"{images} periodic images of each atom, at most {MAX_PERIODIC_IMAGES})")
    if len(_GOOD_CELLS) >= 256:
        _GOOD_CELLS.clear()
    _GOOD_CELLS.add(key)


def check_positions(coords: np.ndarray, cell: np.ndarray | None, error=ValueError, where: str = "") -> None:
    """Finite and not too far out; O(N).  Two atoms at one place are found by the neighbour search
    (host and device), which has the pairs anyway."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    # both rules in two passes without temporaries: NaN fails every comparison, ±inf the bound
    if coords.size and coords.min() >= -MAX_COORDINATE and coords.max() <= MAX_COORDINATE:
        return
    prefix = f"{where}: " if where else ""
    if not np.all(np.isfinite(coords)):
        raise error(f"{prefix}coords contain NaN or infinite values")
    far = np.abs(coords) > MAX_COORDINATE
    if far.any():
        i = int(np.nonzero(far.any(axis=1))[0][0])
        raise error(f"{prefix}atom {i} lies beyond ±{MAX_COORDINATE:.0e} Å (coordinates {coords[i].tolist()}), "
                    "where float64 positions lose their precision")


def crowded_pair(positions, species, names, cell):
    """(i, j, distance) of the closest pair closer than CLOSE_FRACTION × the sum of their covalent
    radii (ASE's table, by element name; names that are no element count as 0.2 Å), or None."""
    from ase.data import atomic_numbers, covalent_radii
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(positions) < 2 or not np.all(np.isfinite(positions)):
        return None
    radii = CLOSE_FRACTION * covalent_radii[[atomic_numbers.get(names[int(t)], 0) for t in species]]
    i, j, d = pairs_within(positions, cell, 2.0 * float(radii.max()))
    close = d < radii[i] + radii[j]
    if not close.any():
        return None
    k = int(np.argmin(np.where(close, d, np.inf)))
    return int(i[k]), int(j[k]), float(d[k])


def crowding(positions, species, names, cell, where: str = "") -> str | None:
    """The warning for a structure with atoms far closer than a bond, or None."""
    pair = crowded_pair(positions, species, names, cell)
    if pair is None:
        return None
    i, j, d = pair
    return (f"{where + ': ' if where else ''}atoms {i} ({names[int(species[i])]}) and {j} ({names[int(species[j])]}) "
            f"are {d:.3g} Å apart, under {CLOSE_FRACTION:g} × the sum of their covalent radii: the model is "
            "evaluated far outside what it was trained on (check the structure)")
