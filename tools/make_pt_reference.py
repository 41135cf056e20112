#!/usr/bin/env python3
"""DeePMD-kit's own PyTorch outputs for a PyTorch-backend model on the seven case kinds of the test suite.

    PT_PYTHON tools/make_pt_reference.py MODEL.pth OUT_DIR [--structures tests/data/cuag/reference.npz]

Run with the Python of an environment that has DeePMD-kit 3 and PyTorch (tools/make_pt_test_model.sh
says how to make one; dpsycl is not needed).  Evaluates MODEL.pth (``dp --pt freeze``) with
DeePMD-kit's inference (``deepmd.infer.DeepPot``, which picks the PyTorch backend for a .pth, atomic
terms included) on the structures of the seven cases of tools/make_reference.py — bulk (2 frames),
small_box, triclinic, unwrapped, unsorted, nopbc, dense — and writes OUT_DIR/reference.npz (the same
keys as tools/make_reference.py: ``<case>_{coords,cells,atype,energy,force,virial,atom_energy,
atom_virial}``, empty ``cells`` = no periodic boundaries) and OUT_DIR/reference.json (case sizes,
energies, the DeePMD-kit and PyTorch versions, the backend, and whether the dense case has more
neighbours of one species than sel, counted here by brute force over periodic images).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys

import numpy as np

CASES = ("bulk", "small_box", "triclinic", "unwrapped", "unsorted", "nopbc", "dense")
HERE = os.path.dirname(os.path.abspath(__file__))


def most_neighbours_per_species(coords: np.ndarray, cell: np.ndarray, atype: np.ndarray, rcut: float,
                                ntypes: int) -> np.ndarray:
    """(ntypes,) the largest number of neighbours of each species that any atom has within rcut
    (periodic images included: enough of them to cover rcut along every cell height)."""
    volume = abs(np.linalg.det(cell))
    heights = [volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    reach = [math.ceil(rcut / h) for h in heights]
    shifts = np.array([np.array(n) @ cell for n in itertools.product(*(range(-r, r + 1) for r in reach))])
    images = (coords[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    image_types = np.tile(atype, len(shifts))
    most = np.zeros(ntypes, dtype=int)
    for x in coords:
        d = np.linalg.norm(images - x, axis=1)
        near = (d < rcut) & (d > 0.0)
        most = np.maximum(most, np.bincount(image_types[near], minlength=ntypes))
    return most


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="the PyTorch model (.pth from `dp --pt freeze`)")
    p.add_argument("out_dir")
    p.add_argument("--structures", default=os.path.join(HERE, "..", "tests", "data", "cuag", "reference.npz"))
    args = p.parse_args(argv)
    import deepmd
    import torch
    from deepmd.infer import DeepPot

    dp = DeepPot(args.model)
    backend = type(dp.deep_eval).__module__
    if ".pt." not in backend:
        raise SystemExit(f"{args.model} was evaluated by {backend}, not DeePMD-kit's PyTorch backend")
    source = dict(np.load(args.structures))
    out, summary = {}, {}
    for case in CASES:
        coords, cells, atype = source[f"{case}_coords"], source[f"{case}_cells"], source[f"{case}_atype"]
        atype = atype % dp.get_ntypes()
        e, f, v, ae, av = dp.eval(coords, cells if cells.size else None, atype, atomic=True)
        out.update({f"{case}_coords": coords, f"{case}_cells": cells, f"{case}_atype": atype,
                    f"{case}_energy": e, f"{case}_force": f.reshape(len(coords), -1), f"{case}_virial": v,
                    f"{case}_atom_energy": ae.reshape(len(coords), -1),
                    f"{case}_atom_virial": av.reshape(len(coords), -1)})
        summary[case] = {"natoms": int(len(atype)), "nframes": int(len(coords)), "energy": e.ravel().tolist()}
    sel = np.asarray(dp.get_model_def_script()["descriptor"]["sel"])
    most = most_neighbours_per_species(out["dense_coords"][0].reshape(-1, 3), out["dense_cells"][0].reshape(3, 3),
                                       out["dense_atype"], dp.get_rcut(), dp.get_ntypes())
    np.savez_compressed(os.path.join(args.out_dir, "reference.npz"), **out)
    with open(os.path.join(args.out_dir, "reference.json"), "w") as fh:
        json.dump({"deepmd_kit": deepmd.__version__, "torch": torch.__version__, "backend": backend,
                   "model": os.path.basename(args.model), "cases": summary,
                   "dense_overfills_sel": bool(np.any(most > sel)),
                   "keys": "<case>_{coords,cells,atype,energy,force,virial,atom_energy,atom_virial}; "
                           "cells empty = no PBC"}, fh, indent=1)
    print(f"{args.model}: {len(CASES)} cases; dense case: at most {most.tolist()} neighbours per species, sel {sel.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
