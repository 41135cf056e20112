#!/usr/bin/env bash
# First device call of session 22 (issue 14): the fitting kernel's four atoms interleaved in local memory and
# 16-byte aligned group-local arrays (.ab/new22) against the tree before (.ab/base22) and against that tree
# with the alignment alone (.ab/align22): DeepPot.eval at 131,072 atoms, cuag float32 and float64
# (ab_timing.py); then, for .ab/new22, float64 against float32 in one process (split_ab.py).
#
# The three trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base22 .ab/align22 .ab/new22 && mkdir -p .ab/base22 .ab/new22
#   git archive "$(git merge-base main fitting-interleave)" dpsycl device_kernels extract | tar -x -C .ab/base22
#   git archive fitting-interleave dpsycl device_kernels extract | tar -x -C .ab/new22
#   cp -r .ab/base22 .ab/align22 && cp .ab/new22/dpsycl/backends/cuda.py .ab/align22/dpsycl/backends/cuda.py
#
#   run (device tool): bash benchmarks/gpu_session22_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
rm -rf "$STAGE" && python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/new22', '$STAGE')"
python3 -P -c "from dpsycl.backends.cuda import shared_alloc; print('group-local arrays:', shared_alloc())" | tee -a "$OUT/gpu.txt"
ab() {  # label, model, precision
    timeout -k 10 200 python3 -P benchmarks/ab_timing.py --tree base=.ab/base22 --tree align=.ab/align22 \
        --tree new=.ab/new22 --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$2" --precision "$3" \
        --output "$OUT/ab-$1-$3.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:\|^align:" | tail -4
}
ab cuag tests/data/cuag/model.h5 float32
ab cuag tests/data/cuag/model.h5 float64
timeout -k 10 60 python3 -P benchmarks/split_ab.py --device cuda:0 --models cuag=tests/data/cuag/model.h5 \
    --precisions float64,float32 --sizes 131072 --rounds 2 --repeats 5 --layouts split \
    --output "$OUT/split_ab.json" 2>&1 | grep -v -i warn | tail -3
