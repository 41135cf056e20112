#!/usr/bin/env bash
# One device call of session 20 (issue 14): the work-group passes' embedding batch written once for any BATCH
# (private arrays indexed in unrolled loops), at BATCH = 4 (.ab/b4) and 8 (.ab/b8), against the session's starting tree ($BASE), DeepPot.eval at 131,072 atoms in one process per
# model and precision (ab_timing.py, the trees alternating), then the kernel times of $NEW (ncu).
#
#   run (device tool), .ab/ travels untracked: bash benchmarks/gpu_session20_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/base20}
STAGE=/tmp/stage_new
NEW=${NEW:-.ab/b8}
source benchmarks/gpu_stage.sh
# the kernel times are of $NEW's package
rm -rf "$STAGE" && python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('$NEW', '$STAGE')"
for spec in "tests/data/cuag/model.h5 float32 cuag-f32" "tests/data/cuag/model.h5 float64 cuag-f64" \
            ".ab/cuag_compressed.h5 float64 compressed-f64"; do
    set -- $spec
    timeout -k 10 150 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree b4=.ab/b4 --tree b8="$NEW" \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" \
        --output "$OUT/ab-$3.json" 2>&1 | grep -v -i warn | tail -4
done
for p in float32 float64; do
    timeout -k 10 100 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision $p --repeats 5 \
        --output "$OUT/kt-b8-$p.json" 2>&1 | grep -v -i warn | grep -i "group\|neighbor\|eval\|sum" | head -8
done
