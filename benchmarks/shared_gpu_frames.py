"""Many-frame evaluation spread over several workers of ONE device (issue 17's paths on one GPU).

    python3 -P benchmarks/shared_gpu_frames.py --device cuda:0 --frames 5000 --output out/shared_frames.json

With only one GPU lent, the multi-GPU paths of ``dpsycl test`` / ``dpsycl model-devi`` are run with
their workers sharing that GPU: one process (``devices=DEV``), two local worker processes
(``devices=DEV,DEV``) and a Dask ``LocalCluster`` of two worker processes (``client=``, each worker
on DEV).  Frames: tests/data/cuag_emt/md000 (20 frames of 108 Cu–Ag atoms) tiled to --frames, each
copy displaced by seeded noise (0.02 Å) so that no two frames are alike.  Per mode: wall time and
frames/s of each job, and whether the detail files (``test``) and the deviation file
(``model-devi``) equal the one-process files byte for byte.  Sharing one GPU measures the
overhead and the correctness of the paths, not multi-GPU scaling.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def tiled_system(where: pathlib.Path, frames: int, seed: int = 0) -> pathlib.Path:
    source = DATA / "cuag_emt" / "md000"
    out = where / "tiled"
    (out / "set.000").mkdir(parents=True)
    for name in ("type.raw", "type_map.raw"):
        shutil.copy(source / name, out / name)
    rng = np.random.default_rng(seed)
    for name in ("coord", "box", "energy", "force", "virial"):
        base = np.load(source / "set.000" / f"{name}.npy")
        tiled = np.concatenate([base] * (-(-frames // len(base))))[:frames]
        if name == "coord":
            tiled = tiled + rng.normal(0.0, 0.02, tiled.shape)
        np.save(out / "set.000" / f"{name}.npy", tiled)
    return out


def identical(a: list[pathlib.Path], b: list[pathlib.Path]) -> bool:
    return len(a) == len(b) > 0 and all(x.read_bytes() == y.read_bytes() for x, y in zip(sorted(a), sorted(b)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--models", nargs=2, default=[str(DATA / "cuag" / "model.h5"), str(DATA / "cuag_pair" / "model.h5")])
    p.add_argument("--output")
    args = p.parse_args(argv)
    from dpsycl import frame_jobs
    work = pathlib.Path(tempfile.mkdtemp(prefix="shared_frames_"))
    system = str(tiled_system(work, args.frames))
    rows, reference = [], {}
    modes = [("one process", args.device, False), ("two local processes", f"{args.device},{args.device}", False),
             ("Dask LocalCluster, two workers", args.device, True)]
    for label, devices, with_dask in modes:
        cluster = client = None
        if with_dask:
            try:
                import distributed
            except ImportError as exc:
                rows.append({"mode": label, "skipped": f"dask.distributed not importable: {exc}"})
                continue
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
            client = distributed.Client(cluster)
        tag = label.split()[0].lower()
        try:
            t = time.perf_counter()
            frame_jobs.test_model(args.models[0], [system], devices=devices, client=client,
                                  detail_file=work / f"{tag}_detail")
            test_s = time.perf_counter() - t
            t = time.perf_counter()
            frame_jobs.model_deviation(args.models, [system], devices=devices, client=client,
                                       output=work / f"{tag}_devi.out")
            devi_s = time.perf_counter() - t
        finally:
            if client is not None:
                client.close()
                cluster.close()
        files = {"test": sorted(work.glob(f"{tag}_detail*")), "model-devi": [work / f"{tag}_devi.out"]}
        if not reference:
            reference = files
        row = {"mode": label, "devices": devices, "frames": args.frames, "atoms": 108,
               "test_s": test_s, "test_frames_per_s": args.frames / test_s,
               "model_devi_s": devi_s, "model_devi_frames_per_s": args.frames / devi_s,
               "test_files_identical_to_one_process": identical(files["test"], reference["test"]),
               "model_devi_identical_to_one_process": identical(files["model-devi"], reference["model-devi"])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"device": args.device, "rows": rows}
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
