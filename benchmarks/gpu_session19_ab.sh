#!/usr/bin/env bash
# (Run on tree 55622df: PART=b's split:0:4 / split:0:8 layouts and the eight-atom fitting kernel were reverted after
# these runs measured them slower, benchmarks/NOTES.md session 19; split_ab.py no longer takes :G.)
# Device calls of session 19 (issue 14): the fitting kernel's strides and atoms per work-group compiled in, its
# reverse loop in the wide devices' form, eight atoms per work-group where they fit (float32), and float32
# positions narrowed on the device.  PART=a: the CUDA tests, a check that the float32 model still does not
# depend on where the structure lies, and the same-run A/B of the session's starting tree ($BASE) against
# this one at 131,072 atoms.  PART=b: four against eight atoms per work-group in one process (split_ab.py),
# every kernel's time (gpu_kernel_times.py) and the host's time by kind (host_timeline.py) in float32.
#
#   run (device tool), carry [".ab/base19", ".ab/cuag_compressed.h5", "benchmarks/gpu_wheels/py"]:
#       PART=a bash benchmarks/gpu_session19_ab.sh;  PART=b bash benchmarks/gpu_session19_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/base19}
PART=${PART:-a}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
if [ "$PART" = a ]; then
    timeout -k 5 130 python3 -P -m pytest -q -p no:cacheprovider -rs \
        -k "cuda and ((split and (cuag or f32 or compress)) or mixed or float32)" \
        tests/test_device.py > "$OUT/pytest_cuda.txt" 2>&1
    tail -3 "$OUT/pytest_cuda.txt"
    timeout -k 5 60 python3 -P - <<'PY' 2>&1 | grep -v -i warn | tee "$OUT/narrow_check.txt"
import numpy as np, dpsycl
ref = dict(np.load("tests/data/cuagau_f32/reference.npz"))
coords, cells, atype = ref["bulk_coords"][:1], ref["bulk_cells"][:1], ref["bulk_atype"]
model = "tests/data/cuagau_f32/model.h5"
want = dpsycl.DeepPot(model, device="numpy").eval(coords, cells, atype)
dp = dpsycl.DeepPot(model, device="cuda:0")
print("narrowed on the device:", dp.evaluator.narrows_on_device(cells.reshape(3, 3)))
for shift in (0.0, 1e3, 1e5):
    moved = (coords.reshape(-1, 3) + shift * cells.reshape(3, 3).sum(axis=0)).reshape(1, -1)
    got = dp.eval(moved, cells, atype)
    print(f"shift {shift:g} lattice vectors: |dE|/atom {abs(got[0][0, 0] - want[0][0, 0]) / len(atype):.2e}, "
          f"max |dF| {np.abs(got[1] - want[1]).max():.2e} eV/A (suite's float32 tolerance: see tests/conftest.py TOL)")
PY
    for spec in "tests/data/cuag/model.h5 float32 cuag-f32" "tests/data/cuag/model.h5 float64 cuag-f64" \
                ".ab/cuag_compressed.h5 float64 compressed-f64"; do
        set -- $spec
        timeout -k 10 140 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree new=. \
            --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" \
            --output "$OUT/ab-$3.json" 2>&1 | grep -v -i warn | tail -3
    done
else
    timeout -k 10 120 python3 -P benchmarks/split_ab.py --device cuda:0 --models "cuag=tests/data/cuag/model.h5" \
        --precisions float32 --sizes 131072 --rounds 3 --repeats 5 --layouts split:0:4,split:0:8 \
        --output "$OUT/split_ab_groups.json" 2>&1 | grep -v -i warn | tail -4
    for spec in "tests/data/cuag/model.h5 float32 cuag-f32" "tests/data/cuag/model.h5 float64 cuag-f64" \
                ".ab/cuag_compressed.h5 float64 compressed-f64"; do
        set -- $spec
        timeout -k 10 60 python3 -P benchmarks/gpu_kernel_times.py --model "$1" --natoms 131072 --precision "$2" \
            --output "$OUT/kt-$3.json" 2>&1 | grep -v -i warn | grep -E "fitting|descriptor|pair_gradient|sum of"
    done
    timeout -k 10 90 python3 -P benchmarks/host_timeline.py --device cuda:0 --sizes 131072 --precision float32 \
        --model tests/data/cuag/model.h5 --repeats 10 --output "$OUT/host-float32.json" 2>&1 | grep -v -i warn
fi
