#!/usr/bin/env bash
# A long NVE run of 2,048 Cu-Ag atoms on one GPU with the watchdog on (issue 13, point 7), in ONE call.
#
#   device tool, carry ["benchmarks/gpu_wheels/py"] (ase, tqdm) and, to continue a run, RESTART_FROM:
#     bash benchmarks/gpu_long_nve.sh
#
# `dpsycl run` (staged, no install) on cuda:0: dt 1 fs, NVE from a 300 K Maxwell-Boltzmann start,
# default watchdog bounds, one frame every EVERY steps, until RUN_SECONDS of wall time have passed
# (then SIGINT: the run ends as a user's Ctrl-C would, and the trajectory keeps every frame
# committed, which is the point of the crash-safe writer).  RESTART_FROM=path/to/nve.h5 continues
# a carried trajectory with --restart instead (bit-identical continuation, same watchdog).
# Then benchmarks/long_nve_report.py reads the file: simulated time, drift of the total energy
# (linear fit, meV/atom/ps), its RMS fluctuation, temperature range, and whether the watchdog said
# anything (any "dpsycl: stopped"/"warning" line on stderr).  Results: $OUT/long_nve/ (nve.h5,
# run.log, report.json).
#
# Knobs: RUN_SECONDS (default 420), EVERY (default 2000), ATOMS (default 2048), DEVICE (cuda:0), PY
# (python3; -P everywhere: the repository root must not shadow the staged package), MODEL (default
# dpsycl/data/cuag.h5; a carried compressed model such as .ab/cuag_compressed.h5 runs 1.6x faster),
# STEPS (last step; default: run until RUN_SECONDS), KEEP (default .longnve, an ignored folder of the
# repository copy on the device machine, which a warm machine keeps between calls) and CONTINUE=1:
# continue KEEP/nve.h5 left there by the previous call (no transfer; a cold machine has none, then
# carry the returned nve.h5 and give RESTART_FROM).
set -uo pipefail
T_START=$(date +%s)
OUT=${OUT:-/tmp/out}
PY_WHEELS=${PY_WHEELS:-benchmarks/gpu_wheels/py}
RUN_SECONDS=${RUN_SECONDS:-420}
EVERY=${EVERY:-2000}           # 124 ps at 500 gave a 250-frame file over the 16 MiB a device call returns
ATOMS=${ATOMS:-2048}
DEVICE=${DEVICE:-cuda:0}
PY=${PY:-python3}
WORK=${WORK:-/tmp/dpsycl_long_nve}
RESTART_FROM=${RESTART_FROM:-}
MODEL=${MODEL:-dpsycl/data/cuag.h5}
STEPS=${STEPS:-100000000}
KEEP=${KEEP:-.longnve}
CONTINUE=${CONTINUE:-0}
mkdir -p "$OUT/long_nve" "$WORK" "$KEEP"
stamp() { echo "[gpu_long_nve $(( $(date +%s) - T_START )) s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/long_nve/gpu.txt"
stamp "installing the carried ase/tqdm wheels"
python3 -m pip install --quiet --no-index --no-deps --no-warn-script-location --target "$WORK/site" \
    "$PY_WHEELS"/*.whl 2>&1 | grep -v -i warning | tail -3
stamp "staging dpsycl"
rm -rf "$WORK/stage"
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from ab_timing import stage; stage('.', '$WORK/stage')"
export PYTHONPATH="$WORK/stage:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"

TRAJ="$KEEP/nve.h5"
if [ "$CONTINUE" = 1 ] && [ -f "$TRAJ" ]; then
    RESTART=1
elif [ -n "$RESTART_FROM" ]; then
    cp "$RESTART_FROM" "$TRAJ" && chmod u+w "$TRAJ"
    RESTART=1
else
    [ "$CONTINUE" = 1 ] && { stamp "CONTINUE=1 but no $TRAJ on this machine (cold start?): nothing to continue"; exit 1; }
    RESTART=0
fi
if [ "$RESTART" = 1 ]; then
    ARGS=(run "$MODEL" --restart --steps "$STEPS" --device "$DEVICE" --output "$TRAJ" --no-progress)
else
    ARGS=(run "$MODEL" --alloy Cu0.5Ag0.5 --atoms "$ATOMS" --ensemble nve --temperature 300 --dt 1
          --steps "$STEPS" --every "$EVERY" --seed 13 --device "$DEVICE" --output "$TRAJ" --overwrite --no-progress)
fi
stamp "dpsycl ${ARGS[*]} (SIGINT after ${RUN_SECONDS} s)"
echo "== call at $(date -u +%FT%TZ): dpsycl ${ARGS[*]}" >> "$KEEP/run.log"
timeout --signal=INT -k 30 "$RUN_SECONDS" "$PY" -P -u -m dpsycl "${ARGS[@]}" 2>&1 \
    | grep -v -E "NumbaPerformanceWarning|warn\(errors.NumbaPerf" >> "$KEEP/run.log"
echo "exit status ${PIPESTATUS[0]}" >> "$KEEP/run.log"
tail -5 "$KEEP/run.log"
cp "$TRAJ" "$KEEP/run.log" "$OUT/long_nve/"
stamp "report"
"$PY" -P benchmarks/long_nve_report.py "$TRAJ" "$KEEP/run.log" | tee "$OUT/long_nve/report.json"
stamp "done"
