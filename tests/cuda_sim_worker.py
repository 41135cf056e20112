"""Runs under NUMBA_ENABLE_CUDASIM=1 (set before numba loads): CUDA backend vs the host reference.

Prints one JSON line per (model, case) with the largest deviations.
"""
import json
import os
import sys

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
import numpy as np  # noqa: E402

import dpsycl  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from conftest import DATA, case_params, reference_case  # noqa: E402

for spec in sys.argv[1:]:
    name, case, layout = spec.split(":")
    model = dpsycl.load_model(DATA / name / "frozen_model.pb")
    ref = dict(np.load(DATA / name / "reference.npz"))
    coords, cells, atype, _ = reference_case(ref, case)
    coords, cells = coords[:1], None if cells is None else cells[:1]
    params = {k: v[:1] for k, v in case_params(ref, case).items()}
    cuda = dpsycl.DeepPot(model, device="cuda:0")
    cuda.evaluator.layout = layout
    host = dpsycl.DeepPot(model, device="numpy")
    got = cuda.eval(coords, cells, atype, atomic=True, **params)
    want = host.eval(coords, cells, atype, atomic=True, **params)
    n = len(atype)
    print(json.dumps(dict(model=name, case=case, layout=layout, device=cuda.describe_device(), natoms=n,
                          precision=model.precision,
                          energy=float(np.abs(got[0] - want[0]).max() / n),
                          force=float(np.abs(got[1] - want[1]).max()),
                          virial=float(np.abs(got[2] - want[2]).max() / n))), flush=True)
