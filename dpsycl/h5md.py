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
                               nvt_steps (−1: none), skin, every, seed, natoms, ...; text here and
                               under model/ fixed-length UTF-8 (bytes in h5py; older files: str)
        restarted_at_steps     (nrestarts,) int64: the steps restarts continued from (an attribute
                               in files written before dpsycl used SWMR)
        fparam, aparam         the model's frame (numb_fparam,) and atomic (N, numb_aparam)
                               parameters, for models that take them
        list_reference/{step,time,value}   (nbuilds, N, 3) Å: the positions neighbour-list builds took,
                               written with the first frame after each (dpsycl.h5md_lists)
        model                  attrs: path, sha256, type_map, rcut

Every time-dependent dataset is chunked one frame per chunk (scalars: 256 frames), gzip-compressed
and unlimited along time (maxshape None).  Positions and velocities are stored in the simulation's
own dtype (bit-exact), and with them the positions the frame's neighbour list was built from, so a
run restarted from the last frame continues the uninterrupted one bit for bit.

Crashes (docs/robustness.md).  A frame exists once its step is written in every element: the
reader counts only those.  The writer commits frames in two phases -- the values and times of the
frames since the last commit, flush; then their steps, flush -- so a frame whose step is on disk
has all its data on disk, whatever order HDF5 writes blocks in.  It commits every ``flush_every``
frames (default: every frame).  The file is written in HDF5's SWMR mode (single writer, multiple
readers: HDF5 orders its metadata writes so that the file on disk is consistent at every moment),
so a writer killed at any moment leaves a file holding every committed frame; ``tests/
test_h5md_crash.py`` kills writers at random moments to check it.  A new file is written under a
hidden name beside ``path`` and takes its name at the first commit, so ``path`` is never a file
killed half-built (and ``--overwrite`` replaces the old file only then).

A killed SWMR writer leaves the file flagged "open for writing"; plain HDF5 readers then refuse it
("may use h5clear").  dpsycl's readers open such a file in SWMR-read mode, ``H5MDWriter.append``
(``--restart``) clears the flag (``dpsycl.hdf5_files``) once it has checked no live writer holds the
file, and ``recover(path)`` does the same without continuing the run (for MDAnalysis and other
readers).  A failed write (disk full, file-size limit) raises :class:`H5MDWriteError` with one line
and leaves the file as a killed writer would: the writer stops every further write to it.

MDAnalysis reads these files (``mdanalysis_universe(path)`` builds a Universe with element names);
it needs unit strings from its own table, hence Å, fs, Å/fs and kJ mol⁻¹ Å⁻¹.
"""
from __future__ import annotations

import contextlib
import getpass
import hashlib
import math
import os

import h5py
import numpy as np
from ase import units

from . import h5md_lists
from .hdf5_files import (SWMR_WRITING, WriterLock, clear_writer_flags, fixed_text, fixed_texts, freeze, io_failure_reason,
                         superblock_version, text, unreadable_chunk_index, writer_alive, writer_flags_if_readable)
from .md import OBSERVABLE_UNITS, Frame, MDSettings, MDState
from .version import installed_version

H5MD_VERSION = (1, 1)
PARTICLES = "particles/all"
FORCE_UNIT = "kJ mol-1 Angstrom-1"
EV_PER_A_IN_KJ_MOL_A = 1.0 / (units.kJ / units.mol)   # 1 eV/Å = 96.485 kJ mol⁻¹ Å⁻¹
UNITS = {"position": "Angstrom", "velocity": "Angstrom fs-1", "force": FORCE_UNIT, "image": None,
         "species": None, "box/edges": "Angstrom"}
OBSERVABLES = ("potential_energy", "kinetic_energy", "total_energy", "temperature", "pressure", "stress")
SCALAR_CHUNK = 256
LIBVER = ("v110", "latest")           # HDF5 ≥ 1.10 file format: what SWMR needs


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


class H5MDWriteError(OSError):
    """A frame could not be written (disk full, file-size limit, I/O error).  The file keeps every
    frame committed before; the writer has stopped writing to it."""


class H5MDWriter:
    """Appends :class:`dpsycl.md.Frame` objects to an H5MD file.

    ``H5MDWriter.create(path, state, settings, ...)`` starts a new file (replacing ``path`` at its
    first commit) for the host state ``state`` (an :class:`dpsycl.md.MDState`, e.g.
    ``dpsycl.md.to_host`` of a running one); ``H5MDWriter.append(path)`` reopens one for a restart,
    dropping any frame written only in part.  ``write`` commits every ``flush_every`` frames,
    ``flush`` and ``close`` commit the rest (the module docstring says what a commit guarantees).
    """

    def __init__(self, h5: h5py.File, flush_every: int = 1, *, lock: WriterLock | None = None,
                 final_path: str | None = None):
        self.f = h5
        self.path = h5.filename              # where the file is now
        self.final_path = final_path         # create(): the name it takes at the first commit
        self.lock = lock
        self.flush_every = max(1, int(flush_every))
        self.pbc = "edges" in h5[f"{PARTICLES}/box"]
        self.paths = _element_paths(self.pbc)
        # the datasets stay open while the file is written: closing one flushes its chunks, and a
        # write failing there could not be reported (h5py only prints errors raised while freeing)
        self.datasets = {path: {key: h5[path][key] for key in ("value", "time", "step")} for path in self.paths}
        self.nframes = _complete_frames(h5)  # frames whose values are written
        self.committed = self.nframes        # ... and whose steps are: complete frames
        self.last_step = int(h5[f"{PARTICLES}/position/step"][self.nframes - 1]) if self.nframes else None
        self._uncommitted: list[int] = []    # steps of frames written but not committed
        self._exact_from: int | None = None
        self._failure: str | None = None
        self.dtype = h5[f"{PARTICLES}/position/value"].dtype
        self.lists = h5md_lists.ListReferences(h5)
        self.dt = float(h5["parameters"].attrs.get("timestep", math.nan))

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def create(cls, path, state: MDState, settings: MDSettings, *, model_path=None, model_sha256=None,
               device: str = "", dtype=np.float64, rcut: float | None = None, extra: dict | None = None,
               flush_every: int = 1, author: str | None = None) -> "H5MDWriter":
        final = os.fspath(path)
        if os.path.exists(final) and writer_alive(final):
            raise H5MDError(f"{final} is being written by another process; stop it before replacing the file")
        building = partial_path(final)
        n = state.natoms
        dtype = np.dtype(dtype)
        f = h5py.File(building, "w", libver=LIBVER)
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
            _set_parameters(p, {**settings.to_dict(), "timestep": float(settings.dt), "timestep_unit": "fs",
                                "device": str(device), "dtype": dtype.name, "natoms": n,
                                "flush_every": int(flush_every),
                                "exact_neighbors_from": np.int64(-1 if state.exact_neighbors_from is None
                                                                 else state.exact_neighbors_from),
                                "units": "Angstrom, fs, eV, amu, K, bar"})
            # the steps restarts continued from: a dataset, as appending to it is what SWMR orders safely
            p.create_dataset("restarted_at_steps", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(64,))
            h5md_lists.create(p, n, dtype, _element)
            # the model's frame and atomic parameters, fixed for the run (what a restart needs)
            if state.fparam is not None:
                p.create_dataset("fparam", data=np.asarray(state.fparam, dtype=np.float64))
            if state.aparam is not None:
                p.create_dataset("aparam", data=np.asarray(state.aparam, dtype=np.float64))
            _set_parameters(p, extra or {})
            m = p.create_group("model")
            _set_parameters(m, {"path": "" if model_path is None else os.path.abspath(os.fspath(model_path)),
                                "sha256": model_sha256 or (sha256_of(model_path) if model_path else ""),
                                "type_map": fixed_texts(state.type_map),
                                **({} if rcut is None else {"rcut": float(rcut)})})
            f.flush()
            f.swmr_mode = True           # from here on no object or attribute is created, only extended
            lock = WriterLock(building)  # after HDF5 has let go of its own lock (SWMR does)
        except Exception as exc:
            _abandon(f, building)
            if isinstance(exc, (OSError, RuntimeError)):
                raise H5MDWriteError(f"cannot create {final}: {io_failure_reason(exc, building)}; nothing was written "
                                     f"to {final}") from None
            raise
        return cls(f, flush_every, lock=lock, final_path=final)

    @classmethod
    def append(cls, path, flush_every: int | None = None) -> "H5MDWriter":
        f = _reopen(path, restarting=True)
        fe = flush_every if flush_every is not None else int(f["parameters"].attrs.get("flush_every", 1))
        try:
            lock = WriterLock(f.filename)
        except Exception:
            f.close()
            raise
        return cls(f, fe, lock=lock)

    # -- writing -------------------------------------------------------------------------------
    def write(self, frame: Frame):
        """Write a frame; it is committed (complete in the file) by the next commit."""
        if self._failure is not None:
            raise H5MDWriteError(self._failure)
        try:
            self._write_values(frame)
            if len(self._uncommitted) >= self.flush_every:
                self._commit()
        except (OSError, RuntimeError) as exc:
            raise self._failed(exc, frame.step) from None

    def _write_values(self, frame: Frame) -> None:
        """Phase 1 of a frame: every element's value and time (its step waits for the commit)."""
        k = self.nframes
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
            for key, v in (("value", value), ("time", frame.time)):
                ds = self.datasets[path][key]
                ds.resize(k + 1, axis=0)
                ds[k] = v
        self.lists.add(frame, self.dt)
        if frame.exact_neighbors_from is not None:
            self._exact_from = int(frame.exact_neighbors_from)
        self.nframes = k + 1
        self._uncommitted.append(int(frame.step))

    def _commit(self) -> None:
        """Phase 2: make the frames written since the last commit complete (steps last, after a flush)."""
        f = self.f
        f.flush()                                      # their values and times are on disk ...
        if self._uncommitted:
            steps = np.asarray(self._uncommitted, dtype=np.int64)
            for path in self.paths:
                ds = self.datasets[path]["step"]
                ds.resize(self.nframes, axis=0)
                ds[self.committed:self.nframes] = steps
            self.lists.commit()
            if self._exact_from is not None:
                f["parameters"].attrs.modify("exact_neighbors_from", np.int64(self._exact_from))
            f.flush()                                  # ... before the steps that make them frames
            self.committed, self.last_step = self.nframes, int(steps[-1])
            self._uncommitted = []
        if self.final_path is not None:                # the first commit: the new file takes its name
            os.replace(self.path, self.final_path)
            self.path, self.final_path = self.final_path, None

    def _failed(self, exc: BaseException, step: int | None) -> H5MDWriteError:
        """Stop writing for good, leaving the file as a killed writer would (its committed frames
        intact), and word the error."""
        self._failure = _failure_message(exc, step, self.path, self.final_path or self.path, self.committed,
                                         self.last_step, renamed=self.final_path is None)
        freeze(self.f)
        with contextlib.suppress(OSError, RuntimeError):
            self.f.close()                             # into the void: HDF5 lets go of the file
        self._release()
        if self.final_path is not None:                # never committed: the partial file is of no use
            with contextlib.suppress(OSError):
                os.remove(self.path)
        return H5MDWriteError(self._failure)

    def flush(self):
        """Commit every frame written so far."""
        if self._failure is not None:
            raise H5MDWriteError(self._failure)
        try:
            self._commit()
        except (OSError, RuntimeError) as exc:
            raise self._failed(exc, self._uncommitted[-1] if self._uncommitted else None) from None

    def close(self):
        """Commit what is written and close the file (a clean, unflagged HDF5 file).  After a failed
        write there is nothing left to do: the file was let go as it was."""
        if self._failure is not None or not self.f.id.valid:
            return
        self.flush()
        try:
            self.f.close()
        except (OSError, RuntimeError) as exc:
            raise self._failed(exc, None) from None
        self._release()

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def partial_path(path) -> str:
    """Where ``H5MDWriter.create`` builds the file ``path`` until its first commit."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}.partial")


def _reopen(path, restarting: bool) -> h5py.File:
    """A trajectory opened for appending: no live writer may hold it, the flag a dead writer left
    is cleared, and rows of frames never committed are dropped."""
    path = os.fspath(path)
    if writer_alive(path):
        raise H5MDError(f"{path} is being written by another process; wait for it or stop it first")
    try:
        clear_writer_flags(path)
        swmr = superblock_version(path) >= 3         # files written before dpsycl used SWMR: appended as before
        f = h5py.File(path, "r+", libver=LIBVER if swmr else None)
    except OSError as exc:
        raise H5MDError(f"cannot open {path} for appending ({' '.join(str(exc).split())})") from None
    try:
        damaged = unreadable_chunk_index(f)
        if damaged:
            raise H5MDError(f"{path} is damaged: the index of {damaged} cannot be read; it cannot be continued")
        if swmr:
            f.swmr_mode = True       # at once: every change below is then ordered as SWMR orders appends
        with _damage_reported(path):
            _check_dpsycl_file(f, path)
            n = _complete_frames(f)
        if n == 0:
            raise H5MDError(f"{path} holds no complete frame to restart from")
        for p in _element_paths("edges" in f[f"{PARTICLES}/box"]):
            for key in ("value", "time", "step"):
                if f[p][key].shape[0] != n:
                    f[p][key].resize(n, axis=0)
        last_step = int(f[f"{PARTICLES}/position/step"][n - 1])
        h5md_lists.drop_uncommitted(f, last_step)
        if restarting:
            _record_restart(f, last_step)
        f.flush()
    except Exception:
        f.close()
        raise
    return f


def _record_restart(f: h5py.File, step: int) -> None:
    """Append ``step`` to parameters/restarted_at_steps (an attribute in files written before dpsycl used SWMR)."""
    p = f["parameters"]
    if isinstance(p.get("restarted_at_steps"), h5py.Dataset):
        ds = p["restarted_at_steps"]
        ds.resize(ds.shape[0] + 1, axis=0)
        ds[-1] = step
    else:
        p.attrs["restarted_at_steps"] = np.asarray(list(p.attrs.get("restarted_at_steps", [])) + [step],
                                                   dtype=np.int64)


def recover(path) -> int:
    """Make a trajectory whose writer died (killed, or stopped by a full disk) a clean HDF5 file that
    every reader opens (MDAnalysis, h5py without SWMR): clear the writer's flag and drop rows of
    frames never committed.  ``--restart`` does this by itself.  Returns the number of frames."""
    with _reopen(path, restarting=False) as f:
        return _complete_frames(f)


def open_trajectory(path) -> h5py.File:
    """The file opened for reading; one a live writer has open in SWMR-read mode (what HDF5 allows for
    such files).  One a dead writer left flagged open has its flags cleared (as ``h5clear -s`` would)
    and is opened plainly: SWMR reading retries a block whose checksum fails, sleeping twice as long
    each time, to wait for a writer that is gone, where a plain reader reports the damage at once."""
    try:
        return h5py.File(path, "r")
    except OSError:
        flags = writer_flags_if_readable(path)
        if not flags:
            raise
    if writer_alive(path):
        if flags & SWMR_WRITING:
            return h5py.File(path, "r", swmr=True)
        raise H5MDError(f"{path} is being written by another process (not in SWMR mode): it cannot be read now")
    try:
        clear_writer_flags(path)
    except PermissionError:              # not ours to change: HDF5's SWMR reading, retries and all
        if flags & SWMR_WRITING:
            return h5py.File(path, "r", swmr=True)
        raise
    return h5py.File(path, "r")


def _failure_message(exc: BaseException, step: int | None, written: str, path: str, committed: int,
                     last_step: int | None, renamed: bool) -> str:
    """``written``: the file as it is named now; ``path``: its name for the user."""
    what = f"the frame of step {step}" if step is not None else "the trajectory"
    if not renamed:
        kept = f"nothing was written to {path}"
    elif committed:
        kept = (f"{path} keeps its {committed} complete frame(s), the last at step {last_step}, which --restart "
                "continues once there is room")
    else:
        kept = f"{path} holds no frame"
    return f"cannot write {what} to {path}: {io_failure_reason(exc, written)}; {kept}"


def _abandon(f: h5py.File, path: str) -> None:
    """Close a file whose writing failed without letting HDF5 write more, then delete it."""
    freeze(f)
    with contextlib.suppress(OSError, RuntimeError):
        f.close()
    with contextlib.suppress(OSError):
        os.remove(path)


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
    with open_trajectory(path) as f:
        _check_dpsycl_file(f, path)
        return _parameters(f)


def _set_parameters(group, values: dict) -> None:
    """Attributes dpsycl reads back, text among them fixed-length (hdf5_files.fixed_text: no global heap to parse).
    H5MD's own strings (author, creator, units) stay variable-length, as MDAnalysis compares them with str."""
    for key, value in values.items():
        group.attrs[key] = fixed_text(value) if isinstance(value, str) else value


def _parameters(f) -> dict:
    def py(v):
        if isinstance(v, (bytes, str)):
            return text(v)
        if isinstance(v, np.ndarray):
            return [py(x) for x in v.tolist()] if v.dtype.kind in "SOU" else v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        return v
    out = {k: py(v) for k, v in f["parameters"].attrs.items()}
    out["model"] = {k: py(v) for k, v in f["parameters/model"].attrs.items()}
    if isinstance(f["parameters"].get("restarted_at_steps"), h5py.Dataset):
        out["restarted_at_steps"] = f["parameters/restarted_at_steps"][()].tolist()
    return out


def read_restart(path) -> tuple[MDState, MDSettings, dict]:
    """The state at the last complete frame, the run's settings and all parameters."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"restart file not found: {path}")
    try:
        f = open_trajectory(path)
    except OSError as exc:
        raise H5MDError(f"cannot open {path} as HDF5 ({exc})") from None
    with _damage_reported(path), f:
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
        reference, built_at = h5md_lists.origin_at(f, int(pg["position/step"][k]))
        state = MDState(positions=pg["position/value"][k].ravel(), velocities=pg["velocity/value"][k].ravel(),
                        forces=pg["force/value"][k].ravel() / EV_PER_A_IN_KJ_MOL_A,
                        image=pg["image/value"][k].ravel().astype(np.int64),
                        atype=pg["species/value"][k].astype(np.int64), type_map=type_map,
                        cell=pg["box/edges/value"][k] if pbc else None, step=int(pg["position/step"][k]),
                        time=float(pg["position/time"][k]), seed=int(par.get("seed", 0)),
                        exact_neighbors_from=None if exact < 0 else exact,
                        fparam=f["parameters/fparam"][()] if "fparam" in f["parameters"] else None,
                        aparam=f["parameters/aparam"][()] if "aparam" in f["parameters"] else None,
                        list_reference=reference, list_built_at=built_at)
        settings = MDSettings.from_dict(par)
    return state, settings, par


@contextlib.contextmanager
def _damage_reported(path):
    """HDF5's errors on a damaged file (h5py raises them as KeyError, RuntimeError or OSError,
    depending on the structure hit) as one H5MDError naming the file."""
    try:
        yield
    except H5MDError:
        raise
    except (KeyError, RuntimeError, OSError, ValueError, TypeError, IndexError) as exc:
        raise H5MDError(f"{path} is damaged or not a dpsycl trajectory: {' '.join(str(exc).split())}") from None


def read_trajectory(path) -> dict:
    """Every complete frame: arrays keyed step, time, positions, velocities, forces (eV/Å), image,
    species, cell (or None), observables {name: array}, parameters, type_map."""
    with _damage_reported(path), open_trajectory(path) as f:
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
    """An MDAnalysis Universe over the trajectory, atoms named and typed by species.

    MDAnalysis counts every row of the datasets as a frame, so a file its writer left open (killed,
    or stopped by a full disk) is first recovered (``recover``: rows of frames never committed are
    dropped), and a file a run is writing now is refused (its last row may be half written; read it
    with ``read_trajectory``, which counts complete frames only)."""
    import MDAnalysis as mda
    if writer_flags_if_readable(path):
        if writer_alive(path):
            raise H5MDError(f"{path} is being written by a running process: MDAnalysis would count a frame "
                            "being written; use dpsycl.h5md.read_trajectory, or wait for the run to end")
        recover(path)
    with h5py.File(path, "r") as f:
        species = f[f"{PARTICLES}/species/value"][0]
        type_map = [text(s) for s in f["parameters/model"].attrs["type_map"]]
    names = np.asarray([type_map[t] for t in species], dtype=object)
    u = mda.Universe.empty(len(species), trajectory=True)
    u.add_TopologyAttr("name", names)
    u.add_TopologyAttr("type", names)
    u.add_TopologyAttr("element", names)
    u.load_new(os.fspath(path), format="H5MD")
    return u
