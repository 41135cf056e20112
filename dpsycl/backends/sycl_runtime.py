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
# The 2024.2 OpenCL CPU runtime picks its code-generation target from Intel CPU models; on other CPUs
# it warns "Unknown host CPU" and guesses. On an AMD EPYC of family 26 (Zen 5) the guess makes its
# JIT abort the process ("Cannot select ... X86ISD::VRNDSCALE") on the first kernel that rounds
# (measured 2026-12-01). Naming the instruction set it may use avoids that; on the same machine
# "skx" (AVX-512) ran an evaluation of 2,048 atoms 24% faster than "core-avx2".
_TARGET_ARCH_BY_FLAGS = (
    ({"avx512f", "avx512vl", "avx512bw", "avx512dq"}, "skx"),
    ({"avx2", "fma"}, "core-avx2"),
    ({"avx"}, "corei7-avx"),
)


class SyclRuntimeError(RuntimeError):
    pass


#: distributions whose shared libraries make up the runtime (found through their RECORD files, so
#: venv, --user, --prefix and --target installs all work)
_RUNTIME_DISTRIBUTIONS = ("intel-sycl-rt", "intel-opencl-rt", "intel-cmplr-lib-rt", "intel-cmplr-lib-ur",
                          "tbb", "mkl", "onemkl-sycl-blas", "onemkl-sycl-lapack", "onemkl-sycl-rng",
                          "onemkl-sycl-vm", "onemkl-sycl-dft", "onemkl-sycl-sparse", "onemkl-sycl-stats",
                          "onemkl-sycl-datafitting")


def _lib_dirs() -> list[str]:
    """Folders holding the runtime's shared libraries: where pip put them, then <prefix>/lib."""
    from importlib import metadata
    found = []
    for dist in _RUNTIME_DISTRIBUTIONS:
        try:
            files = metadata.files(dist) or ()
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            if f.name.startswith("lib") and f.name.endswith((".so", ".so.0", ".so.1", ".so.2", ".so.4", ".so.5",
                                                            ".so.7", ".so.12")):
                found.append(os.path.realpath(os.path.dirname(f.locate())))
    found += [os.path.join(sys.prefix, "lib"), os.path.join(sys.base_prefix, "lib")]
    return [d for d in dict.fromkeys(found) if os.path.isdir(d)]


#: work-group local memory asked of the OpenCL CPU runtime (CL_CONFIG_CPU_FORCE_LOCAL_MEM_SIZE)
CPU_LOCAL_MEMORY = "1MB"


def cpu_target_arch(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """Instruction set to name for the OpenCL CPU compiler on a non-Intel x86 CPU, else None."""
    try:
        with open(cpuinfo) as fh:
            text = fh.read(1 << 16)
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if fields.get("vendor_id", "GenuineIntel") == "GenuineIntel":
        return None
    flags = set(fields.get("flags", "").split())
    for needed, arch in _TARGET_ARCH_BY_FLAGS:
        if needed <= flags:
            return arch
    return None


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
    arch = cpu_target_arch()
    if arch and "CL_CONFIG_CPU_TARGET_ARCH" not in os.environ:
        os.environ["CL_CONFIG_CPU_TARGET_ARCH"] = arch   # read by the CPU runtime when it starts
    # the CPU runtime offers 32 KB of work-group local memory unless told more; local memory is ordinary
    # memory there, and the fitting kernel of four atoms needs ~52 KB for cuag, more for wider nets
    # (SyclBackend.launch_groups refuses a launch that asks more than the device offers)
    os.environ.setdefault("CL_CONFIG_CPU_FORCE_LOCAL_MEM_SIZE", CPU_LOCAL_MEMORY)
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
