#!/usr/bin/env bash
# Second device call of session 28 (issue 14, target 2 and the fitting kernel's A/B): the tree with
# fitting_group_atoms's loops written out again (.ab/new28, made as in gpu_session28_ab.sh) against eefffca
# (.ab/base28), DeepPot.eval at 131,072 atoms for cuag in float32 (the case that lost 16%); then NVE MD
# of cuag at 131,072 and 1,048,576 atoms in float64 and in float32, one run after the other in this call
# (md_scaling.py), the compressed cuag in float64 after cuag's float64 points (target 6).
#
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab"]: bash benchmarks/gpu_session28_md.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_md28
source benchmarks/gpu_stage.sh
for spec in "tests/data/cuag/model.h5 cuag float32"; do
    set -- $spec
    timeout -k 10 140 python3 -P benchmarks/ab_timing.py --tree base=.ab/base28 --tree new=.ab/new28 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$3" \
        --output "$OUT/ab-$2-$3.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -3
done
for spec in "float64 tests/data/cuag/model.h5,.ab/cuag_compressed.h5 150" "float32 tests/data/cuag/model.h5 100"; do
    set -- $spec
    precision=$1
    PYTHONUNBUFFERED=1 timeout -k 10 "$3" python3 -P benchmarks/md_scaling.py run --device cuda:0 \
        --models "$2" --precision "$precision" --sizes 131072,1048576 --seconds 8 \
        --large-atoms 0 --output "$OUT/md-$precision.json" 2>&1 | grep -v -i warn | tail -8
done
