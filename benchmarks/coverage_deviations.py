"""The feature table of the coverage issue: every test model against DeePMD-kit's own outputs, per device and layout.

    python benchmarks/coverage_deviations.py --device cuda:0 [--models a,b,...] [--output out.json]

For each model of tests/conftest.py's MODELS (and the models tested outside it: tiny_pair_compress,
tiny_hybrid_e3_compress, tiny_act_relu6_compress, tiny_se_e3_tebd, tiny_hybrid_e3_tebd), each kernel layout the device offers for it, and
each of the seven cases of tests/data/<model>/reference.npz (DeePMD-kit's TensorFlow inference), the
largest |ΔE|/atom, |ΔE_i|, |ΔF|, |ΔV|/atom and |ΔV_i| (eV, eV/Å), and whether they hold the issue's
bounds for the model's precision (tests/conftest.py: TOL).  Prints a markdown table; exit status 1 if
any model misses a bound.  A deviation table, not a test: tests/test_device.py and
tests/test_reference.py assert the same bounds.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
EXTRA = ("tiny_pair_compress", "tiny_hybrid_e3_compress", "tiny_act_relu6_compress", "tiny_se_e3_tebd",
         "tiny_hybrid_e3_tebd")


def deviations(dp, ref: dict, cases, tol: dict) -> dict:
    from conftest import case_params, reference_case
    worst = dict(energy=0.0, atom_energy=0.0, force=0.0, virial=0.0, atom_virial=0.0)
    for case in cases:
        coords, cells, atype, out = reference_case(ref, case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # the dense case overfills sel (tests assert the warning)
            e, f, v, ae, av = dp.eval(coords, cells, atype, atomic=True, **case_params(ref, case))
        n = len(atype)
        got = dict(energy=np.abs(e.ravel() - out["energy"].ravel()).max() / n,
                   atom_energy=(np.abs(ae.ravel() - out["atom_energy"].ravel())
                                / (1 + tol["rel"] / tol["energy"] * np.abs(out["atom_energy"].ravel()))).max(),
                   force=np.abs(f.ravel() - out["force"].ravel()).max(),
                   virial=np.abs(v.ravel() - out["virial"].ravel()).max() / n,
                   atom_virial=np.abs(av.ravel() - out["atom_virial"].ravel()).max())
        worst = {k: max(worst[k], float(got[k])) for k in worst}
    return worst


def main(argv=None) -> int:
    import dpsycl
    from conftest import CASES, DATA, MODELS, TOL, model_file
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="numpy")
    p.add_argument("--models", default=",".join((*MODELS, *EXTRA)))
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    rows, ok = [], True
    print("| model | precision | device | layout | ΔE/atom | ΔE_i | ΔF | ΔV/atom | ΔV_i | bounds | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model = dpsycl.load_model(model_file(name))
        ref = dict(np.load(DATA / name / "reference.npz"))
        tol = TOL[model.precision]
        dp = dpsycl.DeepPot(model, device=args.device)
        ev = getattr(dp, "evaluator", None)
        layouts = [None] if ev is None or not hasattr(ev, "passes") else [
            lay for lay in ev.passes.layouts if lay != "group" or ev.backend.supports_groups]
        for layout in layouts:
            if layout is not None:
                ev.layout = layout
            t0 = time.perf_counter()
            worst = deviations(dp, ref, CASES, tol)
            held = (worst["energy"] <= tol["energy"] and worst["atom_energy"] <= tol["energy"]
                    and worst["force"] <= tol["force"] and worst["virial"] <= tol["virial"]
                    and worst["atom_virial"] <= tol["virial"])
            ok &= held
            row = dict(model=name, precision=model.precision, device=args.device, layout=layout or "-",
                       held=held, seconds=time.perf_counter() - t0, **worst)
            rows.append(row)
            print(f"| {name} | {model.precision} | {args.device} | {row['layout']} | {worst['energy']:.1e} | "
                  f"{worst['atom_energy']:.1e} | {worst['force']:.1e} | {worst['virial']:.1e} | "
                  f"{worst['atom_virial']:.1e} | {'held' if held else 'MISSED'} | {row['seconds']:.0f} |", flush=True)
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
