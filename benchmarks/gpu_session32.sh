#!/usr/bin/env bash
# Device calls of session 32 (issue 14, target 2: float32 twice as fast as float64 at 131,072 atoms).
#
# PART=ab: DeepPot.eval at 131,072 atoms (ab_timing.py: trees alternated, each kernel's registers and blocks
# per SM recorded) for each "model precision tree tree ..." of AB_SPECS; then Nsight Compute's kernel times of
# one evaluation for each "tree model precision" of KT_SPECS.  MD runs with gpu_session31.sh's PART=md.
# PART=ncu: Nsight Compute's counters (issue activity, stalls, throughputs, instructions) of the products' row
# kernels (NCU_KERNELS) in one evaluation of NCU_MODEL (cuag) in NCU_PRECISION (float32), this tree.
#
# Left for the next session's first call (results/session32/rows-while-loops.patch, never run on a GPU): make
# .ab/new32 = b8 with the patch applied, then
#   KT_SPECS="new32 tests/data/cuag/model.h5 float32;b8 tests/data/cuag/model.h5 float32" AB_SPECS="" PART=ab \
#       bash benchmarks/gpu_session32.sh
#   MD_SPECS="new32 float32 tests/data/cuag/model.h5;b8 float32 tests/data/cuag/model.h5;new32 float64 \
#       tests/data/cuag/model.h5;b8 float64 tests/data/cuag/model.h5" PART=md bash benchmarks/gpu_session31.sh
#
# The trees live under .ab/ (untracked, carried): b8 is the tree as kept,
#   rm -rf .ab/b8 && mkdir -p .ab/b8 && git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/b8 \
#       && rm -f .ab/b8/dpsycl/data/*.h5 .ab/b8/dpsycl/data/*.pb
# and each variant is b8 with one edit (benchmarks/NOTES.md, session 32, names them).
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab/cuag_compressed.h5", ".ab/b8", ".ab/<variant>", ...]
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage32
source benchmarks/gpu_stage.sh
PART=${PART:-ab}
stage_tree() {
    [ -d "/tmp/stage_$1" ] || python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/$1', '/tmp/stage_$1')"
}
if [ "$PART" = ab ]; then
    IFS=";" read -ra specs <<< "${AB_SPECS-tests/data/cuag/model.h5 float32 b8 cap32}"
    for spec in "${specs[@]}"; do
        set -- $spec
        model=$1 precision=$2
        shift 2
        args=""
        for t in "$@"; do [ -d ".ab/$t" ] && args="$args --tree $t=.ab/$t"; done
        name=$(basename "$model" .h5)-$precision
        timeout -k 10 "${AB_TIMEOUT:-200}" python3 -P benchmarks/ab_timing.py $args --device cuda:0 --sizes 131072 --rounds 2 \
            --repeats 5 --model "$model" --precision "$precision" --output "$OUT/ab-$name.json" 2>&1 \
            | grep -v -i warn | grep -v "^[a-z0-9]*:" | tail -6
    done
    IFS=';' read -ra specs <<< "${KT_SPECS:-}"
    for spec in "${specs[@]}"; do
        set -- $spec
        stage_tree "$1"
        PYTHONPATH="/tmp/stage_$1:$SITE" timeout -k 5 60 python3 -P benchmarks/gpu_kernel_times.py --model "$2" \
            --natoms 131072 --precision "$3" --repeats 3 --output "$OUT/kt-$1-$(basename "$2" .h5)-$3.json" 2>&1 \
            | grep -E "rows|gemm|group_|gather|sum of" | cut -c1-150
    done
fi
if [ "$PART" = ncu ]; then
    # Nsight Compute's counters of the products' row kernels (NCU_KERNELS) in one evaluation of NCU_MODEL
    NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
    METRICS=gpu__time_duration.sum,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,\
sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,dram__bytes.sum,\
dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_bytes.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed,\
l1tex__throughput.avg.pct_of_peak_sustained_elapsed,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum
    for stall in long_scoreboard barrier short_scoreboard mio_throttle lg_throttle wait math_pipe_throttle drain \
            membar not_selected selected dispatch_stall imc_miss no_instruction; do
        METRICS="$METRICS,smsp__average_warps_issue_stalled_${stall}_per_issue_active.ratio"
    done
    timeout -k 5 150 "$NCU" --clock-control none --metrics "$METRICS" \
        --kernel-name regex:"${NCU_KERNELS:-t_gradient_rows|descriptor_rows|fitting_rows_forward|fitting_rows_seed}" \
        --kernel-name-base function --launch-skip 8 --launch-count 8 --csv --page raw \
        python3 -P benchmarks/gpu_ncu_driver.py --model "${NCU_MODEL:-tests/data/cuag/model.h5}" --natoms 131072 \
        --precision "${NCU_PRECISION:-float32}" --warm 1 > "$OUT/ncu-rows.csv" 2> "$OUT/ncu.log"
    grep -c kernel_ "$OUT/ncu-rows.csv"; tail -2 "$OUT/ncu.log"
fi
# the device tool returns at most 8 files: pack them when there are more
if [ "$(ls "$OUT" | wc -l)" -gt 8 ]; then
    (cd "$OUT" && tar czf "/tmp/results-$PART.tgz" --exclude gpu.txt . && find . -type f ! -name gpu.txt -delete \
        && mv "/tmp/results-$PART.tgz" .)
fi
