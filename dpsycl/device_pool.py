"""Batches of frames spread over devices, their results handed back in input order.

One loop, three kinds of worker "slots" (one slot = one device):

* **inline** — one device and no Dask client: the task runs in this process;
* **local processes** — several local devices (``devices="all"`` or a list): one spawned process
  per entry, each keeping its own DeepPots (a DeepPot serialises its evaluations, and kernels are
  compiled per process, so processes rather than threads);
* **Dask** — a ``dask.distributed`` client: one worker per device, pinned.  A worker's device is
  ``DPSYCL_DEVICE`` in its environment if set, else the k-th device of the list resolved *on its
  host*, k being the worker's rank among the workers of that host (``"all"`` on a host with four
  GPUs and four workers: one GPU each).  The job (models, settings) is broadcast once.

Scheduling: every slot holds at most ``depth`` batches in flight; when one returns, the next batch
in input order goes to that slot, so faster devices take more batches.  Results are yielded in
input order through a reorder buffer, and no batch is dispatched more than ``window`` batches ahead
of the oldest unfinished one, which bounds the memory held.  Which device evaluates a batch does
not change its numbers (a frame's result does not depend on its neighbours in the batch).

A batch that raises, a worker process that dies, a Dask worker that leaves, or a worker that
returns nothing for ``batch_timeout`` seconds (a hung device or driver; default
``DEFAULT_BATCH_TIMEOUT``) ends the job with a one-line :class:`dpsycl.DeviceError` naming the device
and the frames.  The timeout needs a worker to watch: a single device evaluated in this process
(no worker) is not timed.

``devices`` strings: ``"auto"`` (the best device here), ``"all"`` (every GPU of the first backend
present among CUDA, Level Zero, OpenCL GPU; else the SYCL CPU devices; else ``numpy``), or a list
(a comma-separated string or a sequence) of device strings; an entry may repeat (two workers on
one device).
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from .backends import AUTO_ORDER, DeviceError, devices as present_devices, resolve_device

#: environment variable that pins a Dask worker to a device
DEVICE_ENV = "DPSYCL_DEVICE"
POLL_SECONDS = 0.5
#: seconds a worker may go without returning a batch before it counts as hung (first batches
#: include kernel compilation: tens of seconds; a batch is ~8192 atoms, seconds on a CPU)
DEFAULT_BATCH_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Batch:
    """One unit of work: ``payload`` goes to the task; ``label`` names its frames in messages."""
    index: int
    nframes: int
    label: str
    payload: Any


def one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# devices
def all_devices(present: list[str]) -> list[str]:
    """What ``"all"`` means among ``present``: the GPUs of the first backend present, else the
    SYCL CPU devices, else numpy.  One backend only, so one GPU is not counted twice through two
    SYCL backends."""
    for prefix in AUTO_ORDER:
        if prefix == "numpy":
            break
        group = [d for d in present if d.startswith(prefix)]
        if group:
            return group
    return ["numpy"]


def resolve_devices(spec=None) -> list[str]:
    """Device strings for ``spec`` (None/"auto", "all", a comma-separated string or a list)."""
    if spec is None:
        spec = "auto"
    entries = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    entries = [e for e in entries if e]
    if not entries:
        raise ValueError("no device given")
    out = []
    for entry in entries:
        if entry == "all":
            out += all_devices(present_devices())
        else:
            out.append(resolve_device(entry))
    return out


# ---------------------------------------------------------------------------------------------
# slots
class _InlinePool:
    """The task in this process, on one device."""

    def __init__(self, task, job, device):
        self.task, self.job, self.slots = task, job, [device]
        self.done: list = []

    def describe(self, slot) -> str:
        return f"{slot}"

    def submit(self, slot, batch: Batch) -> None:
        try:
            self.done.append((slot, batch.index, True, self.task(self.job, batch.payload, slot)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the device and the frames
            self.done.append((slot, batch.index, False, exc))

    def poll(self, timeout: float) -> list:
        done, self.done = self.done, []
        return done

    def dead(self, inflight):
        return None

    def close(self) -> None:
        pass


def _process_main(task, job, device, inbox, outbox, slot) -> None:
    """A local worker process: evaluate batches from ``inbox`` until None arrives."""
    while True:
        msg = inbox.get()
        if msg is None:
            return
        index, payload = msg
        try:
            outbox.put((slot, index, True, task(job, payload, device)))
        except BaseException as exc:  # noqa: BLE001 - sent back as one line, with the device named
            outbox.put((slot, index, False, one_line(exc)))


class _ProcessPool:
    """One spawned process per device entry (spawn: CUDA and SYCL runtimes do not survive fork)."""

    def __init__(self, task, job, devices: list[str]):
        ctx = multiprocessing.get_context("spawn")
        self.outbox = ctx.Queue()
        self.slots = list(range(len(devices)))
        self.devices = list(devices)
        self.inboxes = [ctx.Queue() for _ in devices]
        self.procs = [ctx.Process(target=_process_main, daemon=True, name=f"dpsycl-{dev}",
                                  args=(task, job, dev, self.inboxes[k], self.outbox, k))
                      for k, dev in enumerate(devices)]
        for p in self.procs:
            p.start()

    def describe(self, slot) -> str:
        return f"{self.devices[slot]} (local worker process {self.procs[slot].pid})"

    def submit(self, slot, batch: Batch) -> None:
        self.inboxes[slot].put((batch.index, batch.payload))

    def poll(self, timeout: float) -> list:
        try:
            out = [self.outbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.outbox.get_nowait())
            except queue.Empty:
                return out

    def dead(self, inflight):
        """(slot, why) of a worker process that ended with batches in flight, else None."""
        for slot, proc in enumerate(self.procs):
            if inflight[slot] and not proc.is_alive():
                # a result may have been queued just before the process ended: let poll take it first
                if not self.outbox.empty():
                    return None
                return slot, f"the process ended (exit code {proc.exitcode})"
        return None

    def close(self) -> None:
        for box, proc in zip(self.inboxes, self.procs):
            if proc.is_alive():
                try:
                    box.put(None)
                except (OSError, ValueError):
                    pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():          # stuck where SIGTERM is not acted on (a driver call)
                proc.kill()
                proc.join(timeout=5)
        for box in (*self.inboxes, self.outbox):
            box.close()
            box.cancel_join_thread()


def _worker_identity(spec, dask_worker=None) -> dict:
    """Run on every Dask worker (``client.run`` passes the worker as ``dask_worker``): its host,
    name, and the devices ``spec`` means there."""
    pinned = os.environ.get(DEVICE_ENV)
    return {"host": socket.gethostname(), "name": str(dask_worker.name),
            "devices": [pinned] if pinned else resolve_devices(spec)}


def assign_devices(identities: dict) -> dict:
    """Worker address -> device: per host, the k-th worker (by name) takes the k-th device."""
    by_host: dict = {}
    for addr, ident in identities.items():
        by_host.setdefault(ident["host"], []).append(addr)
    out = {}
    for addrs in by_host.values():
        for rank, addr in enumerate(sorted(addrs, key=lambda a: (identities[a]["name"], a))):
            devs = identities[addr]["devices"]
            out[addr] = devs[rank % len(devs)]
    return out


def _dask_task(task, job, payload, device):
    return task(job, payload, device)


class _DaskPool:
    """One pinned Dask worker per device."""

    def __init__(self, task, job, spec, client):
        self.client, self.task = client, task
        identities = client.run(_worker_identity, "all" if spec is None else spec)
        if not identities:
            raise DeviceError("the Dask cluster has no workers")
        self.device = assign_devices(identities)
        self.slots = sorted(self.device)
        self.job = client.scatter(job, broadcast=True, hash=False)
        self.token = uuid.uuid4().hex[:12]
        self.results: queue.Queue = queue.Queue()
        self.futures: dict = {}

    def describe(self, slot) -> str:
        return f"{self.device[slot]} (Dask worker {slot})"

    def submit(self, slot, batch: Batch) -> None:
        fut = self.client.submit(_dask_task, self.task, self.job, batch.payload, self.device[slot],
                                 key=f"dpsycl-{self.token}-{batch.index}", workers=[slot],
                                 allow_other_workers=False, pure=False)
        self.futures[batch.index] = fut
        fut.add_done_callback(lambda f, slot=slot, index=batch.index: self.results.put((slot, index, f)))

    def poll(self, timeout: float) -> list:
        out = []
        try:
            item = self.results.get(timeout=timeout)
        except queue.Empty:
            return out
        while item is not None:
            slot, index, fut = item
            self.futures.pop(index, None)
            if fut.status == "finished":
                out.append((slot, index, *self._fetch(slot, fut)))
            elif fut.status == "error":
                out.append((slot, index, False, one_line(fut.exception())))
            else:                            # "lost" (its worker died) or "cancelled"
                out.append((slot, index, False, f"the worker left the cluster (task {fut.status})"))
            try:
                item = self.results.get_nowait()
            except queue.Empty:
                item = None
        return out

    def _fetch(self, slot, fut):
        """The result of a finished task.  It lives on the worker until fetched: if that worker dies
        first, Dask would recompute it on the worker it is pinned to, which never comes back, so the
        wait is in slices with a liveness check in between."""
        while True:
            try:
                return True, fut.result(timeout=POLL_SECONDS * 20)
            except TimeoutError:
                if self.dead({slot: {0}}):
                    return False, "the worker left the cluster before its result was fetched"

    def dead(self, inflight):
        """(slot, why) of a worker that left the cluster with batches in flight, else None."""
        try:
            alive = set(self.client.nthreads())
        except Exception as exc:  # noqa: BLE001 - a lost scheduler is reported, not waited for
            raise DeviceError(f"lost the Dask scheduler: {one_line(exc)}") from None
        for slot, pending in inflight.items():
            if pending and slot not in alive:
                return slot, "the worker left the cluster"
        return None

    def close(self) -> None:
        try:
            if self.futures:
                self.client.cancel(list(self.futures.values()))
            self.client.cancel([self.job])
        except Exception:  # noqa: BLE001 - closing after a failure must not mask it
            pass


# ---------------------------------------------------------------------------------------------
def run_ordered(task: Callable, job, batches: Iterable[Batch], *, devices=None, client=None,
                depth: int = 2, progress: bool = False, progress_label: str = "frames",
                batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT) -> Iterator:
    """Yield ``(batch, task(job, batch.payload, device))`` for every batch, in input order.

    ``task`` must be a module-level function (it is sent to worker processes by reference).
    ``batch_timeout``: seconds a worker with batches in flight may return nothing (None or 0: no limit).
    """
    if batch_timeout is not None and not batch_timeout >= 0:
        raise ValueError(f"the batch timeout must be a number of seconds >= 0, got {batch_timeout}")
    batch_timeout = batch_timeout or None
    batches = list(batches)
    if client is not None:
        pool = _DaskPool(task, job, devices, client)
    else:
        resolved = resolve_devices(devices)
        pool = _InlinePool(task, job, resolved[0]) if len(resolved) == 1 else _ProcessPool(task, job, resolved)
    from tqdm.auto import tqdm
    bar = tqdm(total=sum(b.nframes for b in batches), unit="frame", desc=progress_label,
               disable=not progress, leave=False, dynamic_ncols=True)
    window = max(64, 4 * depth * len(pool.slots))
    inflight = {slot: set() for slot in pool.slots}
    heard = {slot: time.monotonic() for slot in pool.slots}    # last result, or dispatch to an idle slot
    done: dict = {}
    next_index = emitted = 0
    try:
        while emitted < len(batches):
            dispatched = True
            while dispatched:                       # round robin over the slots, up to depth each
                dispatched = False
                for slot in pool.slots:
                    if (next_index < len(batches) and len(inflight[slot]) < depth
                            and next_index - emitted < window):
                        if not inflight[slot]:
                            heard[slot] = time.monotonic()
                        pool.submit(slot, batches[next_index])
                        inflight[slot].add(next_index)
                        next_index += 1
                        dispatched = True
            for slot, index, ok, value in pool.poll(POLL_SECONDS):
                inflight[slot].discard(index)
                heard[slot] = time.monotonic()
                if not ok:
                    cause = value if isinstance(value, BaseException) else None
                    raise DeviceError(f"device {pool.describe(slot)} failed on {batches[index].label}: "
                                      f"{one_line(value) if cause else value}") from cause
                done[index] = value
            while emitted in done:
                batch = batches[emitted]
                yield batch, done.pop(emitted)
                bar.update(batch.nframes)
                emitted += 1
            gone = pool.dead(inflight) or _silent(inflight, heard, batch_timeout)
            if gone:
                slot, why = gone
                pending = sorted(inflight[slot])
                more = f" and {len(pending) - 1} more batch(es)" if len(pending) > 1 else ""
                raise DeviceError(f"device {pool.describe(slot)}: {why} while evaluating "
                                  f"{batches[pending[0]].label}{more}")
    finally:
        bar.close()
        pool.close()


def _silent(inflight: dict, heard: dict, batch_timeout: float | None):
    """(slot, why) of a worker that has had batches in flight and returned nothing for
    ``batch_timeout`` seconds, else None."""
    if batch_timeout is None:
        return None
    now = time.monotonic()
    for slot, pending in inflight.items():
        if pending and now - heard[slot] > batch_timeout:
            return slot, f"no result for {batch_timeout:g} s (a hung device or driver; --batch-timeout)"
    return None
