"""Models with a model-level type embedding (DeePMD-kit 2.x ``"type_embedding"`` with se_e2_a, se_e2_r, se_e3 or a
hybrid of them) and
the se_e2_a variants set_davg_zero / trainable false: extraction, the model file, refusals.

The numbers are checked elsewhere, as for every bundled model (``MODELS`` in conftest.py): the
reference against DeePMD-kit's stored outputs and live inference (test_reference.py, with finite
differences there), every device against the reference (test_device.py, test_cuda_simulator.py).
Here: the folded nets against DeePMD-kit's own embedding and fitting nets evaluated by TensorFlow
on the graph, the hyper-parameters against the training input, the bundled model.h5 against a fresh
extraction, the exclusions read without a training script, and the one-line refusals.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DATA, model_file, model_path

pytest.importorskip("tensorflow")

from dpsycl.cli import model_summary  # noqa: E402
from dpsycl.extract import extract_model  # noqa: E402
from dpsycl.extract.graph import Graph, import_tf, read_graph_def  # noqa: E402
from dpsycl.extract.type_embedding import fold_embedding_net, type_embedding_table  # noqa: E402
from dpsycl.model import Layer, ModelError  # noqa: E402
from dpsycl.model_io import read_model, write_model  # noqa: E402
from dpsycl.networks import embedding_net, fitting_net  # noqa: E402
from test_extract import folded_close, strip_train_attr  # noqa: E402

TEBD_MODELS = ("tiny_tebd", "tiny_tebd_pair")            # se_e2_a: the table feeds both nets
# hybrid [se_e2_a, se_e2_r]: member 0 reads the table through filter_type_all_0, member 1 ignores it
HYBRID_MODEL = "tiny_hybrid_tebd"
NEW_MODELS = (*TEBD_MODELS, "tiny_se_r_tebd", "tiny_davg_zero")


#: se_e3 ignores the table as se_e2_r does: only its fitting net is folded; tested here only (numbers
#: included), not in conftest.MODELS
SE_E3_TEBD = "tiny_se_e3_tebd"
#: a hybrid [se_e2_a, se_e3] with the table: folded se_e2_a member, se_e3 member as it is; tested here only
HYBRID_E3_MODEL = "tiny_hybrid_e3_tebd"


@pytest.fixture(scope="module")
def extracted():
    return {name: extract_model(model_path(name)) for name in (*NEW_MODELS, SE_E3_TEBD, HYBRID_MODEL, HYBRID_E3_MODEL)}


def graph(name: str) -> Graph:
    return Graph(read_graph_def(model_path(name)), import_tf(), str(model_path(name)))


def training_input(name: str) -> dict:
    return json.loads((DATA / name / "input.json").read_text())["model"]


def run_graph_net(g: Graph, output: str, feed: str, value: np.ndarray) -> np.ndarray:
    """TensorFlow's own value of graph node ``output`` when node ``feed`` holds ``value``: the
    sub-graph between them (standard ops on the graph's constants), ``feed`` made a placeholder."""
    tf = g.tf
    keep, frontier = set(), [output]
    while frontier:
        name = frontier.pop().lstrip("^").split(":")[0]
        if name not in keep:
            keep.add(name)
            if name != feed:
                frontier.extend(g.nodes[name].input)
    assert feed in keep
    sub = tf.compat.v1.GraphDef()
    sub.node.extend(n for n in g.graph_def.node if n.name in keep and n.name != feed)
    placeholder = sub.node.add()
    placeholder.name, placeholder.op = feed, "Placeholder"
    placeholder.attr["dtype"].type = tf.float64.as_datatype_enum
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(sub, name="")
    with tf.compat.v1.Session(graph=tg) as sess:
        return sess.run(f"{output}:0", feed_dict={f"{feed}:0": value})


def first_input(g: Graph, weight: str) -> str:
    """The node a layer's MatMul multiplies by the constant ``weight``."""
    matmul = [c for c in g.live_consumers(f"{weight}/read") + g.live_consumers(weight) if c.op == "MatMul"][0]
    return matmul.input[0].split(":")[0]


@pytest.mark.parametrize("name, member", [(name, None) for name in TEBD_MODELS] + [(HYBRID_MODEL, 0)])
def test_folded_embedding_nets_equal_deepmd_shared_net(extracted, name, member):
    """G of each folded net at sampled s equals the shared net TensorFlow runs on (s, e_j[, e_i])
    (of hybrid member k: scope filter_type_all_k)."""
    g = graph(name)
    table = type_embedding_table(g)
    d = extracted[name].descriptor
    scope = "filter_type_all"
    if member is not None:
        d, scope = d.members[member], f"{scope}_{member}"
    feed = first_input(g, f"{scope}/matrix_1")
    # the net's output G, (slots, M), is reshaped to (atoms, nnei, M) for the product with R
    product = [n for n in g.nodes.values() if n.name.startswith(f"{scope}/") and n.op == "BatchMatMulV2"][0]
    output = g.nodes[product.input[1]].input[0]
    s = np.linspace(-1.5, 3.0, 7)
    for (ti, tj), net in d.embedding_nets.items():
        x = [s[:, None], np.repeat(table[tj][None], len(s), 0)]
        if ti >= 0:
            x.append(np.repeat(table[ti][None], len(s), 0))
        theirs = run_graph_net(g, output, feed, np.concatenate(x, axis=1))
        ours, _ = embedding_net(net, d.activation, s)
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1e-13, (ti, tj)


@pytest.mark.parametrize("name", (*TEBD_MODELS, "tiny_se_r_tebd", SE_E3_TEBD, HYBRID_MODEL, HYBRID_E3_MODEL))
def test_folded_fitting_nets_equal_deepmd_shared_net(extracted, name):
    """Each species' folded fitting net at random D equals the shared net on (D, e_t)."""
    g = graph(name)
    table = type_embedding_table(g)
    fit = extracted[name].fitting
    feed = first_input(g, "layer_0/matrix")
    rng = np.random.default_rng(3)
    d = rng.normal(size=(5, fit.input_width))
    for t in range(len(table)):
        x = np.concatenate([d, np.repeat(table[t][None], len(d), 0)], axis=1)
        theirs = run_graph_net(g, "final_layer/BiasAdd", feed, x)
        ours, _ = fitting_net(fit.nets[t], fit.activation, d)
        assert np.abs(ours.ravel() - theirs.ravel()).max() <= 1e-13, t


@pytest.mark.parametrize("name, folded", [
    (SE_E3_TEBD, "per-species fitting nets"),
    (HYBRID_E3_MODEL, "member 0's per-neighbour-species embedding nets and per-species fitting nets")])
def test_se_e3_with_a_type_embedding_gives_deepmd_outputs(extracted, name, folded):
    """se_e3 + type_embedding, alone and as a hybrid member beside a folded se_e2_a, on every device
    here against DeePMD-kit's outputs on the seven cases (float64 bounds, atomic terms included): the
    three-body nets are the graph's own (DeePMD-kit's se_e3 ignores the table); the bundled model.h5
    is the extraction."""
    import dpsycl
    from conftest import assert_matches_deepmd_outputs
    from test_extract import assert_models_identical
    model = extracted[name]
    assert model.type_embedding == f"type_embedding width 4, folded into {folded}"
    assert_models_identical(read_model(model_file(name)), model)
    ref = dict(np.load(DATA / name / "reference.npz"))
    for device in dpsycl.devices():
        assert_matches_deepmd_outputs(dpsycl.DeepPot(model, device=device), ref, device)


@pytest.mark.parametrize("name", NEW_MODELS)
def test_hyper_parameters_and_model_file(extracted, name, tmp_path):
    model = extracted[name]
    script = training_input(name)
    desc = script["descriptor"]
    d = model.descriptor
    assert d.type_one_side == desc["type_one_side"]
    assert d.set_davg_zero == desc.get("set_davg_zero", False)
    assert d.exclude_types == sorted({tuple(sorted(p)) for p in desc.get("exclude_types", [])})
    assert d.neuron == desc["neuron"] and model.fitting.neuron == script["fitting_net"]["neuron"]
    assert model.descriptor_type == desc["type"]
    if d.set_davg_zero:
        assert not np.any(d.t_avg)
    keys = {(-1, j) for j in range(2)} if d.type_one_side else {
        (i, j) for i in range(2) for j in range(2) if not d.is_excluded(i, j)}
    assert set(d.embedding_nets) == keys
    if "type_embedding" in script:
        width = script["type_embedding"]["neuron"][-1]
        into = "per-species fitting nets" if desc["type"] == "se_e2_r" else (
            f"per-{'neighbour-species' if d.type_one_side else 'pair'} embedding nets and per-species fitting nets")
        assert model.type_embedding == f"type_embedding width {width}, folded into {into}"
        assert model.type_embedding in model_summary(model)
    else:
        assert model.type_embedding == ""
    write_model(model, tmp_path / "m.h5")
    for back in (read_model(tmp_path / "m.h5"), read_model(model_file(name))):   # the bundled file too
        assert back.type_embedding == model.type_embedding
        for key, net in d.embedding_nets.items():
            for a, b in zip(net, back.descriptor.embedding_nets[key]):
                assert np.array_equal(a.matrix, b.matrix) and folded_close(a.bias, b.bias)
        for a_net, b_net in zip(model.fitting.nets, back.fitting.nets):
            for a, b in zip(a_net, b_net):
                assert np.array_equal(a.matrix, b.matrix) and folded_close(a.bias, b.bias)


def test_hybrid_members_and_model_file(extracted, tmp_path):
    """The hybrid's se_e2_a member has folded one-side nets, its se_e2_r member the graph's own
    per-species nets (DeePMD-kit's se_e2_r ignores the table); the bundled file equals the extraction."""
    model = extracted[HYBRID_MODEL]
    script = training_input(HYBRID_MODEL)["descriptor"]["list"]
    a, r = model.descriptor.members
    assert (a.kind, r.kind) == ("se_e2_a", "se_e2_r") and a.type_one_side and r.type_one_side
    assert (a.rcut, r.rcut, a.sel, r.sel) == (script[0]["rcut"], script[1]["rcut"], script[0]["sel"], script[1]["sel"])
    assert set(a.embedding_nets) == set(r.embedding_nets) == {(-1, 0), (-1, 1)}
    assert a.embedding_nets[(-1, 0)][0].matrix.shape == (1, 4)
    g = graph(HYBRID_MODEL)
    for j in range(2):
        for layer, net_layer in zip((1, 2), r.embedding_nets[(-1, j)]):
            assert np.array_equal(net_layer.matrix, g.const(f"filter_type_all_1/matrix_{layer}_{j}"))
    assert model.type_embedding == ("type_embedding width 4, folded into member 0's per-neighbour-species "
                                    "embedding nets and per-species fitting nets")
    assert model.type_embedding in model_summary(model)
    write_model(model, tmp_path / "m.h5")
    for back in (read_model(tmp_path / "m.h5"), read_model(model_file(HYBRID_MODEL))):   # the bundled file too
        assert back.type_embedding == model.type_embedding
        for ours, theirs in zip(model.descriptor.members, back.descriptor.members):
            for key, net in ours.embedding_nets.items():
                for x, y in zip(net, theirs.embedding_nets[key]):
                    assert np.array_equal(x.matrix, y.matrix) and folded_close(x.bias, y.bias)
        for a_net, b_net in zip(model.fitting.nets, back.fitting.nets):
            for x, y in zip(a_net, b_net):
                assert np.array_equal(x.matrix, y.matrix) and folded_close(x.bias, y.bias)


def test_exclusions_without_training_script(extracted, tmp_path):
    """Without train_attr/*, the per-pair type-embedding model's exclusions come from the mask."""
    path = tmp_path / "stripped.pb"
    strip_train_attr(import_tf(), model_path("tiny_tebd_pair"), path)
    model = extract_model(path)
    assert model.descriptor.exclude_types == [(0, 1)]
    assert sorted(model.descriptor.embedding_nets) == sorted(extracted["tiny_tebd_pair"].descriptor.embedding_nets)


class _Named:
    path = "synthetic.pb"


@pytest.mark.parametrize("n_in, n_out", [(3, 3), (3, 6), (3, 1), (3, 2), (5, 10)])
def test_first_layer_skip_is_refused(n_in, n_out):
    """A first layer with a skip connection in DeePMD-kit (width = or 2x its 1 + T or 1 + 2T inputs),
    or one that would get one once folded to the single input s (width 1 or 2), is refused."""
    width = 2 if n_in in (3, 6) else 4
    table = np.ones((2, width))
    layers = [Layer(np.zeros((n_in, n_out)), np.zeros(n_out))]
    with pytest.raises(ModelError, match="skip connection") as err:
        fold_embedding_net(_Named(), table, layers, excluded=())
    assert "\n" not in str(err.value)

