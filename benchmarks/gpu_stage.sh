# Sourced by the GPU scripts (bash): record the GPU in $OUT/gpu.txt, install the carried pure-Python
# wheels (benchmarks/gpu_wheels/py: ase, tqdm) into $SITE, stage this tree's package into $STAGE (no
# install: benchmarks/ab_timing.py's stage) and put both on PYTHONPATH.  Needs OUT and STAGE set.
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
SITE=${SITE:-/tmp/gpu_site}
if [ -d benchmarks/gpu_wheels/py ]; then
    python3 -m pip install --quiet --no-index --no-deps --target "$SITE" benchmarks/gpu_wheels/py/*.whl 2>&1 | tail -1
fi
rm -rf "$STAGE"
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.', '$STAGE')"
export PYTHONPATH="$STAGE:$SITE"
python3 -P -c "import dpsycl, numpy, numba; print('dpsycl', dpsycl.__version__, dpsycl.devices(), 'numpy', numpy.__version__, 'numba', numba.__version__)" | tee -a "$OUT/gpu.txt"
