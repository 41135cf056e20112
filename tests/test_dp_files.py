"""DeePMD-kit 3's backend-neutral model files (``.dp``) read by dpsycl (dpsycl/deepmd_dp/).

Every test graph is converted to a .dp by DeePMD-kit itself (``dp --tf convert-backend``) and must read
to exactly the model extracted from the graph, or be refused where DeePMD-kit's own backends read the
.dp differently from the graph (shown here with DeePMD-kit's NumPy backend).  A model trained with
DeePMD-kit's PyTorch backend (tests/data/tiny_pt, converted with ``dp --pt convert-backend``) must give
DeePMD-kit's PyTorch outputs.  Reading a .dp needs neither TensorFlow nor PyTorch; damaged files and
features dpsycl does not evaluate give one-line ModelErrors.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import dpsycl
from dpsycl.model import ModelError
from dpsycl.model_io import load_model, read_model, write_model
from conftest import CASES, DATA, TOL, reference_case
from test_extract import assert_models_identical

PT_DP = DATA / "tiny_pt" / "model.dp"
# DeePMD-kit 3.2 cannot write a model-level type embedding to .dp ("type embedding for descriptors
# without mixed types is not supported in other backends")
NOT_CONVERTIBLE = {p.parent.name for p in DATA.glob("*/input.json")
                   if "type_embedding" in json.loads(p.read_text()).get("model", {})}
# compressed graphs (beside their uncompressed.pb) hold tables, no nets: no .dp to compare with
GRAPHS = sorted(p.parent.name for p in DATA.glob("*/frozen_model.pb")
                if p.parent.name not in NOT_CONVERTIBLE and not (p.parent / "uncompressed.pb").exists())
# graphs whose .dp form DeePMD-kit's PyTorch/JAX/NumPy backends evaluate differently from the graph
TENSORFLOW_ONLY = {
    "tiny_exclude": "exclude_types pair (0, 1)",             # empty slots of an excluded pair count there
    "tiny_se_r_exclude": "exclude_types pair (0, 1)",
    "tiny_se_r": "layer 0 (8 -> 8) has resnet true",         # fitting input width = first hidden width
    "tiny_se_r_pair": "layer 0 (8 -> 8) has resnet true",
    "tiny_f32_se_r": "layer 0 (8 -> 8) has resnet true",
}
READABLE = [name for name in GRAPHS if name not in TENSORFLOW_ONLY]
# DeePMD-kit's NumPy backend on a .dp against its TensorFlow backend on the graph, for a case of each
DEEPMD_READINGS = ("tiny_exclude", "tiny_se_r", "tiny_pair_exclude", "cuag_pair", "tiny_se_e3", "tiny_hybrid")

CONVERT = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from deepmd.main import main
data, out, names, readings = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
for name in names:                                     # exactly `dp --tf convert-backend GRAPH FILE.dp`
    main(["--tf", "convert-backend", f"{data}/{name}/frozen_model.pb", f"{out}/{name}.dp"])
from deepmd.infer import DeepPot
ref = np.load(f"{data}/cuag/reference.npz")
coords, cells, atype = ref["triclinic_coords"], ref["triclinic_cells"], ref["triclinic_atype"] % 2
energies = {name: [float(DeepPot(f"{data}/{name}/frozen_model.pb").eval(coords, cells, atype)[0].sum()),
                   float(DeepPot(f"{out}/{name}.dp").eval(coords, cells, atype)[0].sum())] for name in readings}
print("ENERGIES " + json.dumps(energies))
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """name -> the .dp DeePMD-kit writes from tests/data/<name>/frozen_model.pb, and DeePMD-kit's
    energies (TensorFlow on the graph, NumPy on the .dp) of one structure for DEEPMD_READINGS."""
    if importlib.util.find_spec("deepmd") is None:
        pytest.skip("DeePMD-kit is not installed")
    out = tmp_path_factory.mktemp("dp")
    proc = subprocess.run([sys.executable, "-c", CONVERT, str(DATA), str(out), ",".join(GRAPHS),
                           ",".join(DEEPMD_READINGS)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    energies = json.loads(proc.stdout.split("ENERGIES ")[-1])
    return {name: out / f"{name}.dp" for name in GRAPHS}, energies


@pytest.fixture(scope="module")
def graph_models():
    from dpsycl.extract import extract_model
    return {name: extract_model(DATA / name / "frozen_model.pb") for name in READABLE}


def max_errors(got, ref, natoms: int, tol: dict) -> dict:
    """Largest deviations, per atom for energy and virial (atomic energies may also deviate by tol['rel'])."""
    e, f, v, ae, av = got
    return dict(energy=np.abs(e.ravel() - ref["energy"].ravel()).max() / natoms,
                force=np.abs(f.ravel() - ref["force"].ravel()).max(),
                virial=np.abs(v.ravel() - ref["virial"].ravel()).max() / natoms,
                atom_energy=(np.abs(ae.ravel() - ref["atom_energy"].ravel())
                             / (1 + tol["rel"] / tol["energy"] * np.abs(ref["atom_energy"].ravel()))).max(),
                atom_virial=np.abs(av.ravel() - ref["atom_virial"].ravel()).max())


def assert_within(err: dict, tol: dict) -> None:
    for key, bound in (("energy", "energy"), ("atom_energy", "energy"), ("force", "force"), ("virial", "virial"),
                       ("atom_virial", "virial")):
        assert err[key] <= tol[bound], err


def evaluate(model, ref: dict, case: str, device: str = "numpy"):
    coords, cells, atype, _ = reference_case(ref, case)
    params = {k: ref[f"{case}_{k}"] for k in ("fparam", "aparam") if f"{case}_{k}" in ref}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # the dense case overfills sel, as in DeePMD-kit
        return dpsycl.DeepPot(model, device=device).eval(coords, cells, atype, atomic=True, **params)


# ---------------------------------------------------------------------------------------------
# .dp files DeePMD-kit writes from the TensorFlow test graphs
@pytest.mark.parametrize("name", READABLE)
def test_dp_reads_to_the_model_extracted_from_its_graph(name, converted, graph_models, tmp_path):
    files, _ = converted
    model = load_model(files[name])
    assert_models_identical(graph_models[name], model, skip=("source", "deepmd_version", "model_version"))
    with h5py.File(files[name], "r") as f:
        writer_version = json.loads(f.attrs["json"])["version"]
    assert (model.source, model.deepmd_version, model.model_version) == (f"{name}.dp", writer_version, "unknown")
    write_model(model, tmp_path / "m.h5")                  # what `dpsycl extract MODEL.dp` writes
    assert_models_identical(read_model(tmp_path / "m.h5"), model)


@pytest.mark.parametrize("name", sorted(TENSORFLOW_ONLY))
def test_dp_that_deepmd_reads_unlike_its_graph_is_refused(name, converted):
    files, _ = converted
    with pytest.raises(ModelError) as err:
        load_model(files[name])
    message = str(err.value)
    assert "\n" not in message and str(files[name]) in message
    assert TENSORFLOW_ONLY[name] in message and "give dpsycl its frozen_model.pb" in message, message


def test_deepmd_itself_reads_the_refused_dp_files_unlike_their_graphs(converted):
    """The reason for the refusals above: DeePMD-kit's NumPy backend on the .dp and its TensorFlow
    backend on the graph disagree there, and agree on the .dp files dpsycl reads."""
    _, energies = converted
    for name, (graph, dp) in energies.items():
        if name in TENSORFLOW_ONLY:
            assert abs(graph - dp) > 1e-3, (name, graph, dp)
        else:
            assert abs(graph - dp) < 1e-9, (name, graph, dp)


@pytest.mark.parametrize("name", [n for n in READABLE if (DATA / n / "reference.npz").exists()])
def test_dp_evaluates_to_deepmd_outputs(name, converted, graph_models):
    files, _ = converted
    ref = dict(np.load(DATA / name / "reference.npz"))
    from_dp = evaluate(load_model(files[name]), ref, "triclinic")
    from_graph = evaluate(graph_models[name], ref, "triclinic")
    for a, b in zip(from_dp, from_graph):
        assert np.array_equal(a, b)
    model = graph_models[name]
    assert_within(max_errors(from_dp, reference_case(ref, "triclinic")[3], len(ref["triclinic_atype"]),
                             TOL[model.precision]), TOL[model.precision])


# ---------------------------------------------------------------------------------------------
# a model trained with DeePMD-kit's PyTorch backend
def _kernel_device() -> list:
    found = [d for d in dpsycl.devices() if d != "numpy"]
    return [pytest.param(found[0], id="first-kernel-device")] if found else []


@pytest.mark.parametrize("device", ["numpy", *_kernel_device()])
def test_pytorch_model_gives_deepmd_pytorch_outputs(device):
    model = load_model(PT_DP)
    ref = dict(np.load(DATA / "tiny_pt" / "reference.npz"))
    tol = TOL["float64"]
    for case in CASES:
        err = max_errors(evaluate(model, ref, case, device), reference_case(ref, case)[3], len(ref[f"{case}_atype"]), tol)
        assert_within(err, tol)


def test_pytorch_model_statistics_as_deepmd_applies_them():
    model = load_model(PT_DP)
    with h5py.File(PT_DP, "r") as f:
        variables = json.loads(f.attrs["json"])["model"]["@variables"]
        out_bias, out_std = f[variables["out_bias"]][()], f[variables["out_std"]][()]
    assert np.all(out_std != 1.0)                   # a training statistic DeePMD-kit does not apply
    assert np.array_equal(model.fitting.out_std, np.ones(2))
    assert model.fitting.out_bias.tobytes() == out_bias.reshape(2).tobytes()
    assert not model.descriptor.type_one_side and sorted(model.descriptor.embedding_nets) == [(0, 0), (0, 1), (1, 0),
                                                                                              (1, 1)]


# ---------------------------------------------------------------------------------------------
# no TensorFlow, no PyTorch
NO_FRAMEWORKS = """
import sys
BLOCKED = ("tensorflow", "torch", "deepmd", "jax", "paddle")
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed here")
sys.meta_path.insert(0, Blocker())
import numpy as np
import dpsycl
for path in sys.argv[1:]:
    model = dpsycl.load_model(path)
    e, f, v = dpsycl.DeepPot(model, device="numpy").eval(np.array([[0, 0, 0, 2.5, 0, 0, 0, 2.4, 0.3]]), None, [0, 1, 0])
    assert np.isfinite(e).all() and np.isfinite(f).all()
assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED], "a framework was imported"
"""


def test_reading_a_dp_imports_neither_tensorflow_nor_torch(tmp_path):
    # from a folder without the source tree: the installed (or staged) dpsycl is what runs
    subprocess.run([sys.executable, "-c", NO_FRAMEWORKS, str(PT_DP)], check=True, cwd=tmp_path, timeout=120)


# ---------------------------------------------------------------------------------------------
# damaged files and features dpsycl does not evaluate: one line naming the file and what was found
def _descriptor(c):
    return c["model"]["descriptor"]


def _fitting(c):
    return c["model"]["fitting"]


def _set(getter, key, value):
    return lambda c: getter(c).__setitem__(key, value)


def _spin(c):
    c["model"] = {"type": "spin_ener", "backbone_model": c["model"], "spin": {"use_spin": [True, False]}}


def _layer(c, net, k):
    return c["model"]["fitting" if net == "fitting" else "descriptor"]["nets" if net == "fitting" else "embeddings"][
        "networks"][0]["layers"][k]


EDITS = {
    "se_atten": (_set(_descriptor, "type", "se_atten"), "descriptor 'se_atten' (DPA-1"),
    "hybrid": (lambda c: c["model"].__setitem__("descriptor", {"@class": "Descriptor", "type": "hybrid", "@version": 1,
                                                               "list": [dict(_descriptor(c), type="se_atten")]}),
               "(hybrid) member 0: descriptor 'se_atten' (DPA-1"),
    "hybrid_without_list": (_set(_descriptor, "type", "hybrid"), "(hybrid) has no 'list'"),
    "compressed": (lambda c: _descriptor(c).update({"@version": 3, "compress": {}}), "compressed models"),
    "numb_fparam": (_set(_fitting, "numb_fparam", 1), "numb_fparam 1 but fparam_avg"),
    "aparam_mask": (lambda c: _fitting(c).update({"numb_aparam": 1, "use_aparam_as_mask": True}), "use_aparam_as_mask"),
    "default_fparam": (_set(_fitting, "default_fparam", [1.0]), "default_fparam"),
    "dipole": (_set(_fitting, "type", "dipole"), "fitting 'dipole' (dipole) is not supported"),
    "dos": (_set(_fitting, "type", "dos"), "fitting 'dos' (density of states)"),
    "case_embedding": (_set(_fitting, "dim_case_embd", 2), "case embeddings (dim_case_embd 2)"),
    "atom_ener": (_set(_fitting, "atom_ener", [1.0, None]), "atom_ener [1.0, None]"),
    "fitting_exclusion": (_set(_fitting, "exclude_types", [1]), "fitting exclude_types [1]"),
    "mixed_types": (_set(_fitting, "mixed_types", True), "mixed_types"),
    "pair_exclusion": (lambda c: c["model"].update(pair_exclude_types=[[0, 1]]), "pair_exclude_types [[0, 1]]"),
    "atom_exclusion": (lambda c: c["model"].update(atom_exclude_types=[1]), "atom_exclude_types [1]"),
    "trained_with_pair_table": (lambda c: c["model_def_script"].update(use_srtab="table.txt"), "use_srtab"),
    # what DeePMD-kit 3.2's convert-backend writes from a `dp compress`ed graph: no nets, no tables
    "converted_from_compressed_graph": (lambda c: c["model_def_script"].update(
        compress={"model_file": "uncompressed.pb", "min_nbor_dist": 2.0, "table_config": [5, 0.01, 0.1, -1]}),
        "converted from a compressed graph, whose embedding nets and tables DeePMD-kit does not write to .dp; "
        "give dpsycl the compressed .pb, or convert uncompressed.pb"),
    "spin": (_spin, "model type 'spin_ener' (a spin model)"),
    "zbl": (lambda c: c["model"].update(type="zbl"), "model type 'zbl' (DP with a ZBL pair potential)"),
    "linear": (lambda c: c["model"].update(type="linear_ener"), "model type 'linear_ener'"),
    "env_protection": (_set(_descriptor, "env_protection", 0.01), "env_protection 0.01"),
    "exp_switch": (lambda c: _descriptor(c)["env_mat"].update(use_exp_switch=True), "use_exp_switch"),
    "exclusion": (_set(_descriptor, "exclude_types", [[0, 1]]), "exclude_types pair (0, 1): DeePMD-kit"),
    "future_model": (lambda c: c["model"].update({"@version": 3}),
                     "(Model) has @version 3, newer than this dpsycl knows (Model @version up to 2)"),
    "future_descriptor": (lambda c: _descriptor(c).update({"@version": 4}), "(Descriptor) has @version 4"),
    "future_fitting": (lambda c: _fitting(c).update({"@version": 5}), "(Fitting) has @version 5"),
    "future_layer": (lambda c: _layer(c, "embedding", 0).update({"@version": 3}), "(Layer) has @version 3"),
    "embedding_without_resnet": (lambda c: _layer(c, "embedding", 1).update(resnet=False),
                                 "layer 1 (4 -> 8) has resnet false: DeePMD-kit adds no input there"),
    "fitting_without_resnet": (lambda c: _layer(c, "fitting", 1).update(resnet=False),
                               "layer 1 (8 -> 8) has resnet false: DeePMD-kit adds no input there"),
    "output_activation": (lambda c: _layer(c, "fitting", 2).update(activation_function="tanh"),
                          "output layer 2 is not a plain linear layer"),
    "two_activations": (lambda c: _layer(c, "fitting", 1).update(activation_function="gelu"),
                        "layers with different activations ['gelu', 'tanh']"),
    "missing_dataset": (lambda c: _layer(c, "fitting", 0)["@variables"].update(w="/variable_9999"),
                        "refers to the dataset /variable_9999, which the file lacks"),
    "not_a_model": (lambda c: c.pop("model"), "has no 'model' object"),
    "descriptor_not_an_object": (lambda c: c["model"].update(descriptor=[1, 2]), "descriptor has no 'type'"),
    "malformed": (lambda c: _fitting(c)["nets"]["networks"][0].update(layers=7), "malformed model in the .dp file"),
}


def edited_dp(tmp_path: Path, name: str, edit) -> Path:
    path = tmp_path / f"{name}.dp"
    shutil.copy(PT_DP, path)
    with h5py.File(path, "r+") as f:
        content = json.loads(f.attrs["json"])
        edit(content)
        f.attrs["json"] = json.dumps(content)
    return path


def raw_json_dp(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.dp"
    shutil.copy(PT_DP, path)
    with h5py.File(path, "r+") as f:
        f.attrs["json"] = text
    return path


def truncated_dp(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.dp"
    path.write_bytes(PT_DP.read_bytes()[: PT_DP.stat().st_size // 2])
    return path


def assert_one_line_refusal(path: Path, fragment: str) -> None:
    with pytest.raises(ModelError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    assert fragment in message, message


@pytest.mark.parametrize("case", sorted(EDITS))
def test_unsupported_or_inconsistent_dp_is_refused(case, tmp_path):
    edit, fragment = EDITS[case]
    assert_one_line_refusal(edited_dp(tmp_path, case, edit), fragment)


def test_damaged_dp_files_are_refused(tmp_path):
    assert_one_line_refusal(truncated_dp(tmp_path), "the .dp file is damaged or truncated")
    assert_one_line_refusal(raw_json_dp(tmp_path, "garbage", '{"model": [1, 2'), "is not valid JSON")
    assert_one_line_refusal(raw_json_dp(tmp_path, "list", "[1, 2]"), "holds a JSON list, not an object")
    shutil.copy(PT_DP, tmp_path / "mixed.dp")
    with h5py.File(tmp_path / "mixed.dp", "r+") as f:          # one float32 bias in a float64 model
        content = json.loads(f.attrs["json"])
        layer = content["model"]["fitting"]["nets"]["networks"][1]["layers"][0]
        f["bias32"] = f[layer["@variables"]["b"]][()].astype(np.float32)
        layer["@variables"]["b"] = "/bias32"
        f.attrs["json"] = json.dumps(content)
    assert_one_line_refusal(tmp_path / "mixed.dp", "mixed precision")


def test_pytorch_zip_is_refused_with_the_conversion_command(tmp_path):
    import zipfile
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"not read")
    assert_one_line_refusal(path, "dp --pt convert-backend model.pth model.dp")


# ---------------------------------------------------------------------------------------------
# dpsycl extract MODEL.dp -o MODEL.h5
def _run_cli(*args):
    # from a folder without the source tree: the installed (or staged) dpsycl is what runs
    return subprocess.Popen([sys.executable, "-m", "dpsycl", *map(str, args)], cwd=Path(tempfile.gettempdir()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_extract_converts_a_dp_and_refuses_a_bad_one_with_one_line(tmp_path):
    bad = {"truncated": (truncated_dp(tmp_path), "damaged or truncated"),
           "se_atten": (edited_dp(tmp_path, "se_atten", EDITS["se_atten"][0]), EDITS["se_atten"][1])}
    good = _run_cli("extract", PT_DP, "-o", tmp_path / "tiny_pt.h5")
    procs = {case: _run_cli("extract", path, "-o", tmp_path / f"{case}.h5") for case, (path, _) in bad.items()}
    stdout, stderr = good.communicate(timeout=120)
    assert good.returncode == 0 and stderr == "", stderr
    assert len(stdout.splitlines()) == 1 and "per-pair" in stdout and str(tmp_path / "tiny_pt.h5") in stdout
    assert_models_identical(read_model(tmp_path / "tiny_pt.h5"), load_model(PT_DP))
    for case, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        lines = err.splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (case, err)
        assert lines[0].startswith("dpsycl: error:") and bad[case][1] in lines[0], (case, err)
        assert not (tmp_path / f"{case}.h5").exists()


def test_a_pb_converted_from_pytorch_warns_about_its_output_scale(tmp_path):
    """TensorFlow multiplies atomic energies by t_out_std; PyTorch does not.  A .pb made from the
    PyTorch model says so when extracted (and matches TensorFlow, not PyTorch)."""
    from dpsycl.extract.frozen_graph import OutputScaleWarning
    pytest.importorskip("deepmd.tf")
    pb = tmp_path / "from_pt.pb"
    dp_exe = Path(sys.executable).with_name("dp")
    proc = subprocess.run([str(dp_exe), "--tf", "convert-backend", str(DATA / "tiny_pt" / "model.dp"), str(pb)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with pytest.warns(OutputScaleWarning, match="t_out_std"):
        model = dpsycl.extract_model(pb)
    assert np.all(model.fitting.out_std != 1.0)
    for name in ("cuag", "tiny_se_r"):                   # graphs trained with TensorFlow: silent
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutputScaleWarning)
            dpsycl.extract_model(DATA / name / "frozen_model.pb")
