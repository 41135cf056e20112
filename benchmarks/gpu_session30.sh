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
if [ "$PART" = all ] || [ "$PART" = md ] || [ "$PART" = rows ]; then
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
if [ "$PART" = rows ]; then
    timeout -k 5 120 python3 -P -m pytest -q -p no:cacheprovider -rs -k "cublas" tests/test_device.py \
        > "$OUT/pytest_cublas.txt" 2>&1
    grep -E "passed|failed|Error|error" "$OUT/pytest_cublas.txt" | tail -12
fi
if [ "$PART" = sweep ] || [ "$PART" = rows ]; then
    # rows per block and lanes per row, against the kernels, in one process; then Nsight Compute's kernel times
    for spec in ".ab/cuag_compressed.h5 float64" "tests/data/cuag/model.h5 float32"; do
        set -- $spec
        PYTHONUNBUFFERED=1 timeout -k 10 120 python3 -P benchmarks/gpu_products_sweep.py --model "$1" --precision "$2" \
            --natoms 131072 --blocks ${BLOCKS:-8192,16384,32768} --lanes ${LANES:-32,64,128} --rounds 2 --repeats 5 \
            --output "$OUT/sweep-$(basename "$1" .h5)-$2.json" 2>&1 | grep -v -i warn | tail -12
    done
fi
if [ "$PART" = sweep ] || [ "$PART" = kernels ] || [ "$PART" = rows ]; then
    for spec in ${KT_SPECS:-".ab/cuag_compressed.h5:float64 tests/data/cuag/model.h5:float64 tests/data/cuag/model.h5:float32"}; do
        spec=${spec/:/ }
        set -- $spec
        timeout -k 10 100 python3 -P benchmarks/gpu_kernel_times.py --model "$1" --natoms 131072 --precision "$2" \
            --output "$OUT/kt-$(basename "$1" .h5)-$2.json" 2>&1 | grep -v -i warn | tail -40
    done
fi
if [ "$PART" = final ]; then
    # the last call: the CUDA tests of the products, NVE MD with the products (the compressed cuag also without,
    # the same-call baseline of target 6), Nsight Compute's kernel times of one compressed evaluation
    timeout -k 5 90 python3 -P -m pytest -x -q -p no:cacheprovider -rs -k "cublas" tests/test_device.py \
        > "$OUT/pytest_cublas.txt" 2>&1
    grep -E "passed|failed|Error|error" "$OUT/pytest_cublas.txt" | tail -6
    for spec in "on float64 tests/data/cuag/model.h5,.ab/cuag_compressed.h5" "on float32 tests/data/cuag/model.h5" \
                "off float64 .ab/cuag_compressed.h5"; do
        set -- $spec
        DPSYCL_CUBLAS=$([ "$1" = on ] && echo "" || echo off) PYTHONUNBUFFERED=1 timeout -k 5 70 \
            python3 -P benchmarks/md_scaling.py run --device cuda:0 --models "$3" --precision "$2" \
            --sizes 131072 --seconds 5 --large-atoms 0 --output "$OUT/md-$2-cublas-$1.json" 2>&1 | grep -v -i warn | tail -2
    done
    timeout -k 5 60 python3 -P benchmarks/gpu_kernel_times.py --model .ab/cuag_compressed.h5 --natoms 131072 \
        --precision float64 --repeats 10 --output "$OUT/kt-compressed-float64.json" 2>&1 | grep -v -i warn | tail -24
fi
# the device tool returns at most 8 files: pack them when there are more
if [ "$(ls "$OUT" | wc -l)" -gt 8 ]; then
    (cd "$OUT" && tar czf "/tmp/results-$PART.tgz" --exclude gpu.txt . && find . -type f ! -name gpu.txt -delete \
        && mv "/tmp/results-$PART.tgz" .)
fi
