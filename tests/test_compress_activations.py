"""`dpsycl compress` for every activation DeePMD-kit tabulates (its functypes 1-6: tanh, gelu and
gelu_tf, relu, relu6, softplus, sigmoid).

tiny_act_{gelu,gelu_tf,relu,relu6}_compress are se_e2_a models with that embedding-net activation,
compressed by DeePMD-kit's `dp compress -s 0.1` (tools/make_test_models.sh; tanh, softplus and
sigmoid nets: tests/test_compress.py and DeePMD-kit's own second-derivative op here).  Against
DeePMD-kit: the second derivatives of the activations (its C++ op), the tables of `dp compress`
term by term, and, for relu6, the outputs of the compressed graph on the seven cases (NumPy
reference only, to keep the suite's time).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dpsycl
from dpsycl.compress import graph_min_nbor_dist
from conftest import CASES, DATA, TOL, cli_error, model_file, model_path, reference_case

ACTIVATIONS = ("gelu", "gelu_tf", "relu", "relu6")
STEP = 0.1      # the -s of their `dp compress` (tools/make_test_models.sh)
#: DeePMD-kit's functype of each activation it tabulates (deepmd/tf/utils/tabulate.py)
FUNCTYPE = {"tanh": 1, "gelu": 2, "gelu_tf": 2, "relu": 3, "relu6": 4, "softplus": 5, "sigmoid": 6}


@pytest.mark.parametrize("name", FUNCTYPE)
def test_derivatives_are_deepmds(name):
    """φ' and φ'' of dpsycl's rule against DeePMD-kit's C++ (the UnaggregatedDyDxS and
    UnaggregatedDy2DxS ops with a unit weight, which `dp compress` builds its tables from), φ
    against TensorFlow's activation (which gives dp compress its values), away from the kinks."""
    pytest.importorskip("deepmd")
    from deepmd.tf.common import get_activation_func
    from deepmd.tf.env import op_module, tf

    from dpsycl.networks import activate_twice
    z = np.concatenate([np.linspace(-9.0, 9.0, 73), [-1e-3, 1e-3, 5.999, 6.001, 25.0]]).reshape(1, -1)
    z = z[:, ~np.isin(z[0], [0.0, 6.0])]    # each implementation picks its own side at relu's kinks
    graph = tf.Graph()
    with graph.as_default():
        xbar, w = tf.constant(z), tf.constant(np.ones_like(z))
        y = get_activation_func(name)(xbar)
        dy = op_module.unaggregated_dy_dx_s(y, w, xbar, tf.constant(FUNCTYPE[name]))
        d2y = op_module.unaggregated_dy2_dx_s(y, dy, w, xbar, tf.constant(FUNCTYPE[name]))
        with tf.Session(graph=graph) as sess:
            theirs = sess.run([y, dy, d2y])
    # gelu's φ'' is a sum of O(1) terms that cancel in the tails: 1e-13 absolute (3e-14 measured)
    for ours, their, what in zip(activate_twice(name, z), theirs, ("value", "first", "second")):
        np.testing.assert_allclose(ours, their, rtol=1e-13, atol=1e-13, err_msg=f"{name} {what}")


def test_gelu_tf_values_are_tensorflows_not_gelus():
    """DeePMD-kit's TensorFlow gelu_tf (tf.nn.gelu(approximate=True)) rounds its cubic coefficient
    0.044715 to float32, so `dp compress` tabulates values that are not gelu's; the tables follow it."""
    from dpsycl.networks import activate, activate_twice
    z = np.linspace(-4.0, 4.0, 33)
    gap = np.abs(activate_twice("gelu_tf", z)[0] - activate("gelu", z)[0]).max()
    assert 1e-10 < gap < 2e-9


@pytest.fixture(scope="module")
def compressed():
    pytest.importorskip("tensorflow")
    from dpsycl.extract import extract_model
    return {act: extract_model(model_path(f"tiny_act_{act}_compress")) for act in ACTIVATIONS}


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dpsycl_compress_gives_dp_compress_tables(compressed, act, tmp_path):
    """`dpsycl compress -s 0.1` of uncompressed.pb against `dp compress -s 0.1`: the same grid and
    polynomials, term by term as a_k·t^k (t the interval's width)."""
    from dpsycl.cli import main
    name = f"tiny_act_{act}_compress"
    theirs = compressed[act]
    assert theirs.descriptor.activation == act and theirs.descriptor.compressed
    assert main(["compress", str(DATA / name / "uncompressed.pb"), "-o", str(tmp_path / "c.h5"), "-s", str(STEP),
                 "--min-nbor-dist", repr(graph_min_nbor_dist(model_path(name)))]) == 0
    ours = dpsycl.load_model(tmp_path / "c.h5")
    assert sorted(ours.descriptor.tables) == sorted(theirs.descriptor.tables) == [(-1, 0), (-1, 1)]
    for key, table in theirs.descriptor.tables.items():
        mine = ours.descriptor.tables[key]
        assert np.array_equal(mine.table_info, table.table_info)
        assert mine.coefficients.shape == table.coefficients.shape
        n = len(table.coefficients)
        powers = table.interval_widths()[:, None, None] ** np.arange(6)
        diff = (mine.coefficients - table.coefficients).reshape(n, -1, 6) * powers
        assert np.abs(diff).max() <= 1e-12, key


@pytest.mark.parametrize("case", CASES)
def test_compressed_relu6_graph_matches_deepmd(compressed, case):
    """DeePMD-kit's outputs of its compressed relu6 graph (reference.npz), NumPy reference."""
    ref = dict(np.load(DATA / "tiny_act_relu6_compress" / "reference.npz"))
    coords, cells, atype, out = reference_case(ref, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the dense case overfills sel (tests/test_reference.py checks the warning)
        e, f, v, ae, av = dpsycl.DeepPot(compressed["relu6"], device="numpy").eval(coords, cells, atype, atomic=True)
    n, tol = len(atype), TOL["float64"]
    assert np.abs(e.ravel() - out["energy"].ravel()).max() / n <= tol["energy"]
    assert np.abs(ae.ravel() - out["atom_energy"].ravel()).max() <= tol["energy"]
    assert np.abs(f.ravel() - out["force"].ravel()).max() <= tol["force"]
    assert np.abs(v.ravel() - out["virial"].ravel()).max() / n <= tol["virial"]
    assert np.abs(av.ravel() - out["atom_virial"].ravel()).max() <= tol["virial"]


def test_compress_refuses_an_activation_deepmd_does_not_tabulate(tmp_path, capsys):
    """silu embedding nets: dp compress (TensorFlow) has no functype for them; one line naming it."""
    h5 = tmp_path / "silu.h5"
    dpsycl.write_model(dpsycl.load_model(model_file("tiny_act_silu")), h5)
    err = cli_error(capsys, ["compress", str(h5), "-o", str(tmp_path / "c.h5"), "--min-nbor-dist", "2.0"])
    assert "'silu'" in err and "relu6" in err
