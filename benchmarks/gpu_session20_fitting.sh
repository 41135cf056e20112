#!/usr/bin/env bash
# Third device call of session 20 (issue 14): the split fitting kernel's reverse loop as a while loop over
# running indices on wide devices (per_pass 2; CPUs keep the range), .ab/fitw, against the tree before it
# (.ab/head20): DeepPot.eval at 131,072 atoms, cuag float32 and float64, the trees alternating (ab_timing.py).
#
#   run (device tool), .ab/ travels untracked: bash benchmarks/gpu_session20_fitting.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
for p in float32 float64; do
    timeout -k 10 115 python3 -P benchmarks/ab_timing.py --tree base=.ab/head20 --tree new=.ab/fitw --device cuda:0 \
        --sizes 131072 --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --precision $p \
        --output "$OUT/ab-fitting-$p.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -3
done
