"""H5MD output of MD runs: spec structure, MDAnalysis, restarts (bit-identical), partial frames."""
from __future__ import annotations

import pathlib
import re

import h5py
import numpy as np
import pytest

from dpsycl.h5md import (EV_PER_A_IN_KJ_MOL_A, H5MDError, H5MDWriter, mdanalysis_universe, read_parameters,
                         read_restart, read_trajectory, recover)
from dpsycl.md import MDSettings, initial_state, run, sample, schedule, to_host
from dpsycl.structures import random_alloy

MODEL = pathlib.Path(__file__).parent / "data" / "cuag" / "frozen_model.pb"
TIME_DEPENDENT = ("position", "velocity", "force", "image", "species", "box/edges")
OBSERVABLES = ("potential_energy", "kinetic_energy", "total_energy", "temperature", "pressure", "stress")


@pytest.fixture(scope="module")
def alloy():
    return random_alloy("Cu0.5Ag0.5", 32, seed=5)


def _state(dp, atoms, settings, pbc=True):
    atype = np.asarray([dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()])
    return initial_state(atoms.positions, atoms.cell.array if pbc else None, atype, dp.get_type_map(),
                         settings.temperature, settings.seed)


def _run_to_file(dp, path, host_state, settings, until, flush_every=1):
    """Fresh run from ``host_state`` to step ``until``, frames every settings.every steps; the final state."""
    init, step = schedule(dp, settings)
    state = init(host_state)
    with H5MDWriter.create(path, to_host(state), settings, model_path=MODEL, device=dp.device,
                           dtype=dp.evaluator.dtype, rcut=dp.get_rcut(), flush_every=flush_every) as w:
        w.write(sample(state))
        return run(step, state, until, every=settings.every, on_frame=w.write)


def _restart_to(dp, path, until):
    host_state, settings, _ = read_restart(path)
    init, step = schedule(dp, settings)
    with H5MDWriter.append(path) as w:
        return run(step, init(host_state), until, every=settings.every, on_frame=w.write)


@pytest.fixture(scope="module")
def run_file(dp, alloy, tmp_path_factory):
    path = tmp_path_factory.mktemp("h5md") / "run.h5"
    s = MDSettings(dt=2.0, ensemble="csvr", temperature=700.0, tau=50.0, nvt_steps=20, every=5, seed=3)
    return path, _run_to_file(dp, path, _state(dp, alloy, s), s, 40)


def test_h5md_structure(run_file):
    """The H5MD 1.1 elements: h5md metadata, particles/all time-dependent groups, box, observables,
    parameters; chunked, gzip-compressed, unlimited along time, units on the value datasets."""
    path, _ = run_file
    with h5py.File(path, "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        assert f["h5md/author"].attrs["name"]
        assert f["h5md/creator"].attrs["name"] == "dpsycl"
        assert f["h5md/creator"].attrs["version"]
        box = f["particles/all/box"]
        assert box.attrs["dimension"] == 3
        assert [b.decode() for b in box.attrs["boundary"]] == ["periodic"] * 3
        nframes = 9
        for name in TIME_DEPENDENT:
            g = f[f"particles/all/{name}"]
            assert set(g) == {"step", "time", "value"}, name
            assert g["step"].dtype.kind == "i" and g["time"].dtype.kind == "f"
            assert g["value"].shape[0] == g["step"].shape[0] == g["time"].shape[0] == nframes
            for key in ("step", "time", "value"):
                assert g[key].maxshape[0] is None and g[key].chunks is not None
            # per-frame arrays compressed, one chunk per frame; shared scalar chunks stay raw so
            # that a run killed mid-write cannot tear frames already flushed
            assert g["value"].compression == "gzip" and g["value"].chunks[0] == 1
            assert g["step"].compression is None and g["time"].compression is None
            assert list(g["step"][:]) == list(range(0, 41, 5))
            np.testing.assert_allclose(g["time"][:], np.arange(0, 41, 5) * 2.0)
        assert f["particles/all/position/value"].shape == (nframes, 32, 3)
        assert f["particles/all/position/value"].dtype == np.float64
        assert f["particles/all/position/value"].attrs["unit"] == "Angstrom"
        assert f["particles/all/velocity/value"].attrs["unit"] == "Angstrom fs-1"
        assert f["particles/all/force/value"].attrs["unit"] == "kJ mol-1 Angstrom-1"
        assert f["particles/all/position/time"].attrs["unit"] == "fs"
        assert f["particles/all/species/value"].shape == (nframes, 32)
        assert f["particles/all/image/value"].dtype == np.int64
        assert f["particles/all/box/edges/value"].shape == (nframes, 3, 3)
        for name in OBSERVABLES:
            g = f[f"observables/{name}"]
            assert g["value"].shape == ((nframes, 3, 3) if name == "stress" else (nframes,))
            assert g["value"].attrs["unit"]
        p = f["parameters"]
        # dpsycl's text as fixed-length UTF-8 (bytes through h5py; read_parameters gives str)
        assert p.attrs["timestep"] == 2.0 and p.attrs["ensemble"] == b"csvr" and p.attrs["seed"] == 3
        assert p.attrs["tau"] == 50.0 and p.attrs["nvt_steps"] == 20 and p.attrs["skin"] == 1.0
        assert p.attrs["device"].startswith(b"opencl:cpu")
        assert len(p["model"].attrs["sha256"]) == 64
        assert [s.decode() for s in p["model"].attrs["type_map"]] == ["Cu", "Ag"]


def test_h5md_roundtrip_values(run_file):
    """What read_trajectory returns is the frame MD produced (positions bit-exact, forces in eV/Å)."""
    path, state = run_file
    t = read_trajectory(path)
    last = sample(state)
    assert t["step"][-1] == last.step == 40
    assert np.array_equal(t["positions"][-1], last.positions)
    assert np.array_equal(t["velocities"][-1], last.velocities)
    assert np.array_equal(t["image"][-1], last.image)
    np.testing.assert_allclose(t["forces"][-1], last.forces, rtol=1e-14, atol=1e-14)
    assert t["observables"]["total_energy"][-1] == last.observables["total_energy"]
    assert t["type_map"] == ["Cu", "Ag"]


def test_mdanalysis_reads_trajectory(run_file):
    """MDAnalysis's H5MD reader opens the file; positions, box, time, velocities and forces match
    (MDAnalysis converts to Å, ps, Å/ps and kJ mol⁻¹ Å⁻¹; it keeps float32)."""
    pytest.importorskip("MDAnalysis")
    path, _ = run_file
    t = read_trajectory(path)
    u = mdanalysis_universe(path)
    assert len(u.trajectory) == len(t["step"]) and len(u.atoms) == 32
    assert sorted(set(u.atoms.names)) == ["Ag", "Cu"]
    for ts in u.trajectory:
        k = ts.frame
        np.testing.assert_allclose(ts.positions, t["positions"][k], rtol=0, atol=2e-5)
        np.testing.assert_allclose(ts.velocities, t["velocities"][k] * 1000.0, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(ts.forces, t["forces"][k] * EV_PER_A_IN_KJ_MOL_A, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(ts.dimensions[:3], np.diag(t["cell"][k]), rtol=1e-6)
        assert ts.time == pytest.approx(t["time"][k] / 1000.0)
        assert ts.data["temperature"] == pytest.approx(t["observables"]["temperature"][k])
    # and with a topology file written by ASE
    import ase.io
    import MDAnalysis as mda
    from ase import Atoms
    top = pathlib.Path(path).with_suffix(".pdb")
    ase.io.write(top, Atoms([("Cu", "Ag")[s] for s in t["species"][0]], positions=t["positions"][0],
                            cell=t["cell"][0], pbc=True))
    u2 = mda.Universe(str(top), str(path), format="H5MD")
    u2.trajectory[-1]
    np.testing.assert_allclose(u2.atoms.positions, t["positions"][-1], rtol=0, atol=2e-5)


@pytest.mark.parametrize("ensemble,nvt_steps", [("csvr", None), ("langevin", 30), ("nve", None)])
def test_restart_is_bit_identical(dp, alloy, tmp_path, ensemble, nvt_steps):
    """2N steps in one go == N steps + restart from the file + N steps, bit for bit (same device).

    Langevin with nvt_steps 30 < N also crosses the NVT → NVE switch after the restart point.
    """
    s = MDSettings(dt=2.0, ensemble=ensemble, temperature=900.0, tau=20.0, friction=0.05,
                   nvt_steps=nvt_steps, every=10, seed=13)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _run_to_file(dp, a, _state(dp, alloy, s), s, 80)
    _run_to_file(dp, b, _state(dp, alloy, s), s, 40)
    assert read_trajectory(b)["step"][-1] == 40
    _restart_to(dp, b, 80)
    ta, tb = read_trajectory(a), read_trajectory(b)
    assert list(ta["step"]) == list(tb["step"]) == list(range(0, 81, 10))
    for key in ("positions", "velocities", "image", "forces", "cell"):
        assert np.array_equal(ta[key], tb[key]), key
    for name in OBSERVABLES:
        assert np.array_equal(ta["observables"][name], tb["observables"][name]), name
    with h5py.File(b, "r") as f:
        assert list(f["parameters/restarted_at_steps"][()]) == [40]
    assert read_parameters(b)["restarted_at_steps"] == [40]


def test_partial_frame_is_dropped_on_restart(dp, alloy, tmp_path):
    """A frame written into some elements only (a crash mid-write) is not a frame: the reader
    restarts from the last complete one and the writer truncates the stray rows before appending."""
    s = MDSettings(dt=2.0, temperature=500.0, every=10, seed=2)
    path = tmp_path / "c.h5"
    _run_to_file(dp, path, _state(dp, alloy, s), s, 20)
    with h5py.File(path, "r+") as f:        # half of frame 3: position written, nothing else
        g = f["particles/all/position"]
        for key in ("value", "time", "step"):
            g[key].resize(4, axis=0)
        g["value"][3] = 0.0
        g["step"][3] = 30
    state, settings, _ = read_restart(path)
    assert state.step == 20
    assert len(read_trajectory(path)["step"]) == 3
    _restart_to(dp, path, 30)
    t = read_trajectory(path)
    assert list(t["step"]) == [0, 10, 20, 30]
    assert np.abs(t["positions"][3]).max() > 1.0


def test_a_damaged_chunk_index_is_refused_before_swmr_writing(tmp_path):
    """A chunk index whose checksum fails (one byte of an extensible array's index block flipped) is refused with
    one line before --restart switches SWMR writing on: an SWMR writer retries such a block with sleeps that double
    each time and hung for good on a fuzzed file (tests/test_fuzz.py, NOTES.md session 34)."""
    from dpsycl.md import Frame, MDState
    n, rng = 4, np.random.default_rng(1)
    path = tmp_path / "damaged.h5"
    state = MDState(positions=rng.random(3 * n), velocities=np.zeros(3 * n), forces=None,
                    image=np.zeros(3 * n, dtype=np.int64), atype=np.zeros(n, dtype=np.int64), type_map=["Cu"],
                    cell=5.0 * np.eye(3))
    with H5MDWriter.create(path, state, MDSettings()) as w:
        for step in range(0, 60, 10):
            w.write(Frame(step=step, time=float(step), positions=rng.random((n, 3)), velocities=np.zeros((n, 3)),
                          forces=np.zeros((n, 3)), image=np.zeros((n, 3), dtype=np.int64),
                          species=np.zeros(n, dtype=np.int64), cell=5.0 * np.eye(3)))
    raw = bytearray(path.read_bytes())
    blocks = [m.start() for m in re.finditer(b"EAIB", bytes(raw))]       # HDF5's extensible array index blocks
    assert len(blocks) >= 10
    raw[blocks[len(blocks) // 2] + 12] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(H5MDError, match="is damaged: the index of .* cannot be read"):
        H5MDWriter.append(path)



def _small_trajectory(path, frames: int = 6):
    from dpsycl.md import Frame, MDState
    n, rng = 4, np.random.default_rng(1)
    state = MDState(positions=rng.random(3 * n), velocities=np.zeros(3 * n), forces=None,
                    image=np.zeros(3 * n, dtype=np.int64), atype=np.zeros(n, dtype=np.int64), type_map=["Cu"],
                    cell=5.0 * np.eye(3))
    with H5MDWriter.create(path, state, MDSettings(), model_path=pathlib.Path("model.h5"), model_sha256="0" * 64,
                           device="cpu") as w:
        for step in range(0, 10 * frames, 10):
            w.write(Frame(step=step, time=float(step), positions=rng.random((n, 3)), velocities=np.zeros((n, 3)),
                          forces=np.zeros((n, 3)), image=np.zeros((n, 3), dtype=np.int64),
                          species=np.zeros(n, dtype=np.int64), cell=5.0 * np.eye(3)))


def test_reading_back_never_parses_a_global_heap(tmp_path):
    """Zeros over every global heap collection's objects (HDF5 1.14 parses an object 0 of size 0 in an endless loop,
    where variable-length strings live) leave read_parameters, read_trajectory and read_restart working, in a child
    process with a time limit so that a regression fails rather than hangs: dpsycl's own attributes are fixed-length
    text, and H5MD's variable-length ones (author, units) are not read."""
    import subprocess
    import sys
    path = tmp_path / "t.h5"
    _small_trajectory(path)
    with h5py.File(path, "r") as f:
        params = read_parameters(path)
        assert f["parameters"].attrs.get_id("device").get_type().is_variable_str() is False
        assert f["h5md/creator"].attrs.get_id("name").get_type().is_variable_str()     # MDAnalysis's str
    assert (params["device"], params["ensemble"], params["model"]["sha256"]) == ("cpu", "nve", "0" * 64)
    raw = bytearray(path.read_bytes())
    heaps = [m.start() for m in re.finditer(b"GCOL", bytes(raw))]
    assert heaps
    for at in heaps:
        raw[at + 16:at + 80] = bytes(64)            # past the 16-byte header: the objects' headers and text
    path.write_bytes(bytes(raw))
    code = ("import sys; from dpsycl.h5md import read_parameters, read_restart, read_trajectory; p = sys.argv[1]; "
            "print(read_parameters(p)['device'], len(read_trajectory(p)['step']), read_restart(p)[0].natoms)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cpu", "6", "4"]



def test_a_dead_swmr_writers_damaged_file_is_an_error_not_a_wait(tmp_path):
    """A file left flagged open for SWMR writing by a writer that is gone, with a chunk index block whose checksum
    fails: reading it reports the damage at once.  SWMR reading would retry the block with sleeps that double each
    time, waiting for a writer that will never finish it (a CI run hung 10 minutes so in test_h5md_crash.py).
    Run in a child process with a time limit, so that a regression fails rather than hangs."""
    import struct
    import subprocess
    import sys

    from dpsycl.hdf5_files import SWMR_WRITING, WRITING, lookup3, writer_flags
    path = tmp_path / "dead.h5"
    _small_trajectory(path)
    raw = bytearray(path.read_bytes())
    assert raw[:8] == b"\x89HDF\r\n\x1a\n" and raw[8] == 3 and raw[9] == 8       # superblock v3, 8-byte addresses
    raw[11] = WRITING | SWMR_WRITING                          # as a killed SWMR writer leaves it
    body = 12 + 4 * 8
    struct.pack_into("<I", raw, body, lookup3(bytes(raw[:body])))
    blocks = [m.start() for m in re.finditer(b"EAIB", bytes(raw))]
    raw[blocks[len(blocks) // 2] + 12] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert writer_flags(path) == WRITING | SWMR_WRITING
    code = ("import sys\nfrom dpsycl.h5md import read_trajectory\ntry:\n    read_trajectory(sys.argv[1])\n"
            "except Exception as exc:\n    print(type(exc).__name__, str(exc).splitlines()[0])\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("H5MDError") and "damaged" in done.stdout, done.stdout
    assert writer_flags(path) == 0                            # cleared, as h5clear -s would


def test_list_builds_are_kept_with_the_frames_after_them(dp, alloy, tmp_path):
    """Hot enough that the skin asks for builds between frames: the file keeps one list_reference entry per build
    a frame used, at the build's step, holding the positions that build took (the frame's own at a frame's step);
    a restart from a frame between builds reads them back; an entry written with a frame never committed goes."""
    s = MDSettings(dt=2.0, temperature=1500.0, every=10, seed=4)
    path = tmp_path / "l.h5"
    init, step = schedule(dp, s)
    state = init(_state(dp, alloy, s))
    frames = [sample(state)]
    with H5MDWriter.create(path, to_host(state), s, model_path=MODEL, device=dp.device, dtype=dp.evaluator.dtype,
                           rcut=dp.get_rcut()) as w:
        w.write(frames[0])
        state = run(step, state, 100, every=s.every, on_frame=lambda f: (w.write(f), frames.append(f)))
    built = sorted({f.list_built_at for f in frames})
    assert state.n_rebuilds < 1 + 100 // 4 and any(b % s.every for b in built), built   # builds between frames
    with h5py.File(path, "r") as f:
        steps, values = f["parameters/list_reference/step"][()], f["parameters/list_reference/value"][()]
    assert list(steps) == built
    for frame in frames:
        kept = values[built.index(frame.list_built_at)]
        expected = frame.positions if frame.list_reference is None else frame.list_reference
        assert np.array_equal(kept, expected), frame.step
    last = frames[-1]
    restored, _, _ = read_restart(path)
    if last.list_built_at == last.step:
        assert restored.list_reference is None
    else:
        assert restored.list_built_at == last.list_built_at
        assert np.array_equal(restored.list_reference, last.list_reference.ravel())
    with h5py.File(path, "r+") as f:          # an entry of a later, uncommitted frame
        for key in ("value", "time", "step"):
            f[f"parameters/list_reference/{key}"].resize(len(steps) + 1, axis=0)
        f["parameters/list_reference/step"][-1] = 105
    recover(path)
    with h5py.File(path, "r") as f:
        assert list(f["parameters/list_reference/step"][()]) == built


def test_open_boundaries_file(dp, alloy, tmp_path):
    """Without a cell: boundary 'none', no box edges, still read by MDAnalysis and restartable."""
    s = MDSettings(dt=1.0, temperature=300.0, every=5, seed=4)
    path = tmp_path / "cluster.h5"
    _run_to_file(dp, path, _state(dp, alloy, s, pbc=False), s, 10)
    with h5py.File(path, "r") as f:
        assert [b.decode() for b in f["particles/all/box"].attrs["boundary"]] == ["none"] * 3
        assert "edges" not in f["particles/all/box"]
    t = read_trajectory(path)
    assert t["cell"] is None and np.isnan(t["observables"]["pressure"]).all()
    state, _, _ = read_restart(path)
    assert state.cell is None and state.step == 10
    pytest.importorskip("MDAnalysis")
    u = mdanalysis_universe(path)
    u.trajectory[-1]
    np.testing.assert_allclose(u.atoms.positions, t["positions"][-1], atol=2e-5)


def test_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("x", data=[1, 2, 3])
    with pytest.raises(H5MDError):
        read_restart(bad)
    with pytest.raises(FileNotFoundError):
        read_restart(tmp_path / "missing.h5")
    noth5 = tmp_path / "text.h5"
    noth5.write_text("not hdf5")
    with pytest.raises(H5MDError):
        read_restart(noth5)
