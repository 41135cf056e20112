"""Frames per second of `dpsycl test` / `dpsycl model-devi` against DeePMD-kit's `dp test` /
`dp model-devi` on the same frames, in the same run.

    .venv/bin/python benchmarks/frames_throughput.py --device opencl:cpu          # here (CPU)
    .venv/bin/python benchmarks/frames_throughput.py --device all --frames 500 2000   # a GPU node
    python3 benchmarks/frames_throughput.py --device cuda:0 --dp-models a.pth b.pth \
        --dp-command "python3 -m dpsycl_bench.deepmd_pt_shim --pt"   # DeePMD-kit's PyTorch backend (gpu_frames.sh)

The frames: ``--frames`` sizes of one DeePMD-kit npy system made from the Cu–Ag md000 frames of
tests/data/cuag_emt (repeated ``--repeat`` times along each cell vector), randomly displaced
(0.05 Å) and labelled with ASE's EMT.  Every command runs as its own process, exactly as a user
types it, with the same model files (the DeePMD-kit frozen graphs of tests/data).  Two rates:
end to end (frames / wall time of the largest job, start-up, model loading and compilation
included) and marginal (extra frames / extra time between the two largest sizes: the steady-state
throughput).  Prints a table and writes JSON to ``--output``.

DeePMD-kit runs as ``--dp-command`` followed by ``test ...`` / ``model-devi ...``: by default the
``dp`` beside this Python (its jobs are left out when there is none), or any command line that acts
as ``dp``, backend flags included, e.g. ``python3 -m dpsycl_bench.deepmd_pt_shim --pt`` (DeePMD-kit
behind benchmarks/dpsycl_bench/deepmd_pt_shim.py; the commands run in a temporary folder, so
relative paths on PYTHONPATH do not reach them: make them absolute).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BIN = pathlib.Path(sys.executable).parent


def make_system(path: pathlib.Path, nframes: int, repeat: int, seed: int = 0) -> int:
    """A labelled npy system of ``nframes`` displaced copies of md000's frames; returns its atoms."""
    import ase
    from ase.calculators.emt import EMT
    src = DATA / "cuag_emt" / "md000"
    types = np.loadtxt(src / "type.raw", dtype=int)
    coords = np.load(src / "set.000" / "coord.npy").reshape(-1, len(types), 3)
    boxes = np.load(src / "set.000" / "box.npy").reshape(-1, 3, 3)
    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("coord", "box", "energy", "force", "virial")}
    for k in range(nframes):
        atoms = ase.Atoms(np.array(["Cu", "Ag"])[types], positions=coords[k % len(coords)],
                          cell=boxes[k % len(boxes)], pbc=True).repeat(repeat)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = EMT()
        out["coord"].append(atoms.positions.ravel())
        out["box"].append(atoms.cell.array.ravel())
        out["energy"].append(atoms.get_potential_energy())
        out["force"].append(atoms.get_forces().ravel())
        out["virial"].append(-atoms.get_stress(voigt=False).ravel() * atoms.get_volume())
    (path / "set.000").mkdir(parents=True)
    np.savetxt(path / "type.raw", np.tile(types, repeat ** 3), fmt="%d")
    (path / "type_map.raw").write_text("Cu\nAg\n")
    for key, rows in out.items():
        np.save(path / "set.000" / f"{key}.npy", np.asarray(rows))
    return len(types) * repeat ** 3


def timed(argv: list[str], cwd: pathlib.Path, log: pathlib.Path | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {shlex.join(argv)}\n# exit status {proc.returncode}, {seconds:.2f} s\n"
                       f"## stdout\n{proc.stdout}\n## stderr\n{proc.stderr}")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def dp_prefix(dp_command: str | None) -> list[str] | None:
    """``--dp-command`` as argv (None: DeePMD-kit is not runnable here, its jobs are left out)."""
    if dp_command is None:
        dp = BIN / "dp"
        return [str(dp)] if dp.exists() else None
    argv = shlex.split(dp_command)
    if not argv:
        return None
    if os.sep not in argv[0] and shutil.which(argv[0]) is None:
        raise SystemExit(f"--dp-command: {argv[0]!r} not found on PATH")
    return argv


def jobs(device: str, models: list[str], dp_models: list[str], system: pathlib.Path, work: pathlib.Path,
         dp: list[str] | None = None) -> dict:
    """The commands timed; DeePMD-kit's only where ``dp`` (the argv prefix of ``dp_prefix``) is given."""
    dpsycl = [str(BIN / "dpsycl")] if (BIN / "dpsycl").exists() else [sys.executable, "-m", "dpsycl"]
    # label: "dp test" as before; backend flags of --dp-command shown ("dp --pt test")
    flags = "".join(f" {a}" for a in (dp or [])[1:] if a.startswith("--"))
    out = {}
    if dp:
        out[("test", f"dp{flags} test")] = [*dp, "test", "-m", dp_models[0], "-s", str(system), "-d", str(work / "dp")]
    out.update({
        ("test", f"dpsycl test --devices {device}"): [*dpsycl, "test", "-m", models[0], "-s", str(system),
                                                       "-d", str(work / "dpsycl"), "--devices", device,
                                                       "--no-progress"],
    })
    if dp:
        out[("model-devi", f"dp{flags} model-devi")] = [*dp, "model-devi", "-m", *dp_models, "-s", str(system),
                                                         "-o", str(work / "dp_devi.out")]
    out[("model-devi", f"dpsycl model-devi --devices {device}")] = [
        *dpsycl, "model-devi", "-m", *models, "-t", str(system), "-o", str(work / "dpsycl_devi.out"),
        "--devices", device, "--no-progress"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--device", default="opencl:cpu", help="dpsycl --devices value (default opencl:cpu)")
    p.add_argument("--frames", type=int, nargs="+", default=[40, 160], help="system sizes (frames); >= 2 sizes")
    p.add_argument("--repeat", type=int, default=1, help="repeat md000's 108-atom cell N times per axis")
    p.add_argument("--models", nargs="+", default=[str(DATA / "cuag" / "frozen_model.pb"),
                                                    str(DATA / "cuag_pair" / "frozen_model.pb")],
                   help="model files (the first for test; all for model-devi)")
    p.add_argument("--dp-models", nargs="+", default=None,
                   help="DeePMD-kit's files of the same models when they differ (e.g. .pth for its PyTorch "
                        "backend on a GPU; default: --models)")
    p.add_argument("--dp-command", default=None,
                   help="command line that acts as DeePMD-kit's `dp`, backend flags included; the job's "
                        "`test ...` / `model-devi ...` are appended (default: the `dp` beside this Python, "
                        "its jobs left out where there is none), e.g. "
                        "'python3 -m dpsycl_bench.deepmd_pt_shim --pt' with benchmarks/ on PYTHONPATH")
    p.add_argument("--log-dir", default=None,
                   help="keep every command's argv, exit status, stdout and stderr here (one file a job and size)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the commands of the first size and exit (no system made, nothing run)")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON")
    args = p.parse_args(argv)
    sizes = sorted(set(args.frames))
    if len(sizes) < 2:
        p.error("--frames needs at least two sizes (the marginal rate is their difference)")
    dp = dp_prefix(args.dp_command)
    # absolute: every command runs in a temporary folder
    args.models = [os.path.abspath(m) for m in args.models]
    dp_models = [os.path.abspath(m) for m in (args.dp_models or args.models)]
    if args.dry_run:
        work = pathlib.Path(tempfile.gettempdir()) / "dpsycl-frames-DRYRUN"
        for key, cmd in jobs(args.device, args.models, dp_models, work / f"sys{sizes[0]}", work, dp).items():
            print(f"{key[0]:10} {key[1]:<42} $ {shlex.join(cmd)}")
        return 0
    log_dir = pathlib.Path(args.log_dir) if args.log_dir else None
    work = pathlib.Path(tempfile.mkdtemp(prefix="dpsycl-frames-"))
    try:
        natoms = 0
        times: dict = {}
        for n in sizes:
            system = work / f"sys{n}"
            natoms = make_system(system, n, args.repeat)
            for key, cmd in jobs(args.device, args.models, dp_models, system, work, dp).items():
                log = None if log_dir is None else log_dir / f"{key[0]}-{key[1].split()[0]}-{n}.log"
                times.setdefault(key, {})[n] = timed(cmd, work, log)
                print(f"  {key[1]:<42} {n:6d} frames  {times[key][n]:8.2f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n1, n2 = sizes[-2], sizes[-1]
    rows = []
    for (job, tool), t in times.items():
        rows.append({"job": job, "tool": tool, "frames": n2, "atoms": natoms, "wall_s": t[n2],
                     "frames_per_s_end_to_end": n2 / t[n2],
                     # None when the larger size took no longer: start-up hides the per-frame cost
                     "frames_per_s_marginal": (n2 - n1) / (t[n2] - t[n1]) if t[n2] > t[n1] else None})
    print(f"\n{natoms} atoms per frame, {args.device}, models: {', '.join(os.path.basename(os.path.dirname(m)) for m in args.models)}\n")
    print("| job | tool | frames | wall (s) | frames/s end to end | frames/s marginal |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        marginal = r["frames_per_s_marginal"]
        print(f"| {r['job']} | {r['tool']} | {r['frames']} | {r['wall_s']:.1f} | {r['frames_per_s_end_to_end']:.1f} "
              f"| {'not measurable' if marginal is None else f'{marginal:.1f}'} |")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"frames-{stamp}-{args.device.replace(':', '_').replace(',', '+')}.json"
    path.write_text(json.dumps({"device": args.device, "sizes": sizes, "atoms": natoms, "models": args.models,
                                "dp_models": dp_models, "dp_command": None if dp is None else shlex.join(dp),
                                "machine": {"host": platform.node(), "cpu": platform.processor(),
                                            "cores": os.cpu_count()},
                                "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS",)},
                                "rows": rows}, indent=1))
    print(f"\n{path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
