"""Device discovery and backend selection.

Device strings: any dpctl filter string (``opencl:cpu:0``, ``level_zero:gpu``, ``gpu``) for SYCL,
``cuda`` / ``cuda:N`` for NVIDIA GPUs through numba's CUDA target, and ``numpy`` for the float64
host reference.  Each stack is imported only when present and asked for.
"""
from __future__ import annotations

import importlib.util

from .protocol import DeviceError, DeviceMemory, DeviceMemoryError  # noqa: F401  (the package's errors)

AUTO_ORDER = ("cuda", "level_zero:gpu", "opencl:gpu", "opencl:cpu", "numpy")


def sycl_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("dpctl", "dpnp", "numba_dpex"))


def cuda_available() -> bool:
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        from .cuda import cuda
        return bool(cuda.is_available())
    except Exception:  # a broken driver or toolkit means: no CUDA device here
        return False


def device_table() -> list[dict]:
    """Usable devices with name, vendor, fp64, compute units and memory."""
    rows = []
    if cuda_available():
        from .cuda import list_devices
        rows += list_devices()
    if sycl_available():
        try:
            from .sycl import list_devices
            rows += list_devices()
        except Exception as exc:  # noqa: BLE001 - report, do not crash device listing
            rows.append({"device": "sycl-unavailable", "name": str(exc).splitlines()[0], "vendor": "",
                         "fp64": False, "compute_units": 0, "memory_gib": 0.0, "type": "", "backend": ""})
    rows.append({"device": "numpy", "name": "float64 host reference (NumPy)", "vendor": "host", "fp64": True,
                 "compute_units": 1, "memory_gib": 0.0, "type": "host", "backend": "numpy"})
    return [r for r in rows if r["device"] != "sycl-unavailable"]


def devices() -> list[str]:
    """Usable device strings, e.g. ['cuda:0', 'opencl:cpu:0', 'numpy']."""
    return [row["device"] for row in device_table()]


def resolve_device(device) -> str:
    """Turn 'auto' into the best device present; check that a named device exists."""
    if device is None or device == "auto":
        present = devices()
        for prefix in AUTO_ORDER:
            for name in present:
                if name == prefix or name.startswith(prefix + ":") or name.startswith(prefix):
                    return name
        return "numpy"
    return device


def make_backend(device):
    """Backend object for a device string or dpctl.SyclQueue."""
    if not isinstance(device, str):
        from .sycl import SyclBackend
        return SyclBackend(device)
    if device.startswith("cuda"):
        if not cuda_available():
            raise DeviceError(f"device '{device}' requested but no CUDA GPU is usable here; "
                              f"available: {', '.join(devices())}")
        from .cuda import CudaBackend
        return CudaBackend(device)
    if not sycl_available():
        raise DeviceError(f"device '{device}' requested but the SYCL stack (dpctl, dpnp, numba-dpex) is not "
                          f"installed; available: {', '.join(devices())}")
    from .sycl import SyclBackend
    try:
        return SyclBackend(device)
    except Exception as exc:  # dpctl raises SyclQueueCreationError for unknown filter strings
        raise DeviceError(f"no SYCL device matches '{device}' ({exc}); available: {', '.join(devices())}") from None
