#!/usr/bin/env bash
# Second device call of session 21 (issue 14, target 2 in MD): NVE throughput (dt 1 fs, skin 1 Å) of cuag at
# 131,072 and 1,048,576 atoms in float32 and in float64, and of the compressed cuag in float64, one
# md_scaling.py run each (the neighbour list is rebuilt only when an atom has moved half the skin, so an MD
# step carries none of DeepPot.eval's input checks, uploads and list builds).
#
#   run (device tool), carry ["benchmarks/gpu_wheels"] (ase, tqdm: `pip download --no-deps -d
#   benchmarks/gpu_wheels/py ase tqdm`) and .ab/cuag_compressed.h5 travels untracked:
#       bash benchmarks/gpu_session21_md.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_md
source benchmarks/gpu_stage.sh
SIZES=${SIZES:-131072,1048576}
md() {   # tag model precision
    timeout -k 10 "${TIMEOUT:-150}" python3 -P benchmarks/md_scaling.py run --device cuda:0 --models "$2" \
        --precision "$3" --sizes "$SIZES" --seconds "${SECONDS_PER_POINT:-15}" --large-atoms 0 \
        --output "$OUT/md-$1.json" 2>&1 | grep -v -i warn | tail -4
}
md cuag-f32 tests/data/cuag/model.h5 float32
md cuag-f64 tests/data/cuag/model.h5 float64
md compressed-f64 .ab/cuag_compressed.h5 float64
