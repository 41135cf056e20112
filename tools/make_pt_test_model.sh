#!/usr/bin/env bash
# Train the tiny DeePMD-kit PyTorch-backend test model (tests/data/tiny_pt) and convert it to a .dp.
#
#   DP=/path/to/pt-venv/bin/dp tools/make_pt_test_model.sh OUTDIR
#
# Needs a Python environment with DeePMD-kit 3 and PyTorch (not dpsycl's own environment, which has
# no PyTorch), e.g.
#
#   python3.11 -m venv /tmp/ptvenv
#   /tmp/ptvenv/bin/pip install torch==2.13.0 deepmd-kit==3.2.0 mpich 'e3nn>=0.5.9' 'numpy<2'
#
# (mpich and e3nn: what deepmd-kit[torch] adds, less its pinned torch 2.11.0.)  The deepmd-kit 3.2.0
# wheel's custom PyTorch ops (libdeepmd_op_pt.so) are built for torch 2.11.0, and DeePMD-kit refuses to
# start beside another torch ("The version of PyTorch used to compile this deepmd-kit package is
# 2.11.0 ...").  They serve model compression and the LAMMPS plugin only; in a throwaway environment
# with torch 2.13.0, set them aside and DeePMD-kit runs in pure PyTorch:
#
#   mv /tmp/ptvenv/lib/python3.11/site-packages/deepmd/lib/libdeepmd_op_pt.so{,.off}
#
# Steps, all DeePMD-kit's own commands (seconds to a minute on a laptop CPU):
#   dp --pt train input.json          a few hundred steps on tests/data/cuag_emt, tiny nets
#   dp --pt freeze -o model.pth       the TorchScript model PyTorch users deploy
#   dp --pt convert-backend model.pth model.dp    the backend-neutral file dpsycl reads
#   tools/make_pt_reference.py        DeePMD-kit's PyTorch outputs on the seven test cases
# into OUTDIR: model.dp, input.json, reference.npz, reference.json (model.pth and the logs are
# removed: dpsycl reads the .dp; the .pth is only needed to recompute the references).
#
# The model: se_e2_a, one embedding net per (centre, neighbour) species pair (type_one_side false, so
# the order of DeePMD-kit's network collection matters), resnet_dt embedding nets (idt on the 4 -> 8
# layer), float64, tanh; fitting 8-8 with resnet_dt.  The fitting input (8 * 4 = 32) differs from the
# first hidden width, so no fitting layer adds its input where dpsycl's fitting rule does not.  No
# exclude_types: DeePMD-kit's PyTorch backend evaluates an excluded pair's net on the pair's empty
# neighbour slots, which dpsycl does not (dpsycl refuses such a .dp; docs/model-format.md).
#
# Environment: DP (the dp executable of the PyTorch environment; default: dp on PATH), STEPS
# (default 300), DATA (default: tests/data/cuag_emt next to this script).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: DP=.../dp $0 OUTDIR}"
DP="${DP:-dp}"
STEPS="${STEPS:-300}"
DATA="$(cd "${DATA:-$here/../tests/data/cuag_emt}" && pwd)"
PYTHON="$(dirname "$(command -v "$DP")")/python"

for s in sys000 sys001 sys002 md000; do
    [ -f "$DATA/$s/type.raw" ] || { echo "missing training data $DATA/$s" >&2; exit 1; }
done
"$PYTHON" -c "import torch" 2>/dev/null \
    || { echo "$PYTHON cannot import torch: DP must be the dp of an environment with PyTorch" >&2; exit 1; }
echo "using $DP ($("$DP" --version 2>&1 | tail -n 1)), torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$out/input.json" <<EOF
{
  "model": {
    "type_map": ["Cu", "Ag"],
    "descriptor": {
      "type": "se_e2_a", "seed": 1,
      "rcut": 4.5, "rcut_smth": 1.0, "sel": [40, 40],
      "neuron": [4, 8], "axis_neuron": 4,
      "type_one_side": false, "resnet_dt": true, "activation_function": "tanh", "precision": "float64"
    },
    "fitting_net": {"seed": 1, "neuron": [8, 8], "resnet_dt": true, "activation_function": "tanh",
                    "precision": "float64"}
  },
  "learning_rate": {"type": "exp", "start_lr": 0.002, "stop_lr": 0.0002, "decay_steps": 50},
  "loss": {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1,
           "start_pref_f": 1000, "limit_pref_f": 1, "start_pref_v": 0, "limit_pref_v": 0},
  "training": {
    "training_data": {"systems": ["$DATA/sys000", "$DATA/sys001", "$DATA/sys002"], "batch_size": 1},
    "validation_data": {"systems": ["$DATA/md000"], "batch_size": 1},
    "numb_steps": $STEPS, "seed": 1, "disp_freq": 100, "save_freq": $STEPS
  }
}
EOF
(
    cd "$work"
    cp "$out/input.json" .
    "$DP" --pt train input.json --skip-neighbor-stat > train.log 2>&1 || { tail -n 30 train.log >&2; exit 1; }
    "$DP" --pt freeze -o model.pth > freeze.log 2>&1 || { tail -n 30 freeze.log >&2; exit 1; }
    "$DP" --pt convert-backend model.pth model.dp > convert.log 2>&1 || { tail -n 30 convert.log >&2; exit 1; }
)
cp "$work/model.dp" "$out/model.dp"
"$PYTHON" "$here/make_pt_reference.py" "$work/model.pth" "$out"
echo "tiny_pt: $out/model.dp ($(wc -c < "$out/model.dp") bytes)"
