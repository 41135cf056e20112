"""Make the pip-installed oneAPI 2024.2 runtime usable without any environment variable.

The wheels' RPATHs do not reach ``<prefix>/lib`` and their OpenCL ICD file names a build-machine
path (shared/notes/sycl-stack.md).  Before the first ``import dpctl`` we point the ICD loader at the
bundled CPU runtime and preload the runtime libraries globally, retrying in passes so that their
mutual dependencies resolve in whatever order they come.
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys

_RUNTIME_LIBS = (
    "libintlc.so.5", "libimf.so", "libsvml.so", "libirng.so", "libtbb.so.12", "libOpenCL.so.1",
    "libur_loader.so.0", "libsycl.so.7",
)
# dpnp's oneMKL layers; loaded globally only when the SYCL backend starts, because a global ILP64
# MKL in the process makes other MKL users (torch's CPU linear algebra) bind to the wrong symbols
_MKL_LIBS = ("libmkl_core.so.2", "libmkl_intel_ilp64.so.2", "libmkl_tbb_thread.so.2")
_prepared: set = set()


class SyclRuntimeError(RuntimeError):
    pass


def _lib_dirs() -> list[str]:
    return [d for d in dict.fromkeys([os.path.join(sys.prefix, "lib"), os.path.join(sys.base_prefix, "lib")])
            if os.path.isdir(d)]


def prepare(mkl: bool = False) -> None:
    """Idempotent; call before importing dpctl (and with mkl=True before dpnp or numba_dpex)."""
    part = "mkl" if mkl else "runtime"
    if part in _prepared:
        return
    if mkl:
        prepare()
    dirs = _lib_dirs()
    icd = [os.path.join(d, "libintelocl.so") for d in dirs if os.path.exists(os.path.join(d, "libintelocl.so"))]
    if icd:
        os.environ.setdefault("OCL_ICD_FILENAMES", icd[0])
    wanted = []
    for d in dirs:
        names = _MKL_LIBS if mkl else _RUNTIME_LIBS
        wanted += [os.path.join(d, name) for name in names if os.path.exists(os.path.join(d, name))]
        if mkl:
            wanted += sorted(glob.glob(os.path.join(d, "libmkl_sycl_*.so.4")))
    if not mkl:
        try:
            import importlib.util
            spec = importlib.util.find_spec("dpctl")
            if spec and spec.submodule_search_locations:
                wanted += glob.glob(os.path.join(spec.submodule_search_locations[0], "libDPCTLSyclInterface.so*"))
        except (ImportError, ValueError):
            pass
    pending = list(dict.fromkeys(wanted))
    while pending:
        failed = []
        for path in pending:
            try:
                ctypes.CDLL(path, mode=os.RTLD_GLOBAL | os.RTLD_LAZY)
            except OSError:
                failed.append(path)
        if len(failed) == len(pending):
            raise SyclRuntimeError("SYCL runtime libraries could not be loaded: "
                                   + ", ".join(os.path.basename(p) for p in failed))
        pending = failed
    _prepared.add(part)
