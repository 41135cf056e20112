#!/usr/bin/env bash
# Frames/s of `dpsycl test` / `dpsycl model-devi` against DeePMD-kit's `dp --pt test` / `dp --pt
# model-devi` (its PyTorch backend, on the GPU through torch) on the same frames, in the same run,
# on one GPU (issue 16, point 4), in ONE call of < 6 minutes.
#
#   here (PyPI reachable):  bash benchmarks/gpu_frames.sh prepare           # benchmarks/gpu_wheels/deepmd/
#   device tool, carry ["benchmarks/gpu_wheels/deepmd", "benchmarks/gpu_wheels/py"]:  bash benchmarks/gpu_frames.sh
#
# `prepare` (this machine, .venv with DeePMD-kit + TensorFlow): pip-downloads (no deps, cp312
# manylinux) DeePMD-kit 3.2.0 and the dependencies of its PyTorch path that the GPU image lacks
# (array-api-compat, bracex, dargs + typeguard, einops, e3nn + opt_einsum + opt_einsum_fx (imported by
# DeePMD-kit's PT descriptors at import time), lmdb, ml_dtypes, msgpack, packaging, pyyaml,
# typing_extensions, wcmatch), trims the DeePMD-kit wheel (10 -> ~3 MB) of its bundled C++
# libraries (deepmd/lib/*.so, dp_ipi, deepmd_kit.libs/: TensorFlow ops, LAMMPS plugin, C API, the
# PT custom ops built for another torch; the pure-torch path needs none) with
# tools/build_lammps_wheels.py's trim(), converts the two models frames_throughput uses
# (tests/data/{cuag,cuag_pair}/frozen_model.pb) to cuag.dp / cuag_pair.dp with `dp convert-backend`
# (TensorFlow backend), and fetches ase + tqdm into benchmarks/gpu_wheels/py when absent.  Both
# folders are git-ignored; together ~11 MB (the tracked tree is ~15 MB; the 64 MiB carry limit
# holds: do NOT also carry benchmarks/gpu_wheels/lammps, 30 MB, needlessly).
#
# On the GPU machine (Python 3.12, numpy 2.x, numba-cuda, torch+CUDA, h5py, scipy; no registry,
# no TensorFlow, no ASE): installs the carried wheels the image lacks (pip --no-index --no-deps
# --target, never replacing what the image has), stages dpsycl on PYTHONPATH
# (benchmarks/ab_timing.py:stage, no install), converts the .dp files to .pth with DeePMD-kit's
# converter behind benchmarks/dpsycl_bench/deepmd_pt_shim.py (no MPI library load, pure-torch path,
# mendeleev stub), then runs
#   benchmarks/frames_throughput.py --device cuda:0 --frames $FRAMES --models cuag.h5 cuag_pair.h5 (the
#       extracted models: the image has no TensorFlow to read the .pb) --dp-models cuag.pth cuag_pair.pth
#       --dp-command "python3 -m dpsycl_bench.deepmd_pt_shim --pt"
# so that DeePMD-kit runs as `dp --pt test ...` / `dp --pt model-devi ...` (on cuda: torch sees the
# GPU) and dpsycl as `python3 -m dpsycl test/model-devi ... --devices cuda:0`, every command its own
# process.  108 atoms per frame (md000 of tests/data/cuag_emt, REPEAT=1).
# Results: $OUT/frames/frames-*.json (table in frames.log), every command's stdout/stderr in
# $OUT/frames/logs/, versions and GPU in $OUT/frames/gpu.txt.
#
# Knobs: FRAMES (two sizes, default "250 1000": the marginal rate is their difference),
# REPEAT (default 1), BENCH_TIMEOUT (hard limit of the benchmark in s, default 270), DEVICE
# (default cuda:0).  Time (H200 estimate): install + staging + conversions ~60 s; the bench
# ~40 s of dpsycl and 60-170 s of DeePMD-kit PT (its start-up ~15 s a process).
set -uo pipefail
T_START=$(date +%s)
stamp() { echo "[gpu_frames $(( $(date +%s) - T_START )) s] $*"; }
DEST=${DEST:-benchmarks/gpu_wheels/deepmd}
PY_WHEELS=${PY_WHEELS:-benchmarks/gpu_wheels/py}

if [ "${1:-}" = "prepare" ]; then
    PY=${PY:-.venv/bin/python}
    DP=${DP:-$(dirname "$PY")/dp}
    mkdir -p "$DEST" "$PY_WHEELS"
    stamp "downloading DeePMD-kit 3.2.0 and its PyTorch-path dependencies into $DEST"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d "$DEST" \
        deepmd-kit==3.2.0 array-api-compat bracex dargs einops e3nn opt_einsum opt_einsum_fx lmdb ml_dtypes \
        msgpack packaging pyyaml typeguard typing_extensions wcmatch 2>&1 | grep -v -i warning
    [ "${PIPESTATUS[0]}" = 0 ] || exit 1
    if ! ls "$PY_WHEELS"/ase-*.whl >/dev/null 2>&1; then
        "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$PY_WHEELS" ase==3.25.0 tqdm 2>&1 \
            | grep -v -i warning
        [ "${PIPESTATUS[0]}" = 0 ] || exit 1
    fi
    stamp "trimming the DeePMD-kit wheel of its C++ libraries"
    "$PY" - "$DEST" <<'EOF' || exit 1
import glob, sys, zipfile
sys.path.insert(0, "tools")
import build_lammps_wheels as b
for wheel in glob.glob(f"{sys.argv[1]}/deepmd_kit-*.whl"):
    names = zipfile.ZipFile(wheel).namelist()
    b.DROP_DIRS = ("deepmd_kit.libs/",)
    b.DROP_FILES = {n for n in names if n.startswith("deepmd/lib/") and (".so" in n or n.endswith("/dp_ipi"))}
    if not b.DROP_FILES:
        print(f"{wheel}: already trimmed")
        continue
    import os
    before = os.path.getsize(wheel)
    b.trim(__import__("pathlib").Path(wheel))
    print(f"{wheel}: {before / 2**20:.1f} MB -> {os.path.getsize(wheel) / 2**20:.1f} MB "
          f"(dropped {len(b.DROP_FILES)} libraries and deepmd_kit.libs/)")
EOF
    stamp "converting the models to .dp (TensorFlow backend)"
    for m in cuag cuag_pair; do
        "$DP" convert-backend "tests/data/$m/frozen_model.pb" "$DEST/$m.dp" 2>&1 \
            | grep -v -i -E "implib|warn|libcudart" | tail -2
        test -s "$DEST/$m.dp" || { echo "error: $DEST/$m.dp not written" >&2; exit 1; }
    done
    du -ch "$DEST" "$PY_WHEELS" | tail -1
    echo "tracked files: $(git ls-files | xargs du -ch | tail -1)"
    exit 0
fi

OUT=${OUT:-/tmp/out}
FRAMES=${FRAMES:-250 1000}
REPEAT=${REPEAT:-1}
DEVICE=${DEVICE:-cuda:0}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-270}
WORK=${WORK:-/tmp/dpsycl_gpu_frames}
mkdir -p "$OUT/frames/logs" "$WORK"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/frames/gpu.txt"
python3 -c "import sys, numpy, numba, torch; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())" \
    | tee -a "$OUT/frames/gpu.txt"

# 1. wheels the image lacks (never replace what the image has: torch, numpy, scipy, h5py, ...)
stamp "installing carried wheels"
test -d "$DEST" || { echo "error: $DEST missing: 'bash benchmarks/gpu_frames.sh prepare' here, then carry it" >&2; exit 2; }
NEED=$(python3 - "$DEST" "$PY_WHEELS" <<'EOF'
import sys, glob, os, re
from importlib import metadata
need = []
for folder in sys.argv[1:]:
    for whl in sorted(glob.glob(os.path.join(folder, "*.whl"))):
        dist = re.split(r"-\d", os.path.basename(whl), maxsplit=1)[0]
        try:
            have = metadata.version(dist)
            carried = os.path.basename(whl)[len(dist) + 1:].split("-")[0]
            older = [int(x) for x in re.findall(r"\d+", have)[:3]] < [int(x) for x in re.findall(r"\d+", carried)[:3]]
            # typeguard (dargs) needs a newer typing_extensions than some images hold; it stays backward compatible
            if dist.replace("_", "-").lower() == "deepmd-kit" or (dist == "typing_extensions" and older):
                need.append(whl)
        except metadata.PackageNotFoundError:
            need.append(whl)
print(" ".join(need))
EOF
)
echo "installing: $(for w in $NEED; do basename "$w"; done | tr '\n' ' ')" | tee -a "$OUT/frames/gpu.txt"
rm -rf "$WORK/site"
python3 -m pip install --quiet --no-index --no-deps --no-warn-script-location --target "$WORK/site" $NEED 2>&1 \
    | grep -v -i "warning" | tail -3

# 2. dpsycl staged (no install), benchmarks/ for the shim; absolute: the commands run in a temp folder
stamp "staging dpsycl"
rm -rf "$WORK/stage"
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.', '$WORK/stage')"
export PYTHONPATH="$WORK/stage:$WORK/site:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
python3 -P - <<'EOF' 2>&1 | grep -v -i -E "warn|implib|triton" | tee -a "$OUT/frames/gpu.txt"
import dpsycl, ase
print("dpsycl", dpsycl.__version__, dpsycl.__file__, dpsycl.devices(), "ase", ase.__version__)
from dpsycl_bench import deepmd_pt_shim
print("shim", deepmd_pt_shim.install())
import deepmd, deepmd.pt.infer.deep_eval
from deepmd.pt.utils import env
print("deepmd", deepmd.__version__, deepmd.__file__, "DEVICE", env.DEVICE)
EOF

# 3. .dp -> .pth (DeePMD-kit's own converter; TensorFlow is not needed for .dp -> .pth)
stamp "converting cuag.dp, cuag_pair.dp -> .pth"
for m in cuag cuag_pair; do
    python3 -P -m dpsycl_bench.deepmd_pt_shim convert-backend "$DEST/$m.dp" "$WORK/$m.pth" 2>&1 \
        | grep -v -i -E "warn|implib|triton" | tail -3
    test -s "$WORK/$m.pth" || { echo "error: conversion to $m.pth failed" >&2; exit 3; }
done

# 4. the benchmark
stamp "benchmarks/frames_throughput.py --frames $FRAMES (hard limit ${BENCH_TIMEOUT} s)"
timeout -k 20 --signal=INT "$BENCH_TIMEOUT" python3 -u benchmarks/frames_throughput.py --device "$DEVICE" \
    --frames $FRAMES --repeat "$REPEAT" --models "$PWD/tests/data/cuag/model.h5" "$PWD/tests/data/cuag_pair/model.h5" \
    --dp-models "$WORK/cuag.pth" "$WORK/cuag_pair.pth" \
    --dp-command "python3 -P -m dpsycl_bench.deepmd_pt_shim --pt" \
    --log-dir "$OUT/frames/logs" --output "$OUT/frames" 2>&1 \
    | grep -v -i -E "warning|implib" | tee "$OUT/frames/frames.log"
rc=${PIPESTATUS[0]}
stamp "bench exit status $rc (124: cut by the time limit; the per-job times are in frames.log)"
exit "$rc"
