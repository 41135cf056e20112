"""Units of dpsycl's MD, and the settings that define a run's dynamics, thermostat schedule included.

Units: Å, fs, eV, amu, K.  ``CONV = 1 eV/(Å·amu) = 9.64853321e-3 Å/fs²`` (``ase.units.fs**2``)
turns a force over a mass into an acceleration, a = CONV · F/m; ``KB`` is Boltzmann's constant in
eV/K; pressures are reported in bar (1 eV/Å³ = 1.602e6 bar).

Thermostat schedule: the step n → n+1 is integrated with ``MDSettings.thermostat_at(n)``,

    thermostat_at(n) = None (NVE)     if nvt_steps is not None and n ≥ nvt_steps
                     = 'csvr'         if ensemble == 'nve' and nvt_steps > 0
                     = ensemble       otherwise ('langevin' or 'csvr'; 'nve' gives None).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ase import units

#: 1 eV/(Å·amu) in Å/fs²: acceleration of 1 eV/Å on 1 amu
CONV = units.fs ** 2
KB = units.kB                      # eV/K
EV_PER_A3_IN_BAR = 1.0 / units.bar  # 1 eV/Å³ = 1.602e6 bar
ENSEMBLES = ("nve", "langevin", "csvr")
DEFAULT_FRICTION = 0.01             # 1/fs
DEFAULT_TAU = 100.0                 # fs
DEFAULT_SKIN = 1.0                  # Å
OBSERVABLE_UNITS = {"potential_energy": "eV", "kinetic_energy": "eV", "total_energy": "eV",
                    "temperature": "K", "pressure": "bar", "stress": "bar"}


class MDError(ValueError):
    """Bad MD input (settings, structure, species, potential); the message says what in one line."""


@dataclass
class MDSettings:
    """Everything that defines the dynamics (saved to and restored from the H5MD parameters)."""
    dt: float = 1.0                      # fs
    ensemble: str = "nve"                # nve | langevin | csvr
    temperature: float = 300.0           # K: thermostat target and initial velocities
    friction: float = DEFAULT_FRICTION   # 1/fs (Langevin)
    tau: float = DEFAULT_TAU             # fs (CSVR)
    nvt_steps: int | None = None         # thermostat for steps < nvt_steps, NVE after; None: whole run
    skin: float = DEFAULT_SKIN           # Å, Verlet skin (0: rebuild every step)
    every: int = 10                      # sampling period in steps (frames, observables, list rebuild)
    seed: int = 0

    def validate(self) -> MDSettings:
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise MDError(f"time step must be positive, got {self.dt} fs")
        if self.ensemble not in ENSEMBLES:
            raise MDError(f"unknown ensemble '{self.ensemble}'; choose one of {', '.join(ENSEMBLES)}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise MDError(f"temperature must be ≥ 0 K, got {self.temperature}")
        if self.thermostatted and self.temperature <= 0:
            raise MDError("a thermostat needs a positive target temperature")
        if not (math.isfinite(self.friction) and self.friction > 0):
            raise MDError(f"Langevin friction must be positive, got {self.friction} /fs")
        if not (math.isfinite(self.tau) and self.tau > 0):
            raise MDError(f"CSVR tau must be positive, got {self.tau} fs")
        if self.nvt_steps is not None and self.nvt_steps < 0:
            raise MDError(f"nvt_steps must be ≥ 0, got {self.nvt_steps}")
        if not (math.isfinite(self.skin) and self.skin >= 0):
            raise MDError(f"skin must be ≥ 0 Å, got {self.skin}")
        if int(self.every) < 1:
            raise MDError(f"sampling period must be ≥ 1 step, got {self.every}")
        if not (0 <= int(self.seed) < 2 ** 63):
            raise MDError(f"seed must be an integer in [0, 2**63), got {self.seed}")
        self.every = int(self.every)
        self.seed = int(self.seed)
        return self

    @property
    def thermostatted(self) -> bool:
        return self.ensemble != "nve" or bool(self.nvt_steps)

    def thermostat_at(self, step: int) -> str | None:
        """Thermostat of the step step → step+1: 'langevin', 'csvr' or None (NVE)."""
        if self.nvt_steps is not None and step >= self.nvt_steps:
            return None
        if self.ensemble == "nve":
            return "csvr" if self.nvt_steps else None
        return self.ensemble

    def describe(self) -> str:
        def thermostat(name):
            return f"Langevin γ={self.friction:g}/fs" if name == "langevin" else f"CSVR τ={self.tau:g} fs"
        first = self.thermostat_at(0)
        if first is None:
            return f"NVE, dt {self.dt:g} fs"
        if self.nvt_steps is None:
            return f"NVT {thermostat(first)} at {self.temperature:g} K, dt {self.dt:g} fs"
        return (f"NVT {thermostat(first)} at {self.temperature:g} K for {self.nvt_steps} steps, then NVE; "
                f"dt {self.dt:g} fs")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nvt_steps"] = -1 if self.nvt_steps is None else int(self.nvt_steps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MDSettings:
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for k in ("dt", "temperature", "friction", "tau", "skin"):
            if k in kw:
                kw[k] = float(kw[k])
        for k in ("every", "seed"):
            if k in kw:
                kw[k] = int(kw[k])
        if "ensemble" in kw:
            kw["ensemble"] = str(kw["ensemble"])
        if "nvt_steps" in kw:
            kw["nvt_steps"] = None if int(kw["nvt_steps"]) < 0 else int(kw["nvt_steps"])
        return cls(**kw)
