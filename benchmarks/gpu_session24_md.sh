#!/usr/bin/env bash
# Second device call of session 24 (issue 14, targets 5 and 7): the README's MD table measured again with
# today's kernels -- gpu_md_throughput.sh as it stands (cuag float64 and the compressed model at 2,048,
# 32,000 and 1,048,576 atoms, then one DeepPot.eval of 10,000,000 atoms) -- and the same MD points for
# cuag in float32, into a second file.
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session24_md.sh
# Here, afterwards: cp <files_at>/md/md_scaling-h200*.json benchmarks/results/ and md_scaling.py report.
set -uo pipefail
OUT=${OUT:-/tmp/out}
BUDGET=230 TIMEOUT=260 bash benchmarks/gpu_md_throughput.sh
PYTHONPATH=/tmp/stage_md_throughput:${SITE:-/tmp/gpu_site} PYTHONUNBUFFERED=1 timeout -k 10 200 python3 -P -u benchmarks/md_scaling.py run --device cuda:0 \
    --models dpsycl/data/cuag.h5 --precision float32 --sizes 2048,32000,1048576 --large-atoms 0 \
    --compile-atoms 256 --budget 170 --output "$OUT/md/md_scaling-h200-float32.json" 2>&1 \
    | grep -v -E "NumbaPerformanceWarning|warn\(errors.NumbaPerf|^\s*$" | tee "$OUT/md/run-float32.log"
