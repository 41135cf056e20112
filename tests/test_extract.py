"""Extraction of DeePMD-kit frozen graphs (dpsycl.extract), the .h5 model file (dpsycl.model_io) and
`dpsycl extract` on the command line.

Every array of an extracted model is compared bit for bit with the Const tensor of the graph,
read here independently through TensorFlow by node name.
"""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from dpsycl.extract import extract_model
from dpsycl.model import Layer, Model, ModelError
from dpsycl.model_io import CHECKSUM_ATTRIBUTE, SCHEMA_VERSION, UnverifiedModelWarning, load_model, read_model, write_model

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent
README_MODELS = ["cuag", "cuag_pair", "cuagau_f32"]          # trained with DeePMD-kit 3.2.0
TINY_MODELS = ["dp22_tiny", "tiny_exclude", "tiny_pair_exclude", "tiny_se_r", "tiny_se_r_pair", "tiny_se_r_exclude",
               "tiny_act_silu", "tiny_act_softplus", "tiny_act_relu6", "tiny_fparam", "tiny_davg_zero",
               "tiny_f32_se_r"]   # float32 se_e2_r: per-pair, exclude_types, set_davg_zero, trainable false
ALL_MODELS = README_MODELS + TINY_MODELS

# what the graphs' training inputs leave to DeePMD-kit's defaults
DESCRIPTOR_DEFAULTS = {"type_one_side": False, "resnet_dt": False, "activation_function": "tanh",
                       "precision": "default", "exclude_types": []}
FITTING_DEFAULTS = {"resnet_dt": True, "activation_function": "tanh", "precision": "default"}


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tf():
    pytest.importorskip("tensorflow")           # extraction needs it; the GPU machine has none
    from dpsycl.extract.graph import import_tf   # TensorFlow, imported without log noise
    return import_tf()


def graph_def(tf, path):
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(path).read_bytes())
    return gd


def graph_consts(tf, path) -> dict[str, np.ndarray]:
    return {n.name: tf.make_ndarray(n.attr["value"].tensor)
            for n in graph_def(tf, path).node if n.op == "Const"}


def pb(name: str) -> Path:
    return DATA / name / "frozen_model.pb"


@pytest.fixture(scope="session")
def extracted(tmp_path_factory):
    """name -> (model extracted from the graph, model read back from its .h5)."""
    out = {}
    tmp = tmp_path_factory.mktemp("h5")
    for name in ALL_MODELS:
        model = extract_model(pb(name))
        h5 = tmp / f"{name}.h5"
        write_model(model, h5)
        out[name] = (model, read_model(h5))
    return out


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def folded_close(a, b) -> bool:
    """A folded bias (first bias + type-embedding row · W, dpsycl/extract/type_embedding.py) from two
    extractions: the table comes from TensorFlow and the product from NumPy, whose CPU kernels
    (oneDNN, OpenBLAS) take other paths with AVX-512 than with AVX2, so the last bits depend on the CPU
    that extracted (a Zen 4 against the Zen 3 that wrote the bundled files, session 12): within 8 ulp."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    ulp = np.finfo(a.dtype).eps * max(float(np.abs(a).max(initial=0.0)), float(np.finfo(a.dtype).tiny))
    return bool(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0) <= 8 * ulp)


def assert_identical(a, b, where="model", skip=(), folded=False):
    """Recursive equality of models: dataclasses field by field, arrays bit for bit (dtype too), but
    for a type-embedding model's biases (``folded``: folded_close)."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name not in skip:
                assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}", folded=folded)
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            assert_identical(a[k], b[k], f"{where}[{k!r}]", folded=folded)
    elif isinstance(a, (list, tuple)) and a and (isinstance(a[0], (list, Layer, np.ndarray))
                                                 or dataclasses.is_dataclass(a[0])):     # hybrid members
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{k}]", folded=folded)
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert bits_equal(a, b) or (folded and where.endswith(".bias") and folded_close(a, b)), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_models_identical(m1: Model, m2: Model, skip=("source",)):
    assert_identical(m1, m2, skip=skip, folded=bool(getattr(m1, "type_embedding", "")))


# ---------------------------------------------------------------------------------------------
# every array, bit for bit, against the graph
WEIGHT_RE = re.compile(r"(filter_type_\w+/(matrix|bias|idt)_\d+_\d+|(final_)?layer(_\d+)?_type_\d+/(matrix|bias|idt))")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_arrays_bit_exact(name, extracted, tf):
    consts = graph_consts(tf, pb(name))
    for model in extracted[name]:            # as extracted, and as read back from the .h5
        used = set()

        def check(node, arr, ravel=False):
            assert node in consts, node
            ref = consts[node].ravel() if ravel else consts[node]
            assert bits_equal(arr, ref), f"{name}: {node} differs (dtype {arr.dtype} vs {ref.dtype})"
            used.add(node)

        d, fit = model.descriptor, model.fitting
        check("descrpt_attr/t_avg", d.t_avg)
        check("descrpt_attr/t_std", d.t_std)
        for (centre, nb), layers in d.embedding_nets.items():
            scope = "filter_type_all" if centre < 0 else f"filter_type_{centre}"
            for k, layer in enumerate(layers, start=1):
                check(f"{scope}/matrix_{k}_{nb}", layer.matrix)
                check(f"{scope}/bias_{k}_{nb}", layer.bias)
                idt = f"{scope}/idt_{k}_{nb}"
                assert (layer.idt is None) == (idt not in consts), idt
                if layer.idt is not None:
                    check(idt, layer.idt)
        for t, layers in enumerate(fit.nets):
            for k, layer in enumerate(layers):
                scope = f"layer_{k}_type_{t}" if k < len(layers) - 1 else f"final_layer_type_{t}"
                check(f"{scope}/matrix", layer.matrix)
                check(f"{scope}/bias", layer.bias)
                assert (layer.idt is None) == (f"{scope}/idt" not in consts), scope
                if layer.idt is not None:
                    check(f"{scope}/idt", layer.idt)
        check("fitting_attr/t_bias_atom_e", fit.bias_atom_e, ravel=True)
        for kind in ("fparam", "aparam"):
            for stat in ("avg", "istd"):
                node = f"fitting_attr/t_{kind}_{stat}"
                if node in consts:
                    check(node, getattr(fit, f"{kind}_stats")[stat])
        if "model_attr/model_attr/t_out_bias" in consts:
            check("model_attr/model_attr/t_out_bias", fit.out_bias, ravel=True)
            check("model_attr/model_attr/t_out_std", fit.out_std, ravel=True)
        else:   # DeePMD-kit 2.x graphs: no output statistics, i.e. identity
            assert name == "dp22_tiny"
            assert bits_equal(fit.out_bias, np.zeros(model.ntypes))
            assert bits_equal(fit.out_std, np.ones(model.ntypes))
        # no weight of the graph is left behind
        weights = {n for n in consts if WEIGHT_RE.fullmatch(n)}
        assert weights <= used, sorted(weights - used)
        assert model.type_map == consts["model_attr/tmap"].item().decode().split()
        assert model.model_version == consts["model_attr/model_version"].item().decode()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_h5_roundtrip_identical(name, extracted):
    model, back = extracted[name]
    assert_models_identical(model, back, skip=())


def test_h5_file_is_self_describing(tmp_path, extracted):
    model = extracted["cuagau_f32"][0]
    path = tmp_path / "m.h5"
    write_model(model, path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == b"dpsycl-model"          # fixed-length text: h5py reads bytes
        assert int(f.attrs["schema_version"]) == SCHEMA_VERSION
        for key in ("dpsycl_version", "deepmd_version", "model_version", "source"):
            assert key in f.attrs
        assert [x.decode() for x in f["type_map"][()]] == ["Cu", "Ag", "Au"]
        assert f.attrs["precision"] == b"float32"
        d = f["descriptor"]
        assert d.attrs["type"] == b"se_e2_a"
        assert d.attrs["rcut"] == 5.5 and list(d.attrs["sel"]) == [70, 70, 70]
        assert d["t_avg"].dtype == np.float64
        assert f["descriptor/embedding_nets/net_all_0/layer_0/matrix"].dtype == np.float32
        assert f["fitting/type_2/layer_2/matrix"].shape == (64, 1)
    assert load_model(path).precision == "float32"


def test_schema_1_files_read_the_same(extracted):
    """A file written by dpsycl 0.1 (schema 1: embedding nets at the root, precision on the
    descriptor group, no checksum) reads to the model extracted from the graph, with the warning
    that its parameters cannot be verified."""
    path = DATA / "cuag" / "model_schema1.h5"
    with h5py.File(path, "r") as f:
        assert int(f.attrs["schema_version"]) == 1 and "embedding_nets" in f
        assert CHECKSUM_ATTRIBUTE not in f.attrs
    with pytest.warns(UnverifiedModelWarning, match="no parameter checksum"):
        model = read_model(path)
    assert_models_identical(model, extracted["cuag"][0])


# ---------------------------------------------------------------------------------------------
# hyper-parameters against the models' documentation
def _readme_params(name):
    if name in README_MODELS:
        text = (DATA / name / "README.md").read_text()
        desc = json.loads(re.search(r"^descriptor: (\{.*\})$", text, re.M).group(1))
        fit = json.loads(re.search(r"^fitting_net: (\{.*\})$", text, re.M).group(1))
    else:
        inp = json.loads((DATA / name / "input.json").read_text())["model"]
        desc, fit = inp["descriptor"], inp["fitting_net"]
    return {**DESCRIPTOR_DEFAULTS, **desc}, {**FITTING_DEFAULTS, **fit}


def _precision(p):
    return "float64" if p == "default" else p


@pytest.mark.parametrize("name", ALL_MODELS)
def test_hyper_parameters_match_documentation(name, extracted):
    desc, fit = _readme_params(name)
    for model in extracted[name]:
        d, f = model.descriptor, model.fitting
        assert model.rcut == d.rcut == desc["rcut"]
        assert d.rcut_smth == desc["rcut_smth"]
        assert model.sel == d.sel == desc["sel"]
        assert d.neuron == desc["neuron"]
        assert getattr(d, "axis_neuron", None) == desc.get("axis_neuron")
        assert d.type_one_side == desc["type_one_side"]
        assert d.resnet_dt == desc["resnet_dt"]
        assert d.activation == desc["activation_function"]
        assert model.precision == _precision(desc["precision"])
        assert f.neuron == fit["neuron"]
        assert f.resnet_dt == fit["resnet_dt"]
        assert f.activation == fit["activation_function"]
        assert d.exclude_types == sorted({tuple(sorted(p)) for p in desc["exclude_types"]})
        assert model.descriptor_type == desc.get("type", "se_e2_a")
        assert f.numb_fparam == fit.get("numb_fparam", 0) and f.numb_aparam == fit.get("numb_aparam", 0)


def test_float32_model_keeps_float64_statistics(extracted):
    model = extracted["cuagau_f32"][0]
    assert model.descriptor.embedding_nets[(-1, 0)][0].matrix.dtype == np.float32
    assert model.fitting.nets[0][0].matrix.dtype == np.float32
    assert model.descriptor.t_avg.dtype == np.float64 and model.fitting.bias_atom_e.dtype == np.float64


def test_pair_nets_missing_for_excluded_pairs(extracted):
    d = extracted["tiny_pair_exclude"][0].descriptor
    assert sorted(d.embedding_nets) == [(0, 0), (1, 1)]
    assert d.exclude_types == [(0, 1)] and d.is_excluded(1, 0)


# ---------------------------------------------------------------------------------------------
# graphs without train_attr/* (no training script) extract to the same model
def strip_train_attr(tf, src, dst):
    gd = graph_def(tf, src)
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(gd.versions)
    out.library.CopyFrom(gd.library)
    kept = [n for n in gd.node if not n.name.startswith("train_attr/")]
    assert len(kept) < len(gd.node)
    out.node.extend(kept)
    Path(dst).write_bytes(out.SerializeToString())


@pytest.mark.parametrize("name", ["cuag", "cuag_pair", "cuagau_f32", "tiny_exclude", "tiny_pair_exclude"])
def test_graph_without_train_attr(name, tmp_path, tf, extracted):
    stripped = tmp_path / "no_train_attr.pb"
    strip_train_attr(tf, pb(name), stripped)
    assert not any(k.startswith("train_attr/") for k in graph_consts(tf, stripped))
    model = extract_model(stripped)
    assert_models_identical(model, extracted[name][0])


# ---------------------------------------------------------------------------------------------
# bad input
def make_graph(tf, path, ops=(), consts=None):
    """A hand-built GraphDef: one node per op type, plus string/array constants."""
    gd = tf.compat.v1.GraphDef()
    for i, op in enumerate(ops):
        node = gd.node.add()
        node.name, node.op = f"{op}_{i}", op
        if op.startswith("ProdEnvMat"):
            node.attr["sel_a"].list.i.extend([46, 92])
            node.attr["rcut_r"].f = 6.0
            node.attr["rcut_r_smth"].f = 0.5
    for name, value in (consts or {}).items():
        node = gd.node.add()
        node.name, node.op = name, "Const"
        proto = tf.make_tensor_proto(value)
        node.attr["value"].tensor.CopyFrom(proto)
        node.attr["dtype"].type = proto.dtype
    Path(path).write_bytes(gd.SerializeToString())
    return path


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory, tf):
    """case -> (path, substring the error message must contain)."""
    d = tmp_path_factory.mktemp("bad")
    real = pb("cuag").read_bytes()
    (d / "half.pb").write_bytes(real[: len(real) // 2])
    (d / "text.pb").write_text("this is not a graph\nbut a text file\n")
    (d / "random.pb").write_bytes(np.random.default_rng(1).bytes(4096))
    (d / "empty.pb").write_bytes(b"")
    with h5py.File(d / "model.h5", "w") as f:
        f["x"] = np.arange(3)
    # a real graph with a tabulation op added that reads no table (tests/test_compress.py: real ones)
    gd = graph_def(tf, pb("cuag"))
    node = gd.node.add()
    node.name, node.op = "filter_type_all/TabulateFusionSeA", "TabulateFusionSeA"
    (d / "compressed_real.pb").write_bytes(gd.SerializeToString())
    gd = graph_def(tf, pb("tiny_se_e3"))      # and se_e3's op (tests/test_se_e3_compress.py: real ones)
    node = gd.node.add()
    node.name, node.op = "filter_type_all/TabulateFusionSeT", "TabulateFusionSeT"
    (d / "se_e3_table.pb").write_bytes(gd.SerializeToString())
    cases = {
        "missing": (d / "does_not_exist.pb", "not found"),
        "empty": (d / "empty.pb", "empty"),
        "text": (d / "text.pb", "not a TensorFlow frozen graph"),
        "random": (d / "random.pb", "not a valid TensorFlow frozen graph"),
        "truncated": (d / "half.pb", "truncated"),
        "hdf5": (d / "model.h5", "HDF5 file, not a TensorFlow frozen graph"),
        "se_atten": (make_graph(tf, d / "se_atten.pb", ["ProdEnvMatAMix"]), "descriptor 'se_atten'"),
        "hybrid": (make_graph(tf, d / "hybrid.pb", ["ProdEnvMatA", "ProdEnvMatR"]), "hybrid"),
        "se_e3_table": (d / "se_e3_table.pb", "does not read its table and table_info from constants"),
        "type_embedding": (make_graph(tf, d / "tebd.pb", ["ProdEnvMatA"],
                                      {"type_embed_net/matrix_1": np.zeros((2, 4))}), "type embedding"),
        "se_a_ebd": (make_graph(tf, d / "se_a_ebd.pb", ["ProdEnvMatA"],
                                {"type_embed_layer_0/matrix": np.zeros((1, 4))}), "descriptor 'se_a_ebd'"),
        "tebd_strip": (make_graph(tf, d / "tebd_strip.pb", ["ProdEnvMatA"],
                                  {"t_typeebd": np.zeros((2, 4)), "filter_type_all/matrix_1_one_side_ebd": np.zeros((4, 4))}),
                       "tebd_input_mode 'strip'"),
        "compressed": (make_graph(tf, d / "compressed.pb", ["ProdEnvMatA", "TabulateFusionSeAtten"]),
                       "compressed models are not supported yet"),
        "compressed_real": (d / "compressed_real.pb", "does not read its table and table_info from constants"),
        "dipole": (make_graph(tf, d / "dipole.pb", ["ProdEnvMatA"],
                              {"model_attr/model_type": np.array(b"dipole")}), "model type 'dipole'"),
        "no_descriptor": (make_graph(tf, d / "plain.pb", ["Placeholder"]), "no DeePMD-kit descriptor"),
    }
    return cases


BAD_CASES = ["missing", "empty", "text", "random", "truncated", "hdf5", "se_atten",
             "hybrid", "se_e3_table", "type_embedding", "se_a_ebd", "tebd_strip", "compressed", "compressed_real",
             "dipole", "no_descriptor"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_raises_model_error(case, bad_inputs):
    path, needle = bad_inputs[case]
    with pytest.raises(ModelError) as err:
        extract_model(path)
    msg = str(err.value)
    assert needle in msg
    assert "\n" not in msg
    if case in ("se_atten", "hybrid", "type_embedding", "se_a_ebd", "tebd_strip"):
        assert "supported: se_e2_a, se_e2_r" in msg


def test_compressed_message_points_to_uncompressed_graph(bad_inputs):
    """Tables dpsycl does not read (se_atten's here) point to the graph before `dp compress`."""
    with pytest.raises(ModelError, match=r"TabulateFusionSeAtten.*uncompressed frozen_model\.pb"):
        extract_model(bad_inputs["compressed"][0])


def _run_cli(*args):
    return subprocess.Popen([sys.executable, "-m", "dpsycl", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


CLI_CASES = ["missing", "empty", "text", "random", "truncated", "hdf5", "se_atten", "compressed"]


def test_cli_bad_inputs_exit_2_with_one_line(bad_inputs, tmp_path):
    # started together: each child imports TensorFlow, which takes seconds
    procs = {case: _run_cli("extract", bad_inputs[case][0], "-o", tmp_path / f"{case}.h5")
             for case in CLI_CASES}
    for case, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (case, err)
        lines = err.splitlines()
        assert len(lines) == 1, (case, err)
        assert lines[0].startswith("dpsycl: error:"), (case, err)
        assert bad_inputs[case][1] in lines[0], (case, err)
        assert "Traceback" not in err
        assert not (tmp_path / f"{case}.h5").exists()


def test_cli_extract_writes_model(tmp_path, extracted):
    out = tmp_path / "cuag.h5"
    proc = _run_cli("extract", pb("cuag"), "-o", out)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stderr == ""
    lines = stdout.splitlines()
    assert len(lines) == 1
    for needle in ("Cu Ag", "rcut 6.0", "sel [90, 90]", "16-32-64", "120-120-120", "float64", str(out)):
        assert needle in lines[0], needle
    assert_models_identical(read_model(out), extracted["cuag"][0])


def test_import_dpsycl_does_not_import_tensorflow():
    code = ("import sys, dpsycl, dpsycl.model, dpsycl.extract, dpsycl.model_io, dpsycl.cli; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ---------------------------------------------------------------------------------------------
# bad .h5 model files
def test_hdf5_that_is_not_a_dpsycl_model(bad_inputs):
    path = bad_inputs["hdf5"][0]
    for reader in (read_model, load_model):
        with pytest.raises(ModelError, match="not a dpsycl model"):
            reader(path)


def test_newer_schema_version_is_refused(tmp_path, extracted):
    path = tmp_path / "future.h5"
    write_model(extracted["cuag_pair"][0], path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = np.int64(999)
    with pytest.raises(ModelError) as err:
        read_model(path)
    assert (f"model file has schema version 999; this dpsycl reads up to {SCHEMA_VERSION} "
            "— upgrade dpsycl") in str(err.value)


@pytest.mark.parametrize("victim", ["descriptor/t_avg", "descriptor/embedding_nets/net_all_1/layer_2/bias",
                                    "fitting/type_0/layer_3/matrix", "fitting/out_std", "type_map"])
def test_missing_dataset_is_refused(tmp_path, extracted, victim):
    path = tmp_path / "damaged.h5"
    write_model(extracted["cuag"][0], path)
    with h5py.File(path, "r+") as f:
        del f[victim]
    with pytest.raises(ModelError, match=re.escape(f"/{victim}")):
        read_model(path)


def test_read_model_rejects_non_hdf5_and_missing(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_model(tmp_path / "nope.h5")
    with pytest.raises(ModelError, match="not an HDF5 file"):
        read_model(pb("cuag"))


def test_load_model_dispatches_on_content(tmp_path, extracted):
    path = tmp_path / "m.h5"
    write_model(extracted["cuag"][0], path)
    assert_models_identical(load_model(path), extracted["cuag"][0])
    assert_models_identical(load_model(pb("cuag")), extracted["cuag"][0])


def test_packaged_graph_is_the_cuag_model():
    assert (REPO / "dpsycl" / "data" / "cuag.pb").read_bytes() == pb("cuag").read_bytes()
