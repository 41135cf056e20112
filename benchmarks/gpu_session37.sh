#!/usr/bin/env bash
# Device call of session 37 (issue 14, target 2 at 1,048,576 atoms: float32 1.999x float64 there, 2.010x at 131,072):
# the float32 evaluation's kernel times at 131,072 atoms under each register cap of CAPS (every work-group kernel
# capped through DPSYCL_CUDA_GROUP_MAX_REGISTERS; 0 = the table backends/cuda.py GROUP_MAX_REGISTERS), with each
# group kernel's registers, spills and blocks per SM, to find a per-kernel cap that gives float32 resident warps;
# then (benchmarks/choose_caps.py) each group kernel's fastest cap into tree .ab/c and NVE MD of .ab/m and .ab/c
# alternating at 131,072 and 1,048,576 atoms; then STEP_SPECS if set (an MD step's kernels, gpu_session31.sh).
# Results packed into $OUT/caps.tgz, md131072.tgz, md1048576.tgz, step.tgz.
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab/m"]:  CAPS="0 40 48 56 72" bash benchmarks/gpu_session37.sh
set -uo pipefail
FINAL=${OUT:-/tmp/out}
mkdir -p "$FINAL"
export OUT=/tmp/res37/caps STAGE=/tmp/stage37
rm -rf "$OUT" && mkdir -p "$OUT"
source benchmarks/gpu_stage.sh
for cap in ${CAPS:-0 40 48 56 72}; do
    DPSYCL_CUDA_GROUP_MAX_REGISTERS=$cap timeout -k 5 ${CAP_TIMEOUT:-70} python3 -P benchmarks/gpu_kernel_times.py \
        --natoms 131072 --precision ${CAP_PRECISION:-float32} --warm 1 --repeats 3 --output "$OUT/kt-cap$cap.json" 2>&1 \
        | grep -v -i warn | grep -E "group_|fitting_rows|gather|sum of|registers" | cut -c1-170
done
(cd "$OUT" && tar czf "$FINAL/caps.tgz" .)
# the fastest cap of each group kernel into tree .ab/c (from .ab/m), then NVE MD of both trees alternating at
# 131,072 atoms and at 1,048,576 (float64 from .ab/m beside them)
M=tests/data/cuag/model.h5
if python3 benchmarks/choose_caps.py /tmp/res37/caps --precision ${CAP_PRECISION:-float32} --tree .ab/m --into .ab/c \
        | tee /tmp/res37/choice.txt; then
    for size in 131072 1048576; do
        export OUT=/tmp/res37/md$size
        rm -rf "$OUT" && mkdir -p "$OUT"
        specs="m float32 $M;c float32 $M;m float32 $M;c float32 $M"
        [ $size = 1048576 ] && specs="c float32 $M;m float32 $M;m float64 $M"
        MD_SIZE=$size MD_TIMEOUT=150 MD_SPECS="$specs" PART=md bash benchmarks/gpu_session31.sh 2>&1 | grep -v "^name\|^NVIDIA\|^dpsycl "
        cp /tmp/res37/choice.txt .ab/c/dpsycl/backends/cuda.py "$OUT/"
        (cd "$OUT" && tar czf "$FINAL/md$size.tgz" .)
    done
fi
if [ -n "${STEP_SPECS:-}" ]; then
    export OUT=/tmp/res37/step
    rm -rf "$OUT" && mkdir -p "$OUT"
    STEP_SPECS="$STEP_SPECS" MD_SPECS=none PART=md bash benchmarks/gpu_session31.sh
    (cd "$OUT" && tar czf "$FINAL/step.tgz" .)
fi
ls -la "$FINAL"
