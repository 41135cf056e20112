#!/usr/bin/env bash
# The coverage issue's GPU column in one call (< 10 minutes): every test model against DeePMD-kit's own
# outputs on cuda:0, both kernel layouts where a descriptor offers them (benchmarks/coverage_deviations.py),
# then the feature tests that run on every device present (finite differences, compressed hybrids,
# dpsycl compress) with pytest, each step under its own time limit.
#
#   run (device tool), carry ["benchmarks/gpu_wheels/py"]:   bash benchmarks/gpu_coverage_check.sh
#
# Results in $OUT: gpu.txt, deviations_cuda.{md,json}, pytest_cuda.txt.
set -uo pipefail
OUT=${OUT:-/tmp/out}
DEVIATION_TIMEOUT=${DEVIATION_TIMEOUT:-330}
TEST_TIMEOUT=${TEST_TIMEOUT:-200}
DEVIATION_MODELS=${DEVIATION_MODELS:-}     # comma-separated; default: coverage_deviations.py's list
TESTS=${TESTS:-tests/test_hybrid.py tests/test_se_e3.py tests/test_se_e3_compress.py tests/test_compress.py}
STAGE=/tmp/stage_cov
source benchmarks/gpu_stage.sh
timeout -k 10 "$DEVIATION_TIMEOUT" python3 -P benchmarks/coverage_deviations.py --device cuda:0 \
    ${DEVIATION_MODELS:+--models "$DEVIATION_MODELS"} --output "$OUT/deviations_cuda.json" 2>&1 | grep -v -i -E "warn" | tee "$OUT/deviations_cuda.md"
echo "coverage_deviations exit status ${PIPESTATUS[0]}" | tee -a "$OUT/deviations_cuda.md"
# shellcheck disable=SC2086
timeout -k 10 "$TEST_TIMEOUT" python3 -P -m pytest -q -p no:cacheprovider -rs $TESTS 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -25
