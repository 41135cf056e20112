#!/usr/bin/env bash
# Fourth device call of session 24: why the fitting kernel with its activation slopes in the pair gradients'
# buffer (.ab/new24, results/session24/slopes-in-pair-grad.patch) ran at twice the time of main's (.ab/base24):
# Nsight Compute's occupancy, traffic and stall counters of one steady-state fitting_group_atoms launch of each
# tree, cuag float64, 131,072 atoms.
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_session24_slopes_ncu.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
METRICS=gpu__time_duration.sum,launch__registers_per_thread,launch__shared_mem_per_block_static,\
launch__occupancy_limit_registers,launch__occupancy_limit_shared_mem,sm__warps_active.avg.pct_of_peak_sustained_active,\
smsp__issue_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,dram__bytes.sum,lts__t_bytes.sum,\
l1tex__t_bytes.sum,lts__t_sector_hit_rate.pct,sm__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active,\
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_membar_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_drain_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio
for tree in base24 new24; do
    rm -rf "/tmp/stage_$tree"
    python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/$tree', '/tmp/stage_$tree')"
    PYTHONPATH="/tmp/stage_$tree" timeout -k 10 150 "$NCU" --clock-control none --target-processes all \
        --metrics "$METRICS" --kernel-name regex:'fitting_group_atoms' --kernel-name-base function \
        --launch-skip 1 --launch-count 1 --csv --page raw \
        python3 -P benchmarks/gpu_ncu_driver.py --model tests/data/cuag/model.h5 --natoms 131072 --precision float64 \
        --warm 1 > "$OUT/ncu-$tree.csv" 2>> "$OUT/ncu.log"
    echo "$tree: $(grep -c kernel_ "$OUT/ncu-$tree.csv") rows"
done
python3 - "$OUT" <<'PY'
import csv, sys, os
for tree in ("base24", "new24"):
    rows = list(csv.reader(open(os.path.join(sys.argv[1], f"ncu-{tree}.csv"))))
    head = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    for r in rows[head + 2:]:
        d = dict(zip(rows[head], r))
        print(tree, {k.split("__")[-1][:48]: v for k, v in d.items() if "__" in k})
PY
