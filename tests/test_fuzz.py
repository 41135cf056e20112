"""Hostile inputs (issue 13, point 5): generated damaged files and arrays over ``dpsycl eval``,
``dpsycl run``, ``dpsycl extract``, ``dpsycl model-devi`` and ``DeepPot.eval``.

Every case must end in either a correct result or one documented error: exit status 2 with one line
``dpsycl: error: ...`` on stderr (the CLI), or an InputError / ModelError / DeviceError with a one-line
message (the API).  Never a traceback, another exception class, a hang (each case runs under an
alarm) or a crash.  Cases are generated from fixed seeds, so a failure names a case that can be rerun.

The CLI runs in-process through ``dpsycl.cli.main(argv)`` (a subprocess per case would spend its
time importing); a few real subprocesses at the end prove the process-level behaviour.  Most
evaluations use the NumPy reference; the cases that reach an MD run use opencl:cpu.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA

from dpsycl.backends import DeviceError
from dpsycl.deep_pot import DeepPot, InputError
from dpsycl.model import ModelError
from dpsycl.neighbors import SelTruncationWarning

SMALL = DATA / "tiny_act_silu"            # Cu/Ag, rcut 4.5, sel [40, 40]: fast on the NumPy reference
MODEL_H5 = SMALL / "model.h5"
MODEL_PB = SMALL / "frozen_model.pb"
MODEL_DP = DATA / "tiny_pt" / "model.dp"
CASE_SECONDS = 60                          # no single case may take this long: a hang, not a slow case
API_ERRORS = (InputError, ModelError, DeviceError)


class Hang(BaseException):
    """Not an Exception: the code under test must not be able to catch it and report a clean error."""


@contextlib.contextmanager
def alarm(seconds: int = CASE_SECONDS):
    """Raise Hang in the main thread after ``seconds`` (a case that loops forever fails, not hangs)."""
    def on_alarm(signum, frame):
        raise Hang(f"case still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``dpsycl ARGV`` run in this process."""
    from dpsycl.cli import main
    out, err = io.StringIO(), io.StringIO()
    with alarm(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:          # argparse's usage errors
            rc = exc.code
    return int(rc or 0), out.getvalue(), err.getvalue()


@pytest.fixture
def fuzz_warnings(recwarn, request):
    """Hostile inputs may overfill sel (clumped atoms: dpsycl warns, as DeePMD-kit drops the same
    neighbours) or push NumPy's floating point past its range (a damaged model's huge finite weights);
    those are recorded, and any other warning fails the case."""
    yield recwarn
    unexpected = [f"{w.category.__name__}: {w.message}" for w in recwarn
                  if not issubclass(w.category, (SelTruncationWarning, RuntimeWarning))]
    assert not unexpected, f"{request.node.name}: unexpected warnings {unexpected}"


def assert_clean(case: str, rc: int, err: str) -> None:
    """Exit 0, or exit 2 with exactly one error line; never a traceback."""
    assert "Traceback" not in err, f"{case}: traceback\n{err}"
    assert rc in (0, 2), f"{case}: exit status {rc}\n{err}"
    if rc == 2:
        errors = [line for line in err.splitlines() if line.startswith("dpsycl: error:")]
        others = [line for line in err.splitlines() if line.strip() and not line.startswith("dpsycl: ")]
        assert len(errors) == 1, f"{case}: not one error line\n{err}"
        assert not others, f"{case}: stray stderr lines {others}"


def assert_eval_output(case: str, out: str, natoms_expected=None) -> None:
    """``dpsycl eval --json`` succeeded: every number it printed is finite."""
    frames = json.loads(out)["frames"]
    assert frames, case
    for fr in frames:
        assert np.isfinite(fr["energy"]), f"{case}: energy {fr['energy']}"
        assert np.all(np.isfinite(fr["forces"])), f"{case}: non-finite forces"
        assert np.all(np.isfinite(fr["virial"])), f"{case}: non-finite virial"


# ---------------------------------------------------------------------------------------------
# inputs
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A valid 32-atom Cu-Ag extxyz and the text of its frame."""
    import ase.io

    from dpsycl.structures import random_alloy
    d = tmp_path_factory.mktemp("fuzz")
    atoms = random_alloy("Cu0.5Ag0.5", 32, 0, noise=0.05)
    path = d / "good.xyz"
    ase.io.write(path, atoms, format="extxyz")
    return {"dir": d, "xyz": path, "text": path.read_text(), "atoms": atoms}


@pytest.fixture(scope="module")
def pot():
    return DeepPot(MODEL_H5, device="numpy")


HOSTILE_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e308", "1e999", "-1e300", "abc", "0x1F", "--", "1,5", "", "1e-320"]
HOSTILE_SPECIES = ["Xx", "H", "cu", "Q", "123", "Cu Ag", "Au", "é"]
HOSTILE_LATTICES = ["0 0 0 0 0 0 0 0 0", "5 0 0 5 0 0 0 0 5", "0 5 0 5 0 0 0 0 5", "1e-3 0 0 0 1e-3 0 0 0 1e-3",
                    "1e6 0 0 0 1e6 0 0 0 1e6", "nan 0 0 0 5 0 0 0 5", "5 0 0 0 5 0 0 0 1e-7", "-8 0 0 0 8 0 0 0 8",
                    "1 2 3", "8 0 0 0 8 0 0 0 8 0", "inf 0 0 0 8 0 0 0 8", "8 0 0 8 1e-9 0 0 0 8"]


def mutate_xyz(text: str, rng: np.random.Generator) -> tuple[str, str]:
    """One damaged variant of an extxyz text and what was done to it."""
    lines = text.splitlines()
    op = rng.integers(0, 9)
    if op == 0:
        cut = int(rng.integers(0, len(text)))
        return text[:cut], f"truncated at {cut}"
    if op == 1:
        k = int(rng.integers(2, len(lines)))
        del lines[k]
        return "\n".join(lines) + "\n", f"line {k} deleted"
    if op == 2:
        k = int(rng.integers(2, len(lines)))
        toks = lines[k].split()
        j = int(rng.integers(1, len(toks)))
        toks[j] = str(rng.choice(HOSTILE_NUMBERS))
        lines[k] = " ".join(toks)
        return "\n".join(lines) + "\n", f"line {k} token {j} -> {toks[j]!r}"
    if op == 3:
        n = str(rng.choice(["0", "-3", "31", "33", "1000000000", "x", "3.5", ""]))
        lines[0] = n
        return "\n".join(lines) + "\n", f"atom count {n!r}"
    if op == 4:
        k = int(rng.integers(2, len(lines)))
        toks = lines[k].split()
        toks[0] = str(rng.choice(HOSTILE_SPECIES))
        lines[k] = " ".join(toks)
        return "\n".join(lines) + "\n", f"species {toks[0]!r}"
    if op == 5:
        lat = str(rng.choice(HOSTILE_LATTICES))
        start = lines[1].index('Lattice="') + len('Lattice="')
        end = lines[1].index('"', start)
        lines[1] = lines[1][:start] + lat + lines[1][end:]
        return "\n".join(lines) + "\n", f"lattice {lat!r}"
    if op == 6:
        raw = bytearray(text.encode())
        for _ in range(int(rng.integers(1, 20))):
            raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
        return raw.decode("latin-1"), "random bytes"
    if op == 7:
        k = int(rng.integers(2, len(lines)))
        lines.insert(k, lines[k])                # a duplicate atom (and a wrong count)
        lines[0] = str(int(lines[0]) + 1)
        return "\n".join(lines) + "\n", f"atom {k - 2} duplicated"
    return rng.bytes(int(rng.integers(0, 400))).decode("latin-1"), "binary junk"


@pytest.mark.parametrize("seed", range(80))
def test_eval_damaged_extxyz(base, seed, fuzz_warnings):
    rng = np.random.default_rng([seed, 1])
    text, what = mutate_xyz(base["text"], rng)
    path = base["dir"] / f"bad{seed}.xyz"
    path.write_text(text, encoding="latin-1")
    rc, out, err = run_cli(["eval", MODEL_H5, path, "--device", "numpy", "--json"])
    assert_clean(f"extxyz {seed} ({what})", rc, err)
    if rc == 0:
        assert_eval_output(f"extxyz {seed} ({what})", out)


# ---------------------------------------------------------------------------------------------
# DeepPot.eval with hostile arrays
def hostile_arrays(seed: int, good):
    """(description, coords, cells, atype, expectation) with expectation "error", "ok" or a
    callable(e, f, v) checking the result."""
    coords, cell, atype = good
    rng = np.random.default_rng([seed, 2])
    c = coords.copy()
    n = len(atype)
    op = seed % 12
    if op == 0:
        c[rng.integers(0, n), rng.integers(0, 3)] = rng.choice([np.nan, np.inf, -np.inf])
        return "non-finite coordinate", c, cell, atype, "error"
    if op == 1:                                 # whole lattice translations: the same structure
        shift = rng.integers(-10 ** 6, 10 ** 6, size=(n, 3)) @ cell
        return "lattice translations up to 1e6 cells", c + shift, cell, atype, "same"
    if op == 2:
        c[rng.integers(0, n)] = rng.choice([1e12, 1e300, -1e200])
        return "huge coordinate", c, cell if seed % 24 < 12 else None, atype, "any"
    if op == 3:
        bad = cell.copy()
        kind = seed // 12 % 4
        if kind == 0:
            bad[rng.integers(0, 3)] = 0.0
        elif kind == 1:
            bad[1] = bad[0]
        elif kind == 2:
            bad[2] *= 1e-9
        else:
            bad[2] = bad[0] + bad[1]
        return f"degenerate cell {kind}", c, bad, atype, "error"
    if op == 4:                                  # a thin but valid cell: many images, must not hang
        thin = cell.copy()
        thin[rng.integers(0, 3)] *= rng.choice([1e-2, 1e-3, 1e-4])
        return "very thin cell", c, thin, atype, "any"
    if op == 5:
        perm = rng.permutation(3)
        if np.linalg.det(cell[perm]) > 0:
            perm = perm[[1, 0, 2]]
        return f"left-handed cell {perm.tolist()}", c, cell[perm], atype, "same"
    if op == 6:
        i, j = rng.choice(n, 2, replace=False)
        c[j] = c[i] + (0 if seed % 24 < 12 else cell[rng.integers(0, 3)])
        return f"atoms {i} and {j} coincide", c, cell, atype, "error"
    if op == 7:
        t = atype.copy()
        t[rng.integers(0, n)] = rng.choice([-1, 2, 99, -(2 ** 40)])
        return "unknown species", c, cell, t, "error"
    if op == 8:
        kind = seed // 12 % 6
        if kind == 0:
            return "string coords", c.astype(str), cell, atype, "any"
        if kind == 1:
            return "complex coords", c + 1j, cell, atype, "error"
        if kind == 2:
            return "float atom types", c, cell, atype + 0.5, "error"
        if kind == 3:
            return "string atom types", c, cell, np.array(["Cu"] * n), "error"
        if kind == 4:
            return "object coords", np.array([[object()] * 3] * n, dtype=object), cell, atype, "error"
        return "word coords", np.full((n, 3), "x"), cell, atype, "error"
    if op == 9:
        kind = seed // 12 % 4
        if kind == 0:
            return "no atoms", np.zeros((1, 0)), cell, np.zeros(0, dtype=int), "error"
        if kind == 1:
            return "no frames", np.zeros((0, 3 * n)), cell, atype, "error"
        if kind == 2:
            return "no frames, no cells", np.zeros((0, n, 3)), np.zeros((0, 9)), atype, "error"
        return "empty types", c, cell, [], "error"
    if op == 10:
        kind = seed // 12 % 4
        if kind == 0:
            return "coords one number short", c.ravel()[:-1], cell, atype, "error"
        if kind == 1:
            return "cell of 6 numbers", c, cell.ravel()[:6], atype, "error"
        if kind == 2:
            return "cells for 2 frames", c, np.stack([cell, cell]), atype, "error"
        return "non-finite cell", c, np.where(rng.random((3, 3)) < 0.3, np.nan, cell), atype, "error"
    return "atoms outside the cell", c + rng.uniform(-50, 50, c.shape), cell, atype, "any"


@pytest.fixture(scope="module")
def good_arrays(base, pot):
    from dpsycl.structures import atoms_to_arrays
    return atoms_to_arrays(base["atoms"], pot.get_type_map())


@pytest.mark.parametrize("seed", range(120))
def test_deeppot_eval_hostile_arrays(pot, good_arrays, seed, fuzz_warnings):
    what, c, cell, atype, expect = hostile_arrays(seed, good_arrays)
    case = f"array case {seed} ({what})"
    try:
        with alarm():
            out = pot.eval(c, None if cell is None else np.asarray(cell).reshape(1, -1) if np.size(cell) == 9
                           else cell, atype)
    except API_ERRORS as exc:
        assert expect != "same", f"{case}: refused a valid input: {exc}"
        assert "\n" not in str(exc) and str(exc), f"{case}: message {str(exc)!r}"
        return
    assert expect != "error", f"{case}: accepted, gave energy {out[0]}"
    e, f, v = out
    assert np.all(np.isfinite(e)) and np.all(np.isfinite(f)) and np.all(np.isfinite(v)), f"{case}: non-finite result"
    if expect == "same":
        coords, good_cell, good_atype = good_arrays
        e0, f0, v0 = pot.eval(coords[None], good_cell[None], good_atype)
        # positions ~1e7 Å are float64 numbers ~1e-9 Å apart: the translated frame agrees to ~1e-8
        tol = 1e-6 if "translations" in what else 1e-9
        np.testing.assert_allclose(e, e0, rtol=0, atol=tol, err_msg=case)
        np.testing.assert_allclose(f, f0, rtol=0, atol=tol, err_msg=case)
        np.testing.assert_allclose(v, v0, rtol=0, atol=10 * tol, err_msg=case)


# ---------------------------------------------------------------------------------------------
# damaged model files
def damage(raw: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    op = rng.integers(0, 5)
    if op == 0:
        cut = int(rng.integers(0, len(raw)))
        return raw[:cut], f"truncated at {cut}"
    b = bytearray(raw)
    if op == 1:
        for _ in range(int(rng.integers(1, 64))):
            b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
        return bytes(b), "bit flips"
    if op == 2:
        start = int(rng.integers(0, len(b) - 64))
        b[start:start + 64] = bytes(64)
        return bytes(b), f"64 zero bytes at {start}"
    if op == 3:
        start = int(rng.integers(0, len(b) - 4096))
        b[start:start + 4096] = rng.bytes(4096)
        return bytes(b), f"4096 random bytes at {start}"
    return rng.bytes(int(rng.integers(0, 64))) + raw, "junk prepended"


MODEL_KINDS = {"h5": MODEL_H5, "pb": MODEL_PB, "dp": MODEL_DP}


@pytest.mark.parametrize("kind,seed", [(k, s) for k in MODEL_KINDS for s in range(24)])
def test_damaged_model_files(base, kind, seed, fuzz_warnings):
    rng = np.random.default_rng([seed, 3, len(kind)])
    raw, what = damage(MODEL_KINDS[kind].read_bytes(), rng)
    path = base["dir"] / f"bad{seed}.{kind}"
    path.write_bytes(raw)
    case = f"{kind} model {seed} ({what})"
    if kind == "h5" or seed % 3 == 0:
        rc, out, err = run_cli(["eval", path, base["xyz"], "--device", "numpy", "--json"])
        assert_clean(case, rc, err)
        if rc == 0:
            assert_eval_output(case, out)
    if kind != "h5":
        rc, out, err = run_cli(["extract", path, "-o", base["dir"] / f"out{seed}{kind}.h5"])
        assert_clean(case, rc, err)
    try:
        with alarm():
            DeepPot(path, device="numpy")
    except ModelError as exc:
        assert "\n" not in str(exc), f"{case}: {exc!r}"


@pytest.mark.parametrize("name,content", [("empty.h5", b""), ("empty.pb", b""), ("empty.dp", b""),
                                          ("text.pb", b"this is not a graph\n"),
                                          ("zip.pb", b"PK\x03\x04" + bytes(100)),
                                          ("hdf5-magic-only.h5", b"\x89HDF\r\n\x1a\n"),
                                          ("hdf5-magic-only.dp", b"\x89HDF\r\n\x1a\n" + bytes(600))])
def test_tiny_model_files(base, name, content):
    path = base["dir"] / name
    path.write_bytes(content)
    for argv in (["extract", path, "-o", base["dir"] / "x.h5"],
                 ["eval", path, base["xyz"], "--device", "numpy"]):
        rc, _, err = run_cli(argv)
        assert rc == 2, f"{name}: {argv[0]} exit {rc}"
        assert_clean(name, rc, err)


# ---------------------------------------------------------------------------------------------
# dpsycl run: hostile structures and options (refused before the device), damaged trajectories
@pytest.fixture(scope="module")
def trajectory(base):
    """A valid 4-frame H5MD trajectory of 32 atoms, run on opencl:cpu."""
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack is not installed")
    path = base["dir"] / "good.h5"
    rc, _, err = run_cli(["run", MODEL_H5, base["xyz"], "--steps", 3, "--every", 1, "--device", "opencl:cpu",
                          "-o", path, "--no-progress"])
    assert rc == 0, err
    return path


RUN_OPTIONS = [["--dt", "nan"], ["--dt", "-1"], ["--dt", "inf"], ["--steps", "-5"], ["--temperature", "-3"],
               ["--temperature", "nan"], ["--every", "0"], ["--skin", "-1"], ["--skin", "nan"], ["--atoms", "0"],
               ["--friction", "-1", "--ensemble", "langevin"], ["--tau", "0", "--ensemble", "csvr"],
               ["--nvt-steps", "-2"], ["--flush-every", "0"], ["--fparam", "1.0"], ["--aparam", "nan"],
               ["--device", "no-such-device"], ["--device", "cuda:99"], ["--steps", "x"], ["-o", "out.txt"]]


@pytest.mark.parametrize("seed", range(len(RUN_OPTIONS) + 20))
def test_run_hostile(base, seed, fuzz_warnings):
    """Bad options (the first cases), then damaged structures: refused with one line."""
    out = base["dir"] / f"run{seed}.h5"
    if seed < len(RUN_OPTIONS):
        argv = ["run", MODEL_H5, base["xyz"], "--steps", 2, "-o", out, "--no-progress", *RUN_OPTIONS[seed]]
        what = " ".join(RUN_OPTIONS[seed])
    else:
        rng = np.random.default_rng([seed, 4])
        while True:                          # damage that leaves a frame ASE reads would start a run: skip it
            text, what = mutate_xyz(base["text"], rng)
            if what.startswith(("atom count", "species")) or "duplicated" in what:
                break
        path = base["dir"] / f"run{seed}.xyz"
        path.write_text(text, encoding="latin-1")
        argv = ["run", MODEL_H5, path, "--steps", 2, "-o", out, "--no-progress", "--device", "opencl:cpu"]
    rc, _, err = run_cli(argv)
    assert_clean(f"run {seed} ({what})", rc, err)
    if rc == 0:      # a damaged text that still parses as the same structure (e.g. a changed comment token)
        assert out.exists()


@pytest.mark.parametrize("seed", range(24))
def test_damaged_trajectories(base, trajectory, seed, fuzz_warnings):
    """--restart from, and model-devi over, a damaged H5MD file."""
    rng = np.random.default_rng([seed, 5])
    raw, what = damage(trajectory.read_bytes(), rng)
    path = base["dir"] / f"traj{seed}.h5"
    path.write_bytes(raw)
    case = f"trajectory {seed} ({what})"
    rc, _, err = run_cli(["model-devi", "-m", MODEL_H5, MODEL_H5, "-t", path, "-o", base["dir"] / f"devi{seed}.out",
                          "--devices", "numpy", "--no-progress"])
    assert_clean(case, rc, err)
    if seed % 4 == 0:           # a restart that gets through reaches the device: only a few of them
        rc, _, err = run_cli(["run", MODEL_H5, "--restart", "-o", path, "--steps", 4, "--device", "opencl:cpu",
                              "--no-progress"])
        assert_clean(case, rc, err)


# ---------------------------------------------------------------------------------------------
# DeePMD-kit npy systems with damaged arrays (dpsycl test)
@pytest.mark.parametrize("seed", range(16))
def test_damaged_npy_systems(base, seed, fuzz_warnings):
    import shutil
    rng = np.random.default_rng([seed, 6])
    system = base["dir"] / f"sys{seed}"
    shutil.copytree(DATA / "cuag_emt" / "sys000", system)
    target = system / "set.000" / str(rng.choice(["coord.npy", "box.npy", "energy.npy", "force.npy"]))
    op = seed % 4
    if op == 0:
        raw, what = damage(target.read_bytes(), rng)
        target.write_bytes(raw)
    elif op == 1:
        values = np.load(target)
        values.ravel()[rng.integers(0, values.size)] = rng.choice([np.nan, np.inf, 1e300])
        np.save(target, values)
        what = "a non-finite or huge value"
    elif op == 2:
        np.save(target, np.load(target).astype(str))
        what = "strings"
    else:
        np.save(target, np.load(target).ravel()[:-1])
        what = "one number short"
    rc, _, err = run_cli(["test", "-m", MODEL_H5, "-s", system, "--devices", "numpy", "--no-progress"])
    assert_clean(f"npy system {seed} ({target.name}: {what})", rc, err)


# ---------------------------------------------------------------------------------------------
# no file makes dpsycl run code: pickles in every place a file is read
class Payload:
    """Unpickling this creates the sentinel file: evidence that a file executed code."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def crafted_files(d, sentinel):
    import pickle

    import h5py
    blob = pickle.dumps(Payload(sentinel))
    files = {}
    arr = np.empty(1, dtype=object)
    arr[0] = Payload(sentinel)
    np.save(d / "obj.npy", arr, allow_pickle=True)
    files["obj.npy"] = d / "obj.npy"
    np.savez(d / "obj.npz", coord=arr)
    files["obj.npz"] = d / "obj.npz"
    (d / "pickle.dp").write_bytes(blob)
    files["pickle.dp"] = d / "pickle.dp"
    (d / "pickle.pb").write_bytes(blob)
    files["pickle.pb"] = d / "pickle.pb"
    (d / "pickle.h5").write_bytes(blob)
    files["pickle.h5"] = d / "pickle.h5"
    # HDF5 models whose arrays and attributes hold pickles as opaque bytes
    import shutil
    shutil.copy(MODEL_H5, d / "opaque.h5")
    with h5py.File(d / "opaque.h5", "a") as f:
        f.attrs["precision"] = np.void(blob)
        del f["fitting/out_std"]
        f.create_dataset("fitting/out_std", data=np.void(blob))
    files["opaque.h5"] = d / "opaque.h5"
    shutil.copy(MODEL_DP, d / "opaque.dp")
    with h5py.File(d / "opaque.dp", "a") as f:
        name = min(k for k in f if k.startswith("variable"))
        del f[name]
        f.create_dataset(name, data=np.void(blob))
        f.attrs["extra"] = np.void(blob)
    files["opaque.dp"] = d / "opaque.dp"
    with h5py.File(d / "json-pickle.dp", "w") as f:
        f.attrs["json"] = np.void(blob)
    files["json-pickle.dp"] = d / "json-pickle.dp"
    return files


def test_no_file_executes_code(base):
    d = base["dir"] / "crafted"
    d.mkdir()
    sentinel = d / "SENTINEL"
    files = crafted_files(d, sentinel)
    system = d / "sys"
    import shutil
    shutil.copytree(DATA / "cuag_emt" / "sys000", system)
    shutil.copy(files["obj.npy"], system / "set.000" / "coord.npy")
    shutil.copy(files["obj.npz"], system / "set.000" / "box.npy")
    attempts = [["test", "-m", MODEL_H5, "-s", system, "--devices", "numpy", "--no-progress"]]
    for name in ("pickle.dp", "pickle.pb", "pickle.h5", "opaque.h5", "opaque.dp", "json-pickle.dp"):
        attempts += [["extract", files[name], "-o", d / "x.h5"],
                     ["eval", files[name], base["xyz"], "--device", "numpy"]]
    for argv in attempts:
        rc, _, err = run_cli(argv)
        assert rc == 2, f"{argv}: exit {rc}, {err}"
        assert_clean(" ".join(map(str, argv)), rc, err)
        assert not sentinel.exists(), f"{argv} executed the pickle"
    for name in ("pickle.h5", "opaque.h5", "opaque.dp", "pickle.dp"):
        with pytest.raises(ModelError):
            DeepPot(files[name], device="numpy")
    assert not sentinel.exists()
    # the payload does work when unpickled: the test would notice
    import pickle
    pickle.loads(pickle.dumps(Payload(sentinel))).close()
    assert sentinel.exists()


# ---------------------------------------------------------------------------------------------
# real processes: exit status 2 and one stderr line
SUBPROCESS_CASES = [
    ["eval", MODEL_H5, "{dir}/bad-lattice.xyz", "--device", "numpy"],
    ["eval", "{dir}/truncated.h5", "{dir}/good.xyz", "--device", "numpy"],
    ["extract", "{dir}/truncated.pb"],
    ["run", MODEL_H5, "{dir}/bad-lattice.xyz", "-o", "{dir}/sub.h5", "--steps", "2"],
    ["eval", MODEL_H5, "{dir}/nan.xyz", "--device", "numpy"],
]


def test_subprocess_exit_status(base):
    d = base["dir"]
    lines = base["text"].splitlines()
    (d / "bad-lattice.xyz").write_text("\n".join([lines[0], lines[1].replace('Lattice="', 'Lattice="0 0 0 ', 1)]
                                                 + lines[2:]) + "\n")
    toks = lines[3].split()
    toks[1] = "nan"
    (d / "nan.xyz").write_text("\n".join(lines[:3] + [" ".join(toks)] + lines[4:]) + "\n")
    (d / "truncated.h5").write_bytes(MODEL_H5.read_bytes()[:5000])
    (d / "truncated.pb").write_bytes(MODEL_PB.read_bytes()[:5000])
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    for case in SUBPROCESS_CASES:
        argv = [str(a).format(dir=d) for a in case]
        p = subprocess.run([sys.executable, "-m", "dpsycl", *argv], capture_output=True, text=True, timeout=120, check=False,
                           env=env)
        err = [line for line in p.stderr.splitlines() if line.strip()]
        assert p.returncode == 2, f"{argv}: exit {p.returncode}\n{p.stderr}"
        assert len(err) == 1 and err[0].startswith("dpsycl: error:"), f"{argv}: stderr {p.stderr!r}"
