"""The error a user gets for input dpsycl cannot evaluate, and the wording of its one shared case.

A leaf module: the neighbour builders (host and device), the input checks and ``DeepPot`` raise the
same class with the same words.
"""
from __future__ import annotations

#: atoms closer than this (Å, periodic images included) are at one place
COINCIDENT = 1e-8


class InputError(ValueError):
    """Malformed or unusable evaluation input (one line); nothing is returned for it."""


def coincident_atoms(i: int, j: int, periodic: bool) -> str:
    """Two atoms at one place: r = 0 has no environment, so there is no answer to give."""
    i, j = min(i, j), max(i, j)
    return f"atoms {i} and {j} are at the same place{' (up to a lattice vector)' if periodic else ''}"
