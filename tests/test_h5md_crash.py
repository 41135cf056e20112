"""Crash consistency of H5MD trajectories: writers killed at random moments, and a full disk.

What is covered, and how (50 real ``dpsycl run`` processes, each compiling its kernels for
10–20 s, would not fit CI's budget):

* ``test_writer_killed_at_random_moments``: 50 SIGKILLs of a process that writes real MD frames
  (a run of this test) through dpsycl's own H5MDWriter at full speed.  Nothing but file I/O happens
  in it, so a random moment falls inside a write or a commit far more often than in a real run,
  whose writer is idle between frames.  The writers are forked from a forkserver that imported
  dpsycl.h5md once, so each starts in milliseconds; each is killed at a moment drawn uniformly from
  its first 0.3 s (every fourth from its first 20 ms): while creating the file (a fresh one),
  reopening it (what ``--restart`` does: flag cleared, partial rows dropped), writing values, or
  committing.  The trials chain: each
  continues the file the previous one left, so restarts of killed files are themselves killed.
  After every kill: the file opens (once any frame was committed), its frames are consecutive from
  step 0 and each is bit-identical to what was written, every frame reported committed before the
  kill is there, and none is more than ``flush_every`` frames (of ``every`` steps) past the last
  report -- at most ``every`` steps lost at the default ``flush_every`` 1.
* tests/test_crash_consistency.py: real ``dpsycl run`` processes SIGKILLed (then continued with
  ``--restart``, bit-identical to an uninterrupted run) and SIGSTOPped at random moments, and a
  ``dpsycl run`` stopped by a file-size limit.
* ``test_full_disk_*``: a writer under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored as by
  ``dpsycl run``) ends with one line naming the step, the reason and the frames kept; the file
  opens, its frames are intact, and a restart without the limit continues it.

The writers run ``tests/h5md_crash_writer.py``.
"""
from __future__ import annotations

import multiprocessing
import os
import time

import h5py
import numpy as np
import pytest

from dpsycl.h5md import EV_PER_A_IN_KJ_MOL_A, H5MDWriter, partial_path, read_trajectory, recover
from dpsycl.structures import random_alloy
from h5md_crash_writer import OBSERVABLES, FrameSource, save_frames, write_forever

N_KILLS = 50
EVERY = 10                       # MD steps between frames
WINDOW = 0.3                     # s: a writer is killed at a uniform moment in [0, WINDOW] after its start,
EARLY = 0.02                     # ... or in [0, EARLY]


@pytest.fixture(scope="module")
def frames_npz(dp, tmp_path_factory):
    """Real frames: 12 steps of a 32-atom Cu–Ag box under CSVR, one frame every 2 steps."""
    from dpsycl.md import MDSettings, initial_state, run, sample, schedule
    atoms = random_alloy("Cu0.5Ag0.5", 32, seed=7)
    type_map = dp.get_type_map()
    atype = np.asarray([type_map.index(s) for s in atoms.get_chemical_symbols()])
    settings = MDSettings(dt=2.0, ensemble="csvr", temperature=900.0, tau=20.0, every=2, seed=7)
    init, step = schedule(dp, settings)
    state = init(initial_state(atoms.positions, atoms.cell.array, atype, type_map, 900.0, 7))
    frames = [sample(state)]
    run(step, state, 12, every=2, on_frame=frames.append)
    path = tmp_path_factory.mktemp("frames") / "frames.npz"
    save_frames(path, frames, type_map)
    return path


@pytest.fixture(scope="module")
def spawner():
    """Processes forked from a forkserver that has imported the writer (and so dpsycl.h5md)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["h5md_crash_writer"])
    return ctx


def _start(spawner, path, npz, flush_every=1, file_size_limit=None):
    """A writer process, returned once it runs (its fork may take long on a busy machine)."""
    receive, send = spawner.Pipe(duplex=False)
    proc = spawner.Process(target=write_forever, args=(str(path), str(npz), EVERY, flush_every, send, file_size_limit))
    proc.start()
    send.close()
    assert receive.poll(120) and receive.recv() == ("started", None)
    return proc, receive


def _reports(receive) -> list:
    out = []
    while True:
        try:
            out.append(receive.recv())
        except (EOFError, OSError):
            return out


def _assert_intact(path, source: FrameSource) -> np.ndarray:
    """The file's frames are steps 0, EVERY, 2·EVERY, ... and each is the frame written for its step."""
    t = read_trajectory(path)
    steps = t["step"]
    assert list(steps) == list(range(0, EVERY * len(steps), EVERY)), steps
    for k, s in enumerate(steps):
        want = source.frame(int(s))
        for name in ("positions", "velocities", "image", "species"):
            assert np.array_equal(t[name][k], getattr(want, name)), (s, name)
        # forces are stored in kJ/mol/Å: compare the stored numbers
        assert np.array_equal(t["forces"][k] * EV_PER_A_IN_KJ_MOL_A, want.forces * EV_PER_A_IN_KJ_MOL_A), s
        assert np.array_equal(t["cell"][k], want.cell)
        assert t["time"][k] == want.time
        for name in OBSERVABLES:
            assert np.array_equal(t["observables"][name][k], want.observables[name]), (s, name)
    return steps


def test_writer_killed_at_random_moments(frames_npz, tmp_path, spawner):
    """50 kills of a full-speed H5MD writer at random moments (see the module docstring)."""
    source = FrameSource(frames_npz, EVERY, dt=2.0)
    path = tmp_path / "killed.h5"
    rng = np.random.default_rng(13)
    highest_reported = -1
    before_first_commit = in_restarts = 0
    for trial in range(N_KILLS):
        flush_every = 2 if trial % 5 == 4 else 1
        restarting = path.exists()
        proc, receive = _start(spawner, path, frames_npz, flush_every)
        # every fourth kill early, where creating or reopening the file (~10-30 ms) is likely
        time.sleep(rng.uniform(0.0, EARLY if trial % 4 == 1 else WINDOW))
        proc.kill()
        proc.join()
        assert proc.exitcode == -9, f"trial {trial}: the writer ended before the kill ({proc.exitcode})"
        reports = _reports(receive)
        assert all(kind == "committed" for kind, _ in reports), reports
        committed = [step for _, step in reports]
        before_first_commit += not committed
        in_restarts += restarting
        highest_reported = max([highest_reported] + committed)
        if not path.exists():                      # killed before a fresh file's first commit
            assert highest_reported < 0 and not committed
            continue
        steps = _assert_intact(path, source)
        assert steps[-1] >= highest_reported, f"trial {trial}: frame of step {highest_reported} committed, lost"
        if committed:
            assert steps[-1] <= committed[-1] + flush_every * EVERY
    print(f"{N_KILLS} kills: {in_restarts} of restarted files, {before_first_commit} before their process's "
          f"first commit; {len(steps)} frames, all intact")
    assert in_restarts >= N_KILLS // 2 and before_first_commit >= 1
    # a final restart closes the file cleanly: plain HDF5 readers open it again
    with H5MDWriter.append(path) as writer:
        for step in range(writer.last_step + EVERY, writer.last_step + 4 * EVERY, EVERY):
            writer.write(source.frame(step))
    with h5py.File(path, "r") as f:
        assert f["particles/all/position/step"][-1] == steps[-1] + 3 * EVERY
    _assert_intact(path, source)
    assert not os.path.exists(partial_path(path)) or before_first_commit


def test_full_disk_ends_with_one_line_and_a_readable_file(frames_npz, tmp_path, spawner):
    """A file-size limit hit while writing: the writer's error names the step, the reason and the
    frames kept; the file opens with them intact; after ``recover`` plain HDF5 opens it; a restart
    without the limit continues it."""
    source = FrameSource(frames_npz, EVERY, dt=2.0)
    path = tmp_path / "full.h5"
    proc, receive = _start(spawner, path, frames_npz, file_size_limit=120_000)
    proc.join(timeout=60)
    assert proc.exitcode == 0, "the writer must end by its error, not by a signal"
    reports = _reports(receive)
    (kind, message), committed = reports[-1], [step for kind, step in reports[:-1]]
    assert kind == "error" and "\n" not in message, reports[-3:]
    assert len(committed) >= 3, "the limit should allow a few frames"
    print(message)
    assert f"cannot write the frame of step {committed[-1] + EVERY} to {path}: File too large (EFBIG)" in message
    assert f"keeps its {len(committed)} complete frame(s), the last at step {committed[-1]}" in message
    steps = _assert_intact(path, source)
    assert steps[-1] == committed[-1]
    assert recover(path) == len(committed)
    with h5py.File(path, "r") as f:                  # no SWMR, no locking tricks: a clean file
        assert f["particles/all/position/value"].shape[0] == len(committed)
    with H5MDWriter.append(path) as writer:
        writer.write(source.frame(writer.last_step + EVERY))
    assert _assert_intact(path, source)[-1] == committed[-1] + EVERY


def test_full_disk_before_the_first_frame_leaves_nothing(frames_npz, tmp_path, spawner):
    """A limit too small for even the first frame: the error says nothing was written, and neither
    the file nor its hidden partial copy is left behind."""
    path = tmp_path / "tiny.h5"
    proc, receive = _start(spawner, path, frames_npz, file_size_limit=8_000)
    proc.join(timeout=60)
    kind, message = _reports(receive)[-1]
    assert kind == "error" and f"nothing was written to {path}" in message, message
    assert not path.exists() and not os.path.exists(partial_path(path))
