#!/usr/bin/env bash
# Third device call of session 24 (issue 14, target 6): the split layout's fitting kernel keeping its
# activation slopes in the pair gradients' buffer instead of shared memory (.ab/new24, this tree; float64's
# block of four atoms 37 -> 25.6 KB of shared memory), against main before it (.ab/base24): DeepPot.eval at
# 131,072 atoms, cuag float64 and float32 and the compressed cuag in float64 (ab_timing.py); then the new
# tree's per-kernel times in float64 and float32.
#
# The trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base24 .ab/new24 && mkdir -p .ab/base24 .ab/new24
#   git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/base24
#   cp -r dpsycl device_kernels extract .ab/new24/
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session24_slopes.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_slopes
source benchmarks/gpu_stage.sh
for spec in "tests/data/cuag/model.h5 float64 cuag" "tests/data/cuag/model.h5 float32 cuag" \
            ".ab/cuag_compressed.h5 float64 compressed"; do
    set -- $spec
    timeout -k 10 150 python3 -P benchmarks/ab_timing.py --tree base=.ab/base24 --tree new=.ab/new24 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" \
        --output "$OUT/ab-$3-$2.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -4
done
for p in float64 float32; do
    timeout -k 5 100 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision $p \
        --output "$OUT/kt-$p.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of"
done
