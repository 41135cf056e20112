"""ASE calculator: a DeePMD-kit model evaluated by dpsycl on any device.

    from dpsycl.ase import DPSyclCalculator
    atoms.calc = DPSyclCalculator("frozen_model.pb", device="opencl:cpu")
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

Properties: energy = free_energy (eV), forces (eV/Å), energies (per atom, eV), stress (eV/Å³,
Voigt 6, ASE's sign: stress = −virial/V, symmetrised, i.e. positive under tension).  Species are
mapped by chemical symbol onto the model's type_map.  Cells count as periodic only when all three
directions are periodic (DeePMD-kit has no mixed boundaries); without a cell there is no stress.
"""
from __future__ import annotations

import threading

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .structures import atoms_to_arrays


class DPSyclCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress"]
    nolabel = True

    def __init__(self, model, device="auto", precision: str | None = None, fparam=None, aparam=None, **kwargs):
        """``model``: a dpsycl.Model, a path (.pb or .h5) or a ready dpsycl.DeepPot.  ``fparam``
        (numb_fparam,) and ``aparam`` (natoms, numb_aparam) or (numb_aparam,) for models trained
        with frame/atomic parameters; ``atoms.info["fparam"]`` and ``atoms.arrays["aparam"]``, where
        present, take precedence for that structure."""
        super().__init__(**kwargs)
        self.fparam, self.aparam = fparam, aparam
        from .deep_pot import DeepPot
        self.dp = model if isinstance(model, DeepPot) else DeepPot(model, device=device, precision=precision)
        self.type_map = self.dp.get_type_map()
        # ASE keeps one structure and one set of results per calculator: a thread's calculate()
        # and its read of the results must not interleave with another thread's
        self._lock = threading.RLock()

    def get_property(self, name, atoms=None, allow_calculation=True):
        with self._lock:
            return super().get_property(name, atoms, allow_calculation)

    @property
    def device(self) -> str:
        return self.dp.device

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        coords, cell, atype = atoms_to_arrays(atoms, self.type_map)
        periodic = cell is not None
        fparam = atoms.info.get("fparam", self.fparam)
        aparam = atoms.arrays.get("aparam", self.aparam)
        # per-atom energies only when asked for: without them the device copies back the forces and the
        # totals alone (DeepPot.eval's atomic=False)
        atomic = "energies" in properties
        e, f, v, *per_atom = self.dp.eval(coords.reshape(1, -1), None if cell is None else cell.reshape(1, 9), atype,
                                          atomic=atomic, fparam=fparam, aparam=aparam)
        energy = float(e[0, 0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = np.asarray(f[0], dtype=np.float64).reshape(-1, 3)
        if atomic:
            self.results["energies"] = np.asarray(per_atom[0][0], dtype=np.float64).reshape(-1)
        if periodic:
            w = np.asarray(v[0], dtype=np.float64).reshape(3, 3)
            stress = -0.5 * (w + w.T) / atoms.get_volume()
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a periodic cell")
