"""Frames in: DeePMD-kit data systems and MD trajectories, as runs of frames on a model's type map.

What ``dpsycl test`` and ``dpsycl model-devi`` read, and how:

* **DeePMD-kit npy systems** (a directory holding ``type.raw``; a directory without one is searched
  for systems below it, as ``dp test -s`` does): ``type.raw``, optional ``type_map.raw`` and
  ``nopbc``, and the sets ``set.*`` in sorted order, each with ``coord.npy`` and ``box.npy`` and the
  labels ``energy.npy``, ``force.npy``, ``virial.npy``.  As in DeePMD-kit (``deepmd.utils.data``),
  a label counts as present when the *first* set holds it (later sets without it read as zeros),
  every name of ``type_map.raw`` must be in the model's type map, and the species are mapped onto
  the model's type map by name.  The **mixed format** (``deepmd/npy/mixed``: per-frame species in
  ``set.*/real_atom_types.npy``, -1 for the padding "virtual" atoms) is read the same way.
  ``fparam.npy`` / ``aparam.npy`` are noted, so that a model which cannot take them refuses them.
* **dpsycl H5MD trajectories** (``dpsycl.h5md.read_trajectory``): positions, cells, species (mapped
  by name from the file's type map) and the MD step of every frame.
* **Anything ASE reads** (extxyz, LAMMPS text dumps, ...): species by chemical symbol; a LAMMPS dump
  without an element column maps LAMMPS type k to the k-th name of ``lammps_type_map`` (default:
  the model's type map, the convention of DeePMD-kit's LAMMPS pair style).  Labels come from the
  frame's calculator or info: energy, forces, and the virial, given as ``virial`` or as the ASE
  stress σ (virial = −σ·V, DeePMD-kit's and dpdata's convention).

Every source becomes one or more :class:`FrameSystem` objects; a system is a list of
:class:`FrameRun` objects, consecutive frames sharing species order and boundary conditions
(one run for an ordinary DeePMD-kit system; mixed-format systems and heterogeneous extxyz files may
have several).  Frames keep their input order.  Coordinates and labels are float64; cells are
(3, 3) with the box vectors as rows, or None for open boundaries.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

#: labels of a labelled frame and their per-frame shape (N: atoms of the frame)
LABELS = ("energy", "force", "virial")
#: the per-frame/per-atom parameters of DeePMD-kit data that some models take
PARAMETER_FILES = ("fparam", "aparam")
#: extensions read as LAMMPS text dumps (ASE does not guess this format)
LAMMPS_DUMP_SUFFIXES = (".dump", ".lammpstrj", ".lammpsdump")


@dataclass
class FrameRun:
    """Consecutive frames of one system with the same species order and boundary conditions."""
    coords: np.ndarray              # (nf, N, 3) Å, float64
    cells: np.ndarray | None        # (nf, 3, 3) Å, box vectors as rows; None: no PBC
    atype: np.ndarray               # (N,) index into the model's type_map; -1: a virtual (padding) atom
    steps: np.ndarray               # (nf,) int64: the MD step (or frame index × frequency) of each frame
    labels: dict = field(default_factory=dict)  # energy (nf,), force (nf, N, 3), virial (nf, 9)

    @property
    def nframes(self) -> int:
        return int(self.coords.shape[0])

    @property
    def natoms(self) -> int:
        """Atoms per frame, virtual atoms included (DeePMD-kit's per-atom normalisation counts them)."""
        return int(self.coords.shape[1])

    def slice(self, start: int, stop: int) -> "FrameRun":
        return FrameRun(self.coords[start:stop], None if self.cells is None else self.cells[start:stop],
                        self.atype, self.steps[start:stop], {k: v[start:stop] for k, v in self.labels.items()})


@dataclass
class FrameSystem:
    """One system (``dp test``'s unit of report) or one trajectory (one block of ``model_devi.out``)."""
    name: str                       # the path as given or found, as DeePMD-kit prints it
    runs: list[FrameRun]
    labels: frozenset = frozenset() # labels present (DeePMD-kit's find_energy, find_force, find_virial)
    pbc: bool = True
    parameters: tuple = ()          # fparam/aparam files the data carry

    @property
    def nframes(self) -> int:
        return sum(r.nframes for r in self.runs)

    def head(self, n: int) -> "FrameSystem":
        """The first ``n`` frames (``dp test -n``)."""
        runs, left = [], n
        for run in self.runs:
            if left <= 0:
                break
            runs.append(run.slice(0, min(left, run.nframes)))
            left -= runs[-1].nframes
        return FrameSystem(self.name, runs, self.labels, self.pbc, self.parameters)


# ---------------------------------------------------------------------------------------------
# discovery
def is_deepmd_system(path) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "type.raw"))


def find_sources(path: str) -> list[str]:
    """``path`` itself if it is a system or a file; else every DeePMD-kit system below it (sorted)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such system or trajectory: {path}")
    if os.path.isfile(path) or is_deepmd_system(path):
        return [path]
    found = sorted(os.path.join(root, d) for root, dirs, _ in os.walk(path) for d in dirs
                   if is_deepmd_system(os.path.join(root, d)))
    if not found:
        raise FileNotFoundError(f"{path} is neither a DeePMD-kit system (no type.raw) nor a directory "
                                f"holding one")
    return found


def read_sources(paths, type_map, *, labels: bool = True, frequency: int = 1, fmt: str | None = None,
                 lammps_type_map=None) -> list[FrameSystem]:
    """Every system of ``paths`` (systems, directories of systems, trajectory files), in order,
    mapped onto ``type_map``.  A source with no frame is an error."""
    systems = []
    for given in paths:
        for path in find_sources(given):
            system = read_source(path, type_map, labels=labels, frequency=frequency, fmt=fmt,
                                 lammps_type_map=lammps_type_map)
            if system.nframes == 0:
                raise ValueError(f"{path} holds no frames")
            systems.append(system)
    return systems


def read_source(path: str, type_map, *, labels: bool = True, frequency: int = 1, fmt: str | None = None,
                lammps_type_map=None) -> FrameSystem:
    if is_deepmd_system(path):
        return read_deepmd_system(path, type_map, frequency=frequency)
    if os.path.isdir(path):
        raise ValueError(f"{path} is not a DeePMD-kit system (no type.raw)")
    if fmt is None and _is_dpsycl_h5md(path):
        return read_h5md(path, type_map)
    return read_ase_frames(path, type_map, fmt=fmt, labels=labels, frequency=frequency,
                           lammps_type_map=lammps_type_map)


# ---------------------------------------------------------------------------------------------
# DeePMD-kit npy systems (standard and mixed)
def _load_npy(path: str, what: str) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)   # a pickled object array is refused, never unpickled
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot read {what} {path}: {' '.join(str(exc).split()) or type(exc).__name__}") from None
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
        if hasattr(values, "close"):
            values.close()
        raise ValueError(f"{what} {path} is not a .npy array of numbers")
    return values


def _name_index(data_map, type_map, where: str) -> np.ndarray:
    """Index of each data species in the model's type map; every name must be there."""
    missing = [name for name in data_map if name not in type_map]
    if missing:
        raise ValueError(f"{where}: species {', '.join(missing)} not in the model's type_map {list(type_map)}")
    return np.asarray([list(type_map).index(name) for name in data_map], dtype=np.int64)


def read_deepmd_system(path: str, type_map, *, frequency: int = 1) -> FrameSystem:
    """A DeePMD-kit npy system (standard or mixed format) on ``type_map``."""
    raw_types = np.loadtxt(os.path.join(path, "type.raw"), dtype=np.int64, ndmin=1)
    natoms = len(raw_types)
    map_file = os.path.join(path, "type_map.raw")
    data_map = np.loadtxt(map_file, dtype=str, ndmin=1).tolist() if os.path.isfile(map_file) else None
    sets = sorted(d for d in (os.path.join(path, n) for n in os.listdir(path))
                  if os.path.basename(d).startswith("set.") and os.path.isdir(d))
    if not sets:
        raise ValueError(f"{path}: no set.* directory")
    pbc = not os.path.isfile(os.path.join(path, "nopbc"))
    mixed = [os.path.isfile(os.path.join(s, "real_atom_types.npy")) for s in sets]
    if any(mixed) and not all(mixed):
        raise ValueError(f"{path}: some sets have real_atom_types.npy (mixed format) and some do not")
    if data_map is not None:
        to_model = _name_index(data_map, type_map, path)
    else:
        to_model = np.arange(len(type_map), dtype=np.int64)
    if mixed[0] and data_map is None:
        raise ValueError(f"{path}: a mixed-format system needs type_map.raw")
    found = frozenset(k for k in LABELS if os.path.isfile(os.path.join(sets[0], f"{k}.npy")))
    params = tuple(p for p in PARAMETER_FILES if os.path.isfile(os.path.join(sets[0], f"{p}.npy")))

    coords, cells, rows, labels = [], [], [], {k: [] for k in found}
    for s in sets:
        c = _load_npy(os.path.join(s, "coord.npy"), "coordinates").astype(np.float64)
        c = c.reshape(1, -1) if c.ndim == 1 else c.reshape(len(c), -1)
        if c.shape[1] != 3 * natoms:
            raise ValueError(f"{s}/coord.npy holds {c.shape[1]} numbers per frame, type.raw {natoms} atoms")
        nf = len(c)
        coords.append(c.reshape(nf, natoms, 3))
        if pbc:
            if not os.path.isfile(os.path.join(s, "box.npy")):
                raise FileNotFoundError(f"{s}/box.npy not found (a periodic system needs it; add a file "
                                        f"'nopbc' to the system for open boundaries)")
            cells.append(_load_npy(os.path.join(s, "box.npy"), "cells").astype(np.float64).reshape(nf, 3, 3))
        if mixed[0]:
            raw = _load_npy(os.path.join(s, "real_atom_types.npy"), "species").astype(np.int64).reshape(nf, natoms)
            if raw.max(initial=-1) >= len(to_model) or raw.min(initial=0) < -1:
                raise ValueError(f"{s}/real_atom_types.npy has species outside type_map.raw {data_map}")
            rows.append(np.where(raw < 0, -1, to_model[np.maximum(raw, 0)]))
        for k in found:
            width = {"energy": 1, "force": 3 * natoms, "virial": 9}[k]
            f = os.path.join(s, f"{k}.npy")
            value = (_load_npy(f, k).astype(np.float64) if os.path.isfile(f)
                     else np.zeros((nf, width)))      # DeePMD-kit: a label missing from a later set reads as 0
            if value.size != nf * width:
                raise ValueError(f"{f} holds {value.size} numbers, expected {nf} frames × {width}")
            labels[k].append(value.reshape((nf,) if k == "energy" else (nf, natoms, 3) if k == "force" else (nf, 9)))

    if not mixed[0]:
        if raw_types.min() < 0 or raw_types.max() >= len(to_model):
            where = f"type_map.raw {data_map}" if data_map is not None else f"the model's type_map {list(type_map)}"
            raise ValueError(f"{path}/type.raw has species indices outside {where}")
        species = to_model[raw_types]
    else:
        species = np.concatenate(rows)
    coords = np.concatenate(coords)
    frames = FrameArrays(coords, np.concatenate(cells) if pbc else None, species,
                         np.arange(len(coords), dtype=np.int64) * frequency,
                         {k: np.concatenate(v) for k, v in labels.items()})
    return FrameSystem(path, frames.runs(), found, pbc, params)


# ---------------------------------------------------------------------------------------------
# H5MD and ASE
def _is_dpsycl_h5md(path: str) -> bool:
    from .formats import HDF5, sniff
    if sniff(path) != HDF5:
        return False
    import h5py
    with h5py.File(path, "r") as f:
        return "h5md" in f and "particles/all" in f


def read_h5md(path: str, type_map) -> FrameSystem:
    """A dpsycl H5MD trajectory: every complete frame, with its MD step."""
    from .h5md import read_trajectory
    traj = read_trajectory(path)
    to_model = _name_index(traj["type_map"], type_map, path)
    species = np.asarray(traj["species"], dtype=np.int64)
    frames = FrameArrays(np.asarray(traj["positions"], dtype=np.float64),
                         None if traj["cell"] is None else np.asarray(traj["cell"], dtype=np.float64),
                         to_model[species] if species.size else species,
                         np.asarray(traj["step"], dtype=np.int64), {})
    return FrameSystem(path, frames.runs(), frozenset(), traj["cell"] is not None)


def _ase_labels(atoms) -> dict:
    """energy, force, virial of one ASE frame where it carries them (calculator results or info)."""
    out = {}
    results = dict(getattr(atoms.calc, "results", {}) or {})
    info = atoms.info
    energy = results.get("energy", results.get("free_energy", info.get("energy")))
    if energy is not None:
        out["energy"] = float(np.asarray(energy).reshape(-1)[0])
    forces = results.get("forces", atoms.arrays.get("forces"))
    if forces is not None:
        out["force"] = np.asarray(forces, dtype=np.float64).reshape(len(atoms), 3)
    if "virial" in info:
        out["virial"] = np.asarray(info["virial"], dtype=np.float64).reshape(9)
    elif results.get("stress") is not None and atoms.pbc.all():
        stress = np.asarray(results["stress"], dtype=np.float64)
        if stress.size == 6:                     # Voigt order xx yy zz yz xz xy
            xx, yy, zz, yz, xz, xy = stress
            stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        out["virial"] = (-stress.reshape(3, 3) * atoms.get_volume()).reshape(9)
    return out


def read_ase_frames(path: str, type_map, *, fmt: str | None = None, labels: bool = True, frequency: int = 1,
                    lammps_type_map=None) -> FrameSystem:
    """Every frame of a file ASE reads; a LAMMPS dump keeps its TIMESTEP as the step."""
    from .structures import atoms_to_arrays, read_atoms
    if fmt is None and path.lower().endswith(LAMMPS_DUMP_SUFFIXES):
        fmt = "lammps-dump-text"
    kwargs = {}
    if fmt and fmt.startswith("lammps-dump"):
        kwargs["specorder"] = list(lammps_type_map or type_map)
    images = read_atoms(path, index=":", fmt=fmt, **kwargs)
    if not isinstance(images, list):
        images = [images]
    if any(len(a) == 0 for a in images):
        raise ValueError(f"{path} has a frame with no atoms")
    per_frame = [_ase_labels(a) for a in images] if labels else [{} for _ in images]
    found = frozenset(k for k in LABELS if per_frame and all(k in p for p in per_frame))
    runs = []
    start = 0
    for k in range(1, len(images) + 1):       # runs of frames with the same species order and PBC
        if k < len(images) and (images[k].get_chemical_symbols() == images[start].get_chemical_symbols()
                                and images[k].pbc.all() == images[start].pbc.all()):
            continue
        arrays = [atoms_to_arrays(a, type_map) for a in images[start:k]]
        steps = [int(a.info.get("timestep", i * frequency)) for i, a in zip(range(start, k), images[start:k])]
        run_labels = {}
        for name in found:
            run_labels[name] = np.asarray([p[name] for p in per_frame[start:k]], dtype=np.float64)
        runs.append(FrameRun(np.stack([x[0] for x in arrays]),
                             None if arrays[0][1] is None else np.stack([x[1] for x in arrays]),
                             arrays[0][2], np.asarray(steps, dtype=np.int64), run_labels))
        start = k
    pbc = all(r.cells is not None for r in runs)
    return FrameSystem(path, runs, found, pbc)


# ---------------------------------------------------------------------------------------------
@dataclass
class FrameArrays:
    """Frames of equal atom count whose species may change from frame to frame (mixed format)."""
    coords: np.ndarray          # (nf, N, 3)
    cells: np.ndarray | None    # (nf, 3, 3)
    species: np.ndarray         # (N,) for all frames, or (nf, N) per frame
    steps: np.ndarray           # (nf,)
    labels: dict

    def runs(self) -> list[FrameRun]:
        """Split into runs of consecutive frames with identical species rows."""
        nf = len(self.coords)
        if self.species.ndim == 1 or nf == 0:
            atype = self.species if self.species.ndim == 1 else np.zeros(0, dtype=np.int64)
            return [FrameRun(self.coords, self.cells, atype, self.steps, self.labels)] if nf else []
        change = np.flatnonzero(np.any(self.species[1:] != self.species[:-1], axis=1)) + 1
        bounds = [0, *change.tolist(), nf]
        return [FrameRun(self.coords[a:b], None if self.cells is None else self.cells[a:b], self.species[a],
                         self.steps[a:b], {k: v[a:b] for k, v in self.labels.items()})
                for a, b in zip(bounds[:-1], bounds[1:])]
