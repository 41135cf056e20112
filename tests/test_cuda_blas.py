"""How the CUDA backend finds cuBLAS (dpsycl/backends/cuda_blas.py), without a GPU: the user's choices come first
and 'off' keeps the kernels, with the reason said.  The products themselves run against the host reference on a
GPU (tests/test_device.py: test_fitting_by_cublas_matches_reference_on_all_cases)."""
from __future__ import annotations

from dpsycl.backends import cuda_blas


def test_dpsycl_cublas_off_keeps_the_kernels_and_says_so(monkeypatch):
    monkeypatch.setenv("DPSYCL_CUBLAS", "off")
    assert cuda_blas.gemm(-101) is None
    assert cuda_blas.why_not() == "DPSYCL_CUBLAS=off"


def test_a_named_library_is_tried_first_and_a_missing_one_is_skipped(monkeypatch, tmp_path):
    missing = str(tmp_path / "libcublas.so.99")
    monkeypatch.setenv("DPSYCL_CUBLAS", missing)
    paths = cuda_blas.library_paths()
    assert paths[0] == missing
    assert all("libcublasLt" not in p for p in paths)
    found = cuda_blas.gemm(-102)        # the missing file fails to load; any other cuBLAS here may load
    assert found is None or found.path != missing
    if found is None:
        assert "no usable libcublas" in cuda_blas.why_not()


def test_no_cublas_is_logged_once_per_device(monkeypatch, tmp_path, caplog):
    """Where no libcublas loads the products are off, which is slower, not wrong: one INFO line says why."""
    import logging
    monkeypatch.setenv("DPSYCL_CUBLAS", str(tmp_path / "libcublas.so.99"))
    monkeypatch.setattr(cuda_blas, "library_paths", lambda: [str(tmp_path / "libcublas.so.99")])
    with caplog.at_level(logging.INFO, logger="dpsycl.backends.cuda_blas"):
        assert cuda_blas.gemm(-103) is None
        assert cuda_blas.gemm(-103) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "dpsycl.backends.cuda_blas"]
    assert len(lines) == 1 and lines[0].startswith("cuda:-103: no usable libcublas"), lines
