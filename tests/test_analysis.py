"""dpsycl.analysis: partial RDFs (both pair searches) against a brute-force minimum-image count, MSD."""
from __future__ import annotations

import numpy as np
import pytest

from dpsycl import analysis


def _brute_rdf(x, cell, species, type_map, rmax, nbins):
    """Every ordered pair under the minimum image (fine for a cell longer than 2·rmax)."""
    inv = np.linalg.inv(cell)
    edges = np.linspace(0, rmax, nbins + 1)
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    vol = abs(np.linalg.det(cell))
    d = x[None, :, :] - x[:, None, :]
    frac = d @ inv
    d = (frac - np.round(frac)) @ cell
    r = np.linalg.norm(d, axis=2)
    n = np.bincount(species, minlength=len(type_map))
    out = {}
    for a, b in analysis.pair_labels(type_map):
        m = (species[:, None] == a) & (species[None, :] == b) & (r > 0)
        nb = n[b] - (1 if a == b else 0)
        out[f"{type_map[a]}-{type_map[b]}"] = np.histogram(r[m], bins=edges)[0] / (n[a] * nb / vol * shell)
    return out


@pytest.mark.parametrize("shear", [0.0, 0.4], ids=["orthorhombic (k-d tree)", "triclinic (ASE list)"])
def test_partial_rdfs_match_brute_force(shear):
    rng = np.random.default_rng(7)
    cell = np.diag([13.0, 14.0, 15.0])
    cell[1, 0] = shear * 13.0
    x = rng.random((300, 3)) @ cell
    species = rng.integers(0, 2, 300)
    rmax = 5.0 if shear else 6.0      # the sheared cell's minimum image holds to a shorter range
    r, g = analysis.partial_rdfs(x[None], cell, species, ["Cu", "Ag"], rmax=rmax, nbins=50)
    ref = _brute_rdf(x, cell, species, ["Cu", "Ag"], rmax, 50)
    assert set(g) == {"Cu-Cu", "Cu-Ag", "Ag-Ag"}
    for k in g:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-12, atol=1e-12)
    # an ideal gas: g → 1 (the Poisson noise of 300 atoms × 50 bins allows ±30% per bin)
    tail = slice(25, None)
    assert abs(np.mean(g["Cu-Ag"][tail]) - 1) < 0.1


def test_msd_and_diffusion_of_a_straight_walk():
    t = np.arange(0, 100.0, 10.0)                          # fs
    x = np.zeros((len(t), 4, 3))
    x[:, :, 0] = 0.01 * t[:, None]                          # 0.01 Å/fs ballistic
    m, d = analysis.msd(x, t)
    np.testing.assert_allclose(m, (0.01 * t) ** 2)
    assert np.isfinite(d) and d > 0
