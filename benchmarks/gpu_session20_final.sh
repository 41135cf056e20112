#!/usr/bin/env bash
# Second device call of session 20 (issue 14): the embedding batch by precision (float32 eight neighbours,
# float64 four, compiled in) with group_descriptor capped at 80 registers in float64 (.ab/new), and without
# the cap (.ab/nocap), against the session's starting tree ($BASE): DeepPot.eval at 131,072 atoms, one process
# per model and precision, the trees alternating (ab_timing.py); then issue 14's float64/float32 ratio of
# .ab/new in one process (split_ab.py).
#
#   run (device tool), .ab/ travels untracked: bash benchmarks/gpu_session20_final.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/base20}
NEW=${NEW:-.ab/new}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
rm -rf "$STAGE" && python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('$NEW', '$STAGE')"
ab() {   # model precision tag trees...
    local model=$1 precision=$2 tag=$3; shift 3
    timeout -k 10 "$TIMEOUT" python3 -P benchmarks/ab_timing.py "$@" --device cuda:0 --sizes 131072 --rounds 2 \
        --repeats 5 --model "$model" --precision "$precision" --output "$OUT/ab-$tag.json" 2>&1 \
        | grep -v -i warn | grep -v "^base:\|^new:\|^nocap:" | tail -3
}
TIMEOUT=150 ab tests/data/cuag/model.h5 float32 cuag-f32 --tree base="$BASE" --tree new="$NEW"
TIMEOUT=170 ab tests/data/cuag/model.h5 float64 cuag-f64 --tree base="$BASE" --tree new="$NEW" --tree nocap=.ab/nocap
TIMEOUT=170 ab .ab/cuag_compressed.h5 float64 compressed-f64 --tree base="$BASE" --tree new="$NEW" --tree nocap=.ab/nocap
timeout -k 10 90 python3 -P benchmarks/split_ab.py --device cuda:0 --models cuag=tests/data/cuag/model.h5 \
    --precisions float64,float32 --sizes 131072 --rounds 2 --repeats 5 --layouts split \
    --output "$OUT/split_ab_final.json" 2>&1 | grep -v -i warn | tail -4
