"""Test structures shared by several test modules."""
from __future__ import annotations

import numpy as np


def fcc(n_cells: int, a: float = 3.9, seed: int = 0):
    """An fcc Cu–Ag crystal of 4·n_cells³ atoms, slightly displaced, in its cubic periodic cell:
    (coords, cell, species indices 0/1)."""
    rng = np.random.default_rng(seed)
    g = np.arange(n_cells)
    sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    coords = (sites[:, None, :] + basis[None]).reshape(-1, 3) * a + rng.normal(0, 0.05, (4 * len(sites), 3))
    return coords, np.eye(3) * a * n_cells, rng.integers(0, 2, len(coords))
