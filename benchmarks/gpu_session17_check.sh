#!/usr/bin/env bash
# One device call (issue 14, session 17): the CUDA tests of what changed (split layout, frame totals, neighbour
# rows), the same-run A/B of a base tree against this one (benchmarks/ab_timing.py), the kernel times of one
# evaluation at 131,072 atoms under ncu with and without a register cap for the work-group kernels, and the
# float64 / float32 / compressed figures of this tree (benchmarks/split_ab.py, layout "split").
#
#   run (device tool), carry [".ab/base", ".ab/cuag_compressed.h5", "benchmarks/gpu_wheels/py"]:
#       BASE=.ab/base bash benchmarks/gpu_session17_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/base}
CAP=${CAP:-96}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
timeout -k 10 200 python3 -P -m pytest -q -p no:cacheprovider -rs -k "split or totals or group" tests/test_device.py \
    tests/test_frame_totals.py tests/test_neighbor_groups.py 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -3
[ -d "$BASE" ] && timeout -k 10 240 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree new=. --device cuda:0 \
    --sizes 2048,131072 --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --output "$OUT/ab.json" 2>&1 \
    | grep -v -i warn | tail -6
timeout -k 10 90 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision float64 --output "$OUT/kt.json" \
    2>&1 | grep -v -i warn | tee "$OUT/kt.txt" | grep -E "kernel_|sum of"
DPSYCL_CUDA_GROUP_MAX_REGISTERS=$CAP timeout -k 10 90 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 \
    --precision float64 --output "$OUT/kt_cap$CAP.json" 2>&1 | grep -v -i warn | tee "$OUT/kt_cap$CAP.txt" \
    | grep -E "pair_gradient|sum of"
MODELS="cuag=tests/data/cuag/model.h5"
[ -f .ab/cuag_compressed.h5 ] && MODELS="$MODELS,compressed=.ab/cuag_compressed.h5"
timeout -k 10 150 python3 -P benchmarks/split_ab.py --device cuda:0 --models "$MODELS" --precisions float64,float32 \
    --sizes 131072 --rounds 2 --repeats 5 --layouts split --output "$OUT/split_ab.json" 2>&1 | grep -v -i warn \
    | tee "$OUT/split_ab.txt" | tail -8
