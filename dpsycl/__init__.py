"""dpsycl: DeePMD-kit potentials on any SYCL device and on NVIDIA GPUs, with MD and H5MD.

    import dpsycl
    dp = dpsycl.DeepPot("frozen_model.pb", device="auto")
    e, f, v = dp.eval(coords, cells, atype)
"""
from __future__ import annotations

import importlib.util
import os

# numpy first: the SYCL runtime below loads Intel's math libraries with RTLD_GLOBAL, and a numpy
# imported after them would bind exp, pow, log1p, ... there (last-bit differences, measured)
import numpy  # noqa: F401

from .version import __version__


def _prepare_sycl_runtime() -> None:
    """Where the SYCL wheels are installed, make their runtime loadable now (0.3 s), so that a plain
    ``import dpctl`` after ``import dpsycl`` sees the devices with no environment variable set."""
    if importlib.util.find_spec("dpctl") is None:
        return
    from .backends import sycl_runtime
    try:
        sycl_runtime.prepare()
    except sycl_runtime.SyclRuntimeError:
        pass  # reported by dpsycl.devices() / DeepPot when a SYCL device is asked for


_prepare_sycl_runtime()

from .backends import DeviceError, device_table, devices  # noqa: E402,F401
from .deep_pot import DeepPot, InputError  # noqa: E402,F401
from .model import Model, ModelError  # noqa: E402,F401
from .model_io import load_model, read_model, write_model  # noqa: E402,F401
from .frame_jobs import model_deviation, test_model  # noqa: E402,F401

__all__ = ["DeepPot", "InputError", "DeviceError", "Model", "ModelError", "load_model", "read_model",
           "write_model", "extract_model", "bundled_model", "devices", "device_table", "test_model",
           "model_deviation", "__version__"]


def bundled_model() -> str:
    """Path of the model shipped with dpsycl: Cu–Ag se_e2_a (float64) trained on EMT data."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "cuag.h5")


def extract_model(pb_path):
    """Read a DeePMD-kit frozen graph into a Model (needs TensorFlow)."""
    from .extract import extract_model as extract
    return extract(pb_path)
