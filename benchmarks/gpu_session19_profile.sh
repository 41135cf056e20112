#!/usr/bin/env bash
# One device call (issue 14, session 19): where float32's extra host time goes (host_timeline.py at 131,072
# atoms in float64 and float32, and a cProfile ranking of a float32 evaluation), then the counters that
# say what bounds the three split kernels (Nsight Compute, one steady-state launch of each, chosen metrics
# only: L2 and L1 traffic and throughput, issue activity, stall reasons) for cuag float64, float32 and the
# compressed model in float64.
#
#   run (device tool), carry [".ab/cuag_compressed.h5", "benchmarks/gpu_wheels/py"]:
#       bash benchmarks/gpu_session19_profile.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_new
source benchmarks/gpu_stage.sh
for p in float64 float32; do
    timeout -k 10 90 python3 -P benchmarks/host_timeline.py --device cuda:0 --sizes 131072 --precision $p \
        --model tests/data/cuag/model.h5 --repeats 10 --output "$OUT/host-$p.json" 2>&1 | grep -v -i warn
done
timeout -k 10 90 python3 -P - <<'PY' 2>&1 | grep -v -i warn | tee "$OUT/cprofile-f32.txt" | head -40
import cProfile, pstats, sys
sys.path.insert(0, "benchmarks")
from ab_timing import alloy_structure
import dpsycl
x, cell, atype = alloy_structure(131072)
dp = dpsycl.DeepPot("tests/data/cuag/model.h5", device="cuda:0", precision="float32")
for _ in range(3):
    dp.eval(x[None], cell.reshape(1, 9), atype)
prof = cProfile.Profile()
prof.enable()
for _ in range(10):
    dp.eval(x[None], cell.reshape(1, 9), atype)
prof.disable()
pstats.Stats(prof).sort_stats("tottime").print_stats(30)
PY
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
METRICS=gpu__time_duration.sum,lts__t_bytes.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed,\
lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sector_hit_rate.pct,l1tex__throughput.avg.pct_of_peak_sustained_elapsed,\
l1tex__t_bytes.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,\
dram__bytes.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,smsp__issue_active.avg.pct_of_peak_sustained_active,\
smsp__inst_executed.sum,sm__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active,\
sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,\
sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers,\
launch__occupancy_limit_shared_mem,launch__shared_mem_per_block_static,\
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_not_selected_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio
for spec in "tests/data/cuag/model.h5 float64 f64" "tests/data/cuag/model.h5 float32 f32" \
            ".ab/cuag_compressed.h5 float64 compressed-f64"; do
    set -- $spec
    # the warm call's three split launches skipped, the second call's three profiled
    timeout -k 10 150 "$NCU" --clock-control none --target-processes all --metrics "$METRICS" \
        --kernel-name regex:'fitting_group_atoms|group_descriptor|group_pair_gradient' --kernel-name-base function \
        --launch-skip 3 --launch-count 3 --csv --page raw \
        python3 -P benchmarks/gpu_ncu_driver.py --model "$1" --natoms 131072 --precision "$2" --warm 1 \
        > "$OUT/ncu-$3.csv" 2>> "$OUT/ncu.log"
    grep -c kernel_ "$OUT/ncu-$3.csv"; tail -2 "$OUT/ncu.log"
done
