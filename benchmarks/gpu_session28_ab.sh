#!/usr/bin/env bash
# First device call of session 28 (issue 14): the split layout's fitting kernel (`fitting_group_atoms`),
# whose D_i and dE/dT_i loops became helpers shared with the CPU's row kernels in session 27
# (`descriptor_lanes`, `t_gradient_lanes`), against the tree before (.ab/base28 = git archive of eefffca):
# the CUDA tests of the split layout on cuag, then DeepPot.eval at 131,072 atoms (ab_timing.py) for cuag in
# float64 and float32 and the compressed cuag in float64.
#
# The trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base28 .ab/new28 && mkdir -p .ab/base28 .ab/new28
#   git archive eefffca dpsycl device_kernels extract | tar -x -C .ab/base28
#   cp -r dpsycl device_kernels extract .ab/new28/
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session28_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_ab28
source benchmarks/gpu_stage.sh
timeout -k 5 100 python3 -P -m pytest -q -p no:cacheprovider -rs -k "cuda and split and cuag" tests/test_device.py \
    > "$OUT/pytest_cuda_split.txt" 2>&1
tail -1 "$OUT/pytest_cuda_split.txt"
for spec in "tests/data/cuag/model.h5 cuag float64" ".ab/cuag_compressed.h5 compressed float64" \
            "tests/data/cuag/model.h5 cuag float32"; do
    set -- $spec
    timeout -k 10 140 python3 -P benchmarks/ab_timing.py --tree base=.ab/base28 --tree new=.ab/new28 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$3" \
        --output "$OUT/ab-$2-$3.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -4
done
