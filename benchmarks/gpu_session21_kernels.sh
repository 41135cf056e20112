#!/usr/bin/env bash
# Last device call of session 21 (issue 14): per-kernel times of this tree at 131,072 atoms, float64 then
# float32 (gpu_kernel_times.py under Nsight Compute).
#
#   run (device tool): bash benchmarks/gpu_session21_kernels.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_kt
source benchmarks/gpu_stage.sh
for p in float64 float32; do
    timeout -k 5 110 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision $p \
        --output "$OUT/kt-$p.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of"
done
