#!/usr/bin/env bash
# Third device call of session 23 (issue 14, target 2): the fitting kernel's buffers and slope rows at
# multiples of four values and chunked_sums over chunk numbers (.ab/quad23, this tree), so that an atom's four
# values of a chunk are one vector load from shared memory, against main before it (.ab/base23):
# DeepPot.eval at 131,072 atoms, cuag float32 and float64 (ab_timing.py); then this tree's per-kernel times.
#
# The trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base23 .ab/quad23 && mkdir -p .ab/base23 .ab/quad23
#   git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/base23
#   cp -r dpsycl device_kernels extract .ab/quad23/
#
#   run (device tool): bash benchmarks/gpu_session23_quad.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_quad
source benchmarks/gpu_stage.sh
for p in float32 float64; do
    timeout -k 10 170 python3 -P benchmarks/ab_timing.py --tree base=.ab/base23 --tree quad=.ab/quad23 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --precision $p \
        --output "$OUT/ab-cuag-$p.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^quad:" | tail -4
done
for p in float64 float32; do
    timeout -k 5 100 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision $p \
        --output "$OUT/kt-$p.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of"
done
