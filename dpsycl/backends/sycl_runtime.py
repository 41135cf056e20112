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
    "libur_loader.so.0", "libsycl.so.7", "libmkl_core.so.2", "libmkl_intel_ilp64.so.2",
    "libmkl_tbb_thread.so.2",
)
_prepared = False


class SyclRuntimeError(RuntimeError):
    pass


def _lib_dirs() -> list[str]:
    return [d for d in dict.fromkeys([os.path.join(sys.prefix, "lib"), os.path.join(sys.base_prefix, "lib")])
            if os.path.isdir(d)]


def prepare() -> None:
    """Idempotent; call before importing dpctl, dpnp or numba_dpex."""
    global _prepared
    if _prepared:
        return
    dirs = _lib_dirs()
    icd = [os.path.join(d, "libintelocl.so") for d in dirs if os.path.exists(os.path.join(d, "libintelocl.so"))]
    if icd:
        os.environ.setdefault("OCL_ICD_FILENAMES", icd[0])
    wanted = []
    for d in dirs:
        wanted += [os.path.join(d, name) for name in _RUNTIME_LIBS if os.path.exists(os.path.join(d, name))]
        wanted += sorted(glob.glob(os.path.join(d, "libmkl_sycl_*.so.4")))
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
    _prepared = True
