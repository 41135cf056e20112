#!/usr/bin/env bash
# dpsycl vs DeePMD-kit's PyTorch backend on the lent NVIDIA GPU machine, in ONE call of < 9 minutes.
#
#   run (device tool), carry ["benchmarks/gpu_wheels"]:   bash benchmarks/gpu_bench.sh
#
# The GPU machine (Python 3.12, numpy 2.x, numba-cuda, torch+CUDA, h5py, scipy, matplotlib) has no
# package registry and no TensorFlow.  benchmarks/gpu_wheels/ (git-ignored, carried) holds
# DeePMD-kit 3.2.0 and its pure-Python / cp312 dependencies, ase, e3nn (imported by DeePMD-kit's
# PyTorch descriptors at import time) and cuag.dp (the bundled cuag.pb converted here with
# `dp convert-backend dpsycl/data/cuag.pb benchmarks/gpu_wheels/cuag.dp`).  See benchmarks/NOTES.md.
#
# Steps: install the wheels that the image lacks (--no-index --no-deps, into a target folder on
# PYTHONPATH), install dpsycl (-e, no deps), cuag.dp -> cuag.pth with DeePMD-kit's converter
# behind benchmarks/dpsycl_bench/deepmd_pt_shim.py (no MPI library load; libdeepmd_op_pt optional ->
# pure-torch path; mendeleev stub), then `python3 benchmarks/bench.py --device cuda:0 --peer deepmd-pt`.
# DeePMD-kit PT runs out of memory from ~32k atoms on 80 GB (its Python neighbour search is
# quadratic in memory): recorded as OOM, larger sizes skipped for it.
#
# Environment knobs: SIZES (default 2048,8788,32000,131072,1048576), BENCH_BUDGET (seconds the
# bench may plan for, default 360), BENCH_TIMEOUT (hard limit, default 450), PRECISIONS.
set -uo pipefail
T_START=$(date +%s)
OUT=${OUT:-/tmp/out}
WHEELS=${WHEELS:-benchmarks/gpu_wheels}
SIZES=${SIZES:-2048,8788,32000,131072,1048576}
PRECISIONS=${PRECISIONS:-float64,float32}
BENCH_BUDGET=${BENCH_BUDGET:-360}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-450}
WORK=${WORK:-/tmp/dpsycl_gpu_bench}
mkdir -p "$OUT/bench" "$WORK/site"
stamp() { echo "[gpu_bench $(( $(date +%s) - T_START )) s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/bench/gpu.txt"
python3 -c "import sys, numpy, numba, torch; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/bench/gpu.txt"

# 1. wheels the image lacks (never replace what the image has: torch, numpy, scipy, h5py, ...)
stamp "installing carried wheels"
test -d "$WHEELS" || { echo "error: $WHEELS missing: carry it (run ... carry=[\"benchmarks/gpu_wheels\"])" >&2; exit 2; }
NEED=$(python3 - "$WHEELS" <<'EOF'
import sys, glob, os, re
from importlib import metadata
need = []
for whl in sorted(glob.glob(os.path.join(sys.argv[1], "*.whl"))):
    dist = re.split(r"-\d", os.path.basename(whl), maxsplit=1)[0]
    try:
        metadata.version(dist)
        if dist.replace("_", "-").lower() == "deepmd-kit":
            need.append(whl)
    except metadata.PackageNotFoundError:
        need.append(whl)
print(" ".join(need))
EOF
)
echo "installing: $(for w in $NEED; do basename "$w"; done | tr '\n' ' ')"
python3 -m pip install --quiet --no-index --no-deps --no-warn-script-location --target "$WORK/site" $NEED 2>&1 | grep -v -i "warning" | tail -3
export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"

# 2. dpsycl itself (as benchmarks/gpu_validate.sh does)
stamp "installing dpsycl"
python3 -m pip install --quiet --no-deps --no-index --no-build-isolation -e . 2>&1 | grep -v -i "warning" | tail -2
python3 -c "import dpsycl; print('dpsycl', dpsycl.__version__, dpsycl.devices())" | tee -a "$OUT/bench/gpu.txt"

# 3. cuag.dp -> cuag.pth (DeePMD-kit's own converter; TensorFlow is not needed for .dp -> .pth)
stamp "converting cuag.dp -> cuag.pth"
PYTHONPATH="benchmarks:$PYTHONPATH" python3 -m dpsycl_bench.deepmd_pt_shim convert-backend "$WHEELS/cuag.dp" \
    "$WORK/cuag.pth" 2>&1 | grep -v -i "warn" | tail -3
test -s "$WORK/cuag.pth" || { echo "error: conversion to cuag.pth failed" >&2; exit 3; }

# 4. the benchmark
stamp "benchmarks/bench.py (budget ${BENCH_BUDGET} s, hard limit ${BENCH_TIMEOUT} s)"
timeout --signal=INT "$BENCH_TIMEOUT" python3 -u benchmarks/bench.py --device cuda:0 --peer deepmd-pt \
    --peer-model "$WORK/cuag.pth" --sizes "$SIZES" --precision "$PRECISIONS" \
    --output "$OUT/bench" --readme "$OUT/bench/README-gpu.md" --section gpu \
    --budget "$BENCH_BUDGET" --min-repeats 3 --md-seconds 8 2>&1 \
    | grep -v -i -E "warning|triton|DP_INFER_BATCH|implib" | tee "$OUT/bench/bench.log"
rc=${PIPESTATUS[0]}
stamp "bench exit status $rc"

# 5. short summary (also when the bench was cut short: the JSON is checkpointed after every size)
python3 - "$OUT/bench" <<'EOF'
import glob, json, os, sys
paths = sorted(glob.glob(os.path.join(sys.argv[1], "bench-*.json")), key=os.path.getmtime)
if not paths:
    sys.exit("no JSON written")
run = json.load(open(paths[-1]))
print(f"\n{os.path.basename(paths[-1])}: status {run.get('status')}, {run.get('wall_s', 0):.0f} s")
print(f"{'N':>9} {'code':10} {'prec':4} {'status':7} {'total s':>9} {'µs/atom':>9} {'× PT':>6} {'KB/atom':>8} {'%peak':>6} {'|dE|/N':>8}")
for r in sorted(run["results"], key=lambda r: (r["natoms"], r["code"] != "dpsycl", r["precision"])):
    c = r.get("check") or {}
    f = lambda v, fmt: "" if v is None else format(v, fmt)
    ok = r.get("status") == "ok"
    print(f"{r['natoms']:9d} {r['code'][:10]:10} {r['precision'][-2:]:4} {r.get('status', ''):7} "
          f"{f(r.get('t_total_s') if ok else None, '9.4f'):>9} {f(r.get('us_per_step_atom') if ok else None, '9.3f'):>9} "
          f"{f(r.get('speed_ratio_vs_peer'), '6.2f'):>6} {f(None if r.get('memory_bytes_per_atom') is None else r['memory_bytes_per_atom'] / 1000, '8.1f'):>8} "
          f"{f(None if r.get('fraction_of_peak_own') is None else 100 * r['fraction_of_peak_own'], '6.2f'):>6} "
          f"{f(c.get('abs_dE_per_atom'), '8.1e'):>8}")
for t in run.get("targets", []):
    m = {True: "MET", False: "NOT MET", None: "n/a"}[t["met"]]
    print(f"  [{m}] {t['target']}: {t['value']}")
EOF
stamp "done; results in $OUT/bench (copy bench-*.json into benchmarks/results/ and run 'python benchmarks/bench.py --report-only' to merge into benchmarks/README.md)"
exit "$rc"
