#!/usr/bin/env bash
# First device call of session 21 (issue 14): the split fitting kernel's reverse loop over running indices in
# float64 only (.ab/new21) against the session's starting tree (.ab/base21): DeepPot.eval at 131,072 atoms,
# cuag and the compressed cuag in float64, the trees alternating (ab_timing.py); then float64 against float32
# of .ab/new21 in one process at 131,072 and 1,048,576 atoms (split_ab.py).
#
#   run (device tool), .ab/ travels untracked: bash benchmarks/gpu_session21_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/base21}
NEW=${NEW:-.ab/new21}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
rm -rf "$STAGE" && python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('$NEW', '$STAGE')"
ab() {   # model precision tag
    timeout -k 10 150 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree new="$NEW" --device cuda:0 \
        --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" --output "$OUT/ab-$3.json" 2>&1 \
        | grep -v -i warn | grep -v "^base:\|^new:" | tail -3
}
ab tests/data/cuag/model.h5 float64 cuag-f64
ab .ab/cuag_compressed.h5 float64 compressed-f64
timeout -k 10 150 python3 -P benchmarks/split_ab.py --device cuda:0 --models cuag=tests/data/cuag/model.h5 \
    --precisions float64,float32 --sizes 131072,1048576 --rounds 2 --repeats 5 --layouts split \
    --output "$OUT/split_ab.json" 2>&1 | grep -v -i warn | tail -6
