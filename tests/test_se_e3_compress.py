"""Compressed se_e3 (`dp compress` of se_t: DeePMD-kit's TabulateFusionSeT tables).

tiny_se_e3_compress is DeePMD-kit's own compressed graph (tools/make_test_models.sh); its
reference.npz holds DeePMD-kit's outputs of the COMPRESSED graph, which every backend is tested
against through MODELS (tests/conftest.py: test_reference.py, test_device.py, test_cuda_simulator.py).
Here: the tables against DeePMD-kit's tabulation op in every region of the table; `dpsycl compress`
of uncompressed.pb against `dp compress`'s tables.  Forces and virial against finite differences:
tests/test_se_e3.py (both models).
"""
from __future__ import annotations


import numpy as np
import pytest

import dpsycl
from dpsycl.compress import graph_min_nbor_dist
from conftest import DATA, model_file, model_path

NAME = "tiny_se_e3_compress"
STEP = 0.1      # the -s of its `dp compress` (tools/make_test_models.sh)


@pytest.fixture(scope="module")
def model():
    return dpsycl.load_model(model_file(NAME))


def test_tables_are_read_per_pair_with_their_low_tail(model):
    d = model.descriptor
    assert d.kind == "se_e3" and d.compressed and not d.embedding_nets
    assert sorted(d.tables) == [(0, 0), (0, 1), (1, 1)]
    for table in d.tables.values():
        # se_t's strides are 10x the step (stride1 = 10·step, stride2 = 100·step); its tables start at −u_e
        assert table.low_tail and table.bottom == -table.upper_extrapolate == -5 * table.upper == 5 * table.lower
        assert (table.stride1, table.stride2) == (1.0, 10.0)


def test_model_file_holds_the_graphs_tables(model, tmp_path):
    """Each table is its op's constants bit for bit (the pair from the blocks its Einsum reads),
    and the committed model.h5 is a fresh extraction, low tails included, through a write and read."""
    pytest.importorskip("tensorflow")
    from dpsycl.extract import extract_model
    from dpsycl.model_io import read_model, write_model
    from dpsycl.extract.graph import import_tf
    from test_extract import assert_models_identical, graph_consts
    consts = graph_consts(import_tf(), model_path(NAME))
    fresh = extract_model(model_path(NAME))
    # DeePMD-kit names the ops in the order it builds them: (0, 0), (0, 1), (1, 1)
    for k, key in enumerate([(0, 0), (0, 1), (1, 1)]):
        op = "filter_type_all/TabulateFusionSeT" + (f"_{k}" if k else "")
        assert fresh.descriptor.tables[key].table_info.tobytes() == consts[f"{op}/table_info"].tobytes()
        assert fresh.descriptor.tables[key].coefficients.tobytes() == consts["Const" + (f"_{k}" if k else "")].tobytes()
    write_model(fresh, tmp_path / "m.h5")
    assert_models_identical(read_model(tmp_path / "m.h5"), fresh)
    assert_models_identical(model, fresh)


def _deepmd_op(table, x, dy):
    """DeePMD-kit's TabulateFusionSeT on one centre with inputs x (1 × 1 × len(x)): its output
    Σ_k G(x_k)·x_k (M,) and the gradient of Σ dy·output with respect to x (through both of the op's
    inputs, em_x and em, which the graph feeds the same products)."""
    pytest.importorskip("deepmd")
    from deepmd.tf.env import op_module, tf
    graph = tf.Graph()
    with graph.as_default():
        em = tf.constant(x.reshape(1, 1, -1))
        out = op_module.tabulate_fusion_se_t(tf.constant(table.coefficients), tf.constant(table.table_info),
                                             tf.reshape(em, [-1, 1]), em, last_layer_size=table.width)
        grad = tf.gradients(out, em, grad_ys=tf.constant(dy.reshape(1, -1)))[0]
        with tf.Session(graph=graph) as sess:
            value, dx = sess.run([out, grad])
    return value.ravel(), dx.ravel()


@pytest.mark.parametrize("pair", [(0, 0), (1, 1)])
def test_table_matches_deepmds_tabulation_op_everywhere(model, pair):
    """x below the table, in its low tail, both inner tables, beyond upper_extrapolate and on every
    boundary: dpsycl's lookup is DeePMD-kit's (locate_xx_se_t).  The (1, 1) table is one interval
    short of what that lookup addresses near upper_extrapolate (DeePMD-kit reads past its end
    there): x stays below that interval for it."""
    table = model.descriptor.tables[pair]
    lo, up, top, bottom = table.lower, table.upper, table.upper_extrapolate, table.bottom
    short = table.addressed_intervals() > len(table.coefficients)
    assert short == (pair == (1, 1))
    # the start of the interval past the end, for the short table
    reach = up + (len(table.coefficients) - table.upper_interval()) * table.stride2 if short else top
    high = [] if short else [top, np.nextafter(top, lo), top + 3.3]
    rng = np.random.default_rng(5)
    x = np.concatenate([[bottom - 0.7, bottom, np.nextafter(lo, bottom), lo, up, np.nextafter(up, lo), -1e-3, 0.0],
                        high, rng.uniform(bottom, lo, 12), rng.uniform(lo, up, 24), rng.uniform(up, reach, 12)])
    dy = rng.normal(size=table.width)
    theirs, theirs_dx = _deepmd_op(table, x, dy)
    g, dg = table.evaluate(x)
    ours = (g * x[:, None]).sum(axis=0)
    ours_dx = (g + x[:, None] * dg) @ dy
    assert np.abs(ours - theirs).max() <= 1e-12 * max(1.0, np.abs(theirs).max())
    assert np.abs(ours_dx - theirs_dx).max() <= 1e-12 * max(1.0, np.abs(theirs_dx).max())


def test_kernel_lookup_is_the_references_past_the_short_tables_end(model):
    """The kernel body (device_kernels/layers.py: table_forward, called here on NumPy arrays) and
    the NumPy reference agree in every region of each table, the low tail and the part of the
    short (1, 1) table past its end included (where DeePMD-kit reads past the array, both continue
    the last interval: G and G' continuous at upper_extrapolate)."""
    from dpsycl.descriptors.embedding import EmbeddingPack
    from dpsycl.descriptors.smooth import nets_in_kernel_order
    from dpsycl.device_kernels.layers import table_forward
    d = model.descriptor
    pack = EmbeddingPack.upload_tables(nets_in_kernel_order(d, d.tables), lambda a, dt: np.asarray(a, dtype=dt),
                                       np.float64)
    m, ntypes = d.embedding_width, len(d.sel)
    buf = np.zeros(4 * pack.ewmax)
    for (a, b), table in d.tables.items():
        lo, up, top, bottom = table.lower, table.upper, table.upper_extrapolate, table.bottom
        x = np.concatenate([[bottom - 9.0, bottom, lo, up, np.nextafter(top, lo), top, top + 7.0],
                            np.linspace(bottom - 20.0, top + 20.0, 301), np.linspace(top - 12.0, top, 50)])
        g, dg = table.evaluate(x)
        for k, xk in enumerate(x):
            table_forward(xk, a * ntypes + b, pack.emb_w, pack.emb_off, m, buf, pack.ewmax, 1)
            np.testing.assert_allclose(buf[:m], g[k], rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(buf[pack.ewmax:pack.ewmax + m], dg[k], rtol=1e-14, atol=1e-14)
            # without the tangent (a descriptor pass) G alone, its slope only counted beyond the table
            buf[:] = np.nan
            table_forward(xk, a * ntypes + b, pack.emb_w, pack.emb_off, m, buf, pack.ewmax, 0)
            np.testing.assert_allclose(buf[:m], g[k], rtol=1e-14, atol=1e-14)
        assert np.all(np.isfinite(g)) and np.all(np.isfinite(dg))
        below, at = table.evaluate(np.array([np.nextafter(top, lo), top]))
        np.testing.assert_allclose(below[0], below[1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(at[0], at[1], rtol=1e-12, atol=1e-12)


def _deepmd_build_widths(table) -> np.ndarray:
    """The interval width DeePMD-kit's ``_build_lower`` builds each quintic of a se_t table with (its
    ``tt``, deepmd/utils/tabulate.py): stride2, and stride1 on the (upper − lower)/stride1 intervals
    from ⌊(lower − e·lower)/stride2⌋ + 1 on (e = upper_extrapolate/upper)."""
    e = table.upper_extrapolate / table.upper
    tt = np.full(len(table.coefficients), table.stride2)
    start = int((table.lower - e * table.lower) / table.stride2) + 1
    tt[start:start + int((table.upper - table.lower) / table.stride1)] = table.stride1
    return tt


def assert_same_three_body_tables(ours: dict, theirs: dict) -> None:
    """The same pairs, table_info and sizes; the polynomials term by term as a_k·t^k with t the width
    DeePMD-kit built each with (a5 carries its rounding ×1/t⁵)."""
    assert sorted(ours) == sorted(theirs)
    for key, table in theirs.items():
        mine = ours[key]
        assert mine.low_tail and np.array_equal(mine.table_info, table.table_info)
        assert mine.coefficients.shape == table.coefficients.shape
        n = len(table.coefficients)
        powers = _deepmd_build_widths(table)[:, None, None] ** np.arange(6)
        diff = (mine.coefficients - table.coefficients).reshape(n, -1, 6) * powers
        assert np.abs(diff).max() <= 1e-12, key


def test_dpsycl_compress_gives_dp_compress_tables(model, tmp_path):
    """`dpsycl compress -s 0.1` of uncompressed.pb against `dp compress -s 0.1` of it: the same
    table_info and sizes, the polynomials term by term as a_k·t^k with t the width DeePMD-kit built
    each with (a5 carries its rounding ×1/t⁵); then the energies, forces and virials of both.  The
    interval starting at upper is built by DeePMD-kit for width stride1 but spans stride2, which
    multiplies the rounding of its a5 by (stride2/stride1)⁵ = 1e5 where e passes upper (bulk:
    2e-11 eV/Å, dense: 3e-10 eV/Å measured): forces get 1e-9 eV/Å here."""
    pytest.importorskip("tensorflow")
    from dpsycl.cli import main
    from test_compress import assert_same_numbers
    assert main(["compress", str(DATA / NAME / "uncompressed.pb"), "-o", str(tmp_path / "c.h5"), "-s", str(STEP),
                 "--min-nbor-dist", repr(graph_min_nbor_dist(model_path(NAME)))]) == 0
    ours = dpsycl.load_model(tmp_path / "c.h5")
    assert_same_three_body_tables(ours.descriptor.tables, model.descriptor.tables)
    assert_same_numbers(ours, model, dict(np.load(DATA / NAME / "reference.npz")), force=1e-9)
