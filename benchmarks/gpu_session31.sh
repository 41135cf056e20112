#!/usr/bin/env bash
# Device calls of session 31 (issue 14, targets 6 and 2).
#
# PART=ab (first call): the CUDA tests of the compressed models and of the products on this tree, then
# DeepPot.eval at 131,072 atoms (ab_timing.py, trees alternated, their kernels' registers and blocks per SM
# recorded) of the compressed cuag in float64 for the trees below, cuag float32 for base and new; then Nsight
# Compute's kernel times of one compressed evaluation on the new tree, and the counters of its two pair passes.
# PART=md: NVE MD at 131,072 atoms (md_scaling.py) of the trees, precisions and models of MD_SPECS (default: the
# new tree's cuag float64 and float32 and compressed float64, the base tree's compressed float64), then, for
# STEP_SPECS, an MD step's wall time against the GPU time of its kernels.
# PART=rows: the row kernels' loads ahead of their stores (results/session31/rows-loads-ahead.patch applied to this
# tree), kernel times against .ab/b8, the tree as kept without the patch:
#   rm -rf .ab/b8 && mkdir -p .ab/b8 && git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/b8 \
#       && rm -f .ab/b8/dpsycl/data/*.h5 .ab/b8/dpsycl/data/*.pb
#   git apply -p1 benchmarks/results/session31/rows-loads-ahead.patch
#
# The trees, made before the call (.ab/ is untracked and travels with the working tree; only the trees that
# exist are timed):
#   rm -rf .ab/base31 .ab/new31 .ab/b8 .ab/r64 && mkdir -p .ab/base31
#   git archive HEAD~N dpsycl device_kernels extract | tar -x -C .ab/base31     # the tree before this session
#   cp -r dpsycl device_kernels extract .ab/new31/
#   b8: new31 with se_e2_a_group.TABLE_BATCH float64 = 8; r64: new31 with the compressed gradient pass at
#   64 registers in float64 (backends/cuda.py: GROUP_MAX_REGISTERS)
#
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab/cuag_compressed.h5", ".ab/base31", ".ab/new31",
#   ".ab/b8", ".ab/r64"]: PART=ab bash benchmarks/gpu_session31.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage31
source benchmarks/gpu_stage.sh
PART=${PART:-ab}
COMPRESSED=.ab/cuag_compressed.h5
trees() {
    local args=""
    for t in "$@"; do [ -d ".ab/$t" ] && args="$args --tree $t=.ab/$t"; done
    echo "$args"
}
if [ "$PART" = ab ]; then
    timeout -k 5 150 python3 -P -m pytest -q -p no:cacheprovider -rs -k "cuda and (compress or cublas)" \
        tests/test_device.py > "$OUT/pytest_cuda.txt" 2>&1
    grep -E "passed|failed|Error|error" "$OUT/pytest_cuda.txt" | tail -8
    timeout -k 10 190 python3 -P benchmarks/ab_timing.py $(trees base31 new31 b8 r64) --device cuda:0 --sizes 131072 \
        --rounds 2 --repeats 5 --model "$COMPRESSED" --precision float64 --output "$OUT/ab-compressed-float64.json" \
        2>&1 | grep -v -i warn | grep -v "^base31:\|^new31:\|^b8:\|^r64:" | tail -8
    timeout -k 10 110 python3 -P benchmarks/ab_timing.py $(trees base31 new31) --device cuda:0 --sizes 131072 \
        --rounds 2 --repeats 5 --model tests/data/cuag/model.h5 --precision float32 \
        --output "$OUT/ab-cuag-float32.json" 2>&1 | grep -v -i warn | grep -v "^base31:\|^new31:" | tail -5
    timeout -k 5 50 python3 -P benchmarks/gpu_kernel_times.py --model "$COMPRESSED" --natoms 131072 \
        --precision float64 --repeats 5 --output "$OUT/kt-compressed-float64.json" 2>&1 | grep -v -i warn | tail -24
    NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
    METRICS=gpu__time_duration.sum,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,\
sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers,\
launch__occupancy_limit_shared_mem,lts__t_bytes.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed,\
l1tex__t_sector_hit_rate.pct,l1tex__throughput.avg.pct_of_peak_sustained_elapsed,\
sm__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active,\
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio
    timeout -k 5 70 "$NCU" --clock-control none --target-processes all --metrics "$METRICS" \
        --kernel-name regex:'group_descriptor|group_pair_gradient' --kernel-name-base function \
        --launch-skip 2 --launch-count 2 --csv --page raw \
        python3 -P benchmarks/gpu_ncu_driver.py --model "$COMPRESSED" --natoms 131072 --precision float64 --warm 1 \
        > "$OUT/ncu-compressed-f64.csv" 2> "$OUT/ncu.log"
    grep -c kernel_ "$OUT/ncu-compressed-f64.csv"; tail -2 "$OUT/ncu.log"
fi
if [ "$PART" = md ]; then
    # MD_SPECS: "tree precision models" (tree: a directory under .ab/, staged here); then the MD step's wall time
    # against its kernels' GPU time (gpu_md_step_driver.py, Nsight Compute) for STEP_SPECS "tree precision model"
    NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
    IFS=';' read -ra specs <<< "${MD_SPECS:-new31 float64 tests/data/cuag/model.h5,$COMPRESSED;new31 float32 tests/data/cuag/model.h5;base31 float64 $COMPRESSED}"
    [ "${MD_SPECS:-}" = none ] && specs=()          # STEP_SPECS alone (gpu_session34.sh PARTS=step)
    for spec in "${specs[@]}"; do
        set -- $spec
        path=/tmp/stage_$1
        [ -d "$path" ] || python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/$1', '$path')"
        # a spec listed again (alternating repeats: single 5 s runs vary by ±0.3 ms between calls, NOTES.md
        # session 33) writes md-…-r2.json, -r3, … beside the first
        name="md-$1-$2-$(basename "${3%%,*}" .h5)"
        out="$OUT/$name.json"
        for r in 2 3 4 5 6 7 8 9; do [ -e "$out" ] && out="$OUT/$name-r$r.json"; done
        # MD_SIZE (default 131072) and MD_TIMEOUT (default 80 s) for other sizes (gpu_session34.sh's header)
        PYTHONPATH="$path:$SITE" PYTHONUNBUFFERED=1 timeout -k 5 "${MD_TIMEOUT:-80}" python3 -P benchmarks/md_scaling.py \
            run --device cuda:0 --models "$3" --precision "$2" --sizes "${MD_SIZE:-131072}" --seconds 5 \
            --large-atoms 0 --output "$out" 2>&1 | grep -v -i warn | grep "${MD_SIZE:-131072}" | tail -3
    done
    IFS=';' read -ra specs <<< "${STEP_SPECS:-}"
    for spec in "${specs[@]}"; do
        set -- $spec
        path=/tmp/stage_$1
        [ -d "$path" ] || python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/$1', '$path')"
        name=$1-$2-$(basename "$3" .h5)
        PYTHONPATH="$path:$SITE" timeout -k 10 60 python3 -P benchmarks/gpu_md_step_driver.py --model "$3" \
            --precision "$2" --natoms 131072 --warm 12 --steps 20 --time --output "$OUT/md-step-$name.json" 2>&1 \
            | grep -v -i warn | tail -1
        PYTHONPATH="$path:$SITE" timeout -k 10 80 "$NCU" --clock-control none --metrics gpu__time_duration.sum \
            --csv --page raw python3 -P benchmarks/gpu_md_step_driver.py --model "$3" --precision "$2" \
            --natoms 131072 --warm 12 --steps 20 > "$OUT/ncu-md-$name.csv" 2>> "$OUT/ncu.log"
        echo "$name: $(grep -c kernel_ "$OUT/ncu-md-$name.csv") kernel rows"
    done
fi
if [ "$PART" = rows ]; then
    # the row kernels' loads issued ahead of their group-local stores (this tree) against .ab/b8 (without):
    # Nsight Compute's kernel times of one compressed evaluation from each, then the CUDA test of the products
    [ -d /tmp/stage_b8 ] || python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/b8', '/tmp/stage_b8')"
    for tree in b8 new; do
        path=$STAGE
        [ $tree = b8 ] && path=/tmp/stage_b8
        PYTHONPATH="$path:$SITE" timeout -k 5 50 python3 -P benchmarks/gpu_kernel_times.py --model "$COMPRESSED" \
            --natoms 131072 --precision float64 --repeats 3 --output "$OUT/kt-$tree-compressed-float64.json" 2>&1 \
            | grep -E "rows|sum of" | cut -c1-160
    done
    timeout -k 5 50 python3 -P -m pytest -x -q -p no:cacheprovider -k "cublas and cuag" tests/test_device.py 2>&1 | tail -2
fi
# the device tool returns at most 8 files: pack them when there are more
if [ "$(ls "$OUT" | wc -l)" -gt 8 ]; then
    (cd "$OUT" && tar czf "/tmp/results-$PART.tgz" --exclude gpu.txt . && find . -type f ! -name gpu.txt -delete \
        && mv "/tmp/results-$PART.tgz" .)
fi
