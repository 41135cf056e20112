#!/usr/bin/env python3
"""Training data for a model with frame and atomic parameters: the EMT systems of
tests/data/cuag_emt with random set.*/fparam.npy (2 per frame) and aparam.npy (1 per atom) added.

    python tools/make_param_data.py OUTDIR        # then DATA=OUTDIR tools/make_test_models.sh M tiny_fparam

The parameters are noise the model learns to use a little; they exist so that DeePMD-kit builds
and freezes the fparam/aparam inputs of its fitting net.
"""
import os
import shutil
import sys

import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "cuag_emt")


def main(out: str) -> None:
    rng = np.random.default_rng(7)
    for system in ("sys000", "sys001", "sys002", "md000"):
        shutil.copytree(os.path.join(SOURCE, system), os.path.join(out, system), dirs_exist_ok=True)
        for sub in sorted(os.listdir(os.path.join(out, system))):
            if not sub.startswith("set."):
                continue
            folder = os.path.join(out, system, sub)
            nframes, natoms = np.load(os.path.join(folder, "coord.npy")).shape
            np.save(os.path.join(folder, "fparam.npy"), rng.uniform(0.5, 1.5, (nframes, 2)))
            np.save(os.path.join(folder, "aparam.npy"), rng.uniform(-1.0, 1.0, (nframes, natoms // 3)))


if __name__ == "__main__":
    main(sys.argv[1])
