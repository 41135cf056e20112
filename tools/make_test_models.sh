#!/usr/bin/env bash
# Regenerate tiny DeePMD-kit se_e2_a test models from the EMT data in tests/data/cuag_emt.
#
#   tools/make_test_models.sh OUTDIR [VARIANT ...]
#
# Each variant is trained with `dp --tf train` (DeePMD-kit 3.x; plain `dp train` for 2.x) for a
# few hundred steps on tiny nets and frozen with `dp freeze`, into OUTDIR/VARIANT/frozen_model.pb
# (plus its input.json).  Seconds per model on a laptop CPU.  The models are for testing the
# extraction and the evaluators, not for physics.
#
# Variants (default: all):
#   tiny          type_one_side, tanh, float64, resnet_dt in the fitting net
#   tiny_pair     type_one_side false, resnet_dt in the embedding net, exclude_types [[0, 1]]
#   tiny_exclude  type_one_side, exclude_types [[0, 1]] (the graph carries a type-exclusion mask)
#   tiny_f32_gelu float32, gelu activations
#   tiny_se_r     se_e2_r (radial only), type_one_side, resnet_dt in the embedding net
#   tiny_se_r_pair se_e2_r, type_one_side false, exclude_types [[0, 1]]
#   tiny_se_r_exclude se_e2_r, type_one_side, exclude_types [[0, 1]] (excluded slots add G(0))
#   tiny_act_silu     silu embedding net, silut:2.0 fitting net (threshold read from the graph)
#   tiny_act_softplus softplus embedding net, sigmoid fitting net
#   tiny_act_relu6    relu6 embedding net, relu fitting net
#   tiny_se_e3        se_e3 (se_t, three-body embedding), resnet_dt; rcut 3.5 so that sel [12, 12] holds
#                     every neighbour outside the dense case (the cost is quadratic in sel); embedding
#                     3-6 so that the fitting net's first layer (6 -> 8) means the same in a .dp file
#   tiny_fparam       se_e2_a with 2 frame parameters and 1 atomic parameter (numb_fparam, numb_aparam);
#                     needs DATA with set.*/fparam.npy and aparam.npy (tools/make_param_data.py)
#   tiny_tebd         se_e2_a with a model-level type_embedding (neuron [4]), type_one_side
#   tiny_tebd_pair    type_embedding [2, 4] (use_tebd_bias, resnet_dt), type_one_side false,
#                     resnet_dt in the embedding net, exclude_types [[0, 1]]
#   tiny_davg_zero    se_e2_a, set_davg_zero, descriptor trainable false (its nets stay as initialised)
#   tiny_se_r_tebd    se_e2_r with a model-level type_embedding [4]: DeePMD-kit's se_e2_r ignores it, the
#                     fitting net reads it
#   tiny_se_e3_tebd   se_e3 (sel [16, 16]) with a model-level type_embedding [4]: as se_e2_r, only the
#                     fitting net reads it
#   tiny_compress     se_e2_a, type_one_side, then `dp compress`: frozen_model.pb is the
#                     compressed graph (tables), uncompressed.pb the net it was made from
#   tiny_se_r_compress se_e2_r, type_one_side, then `dp compress`
#   tiny_pair_compress se_e2_a, type_one_side false, exclude_types [[0, 1]], then `dp compress`
#   tiny_se_e3_compress se_e3 as tiny_se_e3 but without resnet_dt (dp compress refuses idt), then
#                     `dp compress -s 0.1` (TabulateFusionSeT tables of the angular products q_ij·q_ik;
#                     their range grows as 1/t_std², ±95 here: the default step would make a 3.5 MB graph)
#   tiny_act_{gelu,gelu_tf,relu,relu6}_compress  se_e2_a, type_one_side, that embedding-net activation,
#                     then `dp compress -s 0.1` (the activations DeePMD-kit tabulates besides tanh,
#                     softplus and sigmoid; the coarse step keeps the tables small)
#   tiny_hybrid       hybrid [se_e2_a rcut 4.5 sel [32, 32], se_e2_r rcut 3.5 sel [16, 16]]
#   tiny_hybrid_tebd  hybrid as tiny_hybrid with a model-level type_embedding [4]: DeePMD-kit's se_e2_a member
#                     reads it (its shared embedding net scopes carry the member suffix _0), se_e2_r ignores it
#   tiny_hybrid_e3_tebd hybrid as tiny_hybrid_e3 with a model-level type_embedding [4] (its se_e3 member ignores it)
#   tiny_hybrid_pair  hybrid [se_e2_a rcut 3.5 sel [16, 16] type_one_side false, se_e2_a rcut 4.5 sel [32, 32]]
#   tiny_hybrid_e3    hybrid [se_e2_a rcut 4.5 sel [32, 32], se_e3 rcut 3.5 sel [16, 16] neuron [3, 6] resnet_dt]
#                     (sel 16, not tiny_se_e3's 12: the small random cells of tests/test_reference.py hold 14
#                     neighbours of one species within 3.5 Å, and a cut through a tie of ± images is not
#                     DeePMD-kit's)
#   tiny_hybrid_compress hybrid [se_e2_a rcut 4.5 sel [32, 32] type_one_side false, se_e2_r rcut 3.5 sel [16, 16]
#                     one-side], no resnet_dt (tabulation refuses it), then `dp compress -s 0.05`
#   tiny_hybrid_e3_compress hybrid [se_e2_a as tiny_hybrid_e3's, se_e3 without resnet_dt], then `dp compress -s 0.1`
#   float32 (descriptor, fitting net and type embedding all "precision": "float32"; tanh), one model per feature:
#   tiny_f32_se_r     se_e2_r, type_one_side false, resnet_dt, exclude_types [[0, 1]], set_davg_zero,
#                     trainable false
#   tiny_f32_se_e3    se_e3 as tiny_se_e3
#   tiny_f32_tebd     se_e2_a with a model-level type_embedding as tiny_tebd_pair
#   tiny_f32_compress se_e2_a, type_one_side false, exclude_types [[0, 1]], then `dp compress`
#   tiny_f32_se_r_compress se_e2_r, type_one_side, then `dp compress`
#   tiny_f32_hybrid   hybrid as tiny_hybrid [se_e2_a, se_e2_r]
#
# Environment: DP (the dp executable; default: dp on PATH), STEPS (default 200),
# DATA (default: tests/data/cuag_emt next to this script).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: $0 OUTDIR [VARIANT ...]}"
shift
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(tiny tiny_pair tiny_exclude tiny_f32_gelu tiny_se_r tiny_se_r_pair tiny_se_r_exclude
    tiny_act_silu tiny_act_softplus tiny_act_relu6 tiny_fparam tiny_se_e3 tiny_tebd tiny_tebd_pair tiny_davg_zero tiny_se_r_tebd
    tiny_compress tiny_se_r_compress tiny_pair_compress tiny_hybrid tiny_hybrid_pair tiny_se_e3_compress
    tiny_act_gelu_compress tiny_act_gelu_tf_compress tiny_act_relu_compress tiny_act_relu6_compress
    tiny_hybrid_e3 tiny_hybrid_compress tiny_hybrid_e3_compress
    tiny_f32_se_r tiny_f32_se_e3 tiny_f32_tebd tiny_f32_compress tiny_f32_se_r_compress tiny_f32_hybrid
    tiny_hybrid_tebd tiny_hybrid_e3_tebd tiny_se_e3_tebd)
DP="${DP:-dp}"
STEPS="${STEPS:-200}"
DATA="$(cd "${DATA:-$here/../tests/data/cuag_emt}" && pwd)"

for s in sys000 sys001 sys002 md000; do
    [ -f "$DATA/$s/type.raw" ] || { echo "missing training data $DATA/$s" >&2; exit 1; }
done

# DeePMD-kit 3 needs --tf to pick the TensorFlow backend; 2.x has only TensorFlow.
version="$("$DP" --version 2>&1 | tail -n 1)"
case "$version" in
    *" v2."*|*" v1."*) backend=() ;;
    *) backend=(--tf) ;;
esac
echo "using $DP ($version)"

# the descriptor section of each variant's training input
SE_A='"type": "se_e2_a", "seed": 1, "rcut": 4.5, "rcut_smth": 1.0, "sel": [40, 40], "neuron": [4, 8], "axis_neuron": 4'
SE_R='"type": "se_e2_r", "seed": 1, "rcut": 4.5, "rcut_smth": 1.0, "sel": [40, 40], "neuron": [4, 8]'
# members of the hybrid variants: sel holds every neighbour at the member's own cutoff in every case but
# 'dense' (which overfills each member) and in tests/test_reference.py's random structures
HYB_A='"type": "se_e2_a", "seed": 1, "rcut": 4.5, "rcut_smth": 1.0, "sel": [32, 32], "neuron": [4, 8], "axis_neuron": 4, "activation_function": "tanh", "precision": "float64"'
HYB_R='"type": "se_e2_r", "seed": 2, "rcut": 3.5, "rcut_smth": 0.5, "sel": [16, 16], "neuron": [4, 8], "type_one_side": true, "activation_function": "tanh", "precision": "float64"'
HYB_E3='"type": "se_e3", "seed": 4, "rcut": 3.5, "rcut_smth": 0.5, "sel": [16, 16], "neuron": [3, 6], "resnet_dt": true, "activation_function": "tanh", "precision": "float64"'
HYB_A_NEAR='"type": "se_e2_a", "seed": 3, "rcut": 3.5, "rcut_smth": 0.5, "sel": [16, 16], "neuron": [4, 8], "axis_neuron": 4, "activation_function": "tanh", "precision": "float64"'
descriptor_for() {
    case "$1" in
        tiny)          echo "$SE_A"', "type_one_side": true,  "resnet_dt": false, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_pair)     echo "$SE_A"', "type_one_side": false, "resnet_dt": true,  "activation_function": "tanh", "precision": "float64", "exclude_types": [[0, 1]]' ;;
        tiny_exclude)  echo "$SE_A"', "type_one_side": true,  "resnet_dt": false, "activation_function": "tanh", "precision": "float64", "exclude_types": [[0, 1]]' ;;
        tiny_f32_gelu) echo "$SE_A"', "type_one_side": true,  "resnet_dt": false, "activation_function": "gelu", "precision": "float32"' ;;
        tiny_se_r)     echo "$SE_R"', "type_one_side": true,  "resnet_dt": true,  "activation_function": "tanh", "precision": "float64"' ;;
        tiny_se_r_pair) echo "$SE_R"', "type_one_side": false, "resnet_dt": false, "activation_function": "tanh", "precision": "float64", "exclude_types": [[0, 1]]' ;;
        tiny_se_r_exclude) echo "$SE_R"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float64", "exclude_types": [[0, 1]]' ;;
        tiny_act_silu)     echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "silu", "precision": "float64"' ;;
        tiny_act_softplus) echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "softplus", "precision": "float64"' ;;
        tiny_act_relu6)    echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "relu6", "precision": "float64"' ;;
        tiny_fparam)       echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_se_e3)        echo '"type": "se_e3", "seed": 1, "rcut": 3.5, "rcut_smth": 0.5, "sel": [12, 12], "neuron": [3, 6], "resnet_dt": true, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_se_e3_tebd)   echo '"type": "se_e3", "seed": 1, "rcut": 3.5, "rcut_smth": 0.5, "sel": [16, 16], "neuron": [3, 6], "resnet_dt": true, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_tebd)         echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_tebd_pair)    echo "$SE_A"', "type_one_side": false, "resnet_dt": true, "activation_function": "tanh", "precision": "float64", "exclude_types": [[0, 1]]' ;;
        tiny_davg_zero)    echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float64", "set_davg_zero": true, "trainable": false' ;;
        tiny_se_r_tebd)    echo "$SE_R"', "type_one_side": true, "resnet_dt": true, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_compress)     echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_pair_compress) echo "$SE_A"', "type_one_side": false, "resnet_dt": false, "activation_function": "tanh", "precision": "float64", "exclude_types": [[0, 1]]' ;;
        tiny_se_e3_compress) echo '"type": "se_e3", "seed": 1, "rcut": 3.5, "rcut_smth": 0.5, "sel": [12, 12], "neuron": [3, 6], "resnet_dt": false, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_act_gelu_compress)    echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "gelu", "precision": "float64"' ;;
        tiny_act_gelu_tf_compress) echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "gelu_tf", "precision": "float64"' ;;
        tiny_act_relu_compress)    echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "relu", "precision": "float64"' ;;
        tiny_act_relu6_compress)   echo "$SE_A"', "type_one_side": true, "resnet_dt": false, "activation_function": "relu6", "precision": "float64"' ;;
        tiny_se_r_compress) echo "$SE_R"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float64"' ;;
        tiny_hybrid)       echo '"type": "hybrid", "list": [{'"$HYB_A"', "type_one_side": true}, {'"$HYB_R"'}]' ;;
        tiny_hybrid_tebd)  echo '"type": "hybrid", "list": [{'"$HYB_A"', "type_one_side": true}, {'"$HYB_R"'}]' ;;
        tiny_hybrid_e3_tebd) echo '"type": "hybrid", "list": [{'"$HYB_A"', "type_one_side": true}, {'"$HYB_E3"'}]' ;;
        tiny_hybrid_pair)  echo '"type": "hybrid", "list": [{'"$HYB_A_NEAR"', "type_one_side": false}, {'"$HYB_A"', "type_one_side": true}]' ;;
        tiny_hybrid_e3)    echo '"type": "hybrid", "list": [{'"$HYB_A"', "type_one_side": true}, {'"$HYB_E3"'}]' ;;
        tiny_hybrid_compress) echo '"type": "hybrid", "list": [{'"$HYB_A"', "type_one_side": false}, {'"$HYB_R"'}]' ;;
        tiny_hybrid_e3_compress) echo '"type": "hybrid", "list": [{'"$HYB_A"', "type_one_side": true}, {'"${HYB_E3/'"resnet_dt": true'/'"resnet_dt": false'}"'}]' ;;
        tiny_f32_se_r)     echo "$SE_R"', "type_one_side": false, "resnet_dt": true, "activation_function": "tanh", "precision": "float32", "exclude_types": [[0, 1]], "set_davg_zero": true, "trainable": false' ;;
        tiny_f32_se_e3)    echo '"type": "se_e3", "seed": 1, "rcut": 3.5, "rcut_smth": 0.5, "sel": [12, 12], "neuron": [3, 6], "resnet_dt": true, "activation_function": "tanh", "precision": "float32"' ;;
        tiny_f32_tebd)     echo "$SE_A"', "type_one_side": false, "resnet_dt": true, "activation_function": "tanh", "precision": "float32", "exclude_types": [[0, 1]]' ;;
        tiny_f32_compress) echo "$SE_A"', "type_one_side": false, "resnet_dt": false, "activation_function": "tanh", "precision": "float32", "exclude_types": [[0, 1]]' ;;
        tiny_f32_se_r_compress) echo "$SE_R"', "type_one_side": true, "resnet_dt": false, "activation_function": "tanh", "precision": "float32"' ;;
        tiny_f32_hybrid)   echo '"type": "hybrid", "list": [{'"${HYB_A/float64/float32}"', "type_one_side": true}, {'"${HYB_R/float64/float32}"'}]' ;;
        *) echo "unknown variant $1" >&2; return 1 ;;
    esac
}
fitting_for() {
    case "$1" in
        tiny_f32_gelu) echo '"activation_function": "gelu", "precision": "float32"' ;;
        tiny_act_silu) echo '"activation_function": "silut:2.0", "precision": "float64"' ;;
        tiny_act_softplus) echo '"activation_function": "sigmoid", "precision": "float64"' ;;
        tiny_act_relu6) echo '"activation_function": "relu", "precision": "float64"' ;;
        tiny_fparam) echo '"activation_function": "tanh", "precision": "float64", "numb_fparam": 2, "numb_aparam": 1' ;;
        tiny_f32_*)  echo '"activation_function": "tanh", "precision": "float32"' ;;
        *)             echo '"activation_function": "tanh", "precision": "float64"' ;;
    esac
}

# model-level sections other than the descriptor and the fitting net (with a trailing comma)
model_extra_for() {
    case "$1" in
        tiny_tebd|tiny_se_r_tebd|tiny_se_e3_tebd|tiny_hybrid_tebd|tiny_hybrid_e3_tebd) echo '"type_embedding": {"neuron": [4], "activation_function": "tanh", "precision": "float64", "seed": 1},' ;;
        tiny_tebd_pair) echo '"type_embedding": {"neuron": [2, 4], "activation_function": "tanh", "resnet_dt": true, "use_tebd_bias": true, "precision": "float64", "seed": 1},' ;;
        tiny_f32_tebd)  echo '"type_embedding": {"neuron": [2, 4], "activation_function": "tanh", "resnet_dt": true, "use_tebd_bias": true, "precision": "float32", "seed": 1},' ;;
        *)              echo '' ;;
    esac
}

# options of `dp compress` for the *_compress variants (default step 0.01 otherwise)
compress_options_for() {
    case "$1" in
        tiny_se_e3_compress|tiny_act_*_compress) echo '-s 0.1' ;;
        tiny_hybrid_compress) echo '-s 0.05' ;;     # the hybrid's six tables: a 0.7 MB graph instead of 2.9 MB
        tiny_hybrid_e3_compress) echo '-s 0.1' ;;   # se_e3's table range grows as 1/t_std² (see tiny_se_e3_compress)
        *)                   echo '' ;;
    esac
}

mkdir -p "$out"
out="$(cd "$out" && pwd)"
for v in "${variants[@]}"; do
    desc="$(descriptor_for "$v")"
    fit="$(fitting_for "$v")"
    extra="$(model_extra_for "$v")"
    dir="$out/$v"
    rm -rf "$dir"
    mkdir -p "$dir"
    cat > "$dir/input.json" <<EOF
{
  "model": {
    "type_map": ["Cu", "Ag"], $extra
    "descriptor": {$desc},
    "fitting_net": {"seed": 1, "neuron": [8, 8], "resnet_dt": true, $fit}
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
        cd "$dir"
        "$DP" "${backend[@]}" train input.json --skip-neighbor-stat > train.log 2>&1 \
            || { tail -n 30 train.log >&2; exit 1; }
        "$DP" "${backend[@]}" freeze -o frozen_model.pb > freeze.log 2>&1 \
            || { tail -n 30 freeze.log >&2; exit 1; }
        # the tabulated graph (min-distance statistics from the training data of input.json) becomes
        # frozen_model.pb, what the tests and tools/make_reference.py read; the net stays as uncompressed.pb
        case "$v" in *_compress)
            mv frozen_model.pb uncompressed.pb
            "$DP" "${backend[@]}" compress -i uncompressed.pb -o frozen_model.pb -t input.json $(compress_options_for "$v") \
                > compress.log 2>&1 \
                || { tail -n 30 compress.log >&2; exit 1; } ;;
        esac
        # keep only what a test needs
        find . -mindepth 1 -maxdepth 1 ! -name frozen_model.pb ! -name uncompressed.pb ! -name input.json ! -name lcurve.out \
            -exec rm -rf {} +
    )
    echo "$v: $dir/frozen_model.pb ($(wc -c < "$dir/frozen_model.pb") bytes)"
done
