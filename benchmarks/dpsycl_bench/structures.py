"""The benchmarked structures: random 50/50 Cu–Ag fcc alloys of exactly N atoms.

Each size N is a multiple of 4 (four atoms per cubic fcc cell) laid out in the most cubic
supercell with exactly N atoms (:func:`supercell_for`), lattice constant 3.85 Å, every atom
displaced by 0.05 Å Gaussian noise and wrapped into the box.  The atoms themselves come from the
library's one alloy builder, ``dpsycl.structures.random_alloy``; :func:`lattice_alloy` builds the
same structure with NumPy alone, for sizes (10 M atoms) where ASE's per-atom Python lists take
minutes.
"""
from __future__ import annotations

import math

import numpy as np

#: default sizes on CPU devices, and when a CUDA device is measured
CPU_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
GPU_SIZES = (2048, 8788, 32000, 131072, 1048576)
COMPOSITION = "Cu0.5Ag0.5"
LATTICE = 3.85          # Å, fcc
NOISE = 0.05            # Å, Gaussian displacement
#: the species of the bundled cuag model, in its order
TYPE_MAP = ("Cu", "Ag")


def supercell_for(natoms: int) -> tuple[int, int, int]:
    """The most cubic (nx, ny, nz) with 4·nx·ny·nz = natoms (fcc, 4 atoms per cubic cell).

    ``dpsycl.structures`` rounds a size up to a near-cubic repetition; a benchmark needs the
    size asked for exactly (the scaling exponents compare given N), hence this search."""
    if natoms <= 0 or natoms % 4:
        raise ValueError(f"N={natoms}: an fcc supercell holds a multiple of 4 atoms")
    cells = natoms // 4
    best = None
    for nx in range(1, int(round(cells ** (1 / 3))) + 2):
        if cells % nx:
            continue
        rest = cells // nx
        for ny in range(nx, int(math.isqrt(rest)) + 1):
            if rest % ny:
                continue
            nz = rest // ny
            score = (nz / nx, nz, nx)      # least elongated first, then the shortest long side
            if best is None or score < best[0]:
                best = (score, (nx, ny, nz))
    return (1, 1, cells) if best is None else best[1]


def alloy(natoms: int, seed: int = 0, type_map=TYPE_MAP):
    """Random 50/50 Cu–Ag alloy of exactly ``natoms`` atoms: positions (N, 3) wrapped into the box,
    cell (3, 3), species indices into ``type_map``."""
    from dpsycl.structures import atoms_to_arrays, random_alloy
    atoms = random_alloy(COMPOSITION, seed=seed, repeats=supercell_for(natoms), lattice=LATTICE, noise=NOISE)
    return atoms_to_arrays(atoms, type_map)


#: the conventional cubic fcc cell in fractional coordinates, in the order ASE's bulk(cubic=True) lists it
FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
#: ASE's wrap moves fractional coordinates by this much first, so -1e-17 stays at 0 rather than 1
WRAP_EPS = 1e-7


def lattice_alloy(natoms: int, seed: int = 0, type_map=TYPE_MAP):
    """:func:`alloy` with vectorised NumPy: the same positions (to rounding), cell and species.

    It repeats what ``random_alloy`` does with ASE, array at a time: the 4-atom cubic cell repeated
    over :func:`supercell_for` in ASE's order (cell index i, j, k outer, basis atom inner), the
    species counts rounded as there, a permutation of them and then the Gaussian noise drawn from
    one generator seeded with (seed, 0xA110), and ASE's wrap (fractional + eps, mod 1, − eps)."""
    from dpsycl.structures import parse_composition, species_indices
    repeats = supercell_for(natoms)
    grid = np.stack(np.meshgrid(*[np.arange(r) for r in repeats], indexing="ij"), axis=-1).reshape(-1, 1, 3)
    fractional = (grid + FCC_BASIS[None]).reshape(-1, 3)
    comp = parse_composition(COMPOSITION)
    raw = np.asarray([x * natoms for _, x in comp])
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts))[: natoms - counts.sum()]:
        counts[k] += 1
    species = species_indices([s for s, _ in comp], type_map)
    rng = np.random.default_rng([int(seed), 0xA110])
    atype = species[rng.permutation(np.repeat(np.arange(len(comp)), counts))]
    lengths = np.asarray(repeats, dtype=np.float64) * LATTICE
    positions = fractional * LATTICE + rng.normal(0.0, NOISE, (natoms, 3))
    scaled = positions / lengths + WRAP_EPS
    scaled %= 1.0
    scaled -= WRAP_EPS
    return scaled * lengths, np.diag(lengths), atype


def structure_record(natoms: int, seed: int, cell: np.ndarray, atype: np.ndarray, type_map) -> dict:
    """How a benchmarked structure was made, for the JSON file."""
    return {"natoms": natoms, "supercell": list(supercell_for(natoms)), "box": [float(v) for v in np.diag(cell)],
            "seed": seed, "composition": COMPOSITION, "lattice": LATTICE, "noise": NOISE,
            "counts": {s: int((atype == k).sum()) for k, s in enumerate(type_map)}}
