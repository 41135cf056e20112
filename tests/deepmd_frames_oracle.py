"""DeePMD-kit's own ``dp test`` and ``dp model-devi`` on the cases of tests/test_frames.py, in one
process (TensorFlow starts once): ``python deepmd_frames_oracle.py SPEC.json OUT.json``.

SPEC: {"test": [{"name", "model", "systems": [...], "detail": PREFIX}],
       "devi": [{"name", "models": [...], "systems": [...], "output": FILE, "frequency", "atomic",
                 "relative", "relative_v"}],
       "relative_v": [{"name", "models": [...], "system": npy system, "relative_v"}]}
OUT:  {"test": {name: {"lines": [...], "systems": [{k: v}], "average": {k: v}}},
       "devi": {name: [[row, ...] per system]}}

``dp test`` runs through DeePMD-kit's entry point (deepmd.entrypoints.test.test, what the ``dp``
command calls); its report is captured from DeePMD-kit's logger, and the full-precision errors
behind each printed block are recorded by wrapping the tester's ``log_errors``.  ``dp model-devi``
runs through deepmd.infer.model_devi.make_model_devi, once per system in the given order (DeePMD-kit
appends to the output file, so the blocks come in that order), which returns the float64 rows.
"""
from __future__ import annotations

import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        # the report only: what dp test itself and its tester log at INFO
        if record.levelno == logging.INFO and record.name.startswith(("deepmd.entrypoints.test",
                                                                       "deepmd.infer.model_test")):
            self.lines.append(record.getMessage())


def run_tests(cases: list, out: dict) -> None:
    from deepmd.entrypoints.test import test
    from deepmd.infer.model_test import EnerTester
    original = EnerTester.log_errors.__func__
    for case in cases:
        recorded = []

        def log_errors(cls, errors, _recorded=recorded):
            _recorded.append({k: float(v[0]) for k, v in errors.items()})
            return original(cls, errors)

        EnerTester.log_errors = classmethod(log_errors)
        handler = _Lines()
        logger = logging.getLogger("deepmd")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)          # what `dp` sets up (set_log_handles) before calling test
        listing = case["detail"] + ".systems"
        with open(listing, "w") as fh:
            fh.write("\n".join(case["systems"]) + "\n")
        try:
            test(model=case["model"], system=None, datafile=listing, numb_test=0, rand_seed=None,
                 shuffle_test=False, detail_file=case["detail"], atomic=False)
        finally:
            logger.removeHandler(handler)
            EnerTester.log_errors = classmethod(original)
        out[case["name"]] = {"lines": handler.lines,
                             "systems": recorded[:-1], "average": recorded[-1]}


def run_devis(cases: list, out: dict) -> None:
    from deepmd.infer.model_devi import make_model_devi
    for case in cases:
        if os.path.exists(case["output"]):
            os.remove(case["output"])
        blocks = []
        for system in case["systems"]:
            rows, = make_model_devi(models=case["models"], system=system, output=case["output"],
                                    frequency=case.get("frequency", 1), atomic=case.get("atomic", False),
                                    relative=case.get("relative"), relative_v=case.get("relative_v"))
            blocks.append(rows.tolist())
        out[case["name"]] = blocks


def run_relative_v(cases: list, out: dict) -> None:
    """(max, min, avg)_devi_v with --relative_v, frame by frame: DeePMD-kit 3.2's calc_model_devi_v
    divides a (frames, 9) array by a (frames,) one, which broadcasts only for one frame at a time
    (dp model-devi --relative_v fails on a system of several frames)."""
    import numpy as np
    from deepmd.infer import DeepPot
    from deepmd.infer.model_devi import calc_model_devi_v
    for case in cases:
        system = case["system"]
        atype = np.loadtxt(os.path.join(system, "type.raw"), dtype=int, ndmin=1)
        coord = np.load(os.path.join(system, "set.000", "coord.npy"))
        box = np.load(os.path.join(system, "set.000", "box.npy"))
        virials = np.array([DeepPot(m).eval(coord, box, atype)[2] for m in case["models"]]) / len(atype)
        rows = [np.concatenate(calc_model_devi_v(virials[:, k:k + 1], relative=case["relative_v"])).tolist()
                for k in range(len(coord))]
        out[case["name"]] = rows


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    out = {"test": {}, "devi": {}}
    run_tests(spec.get("test", []), out["test"])
    run_devis(spec.get("devi", []), out["devi"])
    run_relative_v(spec.get("relative_v", []), out["devi"])
    with open(out_path, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
