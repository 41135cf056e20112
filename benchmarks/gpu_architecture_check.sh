#!/usr/bin/env bash
# One GPU call for the architecture change: the device test set on cuda:0 (staged package, no
# install needed), then the same-run A/B timing of the code before the change against this tree.
#
#   run (device tool), carry [".ab"]:   bash benchmarks/gpu_architecture_check.sh
#
# .ab/old holds dpsycl/, device_kernels/ and extract/ of the commit before the change (git archive).
set -uo pipefail
OUT=${OUT:-/tmp/out}
SIZES=${SIZES:-2048,8788,131072,1048576}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import numba, numba_cuda, numpy; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/gpu.txt"
STAGE=/tmp/stage_new
rm -rf "$STAGE"
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.', '$STAGE')"
export PYTHONPATH="$STAGE"
python3 -P -c "import dpsycl; print('dpsycl', dpsycl.__version__, dpsycl.__file__, dpsycl.devices())" | tee -a "$OUT/gpu.txt"
# -P: the repository root must not shadow the staged package
python3 -P -m pytest -q -p no:cacheprovider -rs tests/test_device.py tests/test_reference.py tests/test_architecture.py \
    2>&1 | tee "$OUT/pytest_cuda.txt" | tail -15
unset PYTHONPATH
python3 benchmarks/ab_timing.py --tree before=.ab/old --tree after=. --device cuda:0 --sizes "$SIZES" \
    --rounds "${ROUNDS:-3}" --repeats 5 --model tests/data/cuag/model.h5 --output "$OUT/ab_cuda.json" 2>&1 | tee "$OUT/ab_cuda.txt"
