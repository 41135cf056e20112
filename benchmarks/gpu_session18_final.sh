#!/usr/bin/env bash
# The last device call of session 18 (issue 14): the CUDA tests of this session's changes (float32 typing, the
# channel-minor tables of the work-group kernels, the float32 register cap) and of session 17's last ones
# (device totals, neighbour rows); issue 14's figures at 131,072 atoms in one process (split_ab.py: cuag and
# the compressed model, float64 and float32); the float32 kernel times with the register cap.
#
#   run (device tool), carry [".ab/cuag_compressed.h5", "benchmarks/gpu_wheels/py"]:
#       bash benchmarks/gpu_session18_final.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
timeout -k 5 120 python3 -P -m pytest -q -p no:cacheprovider -rs \
    -k "cuda and ((split and (cuag or f32 or compress)) or totals or block or mixed or rows)" \
    tests/test_device.py tests/test_frame_totals.py tests/test_neighbor_groups.py > "$OUT/pytest_cuda.txt" 2>&1
tail -3 "$OUT/pytest_cuda.txt"
timeout -k 5 120 python3 -P benchmarks/split_ab.py --device cuda:0 \
    --models "cuag=tests/data/cuag/model.h5,compressed=.ab/cuag_compressed.h5" --precisions float64,float32 \
    --sizes 131072 --rounds 2 --repeats 5 --layouts split --output "$OUT/split_ab.json" 2>&1 | grep -v -i warn \
    | tee "$OUT/split_ab.txt" | tail -5
timeout -k 5 50 python3 -P benchmarks/gpu_kernel_times.py --natoms 131072 --precision float32 \
    --output "$OUT/kt-cuag-f32-cap64.json" 2>&1 | grep -v -i warn | grep -E "pair_gradient|descriptor|fitting|sum of"
