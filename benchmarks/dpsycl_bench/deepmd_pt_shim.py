"""Make DeePMD-kit's PyTorch backend importable where its wheel's native extras are unusable (the
benchmark's PyTorch peer on the GPU machine).

DeePMD-kit 3.2's ``deepmd/pt/cxx_op.py`` runs two things at import time that fail on a machine
with torch but no MPI and no matching custom-op build (the lent GPU machine; see
shared/notes/deepmd-on-gpu.md):

* ``load_mpi_library()`` (wheels built by cibuildwheel) looks up the ``mpich`` distribution and
  raises ``PackageNotFoundError`` when it is absent;
* ``load_library("deepmd_op_pt")`` raises ``RuntimeError`` when ``libdeepmd_op_pt.so`` was built
  against another torch.

Neither is needed to evaluate an uncompressed se_e2_a model: the custom ops serve compressed
models and multi-rank DPA2.  :func:`install` puts a stand-in ``deepmd.pt.cxx_op`` into
``sys.modules`` before DeePMD-kit imports it (installed files are left untouched), so DeePMD-kit
takes its pure-PyTorch path (``ENABLE_CUSTOMIZED_OP = False``).  With
``DPSYCL_DEEPMD_PT_CUSTOM_OP=1`` the stand-in tries to load the custom-op library and keeps it
when that works.  :func:`install` also provides a stub ``mendeleev`` module when the real one is
missing (only DeePMD-kit's electronic-configuration type embedding, unused by se_e2_a, reads it).

    PYTHONPATH=benchmarks python -m dpsycl_bench.deepmd_pt_shim convert-backend model.dp model.pth   # `dp ...`, shimmed
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types

_STATE: dict = {}


def _stub_mendeleev() -> bool:
    if "mendeleev" in sys.modules or importlib.util.find_spec("mendeleev") is not None:
        return False
    mod = types.ModuleType("mendeleev")
    mod.__doc__ = "dpsycl stub: the real mendeleev is not installed (se_e2_a does not use it)"

    def element(*_args, **_kwargs):
        raise ImportError("mendeleev is a dpsycl stub here; electronic-configuration type "
                          "embeddings (DPA models) need the real package")

    mod.element = element
    mod.__version__ = "0+dpsycl.stub"
    sys.modules["mendeleev"] = mod
    return True


def _try_custom_op() -> tuple[bool, str]:
    import torch
    from deepmd.env import SHARED_LIB_DIR

    lib = SHARED_LIB_DIR / "libdeepmd_op_pt.so"
    if not lib.is_file():
        return False, f"{lib} absent"
    if hasattr(torch.ops, "deepmd") and hasattr(torch.ops.deepmd, "enable_mpi"):
        return True, "already loaded"
    try:
        torch.ops.load_library(str(lib))
        return True, "loaded"
    except Exception as exc:  # noqa: BLE001 - any failure means: pure-torch path
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def install() -> dict:
    """Install the stand-ins (idempotent); returns what was done."""
    if _STATE:
        return dict(_STATE)
    _STATE["mendeleev_stub"] = _stub_mendeleev()
    if "deepmd.pt.cxx_op" in sys.modules:
        real = sys.modules["deepmd.pt.cxx_op"]
        _STATE.update(custom_op=bool(getattr(real, "ENABLE_CUSTOMIZED_OP", False)),
                      custom_op_note="deepmd.pt.cxx_op was imported before the shim")
        return dict(_STATE)
    enable, note = False, "skipped (set DPSYCL_DEEPMD_PT_CUSTOM_OP=1 to try loading libdeepmd_op_pt.so)"
    if os.environ.get("DPSYCL_DEEPMD_PT_CUSTOM_OP", "0") == "1":
        enable, note = _try_custom_op()
    mod = types.ModuleType("deepmd.pt.cxx_op")
    mod.__doc__ = "dpsycl stand-in for deepmd/pt/cxx_op.py: no MPI library load, custom ops optional"
    mod.ENABLE_CUSTOMIZED_OP = enable
    mod.load_library = lambda module_name: False
    mod.load_mpi_library = lambda: None
    mod.__all__ = ["ENABLE_CUSTOMIZED_OP"]
    sys.modules["deepmd.pt.cxx_op"] = mod
    _STATE.update(custom_op=enable, custom_op_note=note)
    return dict(_STATE)


def main(argv: list[str] | None = None) -> int:
    """``dp`` with the shim installed (e.g. ``convert-backend model.dp model.pth``)."""
    install()
    from deepmd.main import main as dp_main
    argv = list(sys.argv[1:] if argv is None else argv)
    dp_main(argv)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
