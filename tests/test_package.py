"""Package-level promises: no environment needed for SYCL, no TensorFlow at import, device listing."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

EMPTY_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=EMPTY_ENV, capture_output=True, text=True, timeout=300)


def test_import_makes_dpctl_see_the_opencl_cpu_with_an_empty_environment():
    import importlib.util
    if importlib.util.find_spec("dpctl") is None:  # (importing dpctl here would need its runtime)
        pytest.skip("the SYCL stack is not installed here (the GPU machine)")
    proc = _run("import dpsycl, dpctl, json; print(json.dumps([d.filter_string for d in dpctl.get_devices()]))")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(d.startswith("opencl:cpu") for d in json.loads(proc.stdout.splitlines()[-1]))


def test_import_never_loads_tensorflow():
    import importlib.util
    # dpsycl.md and the CLI need ASE (a dependency); the GPU machine's image runs without it
    modules = "dpsycl, dpsycl.model_io, dpsycl.deep_pot" + (
        ", dpsycl.cli, dpsycl.md" if importlib.util.find_spec("ase") else "")
    proc = _run(f"import sys, {modules}; print('tensorflow' in sys.modules)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("False")


def test_devices_lists_kernel_devices_and_the_reference():
    import os
    proc = subprocess.run([sys.executable, "-c", "import dpsycl, json; print(json.dumps(dpsycl.devices()))"],
                          env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.splitlines()[-1])
    assert found[-1] == "numpy"
    assert any(d.startswith(("opencl:", "level_zero:", "cuda:")) for d in found)


def test_opencl_cpu_target_is_named_on_non_intel_cpus(tmp_path):
    """The 2024.2 OpenCL CPU compiler aborts on a Zen 5 EPYC unless told its instruction set; Intel
    CPUs are left to the runtime, which knows them."""
    from dpsycl.backends.sycl_runtime import cpu_target_arch

    def info(vendor, flags):
        p = tmp_path / f"{vendor}-{len(flags)}"
        p.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {' '.join(flags)}\n\n")
        return str(p)
    avx512 = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq"]
    assert cpu_target_arch(info("AuthenticAMD", avx512)) == "skx"
    assert cpu_target_arch(info("AuthenticAMD", avx512[:5])) == "core-avx2"
    assert cpu_target_arch(info("AuthenticAMD", ["sse4_2"])) is None
    assert cpu_target_arch(info("GenuineIntel", avx512)) is None
    assert cpu_target_arch(str(tmp_path / "absent")) is None
