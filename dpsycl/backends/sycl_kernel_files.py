"""SYCL kernels compiled once per machine: each launch wrapper's SPIR-V kept on disk, and its launch.

numba-dpex 0.23 keeps compiled kernels in memory only, so every new process typed and lowered every
kernel again: 25–80 s before the first evaluation of an se_e2_a model on a 2-core CPU, almost all of
it numba's type inference (cProfile, benchmarks/NOTES.md, session 26), paid by every ``dpsycl run``,
``dp test`` and MPI rank.  Here a wrapper is compiled by numba-dpex only when no file holds its SPIR-V;
the file's name is a digest of everything the SPIR-V depends on:

- the wrapper's source and the constants compiled into it (launch.py: sizes, activations, lanes);
- every kernel body and backend rule: the bytes of each ``.py`` of ``dpsycl.device_kernels`` and
  ``dpsycl.backends``, so any edit of a body, a primitive or a compile rule reaches every key;
- the argument types (dtype and rank of each array, each scalar's type) and the launch form (``Range``
  or ``NdRange``: an item or an nd_item);
- what the compile rules do (compile_rules.kernel_rules: precision, which is also the local arrays'
  element type, and the two environment switches);
- the versions of dpsycl, Python, numba, llvmlite, numba-dpex and dpctl, and numba-dpex's optimisation
  settings.

The device's own compiler (SPIR-V to machine code) still runs once per process and kernel, inside
dpctl's program creation.

**Launch.**  A kernel from a file never meets numba-dpex, so the arguments are passed the way
numba-dpex's launcher passes them to ``DPCTLQueue_SubmitRange``/``SubmitNDRange`` (its
``kernel_flattened_args_builder``): an array as (element count, item size, data pointer, shape...,
byte strides...), a local array as (count, item size, local-accessor record, shape, stride), a scalar
as a pointer to its value.  A kernel whose argument count differs from what this layout gives is
refused with an error rather than launched.

``DPSYCL_KERNEL_CACHE`` names the folder (default ``$XDG_CACHE_HOME/dpsycl/sycl-kernels``, else
``~/.cache/dpsycl/sycl-kernels``); ``off`` keeps compiled kernels in memory only.  Every edit of a body
or a new version keys a new set of files, so the folder is kept under ``DPSYCL_KERNEL_CACHE_MB`` (default
CACHE_MB; 0: no limit): after a write that takes it past the limit, the files read or written longest ago
(a read touches its file) are removed until three quarters of it remain.  Files are written
whole under a temporary name and renamed, so concurrent processes (MPI ranks) and a crash mid-write
leave either no file or a whole one; a file that does not check out (magic, key, length, digest) is
compiled afresh and replaced.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from . import sycl_runtime
from .compile_rules import FLOAT64_LITERALS, KEEP_WRAPAROUND, kernel_rules

sycl_runtime.prepare(mkl=True)

import dpctl  # noqa: E402
import dpctl.program  # noqa: E402
import dpnp  # noqa: E402

MAGIC = b"dpsycl SPIR-V kernel 1\n"
#: DPCTLKernelArgType (dpctl/include/syclinterface/dpctl_sycl_enum_types.h, dpctl 0.17)
_ARG_INT32, _ARG_INT64, _ARG_FLOAT32, _ARG_FLOAT64, _ARG_VOID_PTR, _ARG_LOCAL = 4, 6, 8, 9, 10, 11
_SCALAR_ARG = {np.dtype(np.int32): (_ARG_INT32, ctypes.c_int32), np.dtype(np.int64): (_ARG_INT64, ctypes.c_int64),
               np.dtype(np.float32): (_ARG_FLOAT32, ctypes.c_float),
               np.dtype(np.float64): (_ARG_FLOAT64, ctypes.c_double)}
#: MiB of SPIR-V files kept by default (a whole model's kernels of one precision take 1–5 MiB)
CACHE_MB = 512
_lock = threading.Lock()
log = logging.getLogger(__name__)
_stats = {"compiled": 0, "read": 0, "written": 0, "removed": 0}


class _MDLocalAccessor(ctypes.Structure):
    """dpctl's MDLocalAccessor: what DPCTLQueue_Submit* builds a sycl::local_accessor from."""
    _fields_ = [("ndim", ctypes.c_size_t), ("dpctl_type_id", ctypes.c_int), ("dim0", ctypes.c_size_t),
                ("dim1", ctypes.c_size_t), ("dim2", ctypes.c_size_t)]


def _interface():
    lib = ctypes.CDLL(os.path.join(os.path.dirname(dpctl.__file__), "libDPCTLSyclInterface.so"))
    void_p, size_p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)
    common = [void_p, void_p, ctypes.POINTER(void_p), ctypes.POINTER(ctypes.c_int), ctypes.c_size_t]
    lib.DPCTLQueue_SubmitRange.argtypes = common + [size_p, ctypes.c_size_t, void_p, ctypes.c_size_t]
    lib.DPCTLQueue_SubmitNDRange.argtypes = common + [size_p, size_p, ctypes.c_size_t, void_p, ctypes.c_size_t]
    lib.DPCTLQueue_SubmitRange.restype = lib.DPCTLQueue_SubmitNDRange.restype = void_p
    lib.DPCTLEvent_Wait.argtypes = lib.DPCTLEvent_Delete.argtypes = [void_p]
    return lib


_DPCTL = _interface()


def cache_folder() -> Path | None:
    """Where SPIR-V files live, or None (``DPSYCL_KERNEL_CACHE=off``)."""
    chosen = os.environ.get("DPSYCL_KERNEL_CACHE", "")
    if chosen.lower() in ("off", "0", "none"):
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dpsycl" / "sycl-kernels"


def cache_limit_bytes() -> int:
    """DPSYCL_KERNEL_CACHE_MB in bytes (0: no limit)."""
    chosen = os.environ.get("DPSYCL_KERNEL_CACHE_MB", "").strip()
    if not chosen:
        return CACHE_MB << 20
    try:
        mib = int(chosen)
    except ValueError:
        mib = -1
    if mib < 0:
        raise ValueError(f"DPSYCL_KERNEL_CACHE_MB must be a whole number of MiB (0: no limit), not {chosen!r}")
    return mib << 20


def prune(folder: Path, limit: int) -> int:
    """Remove the files of ``folder`` used longest ago until three quarters of ``limit`` bytes remain, where they
    exceed ``limit``; returns how many were removed.  A file another process is reading stays readable to it (an
    open file outlives its name), and one that vanishes is compiled again."""
    if limit <= 0:
        return 0
    files = []
    for path in folder.glob("*/*.spv"):
        try:
            st = path.stat()
        except OSError:
            continue
        files.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in files)
    if total <= limit:
        return 0
    removed = 0
    for _, size, path in sorted(files):
        if total <= limit * 3 // 4:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    _stats["removed"] += removed
    log.info("%s: %d kernel files used longest ago removed (DPSYCL_KERNEL_CACHE_MB)", folder, removed)
    return removed


def statistics() -> dict:
    """Kernels of this process: compiled by numba-dpex, read from files, files written, files removed (prune)."""
    return dict(_stats)


_digest_memo: list = []


def source_digest() -> str:
    """Digest of the kernel sources, backend rules and tool versions every key shares (once a process)."""
    if _digest_memo:
        return _digest_memo[0]
    from .. import device_kernels
    from ..version import __version__
    h = hashlib.sha256(MAGIC)
    for folder in (Path(device_kernels.__file__).parent, Path(__file__).parent):
        for path in sorted(folder.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    import numba_dpex.core.config as dpex_config
    tools = [__version__, sys.version, platform.machine()]
    for dist in ("numba", "llvmlite", "numba-dpex", "dpctl"):
        try:
            tools.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            tools.append(f"{dist}=?")
    tools += [f"{name}={getattr(dpex_config, name, None)!r}" for name in
              ("DPEX_OPT", "INLINE_THRESHOLD", "DEBUG", "DEBUGINFO_DEFAULT", "BUILD_KERNEL_OPTIONS")]
    h.update(json.dumps(tools).encode())
    _digest_memo.append(h.hexdigest())
    return _digest_memo[0]


def _array(value):
    """The usm_ndarray behind a dpnp array (or the usm_ndarray itself), else None."""
    if isinstance(value, dpnp.ndarray):
        return value.get_array()
    if isinstance(value, dpctl.tensor.usm_ndarray):
        return value
    return None


def _describe(value) -> tuple:
    """(what the SPIR-V depends on in one launch argument, its usm_ndarray or None): an array's dtype, rank
    and layout, a scalar's type as numba types a launch argument (a Python int int64, a float float64)."""
    array = _array(value)
    if array is not None:
        layout = "C" if array.flags.c_contiguous else ("F" if array.flags.f_contiguous else "A")
        return ("array", array.dtype.str, array.ndim, layout), array
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("a boolean kernel argument has no launch layout here; pass an int")
    if isinstance(value, int):
        return ("scalar", np.dtype(np.int64).str), None
    if isinstance(value, float):
        return ("scalar", np.dtype(np.float64).str), None
    if isinstance(value, np.generic) and value.dtype in _SCALAR_ARG:
        return ("scalar", value.dtype.str), None
    raise TypeError(f"kernel argument of type {type(value).__name__} has no launch layout here")


def argument_signature(values) -> tuple:
    """What the SPIR-V depends on in the launch's arguments (one ``_describe`` entry per argument)."""
    return tuple(_describe(value)[0] for value in values)


def filter_string(device) -> str | None:
    """The device's filter string; None for a sub-device (a partition of a root device), which has none."""
    try:
        return device.filter_string
    except TypeError:
        return None


def typing_stand_in(value):
    """What numba-dpex types in place of ``value``: the value itself, except a USM array on a sub-device, which
    numba-dpex cannot type (it names an array's device by its filter string): an empty array of the same element
    type and rank on the default device.  The SPIR-V depends on neither the queue nor the device; each program is
    built for the queue it runs on (``_kernel``)."""
    queue = getattr(value, "sycl_queue", None)
    if queue is None or filter_string(queue.sycl_device) is not None:
        return value
    import dpnp
    default = dpctl._sycl_queue_manager.get_device_cached_queue(dpctl.SyclDevice())
    return dpnp.empty((0,) * value.ndim, dtype=value.dtype, sycl_queue=default)


class CachedKernel:
    """One launch wrapper (launch.py) for SYCL devices: its SPIR-V from a file or from numba-dpex, its
    compiled program per device context, and its launch with numba-dpex's argument layout."""

    def __init__(self, wrapper, variant: tuple):
        self.wrapper = wrapper
        self.identity = getattr(wrapper, "dpsycl_identity", None)
        if self.identity is None:
            raise ValueError(f"{wrapper.__name__} carries no dpsycl_identity (launch.KernelCache makes wrappers)")
        self.variant = variant
        self._dispatcher = None
        self._programs: dict = {}

    def key(self, signature: tuple, nd_item: bool, dtype) -> str:
        """The file's name: the local arrays come with the wrapper's identity and are in the kernel's dtype."""
        h = hashlib.sha256(source_digest().encode())
        rules = (np.dtype(dtype).str, KEEP_WRAPAROUND, FLOAT64_LITERALS)
        h.update(repr((self.identity, self.variant, signature, nd_item, rules)).encode())
        return h.hexdigest()

    def _compile(self, values, nd_item: bool, local_sizes, dtype) -> tuple[str, bytes]:
        """(kernel name, SPIR-V) from numba-dpex, compiled under the backends' rules."""
        import numba_dpex
        from numba.core import types
        from numba.core.registry import cpu_target
        from numba.core.typing.typeof import Purpose, typeof
        from numba_dpex import kernel_api
        from numba_dpex.core.types.kernel_api.index_space_ids import ItemType, NdItemType
        if self._dispatcher is None:
            # the SPIR-V target lowers tuples with implementations that numba's CPU target registers when
            # it first loads (numba-dpex's own launcher compiles on that target first)
            cpu_target.target_context.refresh()
            self._dispatcher = numba_dpex.kernel(self.wrapper)
        accessors = [kernel_api.LocalAccessor(int(size), dtype=np.dtype(dtype).type) for size in local_sizes]
        argtypes = [typeof(typing_stand_in(v), Purpose.argument) for v in (*accessors, *values)]
        item = NdItemType(1) if nd_item else ItemType(1)
        with kernel_rules(dtype):
            result = self._dispatcher.get_compile_result(types.void(item, *argtypes))
        module = result.kernel_device_ir_module
        _stats["compiled"] += 1
        return module.kernel_name, bytes(module.kernel_bitcode)

    def _kernel(self, queue, signature: tuple, values, nd_item: bool, local_sizes, dtype):
        """The device's kernel for this argument signature: built once per queue, from its file or compiled."""
        memo = (queue, signature, nd_item)
        found = self._programs.get(memo)
        if found is not None:
            return found[1]
        key = self.key(signature, nd_item, dtype)
        with _lock:
            stored = read_kernel(key)
            if stored is None:
                if not _stats["compiled"]:
                    folder = cache_folder()
                    log.info("compiling SYCL kernels: their first use with this dpsycl on this machine (about half a "
                             "minute per model and precision on a 2-core CPU); %s",
                             f"kept in {folder} for later processes" if folder else
                             "DPSYCL_KERNEL_CACHE=off keeps them for this process only")
                stored = self._compile(values, nd_item, local_sizes, dtype)
                write_kernel(key, *stored, label=self.wrapper.__name__)
            name, spirv = stored
            program = dpctl.program.create_program_from_spirv(queue, spirv, "")
            kernel = program.get_sycl_kernel(name)
        self._programs[memo] = (program, kernel)        # the program outlives its kernel's use
        return kernel

    def launch(self, queue, global_size: int, values, *, local_size: int | None = None, local_sizes=(),
               dtype=np.float64) -> None:
        """Run the kernel over ``global_size`` work-items (work-groups of ``local_size``, which makes the
        index an nd_item) and wait for it; ``local_sizes``: the local arrays (elements of ``dtype``)."""
        nd_item = local_size is not None
        keep, args, kinds, signature = _flatten(queue, values, local_sizes, dtype)
        kernel = self._kernel(queue, signature, values, nd_item, local_sizes, dtype)
        if kernel.num_args != len(args):
            raise RuntimeError(f"kernel {self.wrapper.__name__} takes {kernel.num_args} arguments where numba-dpex's "
                               f"layout gives {len(args)}: the launch does not match this numba-dpex")
        n = len(args)
        arg_array = (ctypes.c_void_p * n)(*args)
        kind_array = (ctypes.c_int * n)(*kinds)
        global_range = (ctypes.c_size_t * 3)(int(global_size), 1, 1)
        if nd_item:
            local_range = (ctypes.c_size_t * 3)(int(local_size), 1, 1)
            event = _DPCTL.DPCTLQueue_SubmitNDRange(kernel.addressof_ref(), queue.addressof_ref(), arg_array,
                                                    kind_array, n, global_range, local_range, 1, None, 0)
        else:
            event = _DPCTL.DPCTLQueue_SubmitRange(kernel.addressof_ref(), queue.addressof_ref(), arg_array,
                                                  kind_array, n, global_range, 1, None, 0)
        if not event:
            raise RuntimeError(f"kernel {self.wrapper.__name__} could not be submitted to {queue.sycl_device.filter_string}"
                               " (dpctl printed the SYCL exception above)")
        _DPCTL.DPCTLEvent_Wait(event)
        _DPCTL.DPCTLEvent_Delete(event)
        del keep


def _flatten(queue, values, local_sizes, dtype):
    """(ctypes values to keep alive, argument pointers, argument kinds, argument signature) in numba-dpex's
    layout, the local arrays first."""
    keep: list = []
    args: list = []
    kinds: list = []
    signature: list = []

    def scalar(ctype, kind, value):
        box = ctype(value)
        keep.append(box)
        args.append(ctypes.addressof(box))
        kinds.append(kind)

    if local_sizes:
        itemsize = np.dtype(dtype).itemsize
        element_kind = _SCALAR_ARG[np.dtype(dtype)][0]
        for size in local_sizes:
            record = _MDLocalAccessor(1, element_kind, int(size), 1, 1)
            keep.append(record)
            scalar(ctypes.c_int64, _ARG_INT64, int(size))
            scalar(ctypes.c_int64, _ARG_INT64, itemsize)
            args.append(ctypes.addressof(record))
            kinds.append(_ARG_LOCAL)
            scalar(ctypes.c_int64, _ARG_INT64, int(size))
            scalar(ctypes.c_int64, _ARG_INT64, itemsize)
    for value in values:
        entry, array = _describe(value)
        signature.append(entry)
        if array is not None:
            if array.sycl_queue != queue:
                raise ValueError(f"a kernel argument lives on {array.sycl_device.filter_string}'s queue "
                                 f"{array.sycl_queue!r}, not on the launch's {queue!r}")
            scalar(ctypes.c_int64, _ARG_INT64, array.size)
            scalar(ctypes.c_int64, _ARG_INT64, array.itemsize)
            usm = array.__sycl_usm_array_interface__         # a view: the allocation's pointer and an offset
            args.append(usm["data"][0] + usm.get("offset", 0) * array.itemsize)
            kinds.append(_ARG_VOID_PTR)
            for extent in array.shape:
                scalar(ctypes.c_int64, _ARG_INT64, extent)
            for stride in array.strides:
                scalar(ctypes.c_int64, _ARG_INT64, stride * array.itemsize)
        else:
            kind, ctype = _SCALAR_ARG[np.dtype(entry[1])]
            scalar(ctype, kind, value.item() if isinstance(value, np.generic) else value)
    return keep, args, kinds, tuple(signature)


def _path(key: str) -> Path | None:
    folder = cache_folder()
    return None if folder is None else folder / key[:2] / f"{key}.spv"


def read_kernel(key: str) -> tuple[str, bytes] | None:
    """(kernel name, SPIR-V) of a whole file for ``key``, else None."""
    path = _path(key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(MAGIC):
        return None
    head_end = data.find(b"\n", len(MAGIC))
    try:
        head = json.loads(data[len(MAGIC):head_end])
    except ValueError:
        return None
    spirv = data[head_end + 1:]
    if (head_end < 0 or head.get("key") != key or head.get("nbytes") != len(spirv)
            or head.get("sha256") != hashlib.sha256(spirv).hexdigest()):
        return None
    try:
        os.utime(path)              # used now: the last file prune removes
    except OSError:
        pass
    _stats["read"] += 1
    return head["kernel_name"], spirv


_unwritable: set = set()


def write_kernel(key: str, name: str, spirv: bytes, label: str) -> None:
    path = _path(key)
    if path is None:
        return
    head = json.dumps({"key": key, "kernel_name": name, "wrapper": label, "nbytes": len(spirv),
                       "sha256": hashlib.sha256(spirv).hexdigest()}).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".spv")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + head + b"\n" + spirv)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        folder = str(path.parent.parent)
        if folder not in _unwritable:
            _unwritable.add(folder)
            warnings.warn(f"dpsycl cannot keep compiled SYCL kernels in {folder} ({exc.strerror}); each process "
                          "compiles them again (set DPSYCL_KERNEL_CACHE to a writable folder, or to 'off')",
                          RuntimeWarning, stacklevel=4)
        return
    _stats["written"] += 1
    prune(path.parent.parent, cache_limit_bytes())
