#!/usr/bin/env bash
# First device call of session 24 (issue 14, targets 2 and 6): main as session 23 left it (float32's
# fitting loop as its own body, never timed on a GPU) in NVE MD at 131,072 and 1,048,576 atoms: cuag
# float32 and float64 (target 2) and the compressed cuag in float64 (target 6), md_scaling.py as
# gpu_session21_md.sh; then per-kernel times at 131,072 atoms (gpu_kernel_times.py, Nsight Compute) of
# cuag float32 and of the compressed model in float64.
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session24_base.sh
# The compressed model is .ab/cuag_compressed.h5 (untracked, `dpsycl compress` of the cuag graph).
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_base24
COMPRESSED=.ab/cuag_compressed.h5
source benchmarks/gpu_stage.sh
for p in float32 float64; do
    timeout -k 10 140 python3 -P benchmarks/md_scaling.py run --device cuda:0 --models tests/data/cuag/model.h5 \
        --precision $p --sizes 131072,1048576 --seconds 10 --large-atoms 0 \
        --output "$OUT/md-cuag-$p.json" 2>&1 | grep -v -i warn | tail -4
done
timeout -k 10 140 python3 -P benchmarks/md_scaling.py run --device cuda:0 --models "$COMPRESSED" \
    --precision float64 --sizes 131072,1048576 --seconds 10 --large-atoms 0 \
    --output "$OUT/md-compressed-float64.json" 2>&1 | grep -v -i warn | tail -4
timeout -k 5 100 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision float32 \
    --output "$OUT/kt-cuag-float32.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of\|eval"
timeout -k 5 100 python3 -P benchmarks/gpu_kernel_times.py --model "$COMPRESSED" --natoms 131072 --precision float64 \
    --output "$OUT/kt-compressed-float64.json" 2>&1 | grep -v -i warn | grep "kernel\|ms\|sum of\|eval" | head -30
