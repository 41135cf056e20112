"""Compiled SYCL kernels kept on disk (dpsycl/backends/sycl_kernel_files.py).

A second process must take every kernel from the files numba-dpex's compilation wrote in the first
and give the same numbers bit for bit: the file path launches with its own argument layout, so a wrong
layout would show here as different numbers or a refused launch.  A damaged file must be compiled
again, not launched.  The oracle for the numbers is the first process (numba-dpex's compilation),
which the rest of the suite checks against DeePMD-kit.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "tiny_se_r" / "model.h5"

EVALUATE = r"""
import json, logging, sys
import numpy as np
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
import dpsycl
from dpsycl.backends import sycl_kernel_files
rng = np.random.default_rng(7)
cell = np.diag([9.0, 9.5, 10.0])
coords = rng.uniform(0, 9, (40, 3)) @ np.diag([1.0, 9.5 / 9, 10 / 9])
atype = rng.integers(0, 2, 40)
dp = dpsycl.DeepPot(sys.argv[1], device="opencl:cpu")
e, f, v = dp.eval(coords.reshape(1, -1), cell.reshape(1, 9), atype)[:3]
print(json.dumps({"stats": sycl_kernel_files.statistics(),
                  "numbers": [float(x).hex() for x in np.concatenate([np.ravel(e), np.ravel(f), np.ravel(v)])]}))
"""


def evaluate(folder) -> dict:
    env = {**os.environ, "DPSYCL_KERNEL_CACHE": str(folder)}
    proc = subprocess.run([sys.executable, "-c", EVALUATE, str(MODEL)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "stderr": proc.stderr}


@pytest.fixture(scope="module")
def sycl():
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")
    import dpsycl.backends.sycl      # noqa: F401  (loads the runtime's libraries, oneMKL's for dpnp too)


def test_a_new_process_reads_every_kernel_back_and_gets_the_same_numbers(sycl, tmp_path):
    first = evaluate(tmp_path)
    files = sorted(tmp_path.glob("*/*.spv"))
    assert first["stats"]["compiled"] > 0
    assert first["stats"]["written"] == first["stats"]["compiled"] == len(files)
    assert first["stats"]["read"] == 0
    note = "dpsycl.backends.sycl_kernel_files: compiling SYCL kernels"
    assert first["stderr"].count(note) == 1 and f"kept in {tmp_path}" in first["stderr"]

    second = evaluate(tmp_path)
    assert second["stats"] == {"compiled": 0, "read": len(files), "written": 0, "removed": 0}
    assert note not in second["stderr"]
    assert second["numbers"] == first["numbers"]

    # damaged files (a crash mid-copy, a disk error): each is compiled again and replaced, never launched
    for k, path in enumerate(files):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if k % 2 else data[:-1] + bytes([data[-1] ^ 1]))
    third = evaluate(tmp_path)
    assert third["stats"] == {"compiled": len(files), "read": 0, "written": len(files), "removed": 0}
    assert third["numbers"] == first["numbers"]
    assert evaluate(tmp_path)["stats"]["read"] == len(files)


def test_off_writes_and_reads_nothing(sycl, tmp_path, monkeypatch):
    from dpsycl.backends import sycl_kernel_files
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    key = "cd" + "2" * 62
    monkeypatch.delenv("DPSYCL_KERNEL_CACHE")
    sycl_kernel_files.write_kernel(key, "kernel", b"\x03\x02\x23\x07", label="test")
    assert sycl_kernel_files.read_kernel(key) == ("kernel", b"\x03\x02\x23\x07")      # the default folder works
    assert list((tmp_path / "xdg" / "dpsycl" / "sycl-kernels").glob("*/*.spv"))
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE", "off")
    assert sycl_kernel_files.read_kernel(key) is None
    sycl_kernel_files.write_kernel("cd" + "3" * 62, "kernel", b"\x03\x02\x23\x07", label="test")
    assert len(list(tmp_path.rglob("*.spv"))) == 1 and not (tmp_path / "home").exists()


def test_an_unwritable_folder_warns_once_and_the_kernel_still_runs(sycl, tmp_path, monkeypatch):
    from dpsycl.backends import sycl_kernel_files
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE", str(blocker))
    monkeypatch.setattr(sycl_kernel_files, "_unwritable", set())
    with pytest.warns(RuntimeWarning, match="cannot keep compiled SYCL kernels"):
        sycl_kernel_files.write_kernel("ab" + "0" * 62, "kernel", b"\x03\x02\x23\x07", label="test")
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        sycl_kernel_files.write_kernel("ab" + "1" * 62, "kernel", b"\x03\x02\x23\x07", label="test")
    assert again == []                      # once per folder


def test_the_folder_keeps_under_its_limit_by_dropping_the_files_used_longest_ago(sycl, tmp_path, monkeypatch):
    from dpsycl.backends import sycl_kernel_files
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE_MB", "1")
    body = bytes(300_000)                               # three files fit in 1 MiB, four do not
    keys = {name: name * 32 for name in ("a1", "b2", "c3", "d4")}
    for age, name in enumerate(("a1", "b2", "c3")):
        sycl_kernel_files.write_kernel(keys[name], name, body, label="test")
        stamp = 1_000_000 + 1_000 * age                 # written in that order, long ago
        os.utime(next(tmp_path.glob(f"*/{keys[name]}.spv")), (stamp, stamp))
    assert sycl_kernel_files.read_kernel(keys["a1"]) == ("a1", body)       # the oldest file, used just now
    sycl_kernel_files.write_kernel(keys["d4"], "d4", body, label="test")
    left = sorted(path.stem for path in tmp_path.glob("*/*.spv"))
    assert left == sorted([keys["a1"], keys["d4"]])     # b2, then c3, until ≤ 3/4 MiB remain
    assert sycl_kernel_files.read_kernel(keys["b2"]) is None
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE_MB", "0")   # no limit
    for name in ("b2", "c3"):
        sycl_kernel_files.write_kernel(keys[name], name, body, label="test")
    assert len(list(tmp_path.glob("*/*.spv"))) == 4
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE_MB", "a lot")
    with pytest.raises(ValueError, match="DPSYCL_KERNEL_CACHE_MB must be a whole number"):
        sycl_kernel_files.write_kernel("ef" * 32, "e", body, label="test")


def test_argument_types_follow_numbas_typing(sycl):
    """The file's key and the launch layout take a scalar's type as numba types a launch argument."""
    import dpnp
    from numba.core.typing.typeof import Purpose, typeof
    from dpsycl.backends import sycl_kernel_files
    values = (3, 0.5, np.float32(0.5), np.int32(2), np.int64(5), dpnp.zeros(4, dtype=np.float32),
              dpnp.zeros(6, dtype=np.int64)[::2])
    signature = sycl_kernel_files.argument_signature(values)
    for value, entry in zip(values, signature):
        numba_type = typeof(value, Purpose.argument)
        if entry[0] == "scalar":
            assert str(numba_type) == np.dtype(entry[1]).name
        else:
            assert (str(numba_type.dtype), numba_type.ndim, numba_type.layout) == (np.dtype(entry[1]).name,
                                                                                   *entry[2:])
    with pytest.raises(TypeError, match="boolean"):
        sycl_kernel_files.argument_signature((True,))
    with pytest.raises(TypeError, match="list"):
        sycl_kernel_files.argument_signature(([1, 2],))


def _copy_shifted(item, n, x, y, shift):
    i = item.get_id(0)
    if i < n:
        y[i] = x[i] + shift


def test_views_and_scalars_reach_the_kernel(sycl, tmp_path, monkeypatch):
    """Arrays that are views start at their first element; scalars arrive in their own type."""
    import dpnp
    from dpsycl.backends import sycl_kernel_files
    from dpsycl.backends.sycl import SyclBackend
    monkeypatch.setenv("DPSYCL_KERNEL_CACHE", str(tmp_path))
    _copy_shifted.dpsycl_identity = ("test copy", ())
    backend = SyclBackend("opencl:cpu")
    host = np.arange(12, dtype=np.float32)
    for shift in (np.float32(0.5), np.float32(-2.0)):
        base = backend.asarray(host)
        out = dpnp.zeros(7, dtype=np.float32, sycl_queue=backend.queue)
        sycl_kernel_files.CachedKernel(_copy_shifted, variant=("test",)).launch(
            backend.queue, 7, (7, base[3:10], out, shift), dtype=np.float32)
        np.testing.assert_array_equal(dpnp.asnumpy(out), host[3:10] + shift)
    assert len(list(tmp_path.glob("*/*.spv"))) == 1
