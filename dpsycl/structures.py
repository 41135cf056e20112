"""Structures in and out: ASE Atoms and DeePMD-kit's arrays, and the random fcc alloys that the
CLI (`dpsycl run --alloy`), the benchmark and the case study build.

DeePMD-kit's arrays: coordinates (N, 3) Å, cell (3, 3) with the box vectors as rows or None for
no periodic boundaries (DeePMD-kit has no mixed boundaries), species indices into a model's
type_map.
"""
from __future__ import annotations

import math
import re

import numpy as np

#: lattice constants (Å) used for alloys when ase.data has no fcc reference state
FCC_LATTICE = {"Cu": 3.61, "Ag": 4.09}


def species_indices(symbols, type_map) -> np.ndarray:
    index = {s: k for k, s in enumerate(type_map)}
    missing = sorted(set(symbols) - set(index), key=str)
    if missing:
        raise ValueError(f"species {', '.join(missing)} not in the model's type_map {list(type_map)}")
    return np.asarray([index[s] for s in symbols], dtype=np.int64)


def parse_composition(text: str) -> list[tuple[str, float]]:
    """'Cu0.5Ag0.5' → [('Cu', 0.5), ('Ag', 0.5)]; a missing number means 1."""
    from ase.data import atomic_numbers
    parts = re.findall(r"([A-Z][a-z]?)(\d*\.?\d*(?:[eE][-+]?\d+)?)", text)
    if not parts or "".join(s + x for s, x in parts) != text.replace(" ", ""):
        raise ValueError(f"cannot parse alloy composition '{text}' (expected e.g. Cu0.5Ag0.5)")
    comp: dict[str, float] = {}
    for sym, x in parts:
        if sym not in atomic_numbers:
            raise ValueError(f"'{sym}' in alloy composition '{text}' is not an element")
        frac = float(x) if x else 1.0
        if not math.isfinite(frac) or frac < 0:
            raise ValueError(f"bad fraction of {sym} in '{text}'")
        comp[sym] = comp.get(sym, 0.0) + frac
    total = sum(comp.values())
    if total <= 0:
        raise ValueError(f"alloy composition '{text}' has no atoms")
    return [(s, x / total) for s, x in comp.items() if x > 0]


def fcc_lattice_constant(symbol: str) -> float:
    from ase.data import atomic_numbers, reference_states
    if symbol in FCC_LATTICE:
        return FCC_LATTICE[symbol]
    ref = reference_states[atomic_numbers[symbol]] or {}
    if ref.get("symmetry") == "fcc":
        return float(ref["a"])
    raise ValueError(f"no fcc lattice constant known for {symbol}; give a STRUCTURE file instead of --alloy")


def cubeish_repeats(ncells: int) -> tuple[int, int, int]:
    """Fewest cells ≥ ncells as (a, b, c) with max − min ≤ 1 (the nearest-to-cubic repetition)."""
    best = None
    k = max(1, round(ncells ** (1 / 3)) - 1)
    for a in range(k, k + 3):
        for da in range(0, 2):
            for db in range(0, 2):
                reps = (a, a + da, a + db)
                if min(reps) < 1:
                    continue
                n = reps[0] * reps[1] * reps[2]
                if n >= ncells and (best is None or n < best[0]):
                    best = (n, tuple(sorted(reps)))
    return best[1]


def random_alloy(composition: str, natoms: int | None = None, seed: int = 0, *, repeats=None,
                 lattice: float | None = None, noise: float = 0.0):
    """Random substitutional fcc alloy as ASE Atoms (periodic, cubic cells).

    ``natoms``: at least that many atoms, in the nearest-to-cubic repetition of the 4-atom cell;
    or ``repeats`` (nx, ny, nz) of it.  ``lattice``: lattice constant in Å (default: Vegard's law
    over the species' fcc lattice constants).  ``noise``: Gaussian displacement of every atom (Å),
    positions wrapped back into the cell.  The same seed gives the same structure.
    """
    from ase.build import bulk
    comp = parse_composition(composition)
    if repeats is None:
        if natoms is None or natoms < 1:
            raise ValueError(f"--atoms must be ≥ 1, got {natoms}")
        repeats = cubeish_repeats(math.ceil(natoms / 4))
    a = lattice if lattice is not None else sum(x * fcc_lattice_constant(s) for s, x in comp)
    atoms = bulk(comp[0][0], "fcc", a=a, cubic=True).repeat(tuple(int(r) for r in repeats))
    n = len(atoms)
    raw = np.asarray([x * n for _, x in comp])
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts))[: n - counts.sum()]:
        counts[k] += 1
    symbols = np.repeat([s for s, _ in comp], counts)
    rng = np.random.default_rng([int(seed), 0xA110])
    atoms.set_chemical_symbols(list(rng.permutation(symbols)))
    if noise:
        atoms.positions += rng.normal(0.0, noise, atoms.positions.shape)
        atoms.wrap()
    return atoms


def read_atoms(path: str, index=":", fmt: str | None = None, what: str = "", **kwargs):
    """``ase.io.read(path, index, format=fmt)``, any failure one ValueError line ("cannot read
    WHAT PATH: ..."); (ext)xyz atom counts are checked against the file first (a damaged count made
    ASE's reader spin for minutes)."""
    import ase.io

    from .formats import xyz_atom_count_problem
    where = f"{what} {path}" if what else str(path)
    guessed = fmt
    if guessed is None:
        try:
            guessed = ase.io.formats.filetype(path, guess=True)
        except Exception:  # noqa: BLE001 - ase.io.read below words the same failure
            guessed = None
    if guessed in ("xyz", "extxyz"):
        problem = xyz_atom_count_problem(path)
        if problem:
            raise ValueError(f"cannot read {where}: {problem}")
    try:
        return ase.io.read(path, index=index, format=fmt, **kwargs)
    except Exception as exc:  # noqa: BLE001 - ASE raises many kinds of errors for bad files
        raise ValueError(f"cannot read {where}: {' '.join(str(exc).split()) or type(exc).__name__}") from None


def atoms_to_arrays(atoms, type_map) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(coords (N, 3), cell (3, 3) or None, atype) of ASE Atoms for a model's type_map."""
    pbc = atoms.pbc
    if pbc.any() and not pbc.all():
        raise ValueError(f"mixed boundary conditions {pbc.tolist()} are not supported; use pbc=True or pbc=False")
    from .input_checks import check_cell, check_positions
    cell = np.array(atoms.cell.array, dtype=np.float64) if pbc.all() else None
    coords = np.array(atoms.get_positions(), dtype=np.float64)
    atype = species_indices(atoms.get_chemical_symbols(), type_map)
    if cell is not None:
        check_cell(cell)
    check_positions(coords, cell)
    return coords, cell, atype
