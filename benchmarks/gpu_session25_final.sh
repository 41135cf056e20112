#!/usr/bin/env bash
# Last device call of session 25 (issue 14, target 6): this tree (.ab/new25: the split layout's row sums and
# group_descriptor's float64 cap of 64 registers) against main before the session (.ab/base25): the CUDA tests
# of the split layout on cuag, DeepPot.eval at 131,072 atoms (ab_timing.py, the compressed cuag and cuag in
# float64), then NVE MD of this tree at 131,072 atoms in float64 (md_scaling.py, both models).
#
# The trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base25 .ab/new25 && mkdir -p .ab/base25 .ab/new25
#   git archive 62b16e2 dpsycl device_kernels extract | tar -x -C .ab/base25
#   cp -r dpsycl device_kernels extract .ab/new25/
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session25_final.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_final25
source benchmarks/gpu_stage.sh
timeout -k 5 90 python3 -P -m pytest -q -p no:cacheprovider -rs -k "cuda and split and cuag" tests/test_device.py \
    > "$OUT/pytest_cuda_final.txt" 2>&1
tail -1 "$OUT/pytest_cuda_final.txt"
for spec in ".ab/cuag_compressed.h5 compressed" "tests/data/cuag/model.h5 cuag"; do
    set -- $spec
    timeout -k 10 110 python3 -P benchmarks/ab_timing.py --tree base=.ab/base25 --tree new=.ab/new25 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision float64 \
        --output "$OUT/ab-final-$2-float64.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -3
done
timeout -k 10 130 python3 -P benchmarks/md_scaling.py run --device cuda:0 \
    --models .ab/cuag_compressed.h5,tests/data/cuag/model.h5 --precision float64 --sizes 131072 --seconds 10 \
    --large-atoms 0 --output "$OUT/md-final-float64.json" 2>&1 | grep -v -i warn | grep "done\|131072" | tail -3
