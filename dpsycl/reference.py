"""The float64 NumPy evaluation of a model: the specification every device kernel matches.

neighbour lists → the descriptor unit's forward (D_i) → fitting (E_i, ∂E/∂D_i) → the unit's
backward (g_ij = ∂E/∂r_ij) → forces and virials.  The reference never imports the kernels it checks.
"""
from __future__ import annotations

import numpy as np

from .descriptors import unit_of
from .evaluation import FrameResult
from .fitting import atomic_energies
from .forces import forces_and_virial
from .model import Model
from .neighbors import build_neighbor_list, warn_sel_truncation


def evaluate_frame(model: Model, coords: np.ndarray, cell, atype: np.ndarray,
                   ncentres: int | None = None, fparam=None, aparam=None) -> FrameResult:
    """Energy, forces, virial (9,), atomic energies and atomic virials of one frame (float64).
    With ``ncentres`` only the first ncentres atoms are centres (DeePMD-kit's nloc; the others are
    ghosts): atomic energies of the others are zero, forces and virials fall on every atom.
    ``fparam`` (numb_fparam,) and ``aparam`` (natoms, numb_aparam) for models that take them."""
    d = model.descriptor
    unit = unit_of(d)
    natoms = len(coords)
    ncentres = natoms if ncentres is None else int(ncentres)
    specs = d.neighbor_specs()
    lists = [build_neighbor_list(coords, cell, atype, spec.rcut, spec.sel, warn=len(specs) == 1, ncentres=ncentres)
             for spec in specs]
    n_truncated = max(nl.n_truncated for nl in lists)
    if len(specs) > 1 and n_truncated:       # one warning for all lists, as the device evaluator gives
        warn_sel_truncation(n_truncated, [s for spec in specs for s in spec.sel])
    centre_types = np.asarray(atype)[:ncentres]
    D, saved = unit.reference.forward(d, centre_types, lists)
    fit = model.fitting
    if (fit.numb_fparam and fparam is None) or (fit.numb_aparam and aparam is None):
        raise ValueError(f"this model takes {fit.numb_fparam} frame and {fit.numb_aparam} atomic parameter(s)")
    centre_aparam = None if aparam is None else np.reshape(aparam, (natoms, -1))[:ncentres]
    centre_energies, dE_dD = atomic_energies(fit, centre_types, D, fparam, centre_aparam)
    ae = np.zeros(natoms)
    ae[:ncentres] = centre_energies
    force, virial, atom_virial = np.zeros((natoms, 3)), np.zeros(9), np.zeros((natoms, 9))
    for g, nl in zip(unit.reference.backward(d, centre_types, saved, dE_dD), lists):
        f, v, av = forces_and_virial(g, nl.nlist, nl.rij, natoms)
        force += f
        virial += v
        atom_virial += av
    return FrameResult(float(ae.sum()), force, virial, ae, atom_virial)


class ReferenceEvaluator:
    """The host reference as an evaluator (device string "numpy")."""

    name = "numpy"
    dtype = np.dtype(np.float64)

    def __init__(self, model: Model):
        self.model = model.astype(np.float64)

    def describe(self) -> str:
        return "numpy (float64 host reference)"

    def evaluate(self, coords, cell, atype, ncentres: int | None = None, fparam=None, aparam=None,
                 atomic: bool = True) -> FrameResult:
        """evaluate_frame; the atomic values are computed anyway, so ``atomic`` changes nothing here."""
        return evaluate_frame(self.model, coords, cell, atype, ncentres, fparam, aparam)
