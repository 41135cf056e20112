#!/usr/bin/env bash
# Second device call of session 23 (issue 14, target 2): this tree (main with 16-byte aligned group-local
# arrays, the part of session 22's fitting-interleave branch that paid in the first call) in NVE MD at
# 131,072 and 1,048,576 atoms, float32 and float64 (md_scaling.py, as gpu_session21_md.sh), then its
# per-kernel times at 131,072 atoms (gpu_kernel_times.py under Nsight Compute).
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session23_align.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_align
source benchmarks/gpu_stage.sh
python3 -P -c "from dpsycl.backends.cuda import shared_alloc; print('group-local arrays:', shared_alloc())" | tee -a "$OUT/gpu.txt"
for p in float32 float64; do
    timeout -k 10 140 python3 -P benchmarks/md_scaling.py run --device cuda:0 --models tests/data/cuag/model.h5 \
        --precision $p --sizes 131072,1048576 --seconds 10 --large-atoms 0 \
        --output "$OUT/md-cuag-$p.json" 2>&1 | grep -v -i warn | tail -4
done
for p in float64 float32; do
    timeout -k 5 100 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision $p \
        --output "$OUT/kt-$p.json" 2>&1 | grep -v -i warn | grep "fitting\|descriptor\|gradient\|sum of"
done
