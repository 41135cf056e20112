#!/usr/bin/env bash
# The case study's long trajectories on the lent GPU (dpsycl on cuda:0; the EMT reference runs
# with ASE on the same machine's CPU).  carry ["benchmarks/gpu_wheels"] (for ase).
set -uo pipefail
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/dpsycl_cs}
mkdir -p "$OUT/case_study" "$WORK/site"
export PYTHONWARNINGS=ignore
python3 -m pip install --quiet --no-index --no-deps --target "$WORK/site" benchmarks/gpu_wheels/ase-*.whl 2>&1 | tail -1
export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
python3 -m pip install --quiet --no-deps --no-index --no-build-isolation -e . 2>&1 | tail -1
timeout --signal=INT ${CS_TIMEOUT:-540} python3 -u benchmarks/case_study.py --out "$OUT/case_study" \
    --model dpsycl/data/cuag.h5 --device cuda:0 ${CS_ARGS:---atoms 2048 --nve-ps 5 --equil-ps 1 --prod-ps 10 --every 50} \
    2>&1 | grep -v -i warn | tail -40
ls -la "$OUT/case_study"
