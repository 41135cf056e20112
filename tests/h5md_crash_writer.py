"""The writer process of tests/test_h5md_crash.py: dpsycl's H5MD writer at full speed, to be killed.

In a module of its own so that the forkserver that forks the writers preloads only this (and
dpsycl.h5md): a writer starts in milliseconds instead of re-importing dpsycl each time.

The frames are real MD frames (a run of the test, saved to an .npz) written cyclically: the frame
of step s is frame (s // every) % count of the file, so any frame read back can be checked against
what was written, whatever run or restart wrote it.
"""
from __future__ import annotations

import os
import resource
import signal

import numpy as np

from dpsycl.h5md import H5MDWriter
from dpsycl.md import Frame, MDSettings, MDState

OBSERVABLES = ("potential_energy", "kinetic_energy", "total_energy", "temperature", "pressure", "stress")


def save_frames(path, frames, type_map) -> None:
    """Frames (of one run, cell included) into an .npz the writers read."""
    out = {"type_map": np.asarray(type_map), "species": frames[0].species, "cell": frames[0].cell}
    for name in ("positions", "velocities", "forces", "image"):
        out[name] = np.stack([getattr(f, name) for f in frames])
    for name in OBSERVABLES:
        out[f"obs_{name}"] = np.stack([np.asarray(f.observables[name]) for f in frames])
    np.savez(path, **out)


class FrameSource:
    """The frame of any step: frame (step // every) % count of the saved run, stamped with its step."""

    def __init__(self, npz_path, every: int, dt: float):
        data = np.load(npz_path)
        self.arrays = {k: data[k] for k in data.files}
        self.count = len(self.arrays["positions"])
        self.every, self.dt = every, dt

    def frame(self, step: int) -> Frame:
        a, k = self.arrays, (step // self.every) % self.count
        return Frame(step=step, time=step * self.dt, positions=a["positions"][k], velocities=a["velocities"][k],
                     forces=a["forces"][k], image=a["image"][k], species=a["species"], cell=a["cell"],
                     observables={name: a[f"obs_{name}"][k] for name in OBSERVABLES})

    def start_state(self) -> MDState:
        a = self.arrays
        return MDState(positions=a["positions"][0].ravel(), velocities=a["velocities"][0].ravel(), forces=None,
                       image=a["image"][0].ravel(), atype=a["species"], type_map=[str(s) for s in a["type_map"]],
                       cell=a["cell"])


def write_forever(path, npz_path, every: int, flush_every: int, report, file_size_limit: int | None = None):
    """Create ``path`` (or continue it if it holds frames), then write frames until killed; after
    each commit send the step of the last committed frame through ``report`` (a Connection; first
    ("started", None), then ("committed", step) after each commit).  With
    ``file_size_limit``, run under that RLIMIT_FSIZE (SIGXFSZ ignored, as ``dpsycl run`` does) and
    send the writer's error message when a write fails."""
    if file_size_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    source = FrameSource(npz_path, every, dt=2.0)
    report.send(("started", None))      # the test's clock starts here, not at the fork
    try:
        if os.path.exists(path):
            writer = H5MDWriter.append(path, flush_every=flush_every)
            step = writer.last_step + every
        else:
            writer = H5MDWriter.create(path, source.start_state(), MDSettings(dt=2.0, every=every), device="test",
                                       flush_every=flush_every)
            step = 0
        with writer:
            while True:
                writer.write(source.frame(step))
                if writer.committed == writer.nframes:       # this write committed
                    report.send(("committed", writer.last_step))
                step += every
    except OSError as exc:
        report.send(("error", str(exc)))
