"""Runs under NUMBA_ENABLE_CUDASIM=1 (set before numba loads): CUDA backend vs the host reference.

Prints one JSON line per (model, case) with the largest deviations.  With ``--claim DIR`` first, several
workers share one list of cases: each runs the next case no other worker has claimed (an O_EXCL file
per case in DIR), so that the two workers finish together whatever each case costs.
"""
import json
import os
import sys

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
import numpy as np  # noqa: E402

import dpsycl  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from conftest import DATA, case_params, reference_case  # noqa: E402



def threaded_deviation(dp, coords, cells, atype, params, nthreads=4):
    """Largest difference between evaluations run alone and the same ones run from ``nthreads``
    threads at once on one DeepPot (each thread its own displaced frame)."""
    import threading
    rng = np.random.default_rng(7)
    frames = [coords + rng.normal(0, 0.05, coords.shape) for _ in range(nthreads)]
    alone = [dp.eval(c, cells, atype, **params) for c in frames]
    together = [None] * nthreads

    def work(k):
        together[k] = dp.eval(frames[k], cells, atype, **params)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(float(np.abs(a - b).max()) for got, want in zip(together, alone) for a, b in zip(got, want))


def claimed(specs, folder):
    """The specs this worker claims first, in order (each spec is claimed by exactly one worker)."""
    for k, spec in enumerate(specs):
        try:
            os.close(os.open(os.path.join(folder, str(k)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        yield spec


specs = sys.argv[1:]
if specs[:1] == ["--claim"]:
    specs = claimed(specs[2:], specs[1])
for spec in specs:
    threads = spec.startswith("threads:")
    name, case, layout = spec.removeprefix("threads:").split(":")
    model = dpsycl.load_model(DATA / name / "frozen_model.pb")
    ref = dict(np.load(DATA / name / "reference.npz"))
    coords, cells, atype, _ = reference_case(ref, case)
    coords, cells = coords[:1], None if cells is None else cells[:1]
    params = {k: v[:1] for k, v in case_params(ref, case).items()}
    cuda = dpsycl.DeepPot(model, device="cuda:0")
    cuda.evaluator.layout = layout
    host = dpsycl.DeepPot(model, device="numpy")
    if threads:
        print(json.dumps(dict(model=name, case=case, layout=layout, device=cuda.describe_device(),
                              threads=threaded_deviation(cuda, coords, cells, atype, params))), flush=True)
        continue
    got = cuda.eval(coords, cells, atype, atomic=True, **params)
    want = host.eval(coords, cells, atype, atomic=True, **params)
    n = len(atype)
    print(json.dumps(dict(model=name, case=case, layout=layout, device=cuda.describe_device(), natoms=n,
                          precision=model.precision,
                          energy=float(np.abs(got[0] - want[0]).max() / n),
                          force=float(np.abs(got[1] - want[1]).max()),
                          virial=float(np.abs(got[2] - want[2]).max() / n))), flush=True)
