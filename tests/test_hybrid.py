"""DeePMD-kit's ``hybrid`` descriptor (dpsycl/descriptors/hybrid/): extraction from a frozen graph bit
for bit, the model file, finite differences on every backend here, the memory estimate, and DeePMD-kit
itself on structures where each member's own neighbour list differs from the others'.

The models (tools/make_test_models.sh): tiny_hybrid = [se_e2_a rcut 4.5, se_e2_r rcut 3.5],
tiny_hybrid_pair = [se_e2_a rcut 3.5 per-pair nets, se_e2_a rcut 4.5 one-side], tiny_hybrid_e3 =
[se_e2_a rcut 4.5, se_e3 rcut 3.5], tiny_hybrid_compress = `dp compress` of [se_e2_a rcut 4.5 per-pair,
se_e2_r rcut 3.5 one-side] (each member's tables in its own scopes).  All are also in
conftest.MODELS, so tests/test_reference.py (DeePMD-kit's outputs on the seven cases, live DeePMD-kit
on random structures), tests/test_device.py (every device against the reference on the seven cases)
and tests/test_dp_files.py (their .dp files; not for the compressed graph) cover them like every other model.
tiny_hybrid_e3_compress = `dp compress` of [se_e2_a rcut 4.5, se_e3 rcut 3.5] is tested here only (the
compressed se_e2_a and se_e3 units have their own models in conftest.MODELS).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import dpsycl
from dpsycl.descriptors.hybrid import Hybrid
from dpsycl.model_io import read_model, write_model
from conftest import DATA, TOL, model_file, model_path, random_structure
from test_extract import assert_models_identical, bits_equal, graph_consts

HYBRIDS = ("tiny_hybrid", "tiny_hybrid_pair", "tiny_hybrid_e3")
COMPRESSED = "tiny_hybrid_compress"
COMPRESSED_E3 = "tiny_hybrid_e3_compress"
KERNEL_DEVICES = [d for d in dpsycl.devices() if d != "numpy"]


@pytest.fixture(scope="module")
def tf():
    pytest.importorskip("tensorflow")           # extraction needs it; the GPU machine has none
    from dpsycl.extract.graph import import_tf
    return import_tf()


@pytest.mark.parametrize("name", HYBRIDS)
def test_members_are_read_bit_for_bit_from_their_scopes(name, tf, tmp_path):
    """Member k's statistics and embedding nets are the graph's constants of scope suffix _k (read
    here by node name through TensorFlow); every embedding weight of the graph is used; the model
    file holds the same model; the members are in DeePMD-kit's order (the training input's list)."""
    from dpsycl.extract import extract_model
    model = extract_model(model_path(name))
    d = model.descriptor
    assert isinstance(d, Hybrid)
    consts = graph_consts(tf, model_path(name))
    used = set()
    for k, member in enumerate(d.members):
        for field in ("t_avg", "t_std"):
            node = f"descrpt_attr_{k}/{field}"
            assert bits_equal(getattr(member, field), consts[node]), node
        for (first, second), layers in member.embedding_nets.items():
            if member.kind == "se_e3":      # one net per neighbour-species pair: filter_type_all_k/*_L_a_b
                scope, tail = f"filter_type_all_{k}", f"_{first}_{second}"
            else:                           # (centre | −1, neighbour)
                scope, tail = f"filter_type_all_{k}" if first < 0 else f"filter_type_{first}_{k}", f"_{second}"
            for layer_no, layer in enumerate(layers, start=1):
                for part in ("matrix", "bias", "idt"):
                    if getattr(layer, part) is None:
                        continue
                    node = f"{scope}/{part}_{layer_no}{tail}"
                    assert bits_equal(getattr(layer, part), consts[node]), node
                    used.add(node)
    weights = {n for n in consts if re.fullmatch(r"filter_type_\w+/(matrix|bias|idt)_\d+_\d+(_\d+)?", n)}
    assert weights and weights == used
    script = __import__("json").loads((DATA / name / "input.json").read_text())["model"]["descriptor"]["list"]
    assert [m.kind for m in d.members] == [s["type"] for s in script]
    assert [m.rcut for m in d.members] == [s["rcut"] for s in script]
    assert [m.sel for m in d.members] == [s["sel"] for s in script]
    assert d.output_width == model.fitting.input_width == sum(m.output_width for m in d.members)
    assert model.rcut == max(s["rcut"] for s in script)
    write_model(model, tmp_path / "m.h5")
    assert_models_identical(read_model(tmp_path / "m.h5"), model)
    assert_models_identical(read_model(model_file(name)), model)


def test_compressed_members_read_the_tables_of_their_own_scopes(tf):
    """Each TabulateFusion op of `dp compress`'s graph serves the member whose scope suffix it has
    (filter_type_{centre}_0 / filter_type_all_1, as listed by TensorFlow): its table constant is one
    of that member's tables bit for bit, and every table of the model is one op's."""
    from dpsycl.extract import extract_model
    from test_extract import graph_def
    model = extract_model(model_path(COMPRESSED))
    a, r = model.descriptor.members
    assert (a.kind, sorted(a.tables), a.embedding_nets) == ("se_e2_a", [(0, 0), (0, 1), (1, 0), (1, 1)], {})
    assert (r.kind, sorted(r.tables)) == ("se_e2_r", [(-1, 0), (-1, 1)])
    consts = graph_consts(tf, model_path(COMPRESSED))
    found = {0: [], 1: []}
    for node in graph_def(tf, model_path(COMPRESSED)).node:
        if node.op in ("TabulateFusionSeA", "TabulateFusionSeR"):
            member = int(node.name.split("/")[0].rsplit("_", 1)[1])
            found[member].append((consts[node.input[0]], consts[node.input[1]]))
    for member, ops in zip(model.descriptor.members, (found[0], found[1])):
        assert len(ops) == len(member.tables)
        for coefficients, info in ops:
            assert sum(bits_equal(t.coefficients, coefficients) and bits_equal(t.table_info, info)
                       for t in member.tables.values()) == 1
    assert_models_identical(read_model(model_file(COMPRESSED)), model)


def test_dpsycl_compress_of_a_hybrid_gives_dp_compress_tables(tmp_path):
    """`dpsycl compress -s 0.05` of the uncompressed hybrid tabulates every member with the same
    options and closest distance, as `dp compress -s 0.05` did (tests/test_compress.py's comparison)."""
    pytest.importorskip("tensorflow")
    from dpsycl.cli import main
    from dpsycl.compress import graph_min_nbor_dist
    from test_compress import assert_same_numbers, assert_same_tables
    assert main(["compress", str(DATA / COMPRESSED / "uncompressed.pb"), "-o", str(tmp_path / "c.h5"), "-s", "0.05",
                 "--min-nbor-dist", repr(graph_min_nbor_dist(model_path(COMPRESSED)))]) == 0
    ours, theirs = dpsycl.load_model(tmp_path / "c.h5"), dpsycl.load_model(model_file(COMPRESSED))
    for mine, member in zip(ours.descriptor.members, theirs.descriptor.members, strict=True):
        assert_same_tables(mine.tables, member.tables)
    assert_same_numbers(ours, theirs, dict(np.load(DATA / COMPRESSED / "reference.npz")))


@pytest.mark.parametrize("device", ["numpy", *KERNEL_DEVICES])
def test_compressed_hybrid_with_an_se_e3_member_gives_deepmd_outputs(device):
    """Both members read their tables (TabulateFusionSeA in filter_type_all_0, TabulateFusionSeT in
    filter_type_all_1) with no hybrid-specific code: DeePMD-kit's outputs of the compressed graph on
    the seven cases, float64 tolerances, atomic terms included."""
    from conftest import assert_matches_deepmd_outputs
    model = dpsycl.load_model(model_file(COMPRESSED_E3))
    assert [m.compressed for m in model.descriptor.members] == [True, True]
    assert_matches_deepmd_outputs(dpsycl.DeepPot(model, device=device),
                                  dict(np.load(DATA / COMPRESSED_E3 / "reference.npz")), device)


def test_dpsycl_compress_of_a_hybrid_with_an_se_e3_member(tmp_path):
    """`dpsycl compress -s 0.1` of the uncompressed [se_e2_a, se_e3] hybrid: each member tabulated by its own
    rule with the same options, the tables of `dp compress -s 0.1` (test_compress's and test_se_e3_compress's
    comparisons), and the same energies, forces and virials.  Forces get 5e-9 eV/Å: DeePMD-kit builds the
    se_t interval starting at upper for stride1 but it spans stride2 (test_se_e3_compress), so the rounding
    of its a5 is multiplied by (stride2/stride1)⁵ = 1e5 wherever a pair's product falls there (1.6e-9 eV/Å
    measured here, 3e-10 for tiny_se_e3_compress)."""
    pytest.importorskip("tensorflow")
    from dpsycl.cli import main
    from dpsycl.compress import graph_min_nbor_dist
    from test_compress import assert_same_numbers, assert_same_tables
    from test_se_e3_compress import assert_same_three_body_tables
    assert main(["compress", str(DATA / COMPRESSED_E3 / "uncompressed.pb"), "-o", str(tmp_path / "c.h5"), "-s", "0.1",
                 "--min-nbor-dist", repr(graph_min_nbor_dist(model_path(COMPRESSED_E3)))]) == 0
    ours, theirs = dpsycl.load_model(tmp_path / "c.h5"), dpsycl.load_model(model_file(COMPRESSED_E3))
    (a_ours, e3_ours), (a_theirs, e3_theirs) = ours.descriptor.members, theirs.descriptor.members
    assert_same_tables(a_ours.tables, a_theirs.tables)
    assert_same_three_body_tables(e3_ours.tables, e3_theirs.tables)
    assert_same_numbers(ours, theirs, dict(np.load(DATA / COMPRESSED_E3 / "reference.npz")), force=5e-9)


@pytest.mark.parametrize("device", ["numpy", *KERNEL_DEVICES])
@pytest.mark.parametrize("name", [*HYBRIDS, COMPRESSED])
def test_forces_and_virial_are_energy_derivatives(name, device):
    """Central differences, h = 1e-5 Å (truncation ~h²E''' and rounding ~1e-16·E/h, both ~1e-10), on
    atoms that have neighbours between the members' cutoffs."""
    rng = np.random.default_rng(5)
    coords, cell, atype = random_structure(rng, 16, 2, shear=0.3)
    dp = dpsycl.DeepPot(dpsycl.load_model(model_file(name)), device=device)
    e, f, v = dp.eval(coords[None], cell.reshape(1, 9), atype)
    h = 1e-5

    def energy(x, c):
        return dp.eval(x[None], c.reshape(1, 9), atype)[0][0, 0]

    for atom, comp in [(0, 0), (7, 1), (15, 2)]:
        xp, xm = coords.copy(), coords.copy()
        xp[atom, comp] += h
        xm[atom, comp] -= h
        fd = -(energy(xp, cell) - energy(xm, cell)) / (2 * h)
        assert abs(fd - f[0, atom, comp]) <= 1e-6 * max(1.0, abs(fd)), (atom, comp, fd, f[0, atom, comp])
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        eps = np.zeros((3, 3))
        eps[a, b] = h
        ep = energy(coords @ (np.eye(3) + eps).T, cell @ (np.eye(3) + eps).T)
        em = energy(coords @ (np.eye(3) - eps).T, cell @ (np.eye(3) - eps).T)
        fd = -(ep - em) / (2 * h)
        assert abs(fd - v[0, 3 * a + b]) <= 1e-6 * max(1.0, abs(fd)), (a, b, fd, v[0, 3 * a + b])


@pytest.mark.parametrize("name", ["tiny_hybrid", "tiny_hybrid_e3", COMPRESSED])
def test_each_member_reads_its_own_list_like_deepmd_kit(name):
    """A dimer swept through both cutoffs (3.5 and 4.5 Å), a 3-atom chain whose far atom is inside
    only the larger one, and a triangle with a fourth atom beyond 3.5 Å of all (angles for se_e3):
    energies, forces and virials of DeePMD-kit's TensorFlow inference, live, on the reference and
    every kernel device."""
    deepmd_infer = pytest.importorskip("deepmd.infer")
    oracle = deepmd_infer.DeepPot(str(model_path(name)))
    model = dpsycl.load_model(model_file(name))
    pots = [dpsycl.DeepPot(model, device=device) for device in ["numpy", *KERNEL_DEVICES]]
    tol = TOL["float64"]
    structures = [(np.array([[0.0, 0.0, 0.0], [r, 0.3, 0.1]]), np.array([0, 1])) for r in (2.4, 3.3, 3.7, 4.3, 4.6)]
    structures.append((np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0], [6.4, 0.5, 0.0]]), np.array([1, 0, 0])))
    structures.append((np.array([[0.0, 0.0, 0.0], [2.6, 0.2, 0.0], [1.1, 2.4, 0.3], [1.2, 0.9, 4.0]]),
                       np.array([0, 1, 1, 0])))
    for coords, atype in structures:
        theirs = oracle.eval(coords[None], None, atype, atomic=True)
        for dp in pots:
            ours = dp.eval(coords[None], None, atype, atomic=True)
            for a, b, bound in zip(ours, theirs, (tol["energy"], tol["force"], tol["virial"], tol["energy"],
                                                  tol["virial"])):
                assert np.abs(a - b).max() <= bound, (dp.device, len(atype), np.abs(a - b).max())


@pytest.mark.skipif(not any(d.startswith("opencl:cpu") for d in KERNEL_DEVICES), reason="no opencl:cpu device")
def test_estimate_is_the_memory_a_hybrid_evaluation_holds():
    """The members' buffers (prefixed per member) and the hybrid's own rows of D and ∂E/∂D are counted
    by the dry run of the memory estimate to the byte (as tests/test_device_memory.py for one list; with the
    fitting net by products: tests/test_cpu_fitting.py)."""
    from crystals import fcc
    from test_device_memory import reverse_list_slack
    ev = dpsycl.DeepPot(dpsycl.load_model(model_file("tiny_hybrid_pair")), device="opencl:cpu").evaluator
    coords, cell, atype = fcc(3)
    estimate = ev.memory_estimate(len(atype), cell, (coords.min(axis=0), coords.max(axis=0)))
    assert {"hybrid0:t_part", "hybrid1:t_part", "hybrid:desc", "hybrid:desc_grad"} <= set(estimate.buffers)
    assert estimate.constants == ev.workspace_bytes()
    ev.evaluate(coords, cell, atype)
    assert estimate.total - reverse_list_slack(ev, coords, cell, atype) == ev.workspace_bytes()


def test_what_a_hybrid_graph_cannot_tell_is_refused_in_one_line(tf, tmp_path):
    """A member whose environment op is one no unit reads (here member 1's made ProdEnvMatAMix:
    se_atten), a graph without its training script (an se_e2_a member's axis_neuron is read
    there: the fitting input is the sum of all members' widths), a hybrid inside a hybrid (member 1's
    scopes renamed descrpt_attr_1_0, DeePMD-kit's suffix for the first member of member 1)."""
    from dpsycl.extract import extract_model
    from dpsycl.model import ModelError
    from test_extract import graph_def
    atten = graph_def(tf, model_path("tiny_hybrid"))
    for node in atten.node:
        if node.op == "ProdEnvMatR":
            node.op = "ProdEnvMatAMix"
    no_script = graph_def(tf, model_path("tiny_hybrid"))
    kept = [node for node in no_script.node if node.name != "train_attr/training_script"]
    del no_script.node[:]
    no_script.node.extend(kept)
    nested = graph_def(tf, model_path("tiny_hybrid"))     # member 1 renamed as DeePMD-kit names a hybrid's member 0
    for node in nested.node:
        node.name = node.name.replace("descrpt_attr_1/", "descrpt_attr_1_0/")
        node.input[:] = [i.replace("descrpt_attr_1/", "descrpt_attr_1_0/") for i in node.input]
    for gd, needle in ((atten, "hybrid member 1 is descriptor 'se_atten' (found ProdEnvMatAMix op)"),
                       (no_script, "axis_neuron of hybrid member 0 is read from the training script"),
                       (nested, "hybrid member 1 is itself a hybrid (descrpt_attr_1_0/t_avg); a hybrid inside a hybrid")):
        path = tmp_path / f"{needle[:12].replace(' ', '_')}.pb"
        path.write_bytes(gd.SerializeToString())
        with pytest.raises(ModelError) as err:
            extract_model(path)
        assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.skipif(not KERNEL_DEVICES, reason="no kernel device")
def test_md_with_skin_lists_and_ghost_centres_on_a_device():
    """Every member's list built with rcut_k + skin and kept while no atom moved > skin/2 gives the
    trajectory of rebuilding every step (hot, 2 fs steps: the skin fires); and with only the first
    atoms as centres (LAMMPS's ghosts) the device gives the reference's energies, forces and virials."""
    from dpsycl.md import MDSettings, initial_state, run, sample, schedule
    from dpsycl.structures import random_alloy
    dp = dpsycl.DeepPot(dpsycl.load_model(model_file("tiny_hybrid_pair")), device=KERNEL_DEVICES[0])
    atoms = random_alloy("Cu0.5Ag0.5", 32, seed=3)
    atype = np.asarray([dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()])
    ends = {}
    for skin in (0.3, 0.0):          # 0.3 Å: sel of the 3.5 Å member still holds every neighbour within 3.8 Å
        settings = MDSettings(dt=2.0, temperature=1500.0, every=1000, skin=skin, seed=1)
        init, step = schedule(dp, settings)
        state = run(step, init(initial_state(atoms.positions, atoms.cell.array, atype, dp.get_type_map(), 1500.0, 1)),
                    80, every=1000)
        ends[skin] = (sample(state), state.n_rebuilds)
    (with_skin, n_skin), (exact, n_exact) = ends[0.3], ends[0.0]
    assert n_exact == 81 and 2 <= n_skin < n_exact
    np.testing.assert_allclose(with_skin.unwrapped_positions(), exact.unwrapped_positions(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(with_skin.velocities, exact.velocities, rtol=0, atol=1e-11)
    host = dpsycl.DeepPot(dp.model, device="numpy")
    coords = atoms.positions
    ours = dp.evaluator.evaluate(coords, None, atype, ncentres=20)
    want = host.evaluator.evaluate(coords, None, atype, ncentres=20)
    assert abs(ours.energy - want.energy) <= 1e-10 * len(atype)
    assert np.abs(ours.force - want.force).max() <= 1e-10 and np.abs(ours.virial - want.virial).max() <= 1e-9
    assert np.abs(ours.atom_energy - want.atom_energy).max() <= 1e-10 and not ours.atom_energy[20:].any()
