"""The wheel a user gets from `pip install .`: built here, installed into a fresh virtual
environment with no source tree on its path, then used as the README shows.

The fresh environment installs the wheel alone (``--no-deps``); its dependencies (numpy, the SYCL
runtime, ...) are made visible through a ``.pth`` line naming this test environment's
site-packages, where dpsycl itself is only an editable-install finder that a ``.pth`` line does
not activate.  So the dpsycl that runs is the wheel's, and the test needs no network.
"""
from __future__ import annotations

import os
import pathlib
import site
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: repository folder -> the package it is installed as
SOURCE_ROOTS = {"dpsycl": "dpsycl", "device_kernels": "dpsycl/device_kernels", "extract": "dpsycl/extract"}


def _source_packages() -> set[str]:
    """Every folder of the three source roots that holds Python code, as its path in the wheel."""
    out = set()
    for folder, installed in SOURCE_ROOTS.items():
        for dirpath, dirnames, filenames in os.walk(ROOT / folder):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            if any(f.endswith(".py") for f in filenames):
                rel = os.path.relpath(dirpath, ROOT / folder)
                out.add(installed if rel == "." else f"{installed}/{rel}")
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--quiet", "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (whl,) = out.glob("dpsycl-*.whl")
    return whl


def test_wheel_holds_every_source_package_and_no_harness(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    packages = {os.path.dirname(n) for n in names if n.endswith(".py")}
    missing = _source_packages() - packages
    assert not missing, f"source folders left out of the wheel: {sorted(missing)}"
    assert "dpsycl/data/cuag.h5" in names
    # the benchmark harness and its peers' shims stay in the repository (benchmarks/)
    assert not [n for n in names if "bench" in n.lower() or "shim" in n.lower()], names


@pytest.fixture(scope="module")
def fresh_env(wheel, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("fresh")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    # pip installs into the fresh environment (console script included) from outside it
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                           "--no-compile", str(wheel)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    deps = site.getsitepackages() or [sysconfig.get_paths()["purelib"]]
    pathlib.Path(target, "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    script = venv / "bin" / "dpsycl"
    assert script.read_text().startswith(f"#!{python}")
    work = root / "work"              # run from a folder that holds no source tree
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(root), "OMP_NUM_THREADS": "2"}
    return {"python": str(python), "script": str(script), "site": target, "cwd": str(work), "env": env}


def _run(env: dict, argv: list[str], timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=env["cwd"], env=env["env"], capture_output=True, text=True, timeout=timeout)


README_EXAMPLE = """
import json, dpsycl, numpy as np
from ase.build import bulk
atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2))
atoms.symbols[::2] = "Ag"
model = dpsycl.load_model(dpsycl.bundled_model())
atype = np.array([model.type_map.index(s) for s in atoms.get_chemical_symbols()])
out = {"file": dpsycl.__file__, "devices": dpsycl.devices()}
for device in ("numpy", "auto"):
    dp = dpsycl.DeepPot(model, device=device)
    e, f, v = dp.eval(atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), atype)
    out[device] = {"device": dp.device, "energy": float(e[0, 0]), "force": f[0].tolist()}
print(json.dumps(out))
"""


def test_installed_wheel_runs_the_readme_example_on_a_kernel_device(fresh_env):
    import json

    import numpy as np
    proc = _run(fresh_env, [fresh_env["python"], "-c", README_EXAMPLE])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["file"].startswith(fresh_env["site"]), out["file"]      # the wheel's copy, not the tree
    assert out["devices"][-1] == "numpy"
    from dpsycl.backends import sycl_available
    if sycl_available():               # the SYCL runtime is found from an installed wheel too
        assert any(d.startswith("opencl:cpu") for d in out["devices"]), out["devices"]
        assert out["auto"]["device"].startswith("opencl:cpu")
    assert abs(out["auto"]["energy"] - out["numpy"]["energy"]) < 1e-10 * 32
    assert np.abs(np.subtract(out["auto"]["force"], out["numpy"]["force"])).max() < 1e-10


def test_installed_console_script_evaluates_a_structure(fresh_env, tmp_path):
    import json

    import ase.io
    from ase.build import bulk
    atoms = bulk("Ag", "fcc", a=4.1, cubic=True).repeat((2, 1, 1))
    atoms.symbols[:3] = "Cu"
    import dpsycl
    type_map = dpsycl.load_model(dpsycl.bundled_model()).type_map
    atype = [type_map.index(s) for s in atoms.get_chemical_symbols()]
    path = tmp_path / "cuag.extxyz"
    ase.io.write(path, atoms)
    model = subprocess.run([fresh_env["python"], "-c", "import dpsycl; print(dpsycl.bundled_model())"],
                           cwd=fresh_env["cwd"], env=fresh_env["env"], capture_output=True, text=True, check=True)
    model_path = model.stdout.strip()
    assert model_path.startswith(fresh_env["site"])
    proc = _run(fresh_env, [fresh_env["script"], "eval", model_path, str(path), "--json", "--device", "numpy"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["frames"][0]["natoms"] == 8
    e, f, v = dpsycl.DeepPot(dpsycl.bundled_model(), device="numpy").eval(
        atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), atype)
    assert result["frames"][0]["energy"] == pytest.approx(float(e[0, 0]), abs=1e-9)


def test_plots_without_matplotlib_is_a_one_line_error_before_the_run(monkeypatch, capsys, tmp_path):
    """matplotlib is the [plots] extra: `dpsycl run --plots` without it stops at once, naming it."""
    import importlib.util

    from dpsycl.cli import main
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    out = tmp_path / "run.h5"
    status = main(["run", str(ROOT / "dpsycl" / "data" / "cuag.h5"), "--alloy", "Cu0.5Ag0.5", "--atoms", "32", "--steps", "10",
                   "--output", str(out), "--plots", str(tmp_path / "plots"), "--device", "numpy", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert "matplotlib" in err[0] and "pip install 'dpsycl[plots]'" in err[0]
    assert not out.exists()
