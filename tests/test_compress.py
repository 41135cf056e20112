"""Compressed models (`dp compress`): tables read from the graph, evaluated as DeePMD-kit does.

The test models tiny_compress (se_e2_a) and tiny_se_r_compress (se_e2_r) are DeePMD-kit's own
compressed graphs (tools/make_test_models.sh); reference.npz holds DeePMD-kit's outputs of the
COMPRESSED graph, which every backend is tested against through MODELS (tests/conftest.py:
test_reference.py, test_device.py, test_cuda_simulator.py).  uncompressed.pb is the net they were
made from.
"""
from __future__ import annotations


import numpy as np
import pytest

import dpsycl
from dpsycl.env_matrix import env_matrix, normalise
from dpsycl.neighbors import build_neighbor_list
from conftest import DATA, model_file, model_path, reference_case

COMPRESSED = ("tiny_compress", "tiny_se_r_compress")


@pytest.fixture(scope="module")
def compressed_models():
    return {name: dpsycl.load_model(model_file(name)) for name in COMPRESSED}


def test_dense_case_reaches_the_second_table(compressed_models):
    """The 'dense' case puts s beyond the first table (stride2 region): that path is exercised."""
    d = compressed_models["tiny_compress"].descriptor
    ref = dict(np.load(DATA / "tiny_compress" / "reference.npz"))
    coords, cells, atype, _ = reference_case(ref, "dense")
    nl = build_neighbor_list(coords[0].reshape(-1, 3), None if cells is None else cells[0].reshape(3, 3), atype,
                             d.rcut, d.sel, warn=False)
    raw, _ = env_matrix(nl.rij, nl.nlist >= 0, d.rcut, d.rcut_smth)
    s = normalise(raw, atype, d.t_avg, d.t_std)[..., 0]
    table = d.tables[(-1, 0)]
    assert s.max() >= table.upper > s.min() >= table.lower


@pytest.fixture(scope="module")
def tabulate_op():
    pytest.importorskip("deepmd")
    from deepmd.tf.env import op_module, tf
    return op_module, tf


@pytest.mark.parametrize("name", COMPRESSED)
def test_table_matches_deepmds_tabulation_op_everywhere(compressed_models, tabulate_op, name):
    """DeePMD-kit's TabulateFusionSeA (value and its gradient) on x in every region of the
    table: below lower, both tables, their boundaries, and beyond upper_extrapolate."""
    op_module, tf = tabulate_op
    table = compressed_models[name].descriptor.tables[(-1, 1)]
    lo, up, top = table.lower, table.upper, table.upper_extrapolate
    rng = np.random.default_rng(5)
    x = np.concatenate([[lo - 0.7, lo, up, np.nextafter(up, lo), top, np.nextafter(top, lo), top + 3.3],
                        rng.uniform(lo, up, 20), rng.uniform(up, top, 20), rng.uniform(top, 2 * top, 4)])
    em = rng.normal(size=(1, len(x), 4))
    dy = rng.normal(size=(1, 4, table.width))
    graph = tf.Graph()
    with graph.as_default():
        xt = tf.constant(x.reshape(-1, 1))
        out = op_module.tabulate_fusion_se_a(tf.constant(table.coefficients), tf.constant(table.table_info), xt,
                                             tf.constant(em), last_layer_size=table.width)
        grad = tf.gradients(out, xt, grad_ys=tf.constant(dy))[0]
        with tf.Session(graph=graph) as sess:
            theirs, theirs_grad = sess.run([out, grad])
    g, dg = table.evaluate(x)
    ours = np.einsum("ja,jm->am", em[0], g)
    ours_grad = np.einsum("jm,ja,am->j", dg, em[0], dy[0])
    assert np.abs(ours - theirs[0]).max() <= 1e-12 * max(1.0, np.abs(theirs).max())
    assert np.abs(ours_grad - theirs_grad.ravel()).max() <= 1e-12 * max(1.0, np.abs(theirs_grad).max())


@pytest.mark.parametrize("name", COMPRESSED)
def test_model_file_holds_the_graphs_tables(compressed_models, name):
    from dpsycl.extract import extract_model
    pytest.importorskip("tensorflow")
    fresh = extract_model(model_path(name)).descriptor
    stored = compressed_models[name].descriptor
    assert sorted(fresh.tables) == sorted(stored.tables) == [(-1, 0), (-1, 1)]
    for key, table in fresh.tables.items():
        assert np.array_equal(table.coefficients, stored.tables[key].coefficients)
        assert np.array_equal(table.table_info, stored.tables[key].table_info)
