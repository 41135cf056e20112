"""dpsycl: DeePMD-kit se_e2_a potentials on any SYCL device and on NVIDIA GPUs, with MD and H5MD.

    import dpsycl
    dp = dpsycl.DeepPot("frozen_model.pb", device="auto")
    e, f, v = dp.eval(coords, cells, atype)
"""
from __future__ import annotations

__version__ = "0.1.0"


def _prepare_sycl_runtime() -> None:
    """Where the SYCL wheels are installed, make their runtime loadable now (0.3 s), so that a plain
    ``import dpctl`` after ``import dpsycl`` sees the devices with no environment variable set."""
    import importlib.util
    if importlib.util.find_spec("dpctl") is None:
        return
    from .backends import sycl_runtime
    try:
        sycl_runtime.prepare()
    except sycl_runtime.SyclRuntimeError:
        pass  # reported by dpsycl.devices() / DeepPot when a SYCL device is asked for


_prepare_sycl_runtime()

from .backends import device_table, devices  # noqa: F401
from .deep_pot import DeepPot, InputError  # noqa: F401
from .model import Model, ModelError, load_model  # noqa: F401


def extract_model(pb_path):
    """Read a DeePMD-kit frozen graph into a Model (needs TensorFlow)."""
    from .extract import extract_model as _extract
    return _extract(pb_path)
