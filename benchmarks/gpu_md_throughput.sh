#!/usr/bin/env bash
# Issue 14 targets 5 and 7 on the lent GPU in ONE call of < 300 s: MD ns/day (NVE, dt 1 fs) at 2,048,
# 32,000 and 1,048,576 atoms with the bundled cuag.h5 (float64) and, when carried, the compressed
# model .ab/cuag_compressed.h5; then one DeepPot.eval of 10,000,000 atoms with cuag.h5 (time, peak
# device memory, bytes/atom, the library's largest-N prediction).
#
#   run (device tool), carry ["benchmarks/gpu_wheels/py", ".ab/cuag_compressed.h5"]:
#       bash benchmarks/gpu_md_throughput.sh
#
# Steps: benchmarks/gpu_stage.sh (GPU facts, the carried ase/tqdm wheels -- dpsycl.md needs ase --
# and the staged package, no install); an nvidia-smi sampler of the GPU's memory in use every 250 ms
# (an independent reading of the peak, beside the in-process one); then
# `benchmarks/md_scaling.py run` under a budget (points that would not fit are skipped, and the
# JSON is rewritten after every point, so a run cut short keeps what it measured).
# Results: $OUT/gpu.txt, $OUT/md/{md_scaling-h200.json, run.log, smi.csv}.  Here, afterwards:
#   cp <files_at>/md/md_scaling-h200.json benchmarks/results/
#   .venv/bin/python benchmarks/md_scaling.py report benchmarks/results/md_scaling-h200.json \
#       benchmarks/results/md_scaling-cpu.json --readme benchmarks/README.md --plot benchmarks/results/md-throughput.png
#
# Knobs: BUDGET (seconds for the Python run, default 240), TIMEOUT (its hard limit, default 270),
# SIZES (default 2048,32000,1048576), LARGE_ATOMS (default 10000000; 0 skips it), MODELS (default
# dpsycl/data/cuag.h5 plus .ab/cuag_compressed.h5 when present), COMPILE_ATOMS (default 256).
set -uo pipefail
T_START=$(date +%s)
OUT=${OUT:-/tmp/out}
BUDGET=${BUDGET:-240}
TIMEOUT=${TIMEOUT:-270}
SIZES=${SIZES:-2048,32000,1048576}
LARGE_ATOMS=${LARGE_ATOMS:-10000000}
COMPILE_ATOMS=${COMPILE_ATOMS:-256}
if [ -z "${MODELS:-}" ]; then
    MODELS=dpsycl/data/cuag.h5
    [ -f .ab/cuag_compressed.h5 ] && MODELS="$MODELS,.ab/cuag_compressed.h5"
fi
STAGE=/tmp/stage_md_throughput
stamp() { echo "[gpu_md_throughput $(( $(date +%s) - T_START )) s] $*"; }
mkdir -p "$OUT/md"
source benchmarks/gpu_stage.sh
stamp "staged; models $MODELS, sizes $SIZES, large $LARGE_ATOMS, budget $BUDGET s"

nvidia-smi --query-gpu=timestamp,memory.used,memory.total --format=csv,noheader,nounits -lms 250 \
    > "$OUT/md/smi.csv" 2>/dev/null &
SAMPLER=$!
PYTHONUNBUFFERED=1 timeout -k 10 "$TIMEOUT" python3 -P -u benchmarks/md_scaling.py run --device cuda:0 \
    --models "$MODELS" --sizes "$SIZES" --large-atoms "$LARGE_ATOMS" --compile-atoms "$COMPILE_ATOMS" --budget "$BUDGET" \
    --output "$OUT/md/md_scaling-h200.json" 2>&1 \
    | grep -v -E "NumbaPerformanceWarning|warn\(errors.NumbaPerf|^\s*$" | tee "$OUT/md/run.log"
rc=${PIPESTATUS[0]}
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
stamp "md_scaling exit status $rc"

# the sampler's view: the GPU's memory in use (MiB, CUDA context included) at its first reading and at its most
python3 - "$OUT/md/smi.csv" <<'EOF'
import sys
rows = [line.split(",") for line in open(sys.argv[1]) if line.count(",") == 2]
used = [float(r[1]) for r in rows if r[1].strip().replace(".", "").isdigit()]
if used:
    print(f"nvidia-smi: {len(used)} readings, first {used[0]:,.0f} MiB, peak {max(used):,.0f} MiB "
          f"({max(used) * 2 ** 20 / 1e9:.1f} GB) of {float(rows[0][2]):,.0f} MiB")
EOF
stamp "done"
exit "$rc"
