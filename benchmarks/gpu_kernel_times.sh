# Per-kernel GPU time of one DeepPot.eval at each size and precision (benchmarks/gpu_kernel_times.py
# under Nsight Compute), then benchmarks/gpu_time_split.py (eval / build / compute, and a cProfile of
# eval at the last size).  Run by the device tool from the repository root, carry ["benchmarks/gpu_wheels/py"]:
#   export OUT; STAGE=/tmp/stage_kt; source benchmarks/gpu_stage.sh; bash benchmarks/gpu_kernel_times.sh
set -u
CASES=${CASES:-"2048 float64
2048 float32
131072 float64"}
mkdir -p "$OUT/kernel_times"
echo "$CASES" | while read -r n precision; do
    python3 -P benchmarks/gpu_kernel_times.py --natoms "$n" --precision "$precision" \
        --output "$OUT/kernel_times/kt-$n-$precision.json" 2>&1 | grep -v -i warn
done
python3 -P benchmarks/gpu_time_split.py --sizes "${SPLIT_SIZES:-131072,2048}" \
    --output "$OUT/kernel_times/time_split.json" 2>&1 | grep -v -i warn | tail -60
