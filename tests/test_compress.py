"""Compressed models (`dp compress`): tables read from the graph, evaluated as DeePMD-kit does.

The test models tiny_compress (se_e2_a) and tiny_se_r_compress (se_e2_r) are DeePMD-kit's own
compressed graphs (tools/make_test_models.sh); reference.npz holds DeePMD-kit's outputs of the
COMPRESSED graph, which every backend is tested against through MODELS (tests/conftest.py:
test_reference.py, test_device.py, test_cuda_simulator.py).  uncompressed.pb is the net they were
made from.  tiny_pair_compress (per-pair nets, exclude_types [[0, 1]]) is tested here only.
"""
from __future__ import annotations


import warnings

import numpy as np
import pytest

import dpsycl
from dpsycl.compress import graph_min_nbor_dist
from dpsycl.env_matrix import env_matrix, normalise
from dpsycl.neighbors import SelTruncationWarning, build_neighbor_list
from conftest import CASES, DATA, TOL, case_errors, model_file, model_path, reference_case, within_tolerance

COMPRESSED = ("tiny_compress", "tiny_se_r_compress", "tiny_pair_compress")
#: per-pair nets with an excluded pair: only here (numpy on all cases, opencl:cpu on the dense one,
#: the CUDA simulator), not in MODELS, to keep the suite's time
PER_PAIR = "tiny_pair_compress"


@pytest.fixture(scope="module")
def compressed_models():
    return {name: dpsycl.load_model(model_file(name)) for name in COMPRESSED}


@pytest.mark.parametrize("case", CASES)
def test_per_pair_compressed_reference_matches_deepmd(compressed_models, case):
    model = compressed_models[PER_PAIR]
    assert sorted(model.descriptor.tables) == [(0, 0), (1, 1)] and model.descriptor.exclude_types == [(0, 1)]
    err = case_errors(dpsycl.DeepPot(model, device="numpy"), dict(np.load(DATA / PER_PAIR / "reference.npz")), case)
    assert within_tolerance(err, TOL[model.precision]), err


@pytest.mark.parametrize("layout", ["chunk", "group"])
def test_per_pair_compressed_on_opencl_cpu(compressed_models, layout):
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")
    dp = dpsycl.DeepPot(compressed_models[PER_PAIR], device="opencl:cpu")
    if layout in ("group", "split") and not dp.evaluator.backend.supports_groups:
        pytest.skip("this device runs no work-group kernels")
    dp.evaluator.layout = layout
    err = case_errors(dp, dict(np.load(DATA / PER_PAIR / "reference.npz")), "dense")
    assert within_tolerance(err, TOL["float64"]), err


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
    table = compressed_models[name].descriptor.tables[max(compressed_models[name].descriptor.tables)]
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
    assert sorted(fresh.tables) == sorted(stored.tables) == ([(0, 0), (1, 1)] if name == PER_PAIR else [(-1, 0), (-1, 1)])
    for key, table in fresh.tables.items():
        assert np.array_equal(table.coefficients, stored.tables[key].coefficients)
        assert np.array_equal(table.table_info, stored.tables[key].table_info)


@pytest.mark.parametrize("name", COMPRESSED)
def test_dpsycl_compress_gives_dp_compress_tables(compressed_models, name, tmp_path):
    """`dpsycl compress` of the uncompressed graph against DeePMD-kit's `dp compress` of the same
    graph: the same grid (table_info, intervals) and the same polynomials, compared term by term
    as a_k·t^k (t the interval width: a5 alone carries DeePMD-kit's rounding ×1/t⁵ ≈ 1e10);
    then the energies and forces of both on every case."""
    pytest.importorskip("tensorflow")
    from dpsycl.cli import main
    assert main([
        "compress", str(DATA / name / "uncompressed.pb"), "-o", str(tmp_path / "c.h5"),
        "--min-nbor-dist", repr(graph_min_nbor_dist(model_path(name)))]) == 0
    ours = dpsycl.load_model(tmp_path / "c.h5")
    theirs = compressed_models[name]
    assert_same_tables(ours.descriptor.tables, theirs.descriptor.tables)
    assert_same_numbers(ours, theirs, dict(np.load(DATA / name / "reference.npz")))


def assert_same_tables(ours: dict, theirs: dict) -> None:
    """The same keys, grids and polynomials, term by term as a_k·t^k (t the interval width)."""
    assert sorted(ours) == sorted(theirs)
    for key, table in theirs.items():
        mine = ours[key]
        assert np.array_equal(mine.table_info, table.table_info)
        assert mine.coefficients.shape == table.coefficients.shape
        n = len(table.coefficients)
        width = np.where(np.arange(n) < table.first_intervals(), table.stride1, table.stride2)
        powers = width[:, None, None] ** np.arange(6)
        diff = (mine.coefficients - table.coefficients).reshape(n, -1, 6) * powers
        assert np.abs(diff).max() <= 1e-12, key


def assert_same_numbers(ours, theirs, ref: dict, force: float = 1e-10) -> None:
    """Energies, forces (within ``force`` eV/Å) and virials of two models on every case of ``ref``, on the reference."""
    ours_dp, theirs_dp = dpsycl.DeepPot(ours, device="numpy"), dpsycl.DeepPot(theirs, device="numpy")
    for case in CASES:
        coords, cells, atype, _ = reference_case(ref, case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the dense case overfills sel
            a = ours_dp.eval(coords, cells, atype)
            b = theirs_dp.eval(coords, cells, atype)
        assert np.abs(a[0] - b[0]).max() / len(atype) <= 1e-10, case
        assert np.abs(a[1] - b[1]).max() <= force, case
        assert np.abs(a[2] - b[2]).max() / len(atype) <= 1e-9, case


def test_compress_refuses_a_model_without_distance_or_with_resnet_dt(tmp_path, capsys):
    from dpsycl.cli import main
    h5 = tmp_path / "plain.h5"
    dpsycl.write_model(dpsycl.load_model(model_file("tiny_se_r")), h5)   # an .h5: no min_nbor_dist
    assert main(["compress", str(h5), "-o", str(tmp_path / "c.h5")]) == 2
    assert "give -t INPUT.json (its training script) or --min-nbor-dist" in capsys.readouterr().err
    assert main(["compress", str(h5), "-o", str(tmp_path / "c.h5"), "--min-nbor-dist", "2.0"]) == 2
    assert "resnet_dt" in capsys.readouterr().err      # as dp compress refuses it


def test_training_script_gives_dp_compress_distance_and_tables(tmp_path, capsys):
    """`dpsycl compress -t INPUT.json` of a model file that carries no closest distance (an .h5 of
    uncompressed.pb): the distance over the script's training systems (named relative to the script,
    as a training folder holds them) is DeePMD-kit's train_attr/min_nbor_dist, which `dp compress -t`
    computed by its neighbour statistics, and so the tables are dp compress's; a script without
    training systems is refused in one line."""
    import json
    import os
    pytest.importorskip("tensorflow")       # the uncompressed graph is read here
    from dpsycl.cli import main
    from dpsycl.compress import training_min_nbor_dist
    h5 = tmp_path / "plain.h5"
    dpsycl.write_model(dpsycl.load_model(DATA / "tiny_compress" / "uncompressed.pb"), h5)
    systems = [os.path.relpath(DATA / "cuag_emt" / f"sys00{k}", tmp_path) for k in range(3)]
    script = tmp_path / "input.json"
    script.write_text(json.dumps({"training": {"training_data": {"systems": systems, "batch_size": 1}}}))
    theirs = dpsycl.load_model(model_file("tiny_compress"))
    assert training_min_nbor_dist(str(script), theirs.type_map, theirs.rcut) == pytest.approx(
        graph_min_nbor_dist(model_path("tiny_compress")), rel=1e-13)
    assert main(["compress", str(h5), "-o", str(tmp_path / "c.h5"), "-t", str(script)]) == 0
    assert_same_tables(dpsycl.load_model(tmp_path / "c.h5").descriptor.tables, theirs.descriptor.tables)
    (tmp_path / "bad.json").write_text(json.dumps({"training": {}}))
    capsys.readouterr()
    assert main(["compress", str(h5), "-o", str(tmp_path / "d.h5"), "-t", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "names no training.training_data.systems" in err[0]


#: float32 models compressed by dp compress (their outputs on every backend come from MODELS)
F32_COMPRESSED = ("tiny_f32_compress", "tiny_f32_se_r_compress")


@pytest.mark.parametrize("name", F32_COMPRESSED)
def test_float32_tables_stay_float32(name, tmp_path):
    """dp compress gives a float32 model float32 tables (its table_info Consts, read here through
    TensorFlow, are float32: strides float32(0.01) and float32(0.1)); the extracted model and its file
    keep them float32, and `dpsycl compress` of the uncompressed graph writes float32 tables on the
    same grid.  DeePMD-kit builds a float32 model's tables in float32 (its grid, its net's values and
    derivatives), dpsycl compress in float64 rounded once: both give DeePMD-kit's compressed outputs
    within TOL["float32"] (measured up to dF 8.9e-5 eV/Å, all of it DeePMD-kit's float32 tabulation),
    and dpsycl's tables stay within 1e-6 of the uncompressed net (measured dF 5e-8)."""
    pytest.importorskip("tensorflow")
    from dpsycl.cli import main
    from dpsycl.extract.graph import import_tf
    tf = import_tf()
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(model_path(name).read_bytes())
    infos = [tf.make_ndarray(n.attr["value"].tensor) for n in graph.node
             if n.op == "Const" and n.name.endswith("/table_info")]
    assert infos and all(info.dtype == np.float32 for info in infos)
    theirs = dpsycl.load_model(model_file(name))
    assert theirs.precision == "float32"
    for table in theirs.descriptor.tables.values():
        assert table.coefficients.dtype == np.float32
        assert any(np.array_equal(table.table_info, info) for info in infos)
    assert main(["compress", str(DATA / name / "uncompressed.pb"), "-o", str(tmp_path / "c.h5"),
                 "--min-nbor-dist", repr(graph_min_nbor_dist(model_path(name)))]) == 0
    ours = dpsycl.load_model(tmp_path / "c.h5")
    assert sorted(ours.descriptor.tables) == sorted(theirs.descriptor.tables)
    for key, table in ours.descriptor.tables.items():
        assert table.coefficients.dtype == np.float32
        assert table.coefficients.shape == theirs.descriptor.tables[key].coefficients.shape
        assert np.array_equal(table.table_info.astype(np.float32), theirs.descriptor.tables[key].table_info)
    ref = dict(np.load(DATA / name / "reference.npz"))
    ours_dp = dpsycl.DeepPot(ours, device="numpy")
    net_dp = dpsycl.DeepPot(dpsycl.load_model(DATA / name / "uncompressed.pb"), device="numpy")
    tol = TOL["float32"]
    for case in CASES:
        assert within_tolerance(case_errors(ours_dp, ref, case), tol), case
        coords, cells, atype, _ = reference_case(ref, case)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a, b = ours_dp.eval(coords, cells, atype), net_dp.eval(coords, cells, atype)
        # the dense case overfills sel, and both say so once per frame
        assert [w.category for w in caught] == [SelTruncationWarning] * (2 * len(coords) if case == "dense" else 0)
        assert np.abs(a[0] - b[0]).max() / len(atype) <= 1e-6 and np.abs(a[1] - b[1]).max() <= 1e-6, case
