"""Errors of a model against labelled frames, as ``dp test`` reports them (DeePMD-kit 3.2).

For the frames of one system, with d = prediction − label of every element of a quantity:

    MAE = mean |d|,    RMSE = sqrt(mean d²),    weight = number of elements

taken over: the energies (``Energy``; one element per frame), the energies divided by the frame's
atom count N (``Energy .../Natoms``), every force component (``Force``; 3N per frame), every virial
component (``Virial``; 9 per frame), the virials divided by N (``Virial .../Natoms``), and the
stress σ = −W/V (``Stress``, eV/Å³; 9 per frame with a non-singular cell).  A quantity is reported
only when the system carries its label (DeePMD-kit's ``find_*``); virial and stress also need
periodic boundaries.  Over several systems (the "weighted average of errors"), MAEs average with
the weights and RMSEs average their squares with the weights, which equals the errors over all
elements of all systems.

Per-frame detail files (``-d PREFIX``), DeePMD-kit's layout: ``PREFIX.e.out`` (data_e pred_e),
``.e_peratom.out`` (the same / N), ``.f.out`` (one row per atom: data_fx..fz pred_fx..fz),
``.v.out`` (data_vxx..vzz pred_vxx..vzz), ``.v_peratom.out`` (the same / N) and ``.s.out``
(stresses, when the virial is reported); numbers in ``%.18e``, systems one after the other, the
header (``# <first system>: <column names>``) once at the top of each file.
"""
from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field

import numpy as np

#: (key, line) of every reported quantity, in DeePMD-kit's order; {} takes the value as "%e"
REPORT = (
    ("mae_e", "Energy MAE         : {} eV"),
    ("rmse_e", "Energy RMSE        : {} eV"),
    ("mae_ea", "Energy MAE/Natoms  : {} eV"),
    ("rmse_ea", "Energy RMSE/Natoms : {} eV"),
    ("mae_f", "Force  MAE         : {} eV/Å"),
    ("rmse_f", "Force  RMSE        : {} eV/Å"),
    ("mae_v", "Virial MAE         : {} eV"),
    ("rmse_v", "Virial RMSE        : {} eV"),
    ("mae_va", "Virial MAE/Natoms  : {} eV"),
    ("rmse_va", "Virial RMSE/Natoms : {} eV"),
    ("mae_s", "Stress MAE         : {} eV/Å³"),
    ("rmse_s", "Stress RMSE        : {} eV/Å³"),
)
#: quantity -> (mae key, rmse key)
QUANTITIES = {"energy": ("mae_e", "rmse_e"), "energy_per_atom": ("mae_ea", "rmse_ea"),
              "force": ("mae_f", "rmse_f"), "virial": ("mae_v", "rmse_v"),
              "virial_per_atom": ("mae_va", "rmse_va"), "stress": ("mae_s", "rmse_s")}

SYSTEM_HEAD = ("# ---------------output of dp test--------------- ", "# testing system : {}")
SYSTEM_FOOT = "# ----------------------------------------------- "
AVERAGE_HEAD = "# ----------weighted average of errors----------- "

_V_COLUMNS = "vxx vxy vxz vyx vyy vyz vzx vzy vzz".split()
DETAIL_COLUMNS = {
    ".e.out": "data_e pred_e",
    ".e_peratom.out": "data_e pred_e",
    ".f.out": "data_fx data_fy data_fz pred_fx pred_fy pred_fz",
    ".v.out": " ".join([f"data_{c}" for c in _V_COLUMNS] + [f"pred_{c}" for c in _V_COLUMNS]),
    ".v_peratom.out": " ".join([f"data_{c}" for c in _V_COLUMNS] + [f"pred_{c}" for c in _V_COLUMNS]),
    ".s.out": " ".join([f"data_{c.replace('v', 's', 1)}" for c in _V_COLUMNS]
                       + [f"pred_{c.replace('v', 's', 1)}" for c in _V_COLUMNS]),
}


@dataclass
class _Sums:
    abs_sum: float = 0.0
    sq_sum: float = 0.0
    count: float = 0.0

    def add(self, d: np.ndarray) -> None:
        self.abs_sum += float(np.sum(np.abs(d)))
        self.sq_sum += float(np.sum(d * d))
        self.count += d.size


@dataclass
class SystemErrors:
    """The errors of one system, accumulated batch by batch in frame order."""
    name: str
    labels: frozenset
    pbc: bool
    nframes: int = 0
    sums: dict = field(default_factory=dict)

    @property
    def reports_virial(self) -> bool:
        return "virial" in self.labels and self.pbc

    def _add(self, quantity: str, d: np.ndarray) -> None:
        self.sums.setdefault(quantity, _Sums()).add(d)

    def add(self, labels: dict, energy, force, virial, natoms: int, cells) -> dict:
        """Add a batch: labels (energy (nf,), force (nf, N, 3), virial (nf, 9)), predictions of the same
        shapes, the atom count N and the cells (nf, 3, 3) or None.  Returns the stresses (label,
        prediction) of the batch for the detail file, or None."""
        self.nframes += len(energy)
        if "energy" in self.labels:
            d = np.asarray(energy, dtype=np.float64) - labels["energy"]
            self._add("energy", d)
            self._add("energy_per_atom", d / natoms)
        if "force" in self.labels:
            self._add("force", np.asarray(force, dtype=np.float64) - labels["force"])
        if not self.reports_virial:
            return None
        d = np.asarray(virial, dtype=np.float64) - labels["virial"]
        self._add("virial", d)
        self._add("virial_per_atom", d / natoms)
        volume = np.abs(np.linalg.det(cells))
        ok = volume > 0.0
        self._add("stress", -d[ok] / volume[ok, None])
        return -labels["virial"] / volume[:, None], -np.asarray(virial) / volume[:, None]

    def errors(self) -> dict:
        """{key: (value, weight)} of every quantity with at least one element, DeePMD-kit's keys."""
        out = {}
        for quantity, s in self.sums.items():
            if s.count == 0:
                continue
            mae_key, rmse_key = QUANTITIES[quantity]
            out[mae_key] = (s.abs_sum / s.count, s.count)
            out[rmse_key] = (math.sqrt(s.sq_sum / s.count), s.count)
        return out


def merge_errors(per_system: list[dict]) -> dict:
    """Weighted average of {key: (value, weight)} over systems (MAE linear, RMSE in quadrature)."""
    total, weight = {}, {}
    for errors in per_system:
        for key, (value, w) in errors.items():
            total[key] = total.get(key, 0.0) + (value if key.startswith("mae") else value * value) * w
            weight[key] = weight.get(key, 0.0) + w
    return {key: ((t / weight[key]) if key.startswith("mae") else math.sqrt(t / weight[key]), weight[key])
            for key, t in total.items()}


def report_lines(errors: dict) -> list[str]:
    """The lines ``dp test`` logs for a set of errors, values as ``%e``."""
    return [line.format(f"{errors[key][0]:e}") for key, line in REPORT if key in errors]


def system_report(system: SystemErrors) -> list[str]:
    return [SYSTEM_HEAD[0], SYSTEM_HEAD[1].format(system.name),
            f"# number of test data : {system.nframes:d} ", *report_lines(system.errors()), SYSTEM_FOOT]


def average_report(systems: list[SystemErrors]) -> list[str]:
    merged = merge_errors([s.errors() for s in systems])
    return [AVERAGE_HEAD, f"# number of systems : {len(systems)}", *report_lines(merged), SYSTEM_FOOT]


class DetailFiles:
    """``PREFIX.e.out`` and its siblings, written batch by batch; the first write of each file
    starts it with its header, later ones append (DeePMD-kit writes one header per file)."""

    def __init__(self, prefix):
        self.prefix = pathlib.Path(prefix)
        if not self.prefix.name:
            raise ValueError(f"detail-file prefix {prefix!r} names a directory, not a file prefix")
        if not self.prefix.parent.is_dir():
            raise FileNotFoundError(f"directory of the detail files does not exist: {self.prefix.parent}")
        self.started: set[str] = set()

    def path(self, suffix: str) -> pathlib.Path:
        return self.prefix.with_suffix(suffix)   # as DeePMD-kit: "out.test" -> "out.e.out"

    def _save(self, suffix: str, system: str, data: np.ndarray) -> None:
        path = self.path(suffix)
        first = suffix not in self.started
        header = f"{system}{' (eV/Å³)' if suffix == '.s.out' else ''}: {DETAIL_COLUMNS[suffix]}"
        with open(path, "w" if first else "a", encoding="utf-8") as fh:
            np.savetxt(fh, data, header=header if first else "")
        self.started.add(suffix)

    def write(self, system: str, natoms: int, labels: dict, energy, force, virial, stresses) -> None:
        """One batch of a system; labels that the system lacks are written as zeros (as DeePMD-kit)."""
        nf = len(energy)
        data_e = labels.get("energy", np.zeros(nf))
        pe = np.column_stack([np.reshape(data_e, -1), np.reshape(energy, -1)])
        self._save(".e.out", system, pe)
        self._save(".e_peratom.out", system, pe / natoms)
        data_f = labels.get("force", np.zeros_like(force))
        self._save(".f.out", system, np.concatenate([np.reshape(data_f, (-1, 3)), np.reshape(force, (-1, 3))], axis=1))
        data_v = labels.get("virial", np.zeros((nf, 9)))
        pv = np.concatenate([np.reshape(data_v, (-1, 9)), np.reshape(virial, (-1, 9))], axis=1)
        self._save(".v.out", system, pv)
        self._save(".v_peratom.out", system, pv / natoms)
        if stresses is not None:
            self._save(".s.out", system, np.concatenate([stresses[0], stresses[1]], axis=1))
