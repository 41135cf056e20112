#!/usr/bin/env bash
# One device call for se_e2_a's split layout (issue 14): the device tests on cuda:0 (every layout, the split
# one included), the same-process A/B of the one-kernel group layout against the split layout
# (benchmarks/split_ab.py: cuag float64 and float32, the compressed cuag in .ab/cuag_compressed.h5), and the
# kernel times of one evaluation at SPLIT_NCU_ATOMS under ncu (benchmarks/gpu_kernel_times.py).
#
#   run (device tool), carry [".ab/cuag_compressed.h5", "benchmarks/gpu_wheels/py"]:
#       bash benchmarks/gpu_split_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
SIZES=${SIZES:-2048,32768,131072}
ROUNDS=${ROUNDS:-3}
LAYOUTS=${LAYOUTS:-fused,split}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
TEST_FILTER=${TEST_FILTER:-}                 # e.g. "split": only the tests whose names contain it
AB_TIMEOUT=${AB_TIMEOUT:-240}
NCU_TIMEOUT=${NCU_TIMEOUT:-100}
SPLIT_NCU_ATOMS=${SPLIT_NCU_ATOMS:-131072}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
[ "$TEST_TIMEOUT" -gt 0 ] && timeout -k 10 "$TEST_TIMEOUT" python3 -P -m pytest -q -p no:cacheprovider -rs \
    ${TEST_FILTER:+-k "$TEST_FILTER"} tests/test_device.py tests/test_compress.py tests/test_architecture.py 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -15
MODELS="cuag=tests/data/cuag/model.h5"
[ -f .ab/cuag_compressed.h5 ] && MODELS="$MODELS,compressed=.ab/cuag_compressed.h5"
timeout -k 10 "$AB_TIMEOUT" python3 -P benchmarks/split_ab.py --device cuda:0 --models "$MODELS" \
    --precisions float64,float32 --sizes "$SIZES" --rounds "$ROUNDS" --repeats 5 --layouts "$LAYOUTS" --output "$OUT/split_ab.json" \
    2>&1 | grep -v -i warn | tee "$OUT/split_ab.txt"
[ "$NCU_TIMEOUT" -gt 0 ] && timeout -k 10 "$NCU_TIMEOUT" python3 -P benchmarks/gpu_kernel_times.py --natoms "$SPLIT_NCU_ATOMS" \
    --precision float64 --output "$OUT/kernel_times.json" 2>&1 | grep -v -i warn | tee "$OUT/kernel_times.txt" | tail -20
