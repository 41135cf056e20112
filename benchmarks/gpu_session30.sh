#!/usr/bin/env bash
# First device call of session 30 (issue 14, targets 2 and 6): the fitting net by cuBLAS products on the GPU.
# 1. where cuBLAS is and how fast its gemm runs at the fitting net's shapes (gpu_cublas_probe.py);
# 2. the CUDA tests of the products path against the host reference (every case, products from the first atom);
# 3. NVE MD at 131,072 atoms, the products (default) and the kernels (DPSYCL_CUBLAS=off) alternated in one call:
#    cuag and the compressed cuag in float64, cuag in float32 (md_scaling.py).
#
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab/cuag_compressed.h5"]: bash benchmarks/gpu_session30.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage30
source benchmarks/gpu_stage.sh
PART=${PART:-all}
if [ "$PART" = all ] || [ "$PART" = probe ]; then
    PYTHONUNBUFFERED=1 timeout -k 5 60 python3 -P benchmarks/gpu_cublas_probe.py --rows 16384,131072 \
        --output "$OUT/cublas_probe.json" 2>&1 | grep -v -i warn | cut -c1-220
    timeout -k 5 170 python3 -P -m pytest -q -p no:cacheprovider -rs -k "cublas" tests/test_device.py \
        > "$OUT/pytest_cublas.txt" 2>&1
    grep -E "passed|failed|Error|error" "$OUT/pytest_cublas.txt" | tail -12
fi
if [ "$PART" = all ] || [ "$PART" = md ]; then
    for cublas in on off; do
        for spec in "float64 tests/data/cuag/model.h5,.ab/cuag_compressed.h5 110" "float32 tests/data/cuag/model.h5 70"; do
            set -- $spec
            DPSYCL_CUBLAS=$([ $cublas = on ] && echo "" || echo off) PYTHONUNBUFFERED=1 timeout -k 10 "$3" \
                python3 -P benchmarks/md_scaling.py run --device cuda:0 --models "$2" --precision "$1" \
                --sizes 131072 --seconds 6 --large-atoms 0 --output "$OUT/md-$1-cublas-$cublas.json" 2>&1 \
                | grep -v -i warn | tail -4
        done
    done
fi
