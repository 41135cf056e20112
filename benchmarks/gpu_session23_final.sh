#!/usr/bin/env bash
# Fourth device call of session 23 (issue 14, target 2): chunked_sums over chunk numbers in float32 only
# (fit_quads; float64 compiles to main's SASS), this tree (.ab/quad23) against main before it (.ab/base23):
# DeepPot.eval at 131,072 atoms, cuag float32 and float64 (ab_timing.py); NVE MD of this tree at 131,072 and
# 1,048,576 atoms in both precisions (md_scaling.py); its float32 per-kernel times (gpu_kernel_times.py).
#
# The trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base23 .ab/quad23 && mkdir -p .ab/base23 .ab/quad23
#   git archive HEAD~1 dpsycl device_kernels extract | tar -x -C .ab/base23     (HEAD: this change's commit)
#   git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/quad23
#
#   run (device tool), carry [".ab", "benchmarks/gpu_wheels"]: bash benchmarks/gpu_session23_final.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_final
source benchmarks/gpu_stage.sh
for p in float32 float64; do
    timeout -k 10 150 python3 -P benchmarks/ab_timing.py --tree base=.ab/base23 --tree quad=.ab/quad23 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --precision $p \
        --output "$OUT/ab-cuag-$p.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^quad:" | tail -4
done
for p in float32 float64; do
    timeout -k 10 140 python3 -P benchmarks/md_scaling.py run --device cuda:0 --models tests/data/cuag/model.h5 \
        --precision $p --sizes 131072,1048576 --seconds 10 --large-atoms 0 \
        --output "$OUT/md-cuag-$p.json" 2>&1 | grep -v -i warn | tail -2
done
timeout -k 5 100 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision float32 \
    --output "$OUT/kt-float32.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of"
