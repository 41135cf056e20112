#!/usr/bin/env bash
# One device call (issue 14, session 20): where the split kernels' executed instructions go, by SASS line.
# Nsight Compute's source counters (executed warp instructions and warp-stall samples per SASS instruction)
# of one steady-state launch of group_descriptor, fitting_group_atoms and group_pair_gradient (cuag, float32
# and float64, NATOMS atoms), exported as the source page (benchmarks/sass_loops.py and ncu_sass_mix.py read it).
#
#   run (device tool): bash benchmarks/gpu_session20_sass.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_new
NATOMS=${NATOMS:-32768}
PRECISIONS=${PRECISIONS:-"float32 float64"}
source benchmarks/gpu_stage.sh
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
mkdir -p /tmp/ncu "$OUT/sass"
for p in $PRECISIONS; do
    timeout -k 10 200 "$NCU" --clock-control none --target-processes all \
        --section SourceCounters --section WarpStateStats --section LaunchStats --section Occupancy \
        --kernel-name regex:'fitting_group_atoms|group_descriptor|group_pair_gradient' --kernel-name-base function \
        --launch-skip 3 --launch-count 3 --import-source no -f -o /tmp/ncu/$p \
        python3 -P benchmarks/gpu_ncu_driver.py --model tests/data/cuag/model.h5 --natoms "$NATOMS" --precision $p \
        --warm 1 >> "$OUT/sass/ncu.log" 2>&1
    tail -2 "$OUT/sass/ncu.log"
    for k in group_descriptor fitting_group_atoms group_pair_gradient; do
        "$NCU" --import /tmp/ncu/$p.ncu-rep --page source --csv --print-source sass \
            --kernel-name regex:"$k" > "$OUT/sass/$p-$k.csv" 2>> "$OUT/sass/ncu.log"
        python3 benchmarks/sass_loops.py "$OUT/sass/$p-$k.csv" --min-length 8 2>&1 | head -14
    done
    "$NCU" --import /tmp/ncu/$p.ncu-rep --page details --csv > "$OUT/sass/$p-details.csv" 2>> "$OUT/sass/ncu.log"
done
tar czf "$OUT/sass.tgz" -C "$OUT" sass && rm -rf "$OUT/sass"
