"""Units of dpsycl's MD, and the settings that define a run's dynamics, thermostat schedule included.

Units: Å, fs, eV, amu, K.  ``CONV = 1 eV/(Å·amu) = 9.64853321e-3 Å/fs²`` (``ase.units.fs**2``)
turns a force over a mass into an acceleration, a = CONV · F/m; ``KB`` is Boltzmann's constant in
eV/K; pressures are reported in bar (1 eV/Å³ = 1.602e6 bar).

Thermostat schedule: the step n → n+1 is integrated with ``MDSettings.thermostat_at(n)``,

    thermostat_at(n) = None (NVE)     if nvt_steps is not None and n ≥ nvt_steps
                     = 'csvr'         if ensemble == 'nve' and nvt_steps > 0
                     = ensemble       otherwise ('langevin' or 'csvr'; 'nve' gives None).

Watchdog bounds (dpsycl/md/watchdog.py checks them; ``inf`` switches one off):

    max_temperature   K, any sampled frame; None: max(MIN_TEMPERATURE_BOUND, 10 × temperature)
    max_drift         meV/atom/ps, NVE phases: |E − E_ref|/N may not exceed
                      max_drift × max(t − t_ref, DRIFT_WINDOW), E_ref the phase's first frame
    max_displacement  Å in one step; None: the skin (DEFAULT_SKIN without a skin)
    strict            sel truncation within rcut stops the run instead of warning

They guard a run and do not change its dynamics, so a restart may change them.
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
DEFAULT_MAX_DRIFT = 100.0           # meV/atom/ps: ~100× what a sound fp32 NVE run drifts
DRIFT_WINDOW = 1.0                  # ps: shorter spans are judged as 1 ps (energy oscillates at O(dt²))
MIN_TEMPERATURE_BOUND = 10_000.0    # K: the automatic max_temperature is at least this
TEMPERATURE_BOUND_FACTOR = 10.0     # ... and at least this × the run's temperature
WATCHDOG_FIELDS = ("max_temperature", "max_drift", "max_displacement", "strict")
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
    max_temperature: float | None = None  # K; None: automatic (see the module docstring)
    max_drift: float = DEFAULT_MAX_DRIFT  # meV/atom/ps over NVE phases
    max_displacement: float | None = None  # Å per step; None: the skin
    strict: bool = False                 # sel truncation within rcut is an error

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
        for name, unit in (("max_temperature", "K"), ("max_drift", "meV/atom/ps"), ("max_displacement", "Å")):
            value = getattr(self, name)
            if value is not None and not (value > 0):     # NaN fails too; inf switches the check off
                raise MDError(f"{name} must be positive (inf switches the check off), got {value} {unit}")
        self.every = int(self.every)
        self.seed = int(self.seed)
        self.strict = bool(self.strict)
        return self

    def temperature_bound(self) -> float:
        """The temperature (K) above which the watchdog stops the run."""
        if self.max_temperature is not None:
            return float(self.max_temperature)
        return max(MIN_TEMPERATURE_BOUND, TEMPERATURE_BOUND_FACTOR * self.temperature)

    def displacement_bound(self) -> float:
        """The largest move (Å) of an atom in one step before the watchdog stops the run."""
        if self.max_displacement is not None:
            return float(self.max_displacement)
        return self.skin if self.skin > 0 else DEFAULT_SKIN

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
        for k in ("max_temperature", "max_displacement"):      # HDF5 attributes hold no None
            d[k] = -1.0 if d[k] is None else float(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MDSettings:
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for k in ("dt", "temperature", "friction", "tau", "skin", "max_drift"):
            if k in kw:
                kw[k] = float(kw[k])
        for k in ("every", "seed"):
            if k in kw:
                kw[k] = int(kw[k])
        if "ensemble" in kw:
            kw["ensemble"] = str(kw["ensemble"])
        if "nvt_steps" in kw:
            kw["nvt_steps"] = None if int(kw["nvt_steps"]) < 0 else int(kw["nvt_steps"])
        for k in ("max_temperature", "max_displacement"):
            if k in kw:
                kw[k] = None if float(kw[k]) < 0 else float(kw[k])
        if "strict" in kw:
            kw["strict"] = bool(kw["strict"])
        return cls(**kw)
