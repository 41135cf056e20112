#!/usr/bin/env bash
# Fifth device call of session 24 (issue 14, target 6): what an NVE MD step at 131,072 atoms spends outside the
# three big kernels.  Per model and precision: the steps timed without a profiler, then the GPU time of every
# kernel of the same number of steps (Nsight Compute, gpu__time_duration only), from the int8 fill that
# benchmarks/gpu_md_step_driver.py launches as a marker before them.
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]: bash benchmarks/gpu_md_step_ncu.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage_md_step
source benchmarks/gpu_stage.sh
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for spec in ".ab/cuag_compressed.h5 float64 compressed" "tests/data/cuag/model.h5 float64 cuag"; do
    set -- $spec
    timeout -k 10 70 python3 -P benchmarks/gpu_md_step_driver.py --model "$1" --precision "$2" --natoms 131072 \
        --warm 12 --steps 20 --time --output "$OUT/md-step-$3-$2.json" 2>&1 | grep -v -i warn | tail -1
    timeout -k 10 90 "$NCU" --clock-control none --metrics gpu__time_duration.sum,launch__grid_size --csv --page raw \
        python3 -P benchmarks/gpu_md_step_driver.py --model "$1" --precision "$2" --natoms 131072 --warm 12 \
        --steps 20 > "$OUT/ncu-md-$3-$2.csv" 2>> "$OUT/ncu.log"
    echo "$3 $2: $(grep -c kernel_ "$OUT/ncu-md-$3-$2.csv") kernel rows"
done
