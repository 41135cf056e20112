"""Crash consistency of `dpsycl run` trajectories, end to end through real subprocesses.

50 moments in all, split because one `dpsycl run` on opencl:cpu spends ~10-25 s compiling its
kernels before the first step (no disk cache; `--device numpy` has no MD backend; a fork of a warm
process hangs in the OpenCL runtime), so 50 fresh processes would take 10+ minutes:

* real SIGKILLs (``N_KILLS``), each at a random delay after the process's first progress line,
  chained: the killed file is checked, then continued with `--restart` (that process is the next
  one killed).  The last restart runs to the end, and every frame of the file is compared bit for
  bit with an uninterrupted reference run of the same seed -- so every restart is checked for
  bit-identity.  One kill in CI: each costs a process that compiles its kernels for 10-25 s.
* SIGSTOP snapshots (``N_SNAPSHOTS``, 50 moments with the kills) of the reference run: stopped at
  a random moment, its file copied, continued.
  A stopped process's file is exactly what a SIGKILL at that moment leaves (page cache; userspace
  buffers lost either way); the one difference, a multi-page write() cut at a page boundary by a
  fatal signal, is what the real kills cover.  Snapshots are not restarted (the chain does that).

Each file or snapshot must: open with h5py; hold complete frames that are intact (finite, steps
0, every, 2·every, ..., time = step·dt, rows of every dataset within one frame of each other, each
frame bit-identical to the reference's frame of that step); lose at most ``--every`` steps relative
to the last step the process reported (tqdm) and the last step it wrote into any dataset.

The full-disk test runs `dpsycl run` under a small RLIMIT_FSIZE (dpsycl ignores SIGXFSZ, so
write() fails with EFBIG).  Its process is started by the SIGKILL test (fixture ``full_disk_run``),
so that its kernel compilation, one core's work, runs alongside that test's processes instead of
after them; the full-disk test then waits for it and checks it.  tests/test_h5md_crash.py adds
50 SIGKILLs of processes that run dpsycl's H5MD writer on real MD frames at full speed, so that
kills land inside writes and commits.
"""
from __future__ import annotations

import os
import pathlib
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from dpsycl.h5md import open_trajectory, read_trajectory

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "dpsycl" / "data" / "cuag.h5")
DEVICE = "opencl:cpu"
EVERY, DT, END, SEED = 5, 2.0, 600, 11
N_KILLS, N_SNAPSHOTS = 1, 49
SNAPSHOT_WINDOW = 9.0             # s after the first progress line; the 600 steps take ~15 s on an idle 2-core box
PROGRESS = re.compile(rb"(\d+)/\d+ \[")


def _sycl():
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")


def _argv(out, *extra):
    return [sys.executable, "-m", "dpsycl", "run", MODEL, "--device", DEVICE, "--steps", str(END),
            "--output", str(out), *extra]


FRESH = ("--alloy", "Cu0.5Ag0.5", "--atoms", "32", "--dt", str(DT), "--every", str(EVERY), "--seed", str(SEED))


class Run:
    """A `dpsycl run` subprocess whose stderr is drained by a thread that keeps the last step the
    progress bar reported (the bar is updated after a step's frame is written)."""

    def __init__(self, argv, preexec_fn=None):
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=preexec_fn)
        self.err = b""
        self.reported = None
        self.first_line = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while True:
            chunk = self.proc.stderr.read1(65536)
            if not chunk:
                break
            self.err += chunk
            found = PROGRESS.findall(self.err[-4096:])
            if found:
                self.reported = int(found[-1])
                self.first_line.set()
        self.first_line.set()

    def wait_first_line(self, timeout=240):
        assert self.first_line.wait(timeout), "no progress line in time"
        assert self.proc.poll() is None, self.err.decode(errors="replace")[-2000:]

    def settled_report(self):
        """The last reported step once the stopped/killed process's output is read to the end."""
        seen = len(self.err)
        while True:
            time.sleep(0.2)
            if len(self.err) == seen:
                return self.reported
            seen = len(self.err)


def _check(path, reported, ref=None):
    """The invariants of the module docstring; the number of complete frames."""
    with open_trajectory(path) as f:
        rows = {name: ds.shape[0] for name, ds in _datasets(f)}
        wrote = max(int(np.max(ds[:], initial=-1)) for name, ds in _datasets(f) if name.endswith("/step"))
    t = read_trajectory(path)
    n = len(t["step"])
    assert n >= 1
    assert all(n <= r <= n + 1 for r in rows.values()), rows
    assert list(t["step"]) == list(range(0, EVERY * n, EVERY))
    np.testing.assert_allclose(t["time"], t["step"] * DT, rtol=0, atol=1e-9)
    for key in ("positions", "velocities", "forces"):
        assert len(t[key]) == n and np.isfinite(t[key]).all(), key
    for name in ("potential_energy", "kinetic_energy", "total_energy", "temperature"):
        assert len(t["observables"][name]) == n and np.isfinite(t["observables"][name]).all(), name
    last = int(t["step"][-1])
    assert reported is not None and reported - last <= EVERY, (reported, last)
    assert wrote - last <= EVERY, (wrote, last)
    if ref is not None:
        for key in ("positions", "velocities", "image"):
            assert np.array_equal(t[key], ref[key][:n]), key
    return n


def _datasets(f):
    """The time series of one row per frame (not parameters/list_reference: one row per list build)."""
    out = []
    f.visititems(lambda name, obj: out.append((name, obj)) if isinstance(obj, h5py.Dataset)
                 and name.rsplit("/", 1)[-1] in ("value", "time", "step") and not name.startswith("parameters/")
                 else None)
    return out


def test_sigkill_at_50_moments(tmp_path, full_disk_run):
    """See the module docstring: chained SIGKILL + restart, SIGSTOP snapshots, bit-identity.
    (``full_disk_run`` only starts the full-disk test's process, to run alongside this test's.)"""
    _sycl()
    rng = random.Random(2024)
    ref_path, chain = tmp_path / "reference.h5", tmp_path / "chain.h5"
    ref = Run(_argv(ref_path, *FRESH))
    snaps, killed = [], []
    proc = Run(_argv(chain, *FRESH))
    ref.wait_first_line()
    # snapshots in a thread, spread over the reference's run, while the chain's processes start and die
    delays = sorted(rng.uniform(0.2, SNAPSHOT_WINDOW) for _ in range(N_SNAPSHOTS))

    t0 = time.monotonic()

    def snapshots():
        for d in delays:
            time.sleep(max(0.0, t0 + d - time.monotonic()))
            if ref.proc.poll() is not None:
                return
            ref.proc.send_signal(signal.SIGSTOP)
            rep = ref.settled_report()
            copy = tmp_path / f"snap{len(snaps)}.h5"
            shutil.copyfile(ref_path, copy)
            ref.proc.send_signal(signal.SIGCONT)
            snaps.append((copy, rep))
    snapper = threading.Thread(target=snapshots)
    snapper.start()
    for i in range(N_KILLS):
        proc.wait_first_line()
        time.sleep(rng.uniform(0.2, 4.0))
        assert proc.proc.poll() is None, "the run ended before its kill: raise END"
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait(timeout=30)
        proc.thread.join(timeout=30)
        assert proc.proc.returncode == -signal.SIGKILL
        killed.append((chain.with_suffix(f".kill{i}.h5"), proc.reported))
        shutil.copyfile(chain, killed[-1][0])
        proc = Run(_argv(chain, "--restart"))
    snapper.join(timeout=120)
    assert ref.proc.wait(timeout=400) == 0, ref.err.decode(errors="replace")[-2000:]
    assert proc.proc.wait(timeout=400) == 0, proc.err.decode(errors="replace")[-2000:]
    assert len(snaps) == N_SNAPSHOTS, "the reference ended before its snapshots: raise END"
    reference = read_trajectory(ref_path)
    assert list(reference["step"]) == list(range(0, END + 1, EVERY))
    for copy, rep in snaps + killed:
        _check(copy, rep, reference)
    final = read_trajectory(chain)
    assert list(final["step"]) == list(reference["step"])
    for key in ("positions", "velocities", "image", "forces"):
        assert np.array_equal(final[key], reference[key]), key
    with open_trajectory(chain) as f:
        assert len(f["parameters/restarted_at_steps"]) == N_KILLS


def _small_file_limit(limit):
    def apply():      # as `ulimit -f` would: the default SIGXFSZ action (dpsycl run itself ignores it)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


FULL_DISK_LIMIT = 200_000   # bytes: ~40 frames of the 32-atom run (2.5 kB each after ~100 kB of file set-up)


@pytest.fixture(scope="module")
def full_disk_run(tmp_path_factory):
    """`dpsycl run` under a file-size limit, started at the first test that asks for it; its output
    file.  Killed at the end of the module if no test waited for it."""
    _sycl()
    out = tmp_path_factory.mktemp("full-disk") / "full.h5"
    run = Run(_argv(out, *FRESH, "--no-progress"), preexec_fn=_small_file_limit(FULL_DISK_LIMIT))
    yield run, out
    if run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait(timeout=30)


def test_full_disk_is_one_line_error(full_disk_run):
    """A file-size limit reached mid-run: exit non-zero, one `dpsycl: error:` line naming the
    failure, no traceback, and a readable file whose frames are intact."""
    run, out = full_disk_run
    limit = FULL_DISK_LIMIT
    status = run.proc.wait(timeout=400)
    run.thread.join(timeout=30)
    err = run.err.decode(errors="replace")
    assert status not in (0, -signal.SIGXFSZ) and status > 0, (status, err[-2000:])
    assert "Traceback" not in err and "HDF5-DIAG" not in err, err[-3000:]
    # the first process of a suite run alone compiles the kernels and says so once; that notice is not an error
    lines = [line for line in err.splitlines()
             if line.startswith("dpsycl:") and not line.startswith("dpsycl: compiling SYCL kernels")]
    assert len(lines) == 1 and lines[0].startswith("dpsycl: error: "), err[-2000:]
    assert "full.h5" in lines[0] and re.search(r"(?i)too large|no space|limit", lines[0]), lines[0]
    assert os.path.getsize(out) <= limit
    # no progress is reported with --no-progress: the frames are checked without the lost-steps bound
    t = read_trajectory(out)
    n = len(t["step"])
    assert n >= 2, "the limit left no frame: lower the model size or raise the limit"
    assert list(t["step"]) == list(range(0, EVERY * n, EVERY))
    assert np.isfinite(t["positions"]).all() and np.isfinite(t["velocities"]).all()
    with open_trajectory(out) as f:
        assert f["particles/all/position/value"].shape[0] >= n
