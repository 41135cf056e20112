#!/usr/bin/env bash
# Fifth device call of session 23 (issue 14, target 2): chunked_sums' float32 loop over chunk numbers written as
# in the third call's tree (shifts, not floor divisions: .ab/quad23, this tree), against main before the change
# (.ab/base23): DeepPot.eval at 131,072 atoms, cuag float32 (ab_timing.py), then this tree's float32 kernels.
#
# Trees: as gpu_session23_final.sh, but .ab/quad23 copied from the working tree (cp -r dpsycl device_kernels extract).
#   run (device tool): bash benchmarks/gpu_session23_u.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_u
source benchmarks/gpu_stage.sh
timeout -k 10 110 python3 -P benchmarks/ab_timing.py --tree base=.ab/base23 --tree quad=.ab/quad23 \
    --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --precision float32 \
    --output "$OUT/ab-cuag-float32.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^quad:" | tail -4
timeout -k 5 80 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision float32 \
    --output "$OUT/kt-float32.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of"
