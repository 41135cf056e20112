# Hardware counters of dpsycl's kernels (Nsight Compute), run by the device tool from the repository root:
#   export OUT; STAGE=/tmp/stage_ncu; source benchmarks/gpu_stage.sh; bash benchmarks/gpu_ncu.sh
# Profiles two DeepPot.eval calls (32,768 atoms unless NATOMS is set) of each case in
# CASES ("model precision tag" triples): every kernel of that call with the "full" section set, then
# writes ncu's details page, a raw page of chosen metrics and the SASS of the work-group kernel with
# per-instruction stall samples, as text, into $OUT/ncu.tgz (the reports themselves, ~40 MB each,
# stay in /tmp/ncu: the device tool returns a few files of limited size).  --clock-control none: the device tool's
# METHOD.md asks to leave the clocks alone.
set -u
NATOMS=${NATOMS:-32768}
CASES=${CASES:-"tests/data/cuag/model.h5 float64 f64
tests/data/cuag/model.h5 float32 f32
.ab/cuag_compressed.h5 float64 compressed"}
mkdir -p "$OUT/ncu" /tmp/ncu
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU" | tee -a "$OUT/ncu/log.txt"
echo "$CASES" | while read -r model precision tag; do
    [ -f "$model" ] || { echo "skip $tag: no $model"; continue; }
    rep="$OUT/ncu/$tag"
    report="/tmp/ncu/$tag"
    # every launch of both calls is profiled (the report names each); the second is the steady state
    "$NCU" --clock-control none --target-processes all --set full --import-source no \
        --kernel-name regex:'^kernel_' --kernel-name-base function \
        --replay-mode kernel -f -o "$report" \
        python3 -P benchmarks/gpu_ncu_driver.py --model "$model" --natoms "$NATOMS" --precision "$precision" --warm 1 \
        > "$rep.log" 2>&1
    tail -3 "$rep.log"
    "$NCU" --import "$report.ncu-rep" --page details --csv > "$rep-details.csv" 2>>"$rep.log"
    "$NCU" --import "$report.ncu-rep" --page raw --csv --metrics \
gpu__time_duration.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__inst_executed_pipe_fp64.avg.pct_of_peak_sustained_active,sm__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,smsp__sass_thread_inst_executed_op_dfma_pred_on.sum,smsp__sass_thread_inst_executed_op_dadd_pred_on.sum,smsp__sass_thread_inst_executed_op_dmul_pred_on.sum,smsp__sass_thread_inst_executed_op_ffma_pred_on.sum,smsp__sass_thread_inst_executed_op_fadd_pred_on.sum,smsp__sass_thread_inst_executed_op_fmul_pred_on.sum,sm__warps_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,lts__t_bytes.sum,l1tex__t_bytes.sum,smsp__average_warp_latency_issue_stalled_barrier,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_not_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__issue_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers,sm__maximum_warps_per_active_cycle_pct \
        > "$rep-raw.csv" 2>>"$rep.log"
    "$NCU" --import "$report.ncu-rep" --page source --csv --print-source sass \
        --kernel-name regex:'group_atom_energy' --launch-skip 0 --launch-count 1 > "$rep-sass-group.csv" 2>>"$rep.log"
    ls -la "$rep"* | tee -a "$OUT/ncu/log.txt"
done
tar czf "$OUT/ncu.tgz" -C "$OUT" ncu && rm -rf "$OUT/ncu"
