"""Reading one frame of a LAMMPS text ``dump custom`` file: columns by name, and the box as a cell.

LAMMPS writes a triclinic box as its bounding box plus tilts (``ITEM: BOX BOUNDS xy xz yz ...``,
each line ``lo_bound hi_bound tilt``); the cell rows are a = (lx, 0, 0), b = (xy, ly, 0),
c = (xz, yz, lz) with lx = xhi − xlo recovered from the bounds as LAMMPS's dump docs define them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DumpFrame:
    step: int
    cell: np.ndarray              # (3, 3) rows
    periodic: tuple[bool, bool, bool]
    columns: dict[str, np.ndarray]

    def column(self, *names: str) -> np.ndarray:
        """The named columns side by side, (natoms, len(names)) or (natoms,) for one name."""
        out = np.stack([self.columns[n] for n in names], axis=1)
        return out[:, 0] if len(names) == 1 else out


def read_dump(path) -> DumpFrame:
    """The first frame of a ``dump custom`` text file, rows sorted by the ``id`` column if present."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    step = int(lines[lines.index("ITEM: TIMESTEP") + 1])
    k = next(i for i, line in enumerate(lines) if line.startswith("ITEM: BOX BOUNDS"))
    words = lines[k].split()[3:]
    triclinic = words[:3] == ["xy", "xz", "yz"]
    flags = words[3:] if triclinic else words
    bounds = np.array([[float(v) for v in lines[k + 1 + d].split()] for d in range(3)])
    xy = xz = yz = 0.0
    if triclinic:
        xy, xz, yz = bounds[0, 2], bounds[1, 2], bounds[2, 2]
        xlo = bounds[0, 0] - min(0.0, xy, xz, xy + xz)
        xhi = bounds[0, 1] - max(0.0, xy, xz, xy + xz)
        ylo, yhi = bounds[1, 0] - min(0.0, yz), bounds[1, 1] - max(0.0, yz)
        lengths = (xhi - xlo, yhi - ylo, bounds[2, 1] - bounds[2, 0])
    else:
        lengths = tuple(bounds[:, 1] - bounds[:, 0])
    cell = np.array([[lengths[0], 0.0, 0.0], [xy, lengths[1], 0.0], [xz, yz, lengths[2]]])
    a = next(i for i, line in enumerate(lines) if line.startswith("ITEM: ATOMS"))
    names = lines[a].split()[2:]
    natoms = int(lines[lines.index("ITEM: NUMBER OF ATOMS") + 1])
    table = np.array([[float(v) for v in line.split()] for line in lines[a + 1:a + 1 + natoms]]).reshape(natoms, len(names))
    if "id" in names:
        table = table[np.argsort(table[:, names.index("id")], kind="stable")]
    return DumpFrame(step, cell, tuple(f == "pp" for f in flags), {n: table[:, i] for i, n in enumerate(names)})
