#!/usr/bin/env bash
# On the lent GPU machine (Python 3.12, numpy 2.x, numba-cuda; no SYCL, no TensorFlow):
# install dpsycl without dependencies, run the device test set on cuda:0, then first timings.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONWARNINGS=ignore::UserWarning
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import numba, numba_cuda, numpy; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/gpu.txt"
python3 -m pip install --quiet --no-deps --no-index --no-build-isolation -e . 2>&1 | tail -2
python3 -m pytest -q -p no:cacheprovider -W ignore::numba.core.errors.NumbaPerformanceWarning tests/test_device.py tests/test_reference.py -rs 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -8
(cd benchmarks && python3 gpu_layouts.py ../dpsycl/data/cuag.h5 cuda:0 8 13 20 32 64) 2>&1 | grep -v Warn | tee "$OUT/layouts.txt"
