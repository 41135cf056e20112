#!/usr/bin/env bash
# Device calls of session 34 (issue 14, target 2: float32 twice as fast as float64 at 131,072 atoms), in one
# command: the parts of PARTS in order, each packed into $OUT/<part>.tgz as soon as it ends, so that a call cut
# short by its time limit still brings back the parts it finished (the device tool returns at most 8 files).
#   tests   the CUDA tests of TEST_FILES selected by TEST_K on each tree of TEST_TREES   (gpu_session33.sh)
#   gather  Nsight Compute's gather durations over NVE MD, GATHER_SPECS "tree precision;…" (gpu_session33.sh)
#   md      NVE MD at 131,072 atoms, MD_SPECS "tree precision model;…" (gpu_session31.sh; a spec listed again
#           writes -r2, -r3)
#   kt      Nsight Compute's kernel times of one evaluation at 131,072 atoms, KT_SPECS "tree model precision;…"
#           (gpu_session32.sh's PART=ab without its ab_timing runs)
#   step    an MD step's wall time and every kernel's GPU time, STEP_SPECS "tree precision model;…"
#           (gpu_session31.sh's MD part with MD_SPECS=none)
# The trees live under .ab/ (untracked, carried), made from HEAD as in gpu_session33.sh's header, a variant with
# its patch (benchmarks/results/session34/*.patch) applied by patch -p1 inside it.
#   run (device tool), carry ["benchmarks/gpu_wheels", ".ab/<tree>", …]:
#   PARTS="tests gather md" TEST_TREES=… GATHER_SPECS=… MD_SPECS=… bash benchmarks/gpu_session34.sh
#
# Left for the next session's first call (session 34 ran one call; the tries after it found no machine, then none
# was lent).  Trees: b11 = 3c66744 (the gather as kept), v4 = HEAD (+ virials at sampled steps only), v5 = v4 with
# results/session34/v5-descriptor-batch.patch:
#   rm -rf .ab/b11 .ab/v4 .ab/v5 && for t in b11:3c66744 v4:HEAD; do mkdir -p .ab/${t%%:*} \
#       && git archive ${t#*:} dpsycl device_kernels extract | tar -x -C .ab/${t%%:*}; done \
#       && rm -f .ab/*/dpsycl/data/*.h5 .ab/*/dpsycl/data/*.pb && cp -r .ab/v4 .ab/v5 \
#       && (cd .ab/v5 && patch -sp1 < ../../benchmarks/results/session34/v5-descriptor-batch.patch)
#   M=tests/data/cuag/model.h5; PARTS="tests gather kt md" TEST_TREES="v5" TEST_FILES="tests/test_device.py" \
#       TEST_K="without_virials or stale_skin or cublas" TEST_TIMEOUT=200 \
#       GATHER_SPECS="b11 float64;v4 float64;b11 float32;v4 float32" \
#       KT_SPECS="v4 $M float32;v5 $M float32;v4 $M float64;v5 $M float64" \
#       MD_SPECS="b11 float32 $M;v4 float32 $M;b11 float64 $M;v4 float64 $M;v4 float32 $M;b11 float32 $M;v4 float64 $M;b11 float64 $M" \
#       bash benchmarks/gpu_session34.sh
#   carry ["benchmarks/gpu_wheels", ".ab/b11", ".ab/v4", ".ab/v5"]; then, on the same warm machine,
#   PARTS="md step" MD_SPECS="v4 float32 $M;v5 float32 $M;v5 float32 $M;v4 float32 $M" STEP_SPECS="v5 float32 $M;v5 float64 $M".
#   Predictions: results/session34/predictions.md (also in NOTES.md, session 34).  results/session34/
#   v6-lists-when-the-skin-asks.patch (list builds only when the skin asks) was reverted, not measured: NOTES.md.
#
# Session 35 ran the first call above (as written) and three short ones (results/session35/call1-h100 … call4-h100).
# Left for session 36's first call: target 2 again, now at 1,048,576 atoms as well (last measured there in session
# 31, 1.91x, before the gather, virial and list changes), and the 131,072-atom ratio in a second machine start, main's
# tree alone (.ab/m = HEAD's dpsycl device_kernels extract, made as above):
#   M=tests/data/cuag/model.h5; PARTS="md" MD_SPECS="m float32 $M;m float64 $M;m float32 $M;m float64 $M" \
#       bash benchmarks/gpu_session34.sh                      (131,072 atoms, about 100 s)
#   then MD_SIZE=1048576 MD_TIMEOUT=150 PARTS="md" MD_SPECS="m float32 $M;m float64 $M" (about 200 s);
#   carry ["benchmarks/gpu_wheels", ".ab/m"].
# Session 36 got no machine for that call (eleven refused starts of both kinds, 01:58-03:49 UTC, took its device time);
# it was the next one.  Session 37 ran it (results/session37/call1-h100/) and then benchmarks/gpu_session37.sh.  In a
# call with little device time left, one pair at each size (about 250 s):
#   PARTS="md" MD_SPECS="m float32 $M;m float64 $M" bash benchmarks/gpu_session34.sh; mv $OUT/md.tgz $OUT/md131k.tgz
#   MD_SIZE=1048576 MD_TIMEOUT=140 PARTS="md" MD_SPECS="m float32 $M;m float64 $M" bash benchmarks/gpu_session34.sh
set -uo pipefail
FINAL=${OUT:-/tmp/out}
mkdir -p "$FINAL"
for part in ${PARTS:-tests gather md}; do
    export OUT=/tmp/res34/$part
    rm -rf "$OUT" && mkdir -p "$OUT"
    case $part in
        tests|gather) PART=$part bash benchmarks/gpu_session33.sh ;;
        md) PART=md bash benchmarks/gpu_session31.sh ;;
        kt) AB_SPECS="" PART=ab bash benchmarks/gpu_session32.sh ;;
        step) MD_SPECS=none PART=md bash benchmarks/gpu_session31.sh ;;
    esac
    (cd "$OUT" && tar czf "$FINAL/$part.tgz" .)
done
cp /tmp/res34/*/gpu.txt "$FINAL/gpu.txt" 2>/dev/null
ls -la "$FINAL"
