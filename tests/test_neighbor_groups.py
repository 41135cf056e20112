"""Neighbour rows and sorted reverse rows built by work-groups (device_kernels/neighbors_group.py, the
GPUs' default) against those of one work-item per centre (neighbors.neighbor_row, sort_reverse_row) and against the NumPy reference's
energies, forces and virials, on every device that runs work-group kernels: each reference case of
a model with several neighbour lists and one of a plain model, an image of the centre itself in a
small box, sel truncation, a centre with more atoms within rc than its whole row holds (lane 0 then
runs neighbor_row itself) and two atoms at one place."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dpsycl
from dpsycl.errors import InputError
from dpsycl.evaluator import position_bounds
from dpsycl.neighbors import SelTruncationWarning, perpendicular_widths
from conftest import CASES, TOL, reference_case

DEVICES = [d for d in dpsycl.devices() if d != "numpy"]


_POTS: dict = {}


def group_device_pot(models, name, device):
    """One DeepPot per model and device for the whole module (its kernels compile once)."""
    if (name, device) not in _POTS:
        _POTS[name, device] = dpsycl.DeepPot(models[name], device=device)
    dp = _POTS[name, device]
    if not dp.evaluator.backend.supports_groups:
        pytest.skip(f"{device} runs no work-group kernels here")
    return dp


#: every reference case for the plain model; for the hybrid (two lists) the periodic images of a
#: small box and sel truncation
CASES_OF = {"cuag": CASES, "tiny_hybrid": ("small_box", "dense")}


def counts_within(coords, cell, atype, rc: float, ntypes: int) -> np.ndarray:
    """(N, ntypes): atoms of each species within rc of each atom, periodic images (an atom's own
    included) counted one by one: brute force over every image within reach, independent of the
    cell lists."""
    x = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    shifts = np.zeros((1, 3))
    if cell is not None:
        frac = x @ np.linalg.inv(cell)
        x = (frac - np.floor(frac)) @ cell         # into the cell: every neighbour within the images below
        reach = np.ceil(rc / perpendicular_widths(cell)).astype(int)
        grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in reach], indexing="ij"), -1).reshape(-1, 3)
        shifts = grid @ cell
    counts = np.zeros((len(x), ntypes), dtype=np.int64)
    for i in range(len(x)):
        r = np.linalg.norm(x[None, :, :] + shifts[:, None, :] - x[i], axis=2)     # (images, N)
        within = r < rc
        within[np.all(shifts == 0, axis=1), i] = False
        for t in range(ntypes):
            counts[i, t] = within[:, atype == t].sum()
    return counts


def rows(ev, coords, cell, atype, by_groups: bool):
    """(nlist, nshift, type counts, truncated rows, longest row, reverse rows) of every list, built
    one way."""
    ev.neighbor_groups = by_groups
    b = ev.backend
    pos = b.asarray(np.asarray(coords, dtype=np.float64).ravel(), ev.dtype)
    if cell is not None:
        ev.wrap(pos, cell, ev.workspace.buffer("image", len(coords) * 3, np.int64))
    bounds = None if cell is not None else position_bounds(np.asarray(coords, dtype=np.float64).reshape(-1, 3))
    nb = ev.build_neighbors(pos, b.asarray(atype, np.int64), cell, bounds=bounds, warn=False)
    out = []
    for k, lst in enumerate(nb.lists):
        count = np.minimum(b.to_host(lst.rev_count), lst.rev_cap)
        rev = b.to_host(lst.rev)[:len(atype) * lst.rev_cap].reshape(len(atype), lst.rev_cap)
        reverse = [tuple(rev[k, :count[k]]) for k in range(len(atype))]
        type_count = ev.workspace.buffer(f"type_count:{k}", len(atype) * len(lst.spec.sel), np.int64)
        out.append((b.to_host(lst.nlist).copy(), b.to_host(lst.nshift).copy(), b.to_host(type_count).copy(),
                    lst.n_truncated, lst.max_candidates, reverse))
    return out


def assert_same_rows(ev, coords, cell, atype):
    """Rows by work-groups equal rows by work-items; the counts of both (per species, rows cut at
    sel, the longest row) equal a brute-force count."""
    by_item = rows(ev, coords, cell, atype, False)
    by_group = rows(ev, coords, cell, atype, True)
    assert ev.rows_by_groups(len(atype))
    for spec, item, group in zip(ev.specs, by_item, by_group):
        (nl_a, ns_a, tc_a, tr_a, long_a, rev_a), (nl_b, ns_b, tc_b, tr_b, long_b, rev_b) = item, group
        assert rev_b == rev_a                                   # reverse rows sorted the same
        assert all(list(r) == sorted(r) for r in rev_b)
        np.testing.assert_array_equal(nl_b, nl_a)
        np.testing.assert_array_equal(ns_b, ns_a)
        want = counts_within(coords, cell, np.asarray(atype), spec.rcut, len(spec.sel))
        np.testing.assert_array_equal(tc_a.reshape(want.shape), want)
        np.testing.assert_array_equal(tc_b, tc_a)
        assert tr_a == tr_b == int(np.any(want > np.asarray(spec.sel), axis=1).sum())
        assert long_a == long_b == int(want.sum(axis=1).max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["cuag", "tiny_hybrid"])
def test_group_rows_equal_item_rows_and_match_the_reference(models, references, name, device):
    dp = group_device_pot(models, name, device)
    host = dpsycl.DeepPot(models[name], device="numpy")
    tol = TOL[dp.model.precision]
    for case in CASES_OF[name]:
        coords, cells, atype, _ = reference_case(references[name], case)
        cell = None if cells is None else cells[0].reshape(3, 3)
        assert_same_rows(dp.evaluator, coords[0].reshape(-1, 3), cell, atype)
        dp.evaluator.neighbor_groups = True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = dp.eval(coords[:1], None if cells is None else cells[:1], atype)
            want = host.eval(coords[:1], None if cells is None else cells[:1], atype)
        truncations = [w for w in caught if issubclass(w.category, SelTruncationWarning)]
        # the dense case overfills sel: the device and the reference both say so, once each
        assert len(truncations) == (2 if case == "dense" else 0), (case, [str(w.message) for w in caught])
        n = len(atype)
        assert np.abs(got[0] - want[0]).max() / n <= tol["energy"], case
        assert np.abs(got[1] - want[1]).max() <= tol["force"], case
        assert np.abs(got[2] - want[2]).max() / n <= tol["virial"], case


@pytest.mark.parametrize("device", DEVICES)
def test_a_centre_with_more_atoms_within_rc_than_its_row_falls_back(models, device):
    """A dense clump: some centre has more atoms within rc than Σ sel (its local list would
    overflow), so lane 0 builds that row with neighbor_row; the rows still equal the per-centre
    kernel's, and the count of atoms within rc says the fallback was needed."""
    dp = group_device_pot(models, "cuag", device)
    ev = dp.evaluator
    rng = np.random.default_rng(3)
    nnei = int(sum(ev.specs[0].sel))
    # fcc squeezed to a = 2 Å (nearest neighbours 1.41 Å apart), 6³ cells in a 40 Å box
    g = np.arange(6)
    sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    coords = ((sites[:, None, :] + basis[None]).reshape(-1, 3) * 2.0 + 14.0 + rng.normal(0, 0.02, (864, 3)))
    atype = rng.integers(0, 2, len(coords))
    within = (np.linalg.norm(coords[:, None] - coords[None], axis=2) < dp.get_rcut()).sum(axis=1) - 1
    assert within.max() > nnei > within.min(), (within.max(), nnei)
    assert_same_rows(ev, coords, 40.0 * np.eye(3), atype)


@pytest.mark.parametrize("device", DEVICES)
def test_group_rows_find_atoms_at_one_place(models, device):
    dp = group_device_pot(models, "cuag", device)
    dp.evaluator.neighbor_groups = True
    coords = np.array([[1.0, 1.0, 1.0], [3.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    with pytest.raises(InputError, match="atoms 0 and 2 are at the same place"):
        dp.eval(coords.reshape(1, -1), (12.0 * np.eye(3)).reshape(1, 9), np.array([0, 1, 0]))


@pytest.mark.parametrize("device", DEVICES)
def test_int64_index_rows_equal_the_int32_ones(models, references, device, monkeypatch):
    """Beyond 2³¹ slots (12 M atoms at cuag's 180) the rows and reverse rows are int64
    (device_neighbors.slot_index_dtype); that path, forced here on a small case, builds the same lists and
    the same energies and forces as the int32 one every smaller system takes."""
    from dpsycl import device_neighbors
    dp = group_device_pot(models, "cuag", device)
    coords, cells, atype, _ = reference_case(references["cuag"], "bulk")
    cell = cells[0].reshape(3, 3)
    narrow = rows(dp.evaluator, coords[0].reshape(-1, 3), cell, atype, True)
    got32 = dp.eval(coords[:1], cells[:1], atype)
    monkeypatch.setattr(device_neighbors, "slot_index_dtype", lambda natoms, ncentres, nnei: np.int64)
    wide = rows(dp.evaluator, coords[0].reshape(-1, 3), cell, atype, True)
    got64 = dp.eval(coords[:1], cells[:1], atype)
    for (nl_a, ns_a, _, _, _, rev_a), (nl_b, ns_b, _, _, _, rev_b) in zip(narrow, wide):
        assert nl_a.dtype == np.int32 and nl_b.dtype == np.int64
        np.testing.assert_array_equal(nl_b, nl_a)
        np.testing.assert_array_equal(ns_b, ns_a)
        assert rev_b == rev_a
    for a, b in zip(got32, got64):
        np.testing.assert_array_equal(a, b)
