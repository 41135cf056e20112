#!/usr/bin/env python3
"""DeePMD-kit's own outputs for a frozen graph on the seven case kinds of the test suite.

    python tools/make_reference.py MODEL_DIR [--structures tests/data/cuag/reference.npz]

Reads MODEL_DIR/frozen_model.pb, evaluates it with DeePMD-kit's TensorFlow inference
(``deepmd.infer.DeepPot``, atomic terms included) on the structures of the seven cases — bulk
(2 frames), small_box (cell smaller than the cutoff), triclinic, unwrapped, unsorted, nopbc, dense
(more neighbours of one species than sel) — taken from an existing reference file, and writes
MODEL_DIR/reference.npz (keys ``<case>_{coords,cells,atype,energy,force,virial,atom_energy,
atom_virial}``, an empty ``cells`` meaning no periodic boundaries; for a model with frame or
atomic parameters also ``<case>_{fparam,aparam}``, drawn at random per frame and atom) and
reference.json (case sizes, energies, the DeePMD-kit version, and whether the dense case does
overfill sel for this model).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

CASES = ("bulk", "small_box", "triclinic", "unwrapped", "unsorted", "nopbc", "dense")
HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("--structures", default=os.path.join(HERE, "..", "tests", "data", "cuag", "reference.npz"))
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import deepmd
    from deepmd.infer import DeepPot

    pb = os.path.join(args.model_dir, "frozen_model.pb")
    dp = DeepPot(pb)
    source = dict(np.load(args.structures))
    out, summary = {}, {}
    rng = np.random.default_rng(11)
    nfp, nap = dp.get_dim_fparam(), dp.get_dim_aparam()
    for case in CASES:
        coords, cells, atype = source[f"{case}_coords"], source[f"{case}_cells"], source[f"{case}_atype"]
        atype = atype % dp.get_ntypes()
        params = {}
        if nfp:
            params["fparam"] = out[f"{case}_fparam"] = rng.uniform(0.5, 1.5, (len(coords), nfp))
        if nap:
            params["aparam"] = out[f"{case}_aparam"] = rng.uniform(-1.0, 1.0, (len(coords), len(atype) * nap))
        e, f, v, ae, av = dp.eval(coords, cells if cells.size else None, atype, atomic=True, **params)
        out.update({f"{case}_coords": coords, f"{case}_cells": cells, f"{case}_atype": atype,
                    f"{case}_energy": e, f"{case}_force": f.reshape(len(coords), -1), f"{case}_virial": v,
                    f"{case}_atom_energy": ae.reshape(len(coords), -1),
                    f"{case}_atom_virial": av.reshape(len(coords), -1)})
        summary[case] = {"natoms": int(len(atype)), "nframes": int(len(coords)), "energy": e.ravel().tolist()}
    sys.path.insert(0, os.path.join(HERE, ".."))
    from dpsycl.extract import extract_model
    from dpsycl.neighbors import build_neighbor_list
    try:
        model = extract_model(pb)
    except Exception as exc:  # noqa: BLE001 - a model dpsycl cannot read yet still gets its reference
        print(f"(dense-case check skipped: {exc})")
        model = None
    if model is None:
        np.savez_compressed(os.path.join(args.model_dir, "reference.npz"), **out)
        return 0
    # every neighbour list of the model (a hybrid has one per member)
    truncated = [build_neighbor_list(out["dense_coords"][0].reshape(-1, 3), out["dense_cells"][0].reshape(3, 3),
                                     out["dense_atype"], spec.rcut, spec.sel, warn=False).n_truncated
                 for spec in model.descriptor.neighbor_specs()]
    np.savez_compressed(os.path.join(args.model_dir, "reference.npz"), **out)
    with open(os.path.join(args.model_dir, "reference.json"), "w") as fh:
        json.dump({"deepmd_kit": deepmd.__version__, "cases": summary, "dense_overfills_sel": min(truncated) > 0,
                   "keys": "<case>_{coords,cells,atype,energy,force,virial,atom_energy,atom_virial}; "
                           "cells empty = no PBC"}, fh, indent=1)
    print(f"{pb}: {len(CASES)} cases; dense case truncates {truncated} rows (per neighbour list)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
