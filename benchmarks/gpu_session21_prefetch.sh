#!/usr/bin/env bash
# Third device call of session 21 (issue 14): the split fitting kernel's reverse loop with the weights of four
# outputs loaded one chunk ahead of their multiply-adds on wide devices, in both precisions (.ab/pf21), against
# the tree of the first call (.ab/new21: float64's while loop, float32's range loop): DeepPot.eval at 131,072
# atoms, cuag float32 and float64 and the compressed cuag in float64, the trees alternating (ab_timing.py);
# then the per-kernel times of .ab/pf21 in float32 (gpu_kernel_times.py under Nsight Compute).
#
#   run (device tool), .ab/ travels untracked: bash benchmarks/gpu_session21_prefetch.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
BASE=${BASE:-.ab/new21}
NEW=${NEW:-.ab/pf21}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
rm -rf "$STAGE" && python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('$NEW', '$STAGE')"
ab() {   # model precision tag
    timeout -k 10 150 python3 -P benchmarks/ab_timing.py --tree base="$BASE" --tree new="$NEW" --device cuda:0 \
        --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" --output "$OUT/ab-$3.json" 2>&1 \
        | grep -v -i warn | grep -v "^base:\|^new:" | tail -3
}
ab tests/data/cuag/model.h5 float32 cuag-f32
ab tests/data/cuag/model.h5 float64 cuag-f64
ab .ab/cuag_compressed.h5 float64 compressed-f64
timeout -k 10 120 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision float32 \
    --output "$OUT/kt-pf21-float32.json" 2>&1 | grep -v -i warn | tail -14
