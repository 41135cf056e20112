#!/usr/bin/env bash
# Fourth device call of session 21 (issue 14): the fitting kernel's forward layers also through chunked_sums
# (weights loaded a chunk ahead; .ab/pf2) against the reverse layers alone (.ab/pf21): DeepPot.eval at 131,072
# atoms, cuag float32 and float64 (ab_timing.py); then, for .ab/pf2, float64 against float32 in one process
# (split_ab.py) and in NVE MD (md_scaling.py, 131,072 atoms).
#
#   run (device tool), carry ["benchmarks/gpu_wheels"], .ab/ travels untracked: bash benchmarks/gpu_session21_final.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/pf21}
NEW=${NEW:-.ab/pf2}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
rm -rf "$STAGE" && python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('$NEW', '$STAGE')"
for p in float32 float64; do
    timeout -k 10 130 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree new="$NEW" --device cuda:0 \
        --sizes 131072 --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --precision $p \
        --output "$OUT/ab-cuag-$p.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -3
done
timeout -k 10 60 python3 -P benchmarks/split_ab.py --device cuda:0 --models cuag=tests/data/cuag/model.h5 \
    --precisions float64,float32 --sizes 131072 --rounds 2 --repeats 5 --layouts split \
    --output "$OUT/split_ab.json" 2>&1 | grep -v -i warn | tail -3
for p in float32 float64; do
    timeout -k 10 75 python3 -P benchmarks/md_scaling.py run --device cuda:0 --models tests/data/cuag/model.h5 \
        --precision $p --sizes 131072 --seconds 10 --large-atoms 0 --output "$OUT/md-cuag-$p.json" 2>&1 \
        | grep -v -i warn | tail -1
done
