#!/usr/bin/env bash
# The GPU checks of a session in one call (< 10 minutes): the launch probe (benchmarks/gpu_launch_probe.py:
# direct launches against numba-cuda's dispatcher in one process, bit-identity and ms per MD step; skipped
# with PROBE_TIMEOUT=0), the device tests on cuda:0 (the staged package, no install), the device-memory
# check (benchmarks/gpu_memory_check.py: the largest N the
# evaluator predicts, a refusal above it, an evaluation at MEMORY_FRACTION of it), then the
# same-run A/B timing of the commit in .ab/old against this tree.  Each step has its own time limit
# (TEST_TIMEOUT, MEMORY_TIMEOUT, AB_TIMEOUT seconds), so one slow step cannot take the others' results;
# 0 skips the probe, the tests or the memory check.
# COMPRESS_TIMEOUT > 0 adds benchmarks/gpu_compress_speed.py: .ab/cuag_compressed.h5 (dpsycl compress of the
# cuag graph) against the cuag model, same run.
#
#   run (device tool), carry [".ab", "benchmarks/gpu_wheels/py"]:   bash benchmarks/gpu_final_check.sh
#
# benchmarks/gpu_wheels/py holds pure-Python wheels the image lacks (ase, tqdm), installed into a
# folder on PYTHONPATH so that the ASE- and CLI-level tests run too.
set -uo pipefail
OUT=${OUT:-/tmp/out}
SIZES=${SIZES:-2048,8788,131072}
ROUNDS=${ROUNDS:-5}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
MEMORY_TIMEOUT=${MEMORY_TIMEOUT:-150}
MEMORY_FRACTION=${MEMORY_FRACTION:-0.9}
AB_TIMEOUT=${AB_TIMEOUT:-240}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-200}
COMPRESS_TIMEOUT=${COMPRESS_TIMEOUT:-0}      # > 0: also time .ab/cuag_compressed.h5 against the cuag model
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
if [ "$PROBE_TIMEOUT" -gt 0 ]; then
    timeout -k 10 "$PROBE_TIMEOUT" python3 -P benchmarks/gpu_launch_probe.py tests/data/cuag/model.h5 8 "$OUT/launch_probe.json" \
        2>&1 | grep -v -i -E "warn" | tee "$OUT/launch_probe.txt" | tail -45
fi
[ "$TEST_TIMEOUT" -gt 0 ] && timeout -k 10 "$TEST_TIMEOUT" python3 -P -m pytest -q -p no:cacheprovider -rs tests/test_device.py tests/test_reference.py tests/test_architecture.py \
    tests/test_parameters.py tests/test_dp_files.py tests/test_ase_calc.py tests/test_se_e3.py tests/test_hybrid.py \
    tests/test_compress.py tests/test_type_embedding.py tests/test_cuda_launch.py 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -25
if [ "$MEMORY_TIMEOUT" -gt 0 ]; then
    timeout -k 10 "$MEMORY_TIMEOUT" python3 -P benchmarks/gpu_memory_check.py --device cuda:0 --fraction "$MEMORY_FRACTION" \
        --output "$OUT/memory_cuda.json" 2>&1 | grep -v -i -E "warn" | tail -30
fi
if [ "$COMPRESS_TIMEOUT" -gt 0 ] && [ -f .ab/cuag_compressed.h5 ]; then
    timeout -k 10 "$COMPRESS_TIMEOUT" python3 -P benchmarks/gpu_compress_speed.py tests/data/cuag/model.h5 .ab/cuag_compressed.h5 \
        --device cuda:0 --output "$OUT/compress_cuda.json" 2>&1 | grep -v -i -E "warn" | tee "$OUT/compress_cuda.txt" | tail -5
fi
export PYTHONPATH="$SITE"
timeout -k 10 "$AB_TIMEOUT" python3 benchmarks/ab_timing.py --tree before=.ab/old --tree after=. --device cuda:0 --sizes "$SIZES" \
    --rounds "$ROUNDS" --repeats 5 --model tests/data/cuag/model.h5 --output "$OUT/ab_cuda.json" 2>&1 | tee "$OUT/ab_cuda.txt"
