#!/usr/bin/env bash
# Device calls of session 33 (issue 14, target 2: float32 twice as fast as float64 at 131,072 atoms).
#
# PART=probe: benchmarks/gpu_tf32x3_probe.py (sgemm against one and three TF32 products at the fitting net's shapes).
# PART=gather: Nsight Compute's durations of gather_forces_and_virials over 32 NVE MD steps at 131,072 atoms (1 A skin:
# lists with slots beyond rcut), for each "tree precision" of GATHER_SPECS.
# PART=tests: the CUDA tests of TEST_FILES (default tests/test_device.py) selected by TEST_K, for each tree of TEST_TREES
# (directories under .ab/).
# Kernel times of one evaluation: gpu_session32.sh PART=ab with KT_SPECS (and AB_SPECS=""); NVE MD: gpu_session31.sh
# PART=md with MD_SPECS.  The trees live under .ab/ (untracked, carried): b9 is the tree as kept,
#   rm -rf .ab/b9 && mkdir -p .ab/b9 && git archive HEAD dpsycl device_kernels extract | tar -x -C .ab/b9 \
#       && rm -f .ab/b9/dpsycl/data/*.h5 .ab/b9/dpsycl/data/*.pb
# and each variant is b9 with the patches benchmarks/NOTES.md (session 33) names, applied with patch -p1 inside it.
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab/b9", ".ab/<variant>", ...]
#
# Left for the next session's first call (session 33 ran out of device time): b10 = the tree as kept (as b9 above, from
# HEAD), v3 = b10 with results/session33/v3-gather-no-branch-around-loads.patch, then
#   TEST_TREES="b10" TEST_FILES="tests/test_slot_row.py tests/test_device.py" TEST_K="slot_row or stale_skin or cublas" \
#       PART=tests bash benchmarks/gpu_session33.sh       (slot_row's fix has not run on a GPU)
#   GATHER_SPECS="b10 float64;v3 float64;b10 float32;v3 float32" PART=gather bash benchmarks/gpu_session33.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
STAGE=/tmp/stage33
source benchmarks/gpu_stage.sh
PART=${PART:-probe}
if [ "$PART" = probe ]; then
    timeout -k 5 150 python3 -P benchmarks/gpu_tf32x3_probe.py --output "$OUT/tf32x3-probe.json" 2>&1 \
        | grep -v -i warn | tail -8 | cut -c1-400
fi
if [ "$PART" = tests ]; then
    for tree in ${TEST_TREES:-b9}; do
        [ -d "/tmp/stage_$tree" ] || python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/$tree', '/tmp/stage_$tree')"
        echo "tests of $tree:"
        PYTHONPATH="/tmp/stage_$tree:$SITE" timeout -k 5 "${TEST_TIMEOUT:-150}" python3 -P -m pytest -x -q -p no:cacheprovider \
            -k "${TEST_K:-cublas and cuag}" ${TEST_FILES:-tests/test_device.py} 2>&1 | tail -2
    done
fi
if [ "$PART" = gather ]; then
    NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
    IFS=';' read -ra specs <<< "${GATHER_SPECS:-b9 float32}"
    for spec in "${specs[@]}"; do
        set -- $spec
        [ -d "/tmp/stage_$1" ] || python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.ab/$1', '/tmp/stage_$1')"
        csv="$OUT/ncu-gather-$1-$2.csv"
        PYTHONPATH="/tmp/stage_$1:$SITE" timeout -k 10 120 "$NCU" --clock-control none \
            --metrics gpu__time_duration.sum,dram__bytes.sum,lts__t_sectors.sum --kernel-name regex:gather_forces \
            --csv --page raw python3 -P benchmarks/gpu_md_step_driver.py --model tests/data/cuag/model.h5 \
            --precision "$2" --natoms 131072 --warm 12 --steps 20 > "$csv" 2>> "$OUT/ncu.log"
        python3 - "$csv" "$1 $2" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')) if "gather" in r.get("Kernel Name", "")]
def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None
# by kernel: from session 34 an MD step between samples launches gather_forces, a sampled one the full gather
for name in sorted({r["Kernel Name"] for r in rows}):
    mine = [r for r in rows if r["Kernel Name"] == name]
    us = [number(r["gpu__time_duration.sum"]) / 1e3 for r in mine if number(r.get("gpu__time_duration.sum", ""))]
    dram = [number(r["dram__bytes.sum"]) / 1e9 for r in mine if number(r.get("dram__bytes.sum", ""))]
    print(sys.argv[2], name.split("(")[0].split("[")[0], "launches", len(us), "median us",
          round(statistics.median(us), 1) if us else None, "DRAM GB", round(statistics.median(dram), 3) if dram else None,
          "first 3", [round(u, 1) for u in us[:3]], "last 3", [round(u, 1) for u in us[-3:]])
PY
    done
fi
