"""Deferred neighbour builds (dpsycl/device_neighbors.py): inside ``DeepPot.eval`` a frame of a size
evaluated before is built without a status read, in the rooms of that earlier build, and its status
is read after the results.  Against the NumPy reference (DeePMD-kit's equations in float64), on
every device (CI: opencl:cpu): a frame that fits those rooms (and gives the same numbers as when it
was built settled), a denser frame of the same size whose rows outgrow the reverse rows' room, a frame
with atoms crowded into one cell beyond its room (and rows cut at sel: the warning fires once), and
two atoms at one place in a deferred frame."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dpsycl
from dpsycl.errors import InputError
from dpsycl.neighbors import SelTruncationWarning
from conftest import TOL

DEVICES = [d for d in dpsycl.devices() if d != "numpy"]


def fcc(a: float, rng, n: int = 4):
    """n³ fcc cells of lattice constant a (4n³ atoms, 0.05 Å noise), its cell, half Cu half Ag."""
    g = np.arange(n)
    sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    coords = (sites[:, None, :] + basis[None]).reshape(-1, 3) * a + rng.normal(0, 0.05, (4 * n ** 3, 3))
    atype = np.zeros(len(coords), dtype=np.int64)
    atype[rng.permutation(len(coords))[:len(coords) // 2]] = 1
    return coords, n * a * np.eye(3), atype


def evaluate(dp, host, coords, cell, atype, tol):
    """dp's and the reference's (e, f, v) of one frame; asserts they agree; returns dp's."""
    got = dp.eval(coords[None], cell.reshape(1, 9), atype)
    want = host.eval(coords[None], cell.reshape(1, 9), atype)
    n = len(atype)
    assert np.abs(got[0] - want[0]).max() / n <= tol["energy"]
    assert np.abs(got[1] - want[1]).max() <= tol["force"]
    assert np.abs(got[2] - want[2]).max() / n <= tol["virial"]
    return got


@pytest.mark.parametrize("device", DEVICES)
def test_deferred_frames_match_the_reference_and_overflows_are_built_again(models, device):
    dp = dpsycl.DeepPot(models["cuag"], device=device)
    host = dpsycl.DeepPot(models["cuag"], device="numpy")
    tol = TOL[dp.model.precision]
    builder = dp.evaluator.neighbor_builder
    rng = np.random.default_rng(7)
    coords, cell, atype = fcc(3.85, rng)        # 256 atoms in 15.4 Å: 2³ cells of the cell list
    first = evaluate(dp, host, coords, cell, atype, tol)          # settled: gives the rooms
    again = evaluate(dp, host, coords, cell, atype, tol)          # deferred, and fits them
    assert builder.overflows == 0
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)

    # the same atoms squeezed to a = 3.4 Å (still 2³ cells): ≈ 90 atoms within rc where the rooms
    # were set by ≈ 63, so the deferred reverse rows overflow and the frame is built again
    dense, dense_cell, _ = fcc(3.4, rng)
    evaluate(dp, host, dense, dense_cell, atype, tol)
    assert builder.overflows == 1
    assert dp.evaluator.neighbor_builder.can_defer(len(atype), None, dense_cell, None)

    # 100 Cu atoms moved onto a 1.5 Å grid inside one cell of the cell list: that cell overflows its
    # room (2 × the mean + 8 = 72) and their rows hold more Cu than sel (90), which is said once
    crowded = coords.copy()
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(5), np.arange(4), indexing="ij"), -1).reshape(-1, 3)
    # (with noise: on an exact grid, distances that tie at the sel cut round either way)
    crowded[np.flatnonzero(atype == 0)[:100]] = 0.4 + 1.5 * grid + rng.normal(0, 0.02, (100, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = dp.eval(crowded[None], cell.reshape(1, 9), atype)
        want = host.eval(crowded[None], cell.reshape(1, 9), atype)
    truncations = [w for w in caught if issubclass(w.category, SelTruncationWarning)]
    assert len(truncations) == 2, [str(w.message) for w in caught]    # the device's and the reference's
    assert builder.overflows == 2
    assert np.abs(got[1] - want[1]).max() <= tol["force"]
    assert np.abs(got[0] - want[0]).max() / len(atype) <= tol["energy"]

    # two atoms at one place in a deferred frame: the error, not a number
    same = coords.copy()
    same[5] = same[17]
    with pytest.raises(InputError, match="atoms 5 and 17 are at the same place"):
        dp.eval(same[None], cell.reshape(1, 9), atype)
