#!/usr/bin/env bash
# One device call (issue 14, session 18): the CUDA tests of session 17's last changes (the device totals'
# fresh-zero fix, the stencil walk of the neighbour rows) and of float32; the same-run A/B of a base tree
# against this one (cuag float32, the compressed model float64); then where float32 and the
# compressed model spend their time at 131,072 atoms: every kernel's duration (gpu_kernel_times.py) and the
# counters of every kernel (gpu_ncu.sh's raw metrics).
#
#   run (device tool), carry [".ab/base18", ".ab/cuag_compressed.h5", "benchmarks/gpu_wheels/py"]:
#       BASE=.ab/base18 bash benchmarks/gpu_session18_profile.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/base18}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
timeout -k 10 150 python3 -P -m pytest -q -p no:cacheprovider -rs \
    -k "cuda and (split or totals or block or f32 or float32 or mixed or compress)" \
    tests/test_device.py tests/test_frame_totals.py tests/test_neighbor_groups.py 2>&1 \
    | tee "$OUT/pytest_cuda.txt" | tail -3
for spec in "tests/data/cuag/model.h5 float32 cuag-f32" ".ab/cuag_compressed.h5 float64 compressed-f64"; do
    set -- $spec
    [ -d "$BASE" ] && timeout -k 10 130 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree new=. \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" \
        --output "$OUT/ab-$3.json" 2>&1 | grep -v -i warn | tail -3
done
for spec in "tests/data/cuag/model.h5 float32 cuag-f32" ".ab/cuag_compressed.h5 float64 compressed-f64" \
            ".ab/cuag_compressed.h5 float32 compressed-f32"; do
    set -- $spec
    timeout -k 10 60 python3 -P benchmarks/gpu_kernel_times.py --model "$1" --natoms 131072 --precision "$2" \
        --output "$OUT/kt-$3.json" 2>&1 | grep -v -i warn | tee "$OUT/kt-$3.txt" | grep -E "kernel_|sum of"
done
NATOMS=131072 CASES="tests/data/cuag/model.h5 float32 f32
.ab/cuag_compressed.h5 float64 compressed" timeout -k 10 200 bash benchmarks/gpu_ncu.sh
