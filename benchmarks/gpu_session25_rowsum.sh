#!/usr/bin/env bash
# First device call of session 25 (issue 14, target 6): group_pair_gradient sums each atom's row of pair
# gradients (se_e2_a_group.group_row_sum) and the force gather reads those three values instead of the
# nnei-slot row (.ab/new25, this tree), against main before it (.ab/base25): the CUDA tests of the paths it
# touches, DeepPot.eval at 131,072 atoms (ab_timing.py: the compressed cuag and cuag in float64, cuag in
# float32), then the kernels of 20 NVE MD steps of the new tree (compressed, float64; Nsight Compute).
#
# The trees, made here before the call (.ab/ is untracked and travels with the working tree):
#   rm -rf .ab/base25 .ab/new25 && mkdir -p .ab/base25 .ab/new25
#   git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/base25
#   cp -r dpsycl device_kernels extract .ab/new25/
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session25_rowsum.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_rowsum
source benchmarks/gpu_stage.sh
timeout -k 5 110 python3 -P -m pytest -q -p no:cacheprovider -rs \
    -k "cuda and ((split and (cuag or f32 or compress)) or totals or mixed)" \
    tests/test_device.py tests/test_frame_totals.py > "$OUT/pytest_cuda.txt" 2>&1
tail -3 "$OUT/pytest_cuda.txt"
for spec in ".ab/cuag_compressed.h5 float64 compressed" "tests/data/cuag/model.h5 float64 cuag" \
            "tests/data/cuag/model.h5 float32 cuag"; do
    set -- $spec
    timeout -k 10 120 python3 -P benchmarks/ab_timing.py --tree base=.ab/base25 --tree new=.ab/new25 \
        --device cuda:0 --sizes 131072 --rounds 2 --repeats 5 --model "$1" --precision "$2" \
        --output "$OUT/ab-$3-$2.json" 2>&1 | grep -v -i warn | grep -v "^base:\|^new:" | tail -4
done
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
timeout -k 10 90 "$NCU" --clock-control none --metrics gpu__time_duration.sum,launch__grid_size --csv --page raw \
    python3 -P benchmarks/gpu_md_step_driver.py --model .ab/cuag_compressed.h5 --precision float64 --natoms 131072 \
    --warm 12 --steps 20 > "$OUT/ncu-md-compressed-float64.csv" 2>> "$OUT/ncu.log"
echo "compressed float64: $(grep -c kernel_ "$OUT/ncu-md-compressed-float64.csv") kernel rows"
