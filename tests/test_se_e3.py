"""The se_e3 descriptor (DeePMD-kit's se_t, three-body embedding) beyond what every model gets.

Every backend against DeePMD-kit's outputs on the seven cases comes from MODELS (tests/conftest.py:
test_reference.py, test_device.py), the CUDA simulator from test_cuda_simulator.py and the .dp
file from test_dp_files.py.  Here: the extracted weights are the graph's, bit for bit; forces and
the virial are the derivatives of the energy (central finite differences of the NumPy reference,
which the kernels match to 1e-13), of the nets and of the compressed model's tables
(tiny_se_e3_compress; its other tests: test_se_e3_compress.py).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import dpsycl
from dpsycl.model_io import read_model, write_model
from conftest import model_path, reference_case, strain_derivative
from test_extract import assert_models_identical, bits_equal, graph_consts, tf  # noqa: F401 - tf is a fixture

NAME = "tiny_se_e3"


@pytest.fixture(scope="module", params=[NAME, "tiny_se_e3_compress"])
def name(request):
    return request.param


@pytest.fixture(scope="module")
def model(name):
    return dpsycl.load_model(model_path(name).with_name("model.h5"))


@pytest.fixture(scope="module")
def perturbed(name):
    """The 27-atom triclinic case with every atom moved by up to 0.1 Å (no symmetry left)."""
    ref = dict(np.load(model_path(name).with_name("reference.npz")))
    coords, cells, atype, _ = reference_case(ref, "triclinic")
    rng = np.random.default_rng(3)
    x = coords[0].reshape(-1, 3) + rng.uniform(-0.1, 0.1, (len(atype), 3))
    return x, cells[0].reshape(3, 3), atype


def test_extracted_weights_are_the_graphs_bit_for_bit(tf, tmp_path):  # noqa: F811 - the fixture
    consts = graph_consts(tf, model_path(NAME))
    extracted = dpsycl.extract_model(model_path(NAME))
    d = extracted.descriptor
    assert d.kind == "se_e3" and sorted(d.embedding_nets) == [(0, 0), (0, 1), (1, 1)]
    assert bits_equal(d.t_avg, consts["descrpt_attr/t_avg"]) and bits_equal(d.t_std, consts["descrpt_attr/t_std"])
    used = 0
    for (a, b), layers in d.embedding_nets.items():
        for k, layer in enumerate(layers, start=1):
            assert bits_equal(layer.matrix, consts[f"filter_type_all/matrix_{k}_{a}_{b}"])
            assert bits_equal(layer.bias, consts[f"filter_type_all/bias_{k}_{a}_{b}"].ravel())
            idt = consts.get(f"filter_type_all/idt_{k}_{a}_{b}")
            assert (layer.idt is None) == (idt is None)
            assert idt is None or bits_equal(layer.idt, idt)
            used += 1
    # every embedding-net matrix of the graph is one of them (none for a pair b < a)
    assert used == sum(1 for name in consts if name.startswith("filter_type_all/matrix_"))
    write_model(extracted, tmp_path / "m.h5")
    assert_models_identical(read_model(tmp_path / "m.h5"), extracted)
    # the committed model.h5 (what the device tests load) is this extraction
    assert_models_identical(read_model(model_path(NAME).with_name("model.h5")), extracted, skip=("source",))


def test_forces_are_minus_energy_gradient(model, perturbed):
    """Central differences, h = 1e-4 Å, on 24 components: truncation ~h²·E''' ~ 1e-8, bound 1e-6 eV/Å."""
    x, cell, atype = perturbed
    dp = dpsycl.DeepPot(model, device="numpy")

    def energy(pos):
        return float(dp.eval(pos.reshape(1, -1), cell.reshape(1, 9), atype)[0][0, 0])
    forces = dp.eval(x.reshape(1, -1), cell.reshape(1, 9), atype)[1][0]
    rng = np.random.default_rng(0)
    h, worst = 1e-4, 0.0
    for i in rng.choice(len(atype), 8, replace=False):
        for k in range(3):
            plus, minus = x.copy(), x.copy()
            plus[i, k] += h
            minus[i, k] -= h
            worst = max(worst, abs(-(energy(plus) - energy(minus)) / (2 * h) - forces[i, k]))
    assert np.abs(forces).max() > 0.05
    assert worst < 1e-6, f"max |F − (−dE/dx)| = {worst:.3g} eV/Å"


def test_virial_is_minus_strain_derivative(model, perturbed):
    """W_ab = −∂E/∂ε_ab for a symmetric strain of cell and positions (DeePMD-kit's virial), central
    differences with ε = 1e-5 on the 6 components; bound 1e-6 eV."""
    x, cell, atype = perturbed
    dp = dpsycl.DeepPot(model, device="numpy")
    virial = dp.eval(x.reshape(1, -1), cell.reshape(1, 9), atype)[2][0].reshape(3, 3)
    numeric = -strain_derivative(lambda f: dp.eval((x @ f).reshape(1, -1), (cell @ f).reshape(1, 9), atype)[0][0, 0])
    assert np.abs(virial).max() > 0.05
    np.testing.assert_allclose(virial, numeric, rtol=0, atol=1e-6)


def test_dp_with_exclude_types_is_refused_with_one_line(tmp_path):
    """DeePMD-kit's TensorFlow se_t refuses exclude_types and dpsycl does not evaluate them: a .dp that
    has them (its NumPy/PyTorch backends would mask the pair's neighbours) is refused, naming them."""
    import shutil

    import h5py

    from dpsycl.model import ModelError
    from dpsycl.model_io import load_model
    path = tmp_path / "excluded.dp"
    shutil.copy(model_path(NAME).with_name("model.dp"), path)
    assert load_model(path).descriptor.kind == "se_e3"
    with h5py.File(path, "r+") as f:
        data = json.loads(f.attrs["json"])
        data["model"]["descriptor"]["exclude_types"] = [[0, 1]]
        f.attrs["json"] = json.dumps(data)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert "\n" not in str(err.value) and "exclude_types [[0, 1]] is not supported" in str(err.value)
