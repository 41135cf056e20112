#!/usr/bin/env bash
# The case study's long trajectories on the lent GPU: dpsycl on cuda:0, against EMT reference
# trajectories run beforehand on a CPU with the same protocol and carried along (ASE's EMT is pure
# Python: ~0.35 s/step at 4,000 atoms, 30+ min per temperature, too slow for a 10-minute GPU call).
#
#   here:   .venv/bin/python benchmarks/case_study.py --out out/emt_ref --emt-only \
#               --atoms 4000 --equil-ps 1 --prod-ps 10 --every 50 --temperatures 300   (and 1000)
#   device: run "bash benchmarks/gpu_case_study.sh" with carry ["benchmarks/gpu_wheels", "out/emt_ref"]
#
# case_study.py reads out/emt_ref/emt_<T>K.npz only if its stored protocol (atoms, species, cell,
# dt, tau, steps, sampling, seed) is the one asked for here, else it would rerun EMT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/dpsycl_cs}
mkdir -p "$OUT/case_study" "$WORK/site"
export PYTHONWARNINGS=ignore
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/case_study/gpu.txt"
python3 -m pip install --quiet --no-index --no-deps --target "$WORK/site" benchmarks/gpu_wheels/py/ase-*.whl 2>&1 | tail -1
export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
python3 -m pip install --quiet --no-deps --no-index --no-build-isolation -e . 2>&1 | tail -1
timeout --signal=INT ${CS_TIMEOUT:-540} python3 -u benchmarks/case_study.py --out "$OUT/case_study" \
    --model dpsycl/data/cuag.h5 --device cuda:0 --emt-cache out/emt_ref \
    ${CS_ARGS:---atoms 4000 --nve-ps 10 --equil-ps 1 --prod-ps 10 --every 50} \
    2>&1 | grep -v -i warn | tail -40
ls -la "$OUT/case_study"
