"""DeePMD-kit's own inference as the benchmark's peer: ``deepmd.infer.DeepPot`` in this process.

Its TensorFlow backend on the .pb graph (CPU machines) or its PyTorch backend on a .pth file
(NVIDIA GPUs, behind :mod:`dpsycl_bench.deepmd_pt_shim`).  The peer evaluates the float64 graph
only.  Besides evaluating, a peer measures its own peak memory (host RSS, or torch's CUDA
allocator) and releases what it cached between sizes.
"""
from __future__ import annotations

import gc
import importlib.util
import os

import numpy as np

from .machine import REPOSITORY, HostPeak, rss_now
from .structures import alloy

PEER_KINDS = ("deepmd-tf", "deepmd-pt")
#: DeePMD-kit's graph of the bundled model: in the repository, not in the installed package
BUNDLED_GRAPH = os.path.join(REPOSITORY, "dpsycl", "data", "cuag.pb")


def pick_peer(requested: str, has_cuda: bool) -> str:
    """The peer to run: ``requested`` unless "auto" (PyTorch with a CUDA device, else TensorFlow,
    else "none" when DeePMD-kit is not installed)."""
    if requested != "auto":
        return requested
    if has_cuda and importlib.util.find_spec("torch") is not None:
        return "deepmd-pt"
    if importlib.util.find_spec("deepmd") is not None and importlib.util.find_spec("tensorflow") is not None:
        return "deepmd-tf"
    return "none"


def default_peer_model(kind: str) -> str:
    if kind == "deepmd-tf":
        return BUNDLED_GRAPH
    raise ValueError("--peer deepmd-pt needs --peer-model MODEL.pth "
                     "(dp convert-backend cuag.pb cuag.pth; see benchmarks/gpu_bench.sh)")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception of either code (TensorFlow, torch, numba, dpctl) means out of memory."""
    text = (type(exc).__name__ + " " + str(exc)).lower()
    return any(k in text for k in ("outofmemory", "out of memory", "resourceexhausted", "oom", "memoryerror",
                                   "cannot allocate"))


def check_torch_lapack(torch) -> None:
    """ValueError when torch's CPU LAPACK calls bind to oneMKL's ILP64 symbols.

    That happens once dpsycl's SYCL runtime is loaded (``import dpsycl`` loads it where the SYCL
    wheels are installed); DeePMD-kit would otherwise fail deep inside with torch.linalg.inv_ex's
    'Pivots given to lu_solve must all be >= 1'."""
    try:
        a = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
        ok = bool(torch.allclose(torch.linalg.inv(a) @ a, torch.eye(3, dtype=torch.float64), atol=1e-12))
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError("DeePMD-kit's PyTorch backend cannot run on the CPU in this process: dpsycl's SYCL "
                         "runtime (oneMKL, ILP64) is loaded and torch's LAPACK calls bind to it. Use --peer "
                         "deepmd-tf here, or run --peer deepmd-pt where no SYCL stack is installed (the GPU machine)")


class DeepmdPeer:
    """DeePMD-kit's ``deepmd.infer.DeepPot``, TensorFlow (.pb) or PyTorch (.pth)."""

    def __init__(self, kind: str, model_path: str):
        if kind not in PEER_KINDS:
            raise ValueError(f"unknown peer {kind!r} (one of {', '.join(PEER_KINDS)})")
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"DeePMD-kit model for the {kind} peer not found: {model_path}")
        self.kind = kind
        self.model_path = model_path
        self.shim = None
        self.torch = None
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if kind == "deepmd-pt":
            from . import deepmd_pt_shim
            self.shim = deepmd_pt_shim.install()
            import torch
            self.torch = torch
            check_torch_lapack(torch)
        from deepmd.infer import DeepPot
        self.dp = DeepPot(model_path)
        self.type_map = list(self.dp.get_type_map())
        self.cuda = False
        self.device, self.hardware = "cpu", "host CPU"
        self.memory_method = "host RSS: VmHWM − RSS after loading the peer (TensorFlow keeps freed memory)"
        if kind == "deepmd-pt":
            from deepmd.pt.utils import env as pt_env
            self.device = str(pt_env.DEVICE)
            self.cuda = self.device.startswith("cuda")
            if self.cuda:
                self.hardware = torch.cuda.get_device_name(pt_env.DEVICE)
                self.memory_method = "torch.cuda.max_memory_allocated (reset per size)"
            else:
                self.memory_method = "host RSS: VmHWM − RSS after loading the peer"
        self.label = f"{kind} ({'cuda' if self.cuda else 'cpu'})"
        self.rss_baseline = None

    def eval(self, x, cell, atype):
        """Energy, forces (N, 3) and virial (9,) of one frame."""
        e, f, v = self.dp.eval(x.reshape(1, -1), cell.reshape(1, 9), atype)
        return float(np.asarray(e).ravel()[0]), np.asarray(f).reshape(-1, 3), np.asarray(v).reshape(9)

    def settle(self, natoms: int = 32):
        """Load everything with a tiny evaluation; host RSS after it is the memory baseline."""
        x, cell, atype = alloy(natoms, seed=12345, type_map=self.type_map)
        self.eval(x, cell, atype)
        self.release()
        if not self.cuda:
            self.rss_baseline = rss_now()

    def memory_begin(self):
        """Start a peak-memory measurement; pass what it returns to :meth:`memory_peak`."""
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            return None
        return HostPeak(baseline=self.rss_baseline)

    def memory_peak(self, token) -> int:
        if self.cuda:
            self.torch.cuda.synchronize()
            return int(self.torch.cuda.max_memory_allocated())
        return token.peak()

    def release(self):
        """Free what the peer cached (torch's CUDA cache), so that dpsycl's memory figures start clean."""
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def describe(self) -> dict:
        return {"model": os.path.abspath(self.model_path), "backend": self.kind, "device": self.device,
                "hardware": self.hardware, "type_map": self.type_map, "precision": "float64", "shim": self.shim}
