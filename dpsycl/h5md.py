"""H5MD 1.1 trajectories of dpsycl MD runs: writer, reader, restart.

Layout (https://www.nongnu.org/h5md/h5md.html, version 1.1)::

    /h5md                      version = [1, 1]
        author                 name
        creator                name = "dpsycl", version
        modules/units          version = [1, 0]   (unit attributes on the value datasets)
    /particles/all
        box                    dimension = 3, boundary = ["periodic"]*3 or ["none"]*3
            edges/{step,time,value}     value (nframes, 3, 3) Å, box vectors as rows (PBC only)
        position/{step,time,value}      (nframes, N, 3) Å, model dtype, wrapped at the last list build
        velocity/{step,time,value}      (nframes, N, 3) Å/fs, model dtype
        force/{step,time,value}         (nframes, N, 3) kJ mol⁻¹ Å⁻¹ (the unit MDAnalysis reads)
        image/{step,time,value}         (nframes, N, 3) int64 periodic image counts
        species/{step,time,value}       (nframes, N) int32 index into parameters/model type_map
    /observables/{potential_energy, kinetic_energy, total_energy, temperature, pressure, stress}
                               each {step,time,value}; eV, eV, eV, K, bar, bar (stress (nframes,3,3),
                               −pressure tensor incl. the kinetic term)
    /parameters                attrs: device, dtype, timestep, ensemble, temperature, friction, tau,
                               nvt_steps (−1: none), skin, every, seed, natoms, ...
        fparam, aparam         the model's frame (numb_fparam,) and atomic (N, numb_aparam)
                               parameters, for models that take them
        model                  attrs: path, sha256, type_map, rcut

Every time-dependent dataset is chunked one frame per chunk (scalars: 256 frames), gzip-compressed
and unlimited along time (maxshape None).  A frame is written value → time → step, element by
element, and the file is flushed every ``flush_every`` frames (default: every frame), so a crash
loses at most the frames written since the last flush; the reader counts only frames whose step
is present in every element.  Positions and velocities are stored in the simulation's own dtype
(bit-exact), so a run restarted from the last frame continues the uninterrupted one bit for bit.
HDF5's SWMR mode is deliberately not used: a writer killed in SWMR mode leaves the file flagged
as open for writing, and h5py (hence MDAnalysis) then refuses to open it until ``h5clear -s`` is
run on it (measured with h5py 3 / HDF5 1.14) -- the opposite of what a crash-safe file is for.

MDAnalysis reads these files (``mdanalysis_universe(path)`` builds a Universe with element names);
it needs unit strings from its own table, hence Å, fs, Å/fs and kJ mol⁻¹ Å⁻¹.
"""
from __future__ import annotations

import getpass
import hashlib
import math
import os

import h5py
import numpy as np
from ase import units

from .version import installed_version
from .md import OBSERVABLE_UNITS, Frame, MDSettings, MDState

H5MD_VERSION = (1, 1)
PARTICLES = "particles/all"
FORCE_UNIT = "kJ mol-1 Angstrom-1"
EV_PER_A_IN_KJ_MOL_A = 1.0 / (units.kJ / units.mol)   # 1 eV/Å = 96.485 kJ mol⁻¹ Å⁻¹
UNITS = {"position": "Angstrom", "velocity": "Angstrom fs-1", "force": FORCE_UNIT, "image": None,
         "species": None, "box/edges": "Angstrom"}
OBSERVABLES = ("potential_energy", "kinetic_energy", "total_energy", "temperature", "pressure", "stress")
SCALAR_CHUNK = 256


class H5MDError(ValueError):
    """A file that is not a dpsycl H5MD trajectory, or one that cannot be restarted."""


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in a container
        return "unknown"


def _element_paths(pbc: bool) -> list[str]:
    parts = [f"{PARTICLES}/{name}" for name in ("position", "velocity", "force", "image", "species")]
    if pbc:
        parts.append(f"{PARTICLES}/box/edges")
    return parts + [f"observables/{name}" for name in OBSERVABLES]


class H5MDWriter:
    """Appends :class:`dpsycl.md.Frame` objects to an H5MD file.

    ``H5MDWriter.create(path, state, settings, ...)`` starts a new file (replacing ``path``) for the
    host state ``state`` (an :class:`dpsycl.md.MDState`, e.g. ``dpsycl.md.to_host`` of a running one);
    ``H5MDWriter.append(path)`` reopens one for a restart, dropping any frame written only in part.
    """

    def __init__(self, h5: h5py.File, flush_every: int = 1):
        self.f = h5
        self.flush_every = max(1, int(flush_every))
        self.pbc = "edges" in h5[f"{PARTICLES}/box"]
        self.paths = _element_paths(self.pbc)
        self.nframes = _complete_frames(h5)
        self._pending = 0
        self.dtype = h5[f"{PARTICLES}/position/value"].dtype

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def create(cls, path, state: MDState, settings: MDSettings, *, model_path=None, model_sha256=None,
               device: str = "", dtype=np.float64, rcut: float | None = None, extra: dict | None = None,
               flush_every: int = 1, author: str | None = None) -> "H5MDWriter":
        n = state.natoms
        dtype = np.dtype(dtype)
        f = h5py.File(path, "w")
        try:
            h = f.create_group("h5md")
            h.attrs["version"] = np.asarray(H5MD_VERSION, dtype=np.int32)
            h.create_group("author").attrs["name"] = author or _author()
            c = h.create_group("creator")
            c.attrs["name"] = "dpsycl"
            c.attrs["version"] = installed_version()
            h.create_group("modules/units").attrs["version"] = np.asarray((1, 0), dtype=np.int32)
            pg = f.create_group(PARTICLES)
            box = pg.create_group("box")
            box.attrs["dimension"] = np.int32(3)
            box.attrs["boundary"] = np.asarray([b"periodic" if state.pbc else b"none"] * 3, dtype="S8")
            _element(pg, "position", (n, 3), dtype, UNITS["position"])
            _element(pg, "velocity", (n, 3), dtype, UNITS["velocity"])
            _element(pg, "force", (n, 3), np.float64, UNITS["force"])
            _element(pg, "image", (n, 3), np.int64, None)
            _element(pg, "species", (n,), np.int32, None)
            if state.pbc:
                _element(box, "edges", (3, 3), np.float64, UNITS["box/edges"])
            obs = f.create_group("observables")
            for name in OBSERVABLES:
                _element(obs, name, (3, 3) if name == "stress" else (), np.float64, OBSERVABLE_UNITS[name])
            p = f.create_group("parameters")
            for k, v in settings.to_dict().items():
                p.attrs[k] = v
            p.attrs["timestep"] = float(settings.dt)
            p.attrs["timestep_unit"] = "fs"
            p.attrs["device"] = str(device)
            p.attrs["dtype"] = dtype.name
            p.attrs["natoms"] = n
            p.attrs["flush_every"] = int(flush_every)
            p.attrs["exact_neighbors_from"] = -1 if state.exact_neighbors_from is None else int(state.exact_neighbors_from)
            p.attrs["units"] = "Angstrom, fs, eV, amu, K, bar"
            # the model's frame and atomic parameters, fixed for the run (what a restart needs)
            if state.fparam is not None:
                p.create_dataset("fparam", data=np.asarray(state.fparam, dtype=np.float64))
            if state.aparam is not None:
                p.create_dataset("aparam", data=np.asarray(state.aparam, dtype=np.float64))
            for k, v in (extra or {}).items():
                p.attrs[k] = v
            m = p.create_group("model")
            m.attrs["path"] = "" if model_path is None else os.path.abspath(os.fspath(model_path))
            m.attrs["sha256"] = model_sha256 or (sha256_of(model_path) if model_path else "")
            m.attrs["type_map"] = np.asarray([s.encode() for s in state.type_map], dtype="S")
            if rcut is not None:
                m.attrs["rcut"] = float(rcut)
            f.flush()
        except Exception:
            f.close()
            raise
        return cls(f, flush_every)

    @classmethod
    def append(cls, path, flush_every: int | None = None) -> "H5MDWriter":
        f = h5py.File(path, "r+")
        try:
            _check_dpsycl_file(f, path)
            n = _complete_frames(f)
            if n == 0:
                raise H5MDError(f"{path} holds no complete frame to restart from")
            for p in _element_paths("edges" in f[f"{PARTICLES}/box"]):
                for key in ("value", "time", "step"):
                    if f[p][key].shape[0] != n:
                        f[p][key].resize(n, axis=0)
            restarts = list(f["parameters"].attrs.get("restarted_at_steps", []))
            f["parameters"].attrs["restarted_at_steps"] = np.asarray(
                restarts + [int(f[f"{PARTICLES}/position/step"][n - 1])], dtype=np.int64)
            f.flush()
            fe = flush_every if flush_every is not None else int(f["parameters"].attrs.get("flush_every", 1))
        except Exception:
            f.close()
            raise
        return cls(f, fe)

    # -- writing -------------------------------------------------------------------------------
    def write(self, frame: Frame):
        f, k = self.f, self.nframes
        data = {
            f"{PARTICLES}/position": np.asarray(frame.positions, dtype=self.dtype),
            f"{PARTICLES}/velocity": np.asarray(frame.velocities, dtype=self.dtype),
            f"{PARTICLES}/force": np.asarray(frame.forces, dtype=np.float64) * EV_PER_A_IN_KJ_MOL_A,
            f"{PARTICLES}/image": np.asarray(frame.image, dtype=np.int64),
            f"{PARTICLES}/species": np.asarray(frame.species, dtype=np.int32),
        }
        if self.pbc:
            data[f"{PARTICLES}/box/edges"] = np.asarray(frame.cell, dtype=np.float64)
        for name in OBSERVABLES:
            data[f"observables/{name}"] = np.asarray(frame.observables.get(name, math.nan), dtype=np.float64)
        for path, value in data.items():
            g = f[path]
            for key, v in (("value", value), ("time", frame.time), ("step", frame.step)):
                ds = g[key]
                ds.resize(k + 1, axis=0)
                ds[k] = v
        if frame.exact_neighbors_from is not None:
            f["parameters"].attrs["exact_neighbors_from"] = int(frame.exact_neighbors_from)
        self.nframes = k + 1
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self):
        self.f.flush()
        self._pending = 0

    def close(self):
        if self.f.id.valid:
            self.f.flush()
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _element(parent: h5py.Group, name: str, shape: tuple, dtype, unit: str | None):
    g = parent.create_group(name)
    # Per-frame arrays: one compressed chunk per frame, so a new frame never rewrites a flushed one.
    # Time series of scalars share chunks of SCALAR_CHUNK frames and stay uncompressed: a frame
    # written in place leaves the flushed values of its chunk byte-identical, even if the process is
    # killed mid-write (a compressed shared chunk would be re-encoded and could be left torn).
    if shape:
        v = g.create_dataset("value", shape=(0,) + tuple(shape), maxshape=(None,) + tuple(shape), dtype=dtype,
                             chunks=(1,) + tuple(shape), compression="gzip", compression_opts=4, shuffle=True)
    else:
        v = g.create_dataset("value", shape=(0,), maxshape=(None,), dtype=dtype, chunks=(SCALAR_CHUNK,))
    if unit:
        v.attrs["unit"] = unit
    t = g.create_dataset("time", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(SCALAR_CHUNK,),
                         fillvalue=np.nan)
    t.attrs["unit"] = "fs"
    g.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(SCALAR_CHUNK,),
                     fillvalue=-1)
    return g


def _check_dpsycl_file(f: h5py.File, path) -> None:
    if "h5md" not in f or PARTICLES not in f or "parameters" not in f:
        raise H5MDError(f"{path} is not an H5MD trajectory written by dpsycl (no h5md/particles/all/parameters)")


def _complete_frames(f: h5py.File) -> int:
    """Frames present in every element (value, time and step written, steps agreeing)."""
    paths = _element_paths("edges" in f[f"{PARTICLES}/box"])
    n = min(min(f[p][k].shape[0] for k in ("value", "time", "step")) for p in paths)
    while n > 0:
        steps = {int(f[p]["step"][n - 1]) for p in paths}
        if len(steps) == 1 and steps.pop() >= 0:
            break
        n -= 1
    return n


# ---------------------------------------------------------------------------------------------
def read_parameters(path) -> dict:
    """The parameters group as a dict (model attributes under 'model')."""
    with h5py.File(path, "r") as f:
        _check_dpsycl_file(f, path)
        return _parameters(f)


def _parameters(f) -> dict:
    def py(v):
        if isinstance(v, bytes):
            return v.decode()
        if isinstance(v, np.ndarray):
            return [py(x) for x in v.tolist()] if v.dtype.kind in "SOU" else v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        return v
    out = {k: py(v) for k, v in f["parameters"].attrs.items()}
    out["model"] = {k: py(v) for k, v in f["parameters/model"].attrs.items()}
    return out


def read_restart(path) -> tuple[MDState, MDSettings, dict]:
    """The state at the last complete frame, the run's settings and all parameters."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"restart file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise H5MDError(f"cannot open {path} as HDF5 ({exc})") from None
    with f:
        _check_dpsycl_file(f, path)
        n = _complete_frames(f)
        if n == 0:
            raise H5MDError(f"{path} holds no complete frame to restart from")
        k = n - 1
        par = _parameters(f)
        pg = f[PARTICLES]
        pbc = "edges" in pg["box"]
        type_map = [str(s) for s in par["model"]["type_map"]]
        exact = int(par.get("exact_neighbors_from", -1))
        state = MDState(positions=pg["position/value"][k].ravel(), velocities=pg["velocity/value"][k].ravel(),
                        forces=pg["force/value"][k].ravel() / EV_PER_A_IN_KJ_MOL_A,
                        image=pg["image/value"][k].ravel().astype(np.int64),
                        atype=pg["species/value"][k].astype(np.int64), type_map=type_map,
                        cell=pg["box/edges/value"][k] if pbc else None, step=int(pg["position/step"][k]),
                        time=float(pg["position/time"][k]), seed=int(par.get("seed", 0)),
                        exact_neighbors_from=None if exact < 0 else exact,
                        fparam=f["parameters/fparam"][()] if "fparam" in f["parameters"] else None,
                        aparam=f["parameters/aparam"][()] if "aparam" in f["parameters"] else None)
        settings = MDSettings.from_dict(par)
    return state, settings, par


def read_trajectory(path) -> dict:
    """Every complete frame: arrays keyed step, time, positions, velocities, forces (eV/Å), image,
    species, cell (or None), observables {name: array}, parameters, type_map."""
    with h5py.File(path, "r") as f:
        _check_dpsycl_file(f, path)
        n = _complete_frames(f)
        pg = f[PARTICLES]
        pbc = "edges" in pg["box"]
        par = _parameters(f)
        return {
            "step": pg["position/step"][:n], "time": pg["position/time"][:n],
            "positions": pg["position/value"][:n], "velocities": pg["velocity/value"][:n],
            "forces": pg["force/value"][:n] / EV_PER_A_IN_KJ_MOL_A, "image": pg["image/value"][:n],
            "species": pg["species/value"][:n], "cell": pg["box/edges/value"][:n] if pbc else None,
            "observables": {name: f[f"observables/{name}/value"][:n] for name in OBSERVABLES},
            "parameters": par, "type_map": [str(s) for s in par["model"]["type_map"]],
        }


def mdanalysis_universe(path):
    """An MDAnalysis Universe over the trajectory, atoms named and typed by species."""
    import MDAnalysis as mda
    with h5py.File(path, "r") as f:
        species = f[f"{PARTICLES}/species/value"][0]
        type_map = [s.decode() if isinstance(s, bytes) else str(s) for s in f["parameters/model"].attrs["type_map"]]
    names = np.asarray([type_map[t] for t in species], dtype=object)
    u = mda.Universe.empty(len(species), trajectory=True)
    u.add_TopologyAttr("name", names)
    u.add_TopologyAttr("type", names)
    u.add_TopologyAttr("element", names)
    u.load_new(os.fspath(path), format="H5MD")
    return u
