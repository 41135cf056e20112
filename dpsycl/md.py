"""Molecular dynamics on the device: velocity Verlet, Langevin BAOAB and CSVR, Verlet-skin lists.

    md = MolecularDynamics(DeepPot(model, device), initial_state(...), MDSettings(dt=1.0, ...))
    md.run(until_step=1000, on_frame=writer.write)

Units: Å, fs, eV, amu, K.  ``inv_mass`` on the device holds ``CONV / m`` with
``CONV = 1 eV/(Å·amu) = 9.64853321e-3 Å/fs²`` (``ase.units.fs**2``), so a kick is ``v += dt·F·inv_mass``.

What lives where.  Positions, velocities, forces, image counts and the neighbour list stay on the
device for the whole run.  Per step the host reads only a handful of numbers (the per-chunk
maxima of the Verlet-skin check, and for CSVR the per-chunk kinetic energies); full arrays come
back only at sampled steps (every ``settings.every`` steps), where a :class:`Frame` — positions,
velocities, forces, images, box and the observables — is built.

Determinism and restarts.  Every source of randomness is keyed by (seed, step): the Langevin
O step uses the counter-based hash in device_kernels/integrators.py, CSVR draws from a host
``numpy.random.Generator`` seeded with ``(seed, step)``, and initial velocities from ``seed``.
The neighbour list is rebuilt — positions wrapped into the cell, list built from the wrapped
positions — at every sampled step, whether or not the skin asks for it.  The state saved at a
sampled step (wrapped positions, velocities, images, step) therefore determines everything that
follows: a run restarted from a saved frame rebuilds the very same list and reproduces the
uninterrupted run bit for bit on the same device.

Integrators (one step n → n+1, ``thermostat_at(n)`` picks the thermostat of that step):

* ``nve``: velocity Verlet  B(dt/2) A(dt) [forces] B(dt/2).
* ``langevin``: BAOAB  B(dt/2) A(dt/2) O(dt) A(dt/2) [forces] B(dt/2), O exact:
  v ← c₁v + √((1−c₁²)kT/m) ξ, c₁ = exp(−γ dt).  Default friction γ = 0.01 fs⁻¹ (velocity
  relaxation time 100 fs): strong enough to thermalise a few hundred atoms in a few ps, weak
  enough to leave vibrational dynamics (periods ~100–300 fs in Cu/Ag) mostly intact.
* ``csvr``: stochastic velocity rescaling (Bussi, Donadio & Parrinello, J. Chem. Phys. 126,
  014101 (2007)): after each velocity-Verlet step the kinetic energy K is replaced by a draw from
  the exact CSVR propagator over dt with relaxation time τ (default 100 fs) and the velocities are
  scaled by √(K'/K).  Total momentum is conserved.

``nvt_steps`` switches a thermostatted run to NVE from that step on (``ensemble='nve'`` with
``nvt_steps`` thermostats the first steps with CSVR).  When a Langevin phase ends, the total
momentum the noise has given the system is removed once, so the NVE phase does not drift.

Temperatures use ndof = 3N − 3 (momentum is conserved and zero) except in a Langevin phase, which
thermalises all 3N degrees of freedom.  Pressure and stress include the kinetic term:
P_ab = (Σ m v_a v_b + W_ab) / V with W the DeePMD-kit virial; ``stress`` is −P (ASE's sign:
negative under compression), both in bar.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
from ase import units
from ase.data import atomic_masses, atomic_numbers

#: 1 eV/(Å·amu) in Å/fs²: acceleration of 1 eV/Å on 1 amu
CONV = units.fs ** 2
KB = units.kB                      # eV/K
EV_PER_A3_IN_BAR = 1.0 / units.bar  # 1 eV/Å³ = 1.602e6 bar
ENSEMBLES = ("nve", "langevin", "csvr")
CHUNK = 64                          # atoms per work-item of the reduction bodies
DEFAULT_FRICTION = 0.01             # 1/fs
DEFAULT_TAU = 100.0                 # fs
DEFAULT_SKIN = 1.0                  # Å
OBSERVABLE_UNITS = {"potential_energy": "eV", "kinetic_energy": "eV", "total_energy": "eV",
                    "temperature": "K", "pressure": "bar", "stress": "bar"}


class MDError(ValueError):
    """Bad MD input (settings, structure, species); the message says what in one line."""


# ---------------------------------------------------------------------------------------------
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

    def validate(self) -> "MDSettings":
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
        def th(name):
            return (f"Langevin γ={self.friction:g}/fs" if name == "langevin" else f"CSVR τ={self.tau:g} fs")
        first = self.thermostat_at(0)
        if first is None:
            return f"NVE, dt {self.dt:g} fs"
        if self.nvt_steps is None:
            return f"NVT {th(first)} at {self.temperature:g} K, dt {self.dt:g} fs"
        return f"NVT {th(first)} at {self.temperature:g} K for {self.nvt_steps} steps, then NVE; dt {self.dt:g} fs"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nvt_steps"] = -1 if self.nvt_steps is None else int(self.nvt_steps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MDSettings":
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


@dataclass
class MDState:
    """The dynamical state; device arrays while a simulation runs, NumPy arrays on the host.

    This is what the H5MD writer saves at every sampled step and what ``--restart`` reads back.
    ``positions`` are the positions wrapped into the cell at the last neighbour-list build (they
    may have left the cell since); ``positions + image @ cell`` are the unwrapped ones.
    """
    positions: Any                       # (3N,) Å, model dtype
    velocities: Any                      # (3N,) Å/fs, model dtype
    forces: Any                          # (3N,) eV/Å (None until computed)
    image: Any                           # (3N,) int64 periodic image counts
    atype: np.ndarray                    # (N,) species index into type_map (host)
    type_map: list[str]
    cell: np.ndarray | None              # (3, 3) box vectors as rows; None: open boundaries
    step: int = 0
    time: float = 0.0                    # fs (= step · dt)
    seed: int = 0
    exact_neighbors_from: int | None = None  # step from which the skin was switched off (sel overflow)

    @property
    def natoms(self) -> int:
        return int(len(self.atype))

    @property
    def pbc(self) -> bool:
        return self.cell is not None

    def masses(self) -> np.ndarray:
        return masses_for(self.type_map)[self.atype]


@dataclass
class Frame:
    """One sampled step on the host: what the H5MD writer stores."""
    step: int
    time: float
    positions: np.ndarray                # (N, 3), model dtype (wrapped at the last list build)
    velocities: np.ndarray               # (N, 3)
    forces: np.ndarray                   # (N, 3) eV/Å
    image: np.ndarray                    # (N, 3) int64
    species: np.ndarray                  # (N,) int
    cell: np.ndarray | None              # (3, 3)
    observables: dict = field(default_factory=dict)
    exact_neighbors_from: int | None = None

    def unwrapped_positions(self) -> np.ndarray:
        if self.cell is None:
            return np.asarray(self.positions, dtype=np.float64)
        return np.asarray(self.positions, dtype=np.float64) + self.image @ self.cell


# ---------------------------------------------------------------------------------------------
def masses_for(type_map) -> np.ndarray:
    """Atomic masses (amu) of the species of a type_map, from ase.data."""
    out = []
    for sym in type_map:
        if sym not in atomic_numbers:
            raise MDError(f"species '{sym}' of the model's type_map is not a chemical element; "
                          "MD needs its mass")
        out.append(atomic_masses[atomic_numbers[sym]])
    return np.asarray(out, dtype=np.float64)


def ndof_for(natoms: int, langevin: bool) -> int:
    return max(1, 3 * natoms if langevin else 3 * natoms - 3)


def maxwell_boltzmann(masses: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """(N, 3) velocities in Å/fs: Maxwell–Boltzmann at ``temperature``, zero total momentum,
    rescaled so the instantaneous temperature (ndof 3N − 3) is exactly ``temperature``."""
    masses = np.asarray(masses, dtype=np.float64)
    n = len(masses)
    v = np.zeros((n, 3))
    if temperature <= 0 or n == 0:
        return v
    rng = np.random.default_rng([int(seed), 0x4D42])  # "MB"
    v = rng.standard_normal((n, 3)) * np.sqrt(KB * temperature * CONV / masses)[:, None]
    if n > 1:
        v -= (masses[:, None] * v).sum(axis=0) / masses.sum()
    ke = 0.5 * np.sum(masses[:, None] * v * v) / CONV
    target = 0.5 * ndof_for(n, False) * KB * temperature
    if ke > 0:
        v *= math.sqrt(target / ke)
    return v


def initial_state(positions, cell, atype, type_map, temperature: float = 300.0, seed: int = 0) -> MDState:
    """A host MDState at step 0 with Maxwell–Boltzmann velocities."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    atype = np.asarray(atype, dtype=np.int64).ravel()
    if len(atype) != len(positions):
        raise MDError(f"{len(positions)} positions but {len(atype)} species")
    if len(atype) == 0:
        raise MDError("the structure has no atoms")
    if np.any(atype < 0) or np.any(atype >= len(type_map)):
        raise MDError(f"species index outside the type_map {list(type_map)}")
    if cell is not None:
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        if abs(np.linalg.det(cell)) < 1e-6:
            raise MDError("the cell is singular")
    masses = masses_for(type_map)[atype]
    v = maxwell_boltzmann(masses, temperature, seed)
    return MDState(positions=positions.ravel(), velocities=v.ravel(), forces=None,
                   image=np.zeros(3 * len(atype), dtype=np.int64), atype=atype, type_map=list(type_map),
                   cell=cell, step=0, time=0.0, seed=int(seed))


def bussi_kinetic(kinetic: float, target: float, ndof: int, c: float, rng: np.random.Generator) -> float:
    """New kinetic energy of the exact CSVR propagator (Bussi et al. 2007, appendix)."""
    r1 = rng.standard_normal()
    rest = rng.chisquare(ndof - 1) if ndof > 1 else 0.0
    return (kinetic + (1.0 - c) * (target * (r1 * r1 + rest) / ndof - kinetic)
            + 2.0 * r1 * math.sqrt(c * (1.0 - c) * kinetic * target / ndof))


def observables(atom_energy, atom_virial, velocities, masses, cell, ndof: int) -> dict:
    """Potential, kinetic, total energy (eV), temperature (K), pressure and stress (bar)."""
    ae = np.asarray(atom_energy, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64).reshape(-1, 3)
    m = np.asarray(masses, dtype=np.float64)
    kin_tensor = np.einsum("i,ia,ib->ab", m, v, v) / CONV          # Σ m v⊗v in eV
    ke = 0.5 * np.trace(kin_tensor)
    pe = float(ae.sum())
    out = {"potential_energy": pe, "kinetic_energy": float(ke), "total_energy": pe + float(ke),
           "temperature": float(2.0 * ke / (ndof * KB))}
    if cell is not None:
        vol = abs(np.linalg.det(cell))
        w = np.asarray(atom_virial, dtype=np.float64).reshape(-1, 3, 3).sum(axis=0)
        ptensor = (kin_tensor + w) / vol * EV_PER_A3_IN_BAR
        out["pressure"] = float(np.trace(ptensor) / 3.0)
        out["stress"] = -ptensor
    else:
        out["pressure"] = float("nan")
        out["stress"] = np.full((3, 3), np.nan)
    return out


# ---------------------------------------------------------------------------------------------
class MolecularDynamics:
    """Integrates an :class:`MDState` with a device :class:`dpsycl.DeepPot`."""

    def __init__(self, potential, state: MDState, settings: MDSettings, warn: Callable[[str], None] | None = None):
        if getattr(potential, "_evaluator", None) is None:
            raise MDError(f"MD runs on a device backend; device '{potential.device}' has none "
                          "(use an opencl:*, level_zero:* or cuda device)")
        if list(state.type_map) != list(potential.get_type_map()):
            raise MDError(f"state species {state.type_map} differ from the model's type_map "
                          f"{potential.get_type_map()}")
        self.potential = potential
        self.settings = settings.validate()
        self.ev = potential._evaluator
        self.b = potential.backend
        self.dtype = self.ev.dtype
        self.rcut = float(potential.get_rcut())
        self._warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
        b, dt = self.b, self.dtype
        n = state.natoms
        self.natoms = n
        self.nchunks = (n + CHUNK - 1) // CHUNK
        self.masses = state.masses()
        self.inv_mass = b.asarray(CONV / self.masses, dt)
        self.atype_dev = b.asarray(state.atype, np.int64)
        self.state = replace(
            state,
            positions=self._to_device(state.positions, dt),
            velocities=self._to_device(state.velocities, dt),
            image=self._to_device(state.image, np.int64),
            cell=None if state.cell is None else np.asarray(state.cell, dtype=np.float64).reshape(3, 3),
            forces=None, atype=np.asarray(state.atype, dtype=np.int64))
        self.exact = self.settings.skin == 0 or (
            state.exact_neighbors_from is not None and state.exact_neighbors_from <= state.step)
        self._scratch = b.empty(max(1, self.nchunks), dt)
        self._bounds_scratch = b.empty(6 * max(1, self.nchunks), dt)
        self._out: dict = {}
        self._nb = None
        self._ref = None
        self.n_rebuilds = 0
        self._warned_truncation = False
        self._forces(rebuild=True)

    def _to_device(self, a, dtype):
        b = self.b
        if b.is_device_array(a):
            return b.copy(b.from_user_array(a, np.dtype(dtype)))
        return b.asarray(np.asarray(a).ravel(), dtype)

    # -- neighbour list ---------------------------------------------------------------------
    def _moved_too_far(self) -> bool:
        b, st = self.b, self.state
        b.launch("max_displacement2", self.nchunks, st.positions, self._ref, self.natoms, CHUNK,
                 self._scratch, dtype=self.dtype)
        half = 0.5 * self.settings.skin
        return float(b.to_host(self._scratch).max()) > half * half

    def _bounds(self):
        b, st = self.b, self.state
        b.launch("position_bounds", self.nchunks, st.positions, self.natoms, CHUNK, self._bounds_scratch,
                 dtype=self.dtype)
        bb = b.to_host(self._bounds_scratch).astype(np.float64).reshape(-1, 6)
        return bb[:, :3].min(axis=0), bb[:, 3:].max(axis=0)

    def _rebuild(self):
        ev, st = self.ev, self.state
        if st.cell is not None:
            ev.wrap(st.positions, st.cell, st.image)
        bounds = None if st.cell is not None else self._bounds()
        rc = self.rcut if self.exact else self.rcut + self.settings.skin
        nb = ev.build_neighbors(st.positions, self.atype_dev, st.cell, rc, bounds=bounds, warn=False)
        if nb.n_truncated and not self.exact:
            self.exact = True
            st.exact_neighbors_from = st.step
            self._warn(f"{nb.n_truncated} atom(s) have more neighbours of one species within rcut + skin "
                       f"than sel={self.potential.get_sel()}; the Verlet skin is off from step {st.step} "
                       "on (neighbour list rebuilt every step, exact DeePMD-kit semantics)")
            nb = ev.build_neighbors(st.positions, self.atype_dev, st.cell, self.rcut, bounds=bounds, warn=False)
        if nb.n_truncated and not self._warned_truncation:
            self._warned_truncation = True
            self._warn(f"{nb.n_truncated} atom(s) have more neighbours of one species within rcut than "
                       f"sel={self.potential.get_sel()}; the farthest are dropped, as DeePMD-kit does")
        self._nb = nb
        self._ref = None if self.exact else self.b.copy(st.positions)   # reference of the skin check
        self.n_rebuilds += 1

    def _forces(self, rebuild: bool):
        st = self.state
        if rebuild or self.exact or self._nb is None or self._moved_too_far():
            self._rebuild()
        self.ev.compute(st.positions, self.atype_dev, st.cell, self._nb, out=self._out)
        st.forces = self._out["force"]

    # -- integration ------------------------------------------------------------------------
    def kinetic_energy(self) -> float:
        """Kinetic energy in eV from per-chunk device sums (a few numbers to the host)."""
        b, st = self.b, self.state
        b.launch("twice_kinetic", self.nchunks, st.velocities, self.inv_mass, self.natoms, CHUNK, self._scratch,
                 dtype=self.dtype)
        return 0.5 * float(b.to_host(self._scratch).astype(np.float64).sum())

    def _zero_momentum(self):
        b, st = self.b, self.state
        v = b.to_host(st.velocities).astype(np.float64).reshape(-1, 3)
        v -= (self.masses[:, None] * v).sum(axis=0) / self.masses.sum()
        st.velocities = b.asarray(v.ravel(), self.dtype)

    def ndof(self, step: int) -> int:
        return ndof_for(self.natoms, step > 0 and self.settings.thermostat_at(step - 1) == "langevin")

    def step(self):
        s, st, b, dt = self.settings, self.state, self.b, self.dtype.type
        n = st.step
        thermo = s.thermostat_at(n)
        if n > 0 and thermo is None and s.thermostat_at(n - 1) == "langevin":
            self._zero_momentum()
        nat = self.natoms
        b.launch("kick", nat, st.velocities, st.forces, self.inv_mass, dt(0.5 * s.dt), dtype=self.dtype)
        if thermo == "langevin":
            c1 = math.exp(-s.friction * s.dt)
            b.launch("drift", nat, st.positions, st.velocities, dt(0.5 * s.dt), dtype=self.dtype)
            b.launch("langevin_o_step", nat, st.velocities, self.inv_mass, dt(c1), dt(KB * s.temperature),
                     int(s.seed), int(n), dtype=self.dtype)
            b.launch("drift", nat, st.positions, st.velocities, dt(0.5 * s.dt), dtype=self.dtype)
        else:
            b.launch("drift", nat, st.positions, st.velocities, dt(s.dt), dtype=self.dtype)
        st.step = n + 1
        st.time = st.step * s.dt
        self._forces(rebuild=st.step % s.every == 0)
        b.launch("kick", nat, st.velocities, st.forces, self.inv_mass, dt(0.5 * s.dt), dtype=self.dtype)
        if thermo == "csvr":
            ke = self.kinetic_energy()
            ndof = ndof_for(nat, False)
            if ke > 0:
                rng = np.random.default_rng([int(s.seed), int(n), 0x43535652])  # "CSVR"
                new = bussi_kinetic(ke, 0.5 * ndof * KB * s.temperature, ndof, math.exp(-s.dt / s.tau), rng)
                b.launch("scale_velocities", nat, st.velocities, dt(math.sqrt(max(new, 0.0) / ke)),
                         dtype=self.dtype)

    def run(self, until_step: int, on_frame: Callable[[Frame], None] | None = None,
            on_step: Callable[[int], None] | None = None):
        """Integrate up to step ``until_step``; ``on_frame`` gets a Frame at every sampled step."""
        every = self.settings.every
        while self.state.step < until_step:
            self.step()
            if on_frame is not None and self.state.step % every == 0:
                on_frame(self.sample())
            if on_step is not None:
                on_step(self.state.step)
        return self

    def sample(self) -> Frame:
        """The current state and observables on the host."""
        b, st = self.b, self.state
        n = self.natoms
        vel = b.to_host(st.velocities).reshape(n, 3)
        obs = observables(b.to_host(self._out["atom_energy"]), b.to_host(self._out["atom_virial"]), vel,
                          self.masses, st.cell, self.ndof(st.step))
        return Frame(step=st.step, time=st.time, positions=b.to_host(st.positions).reshape(n, 3), velocities=vel,
                     forces=b.to_host(st.forces).reshape(n, 3), image=b.to_host(st.image).reshape(n, 3),
                     species=st.atype.copy(), cell=None if st.cell is None else st.cell.copy(),
                     observables=obs, exact_neighbors_from=st.exact_neighbors_from)

    def host_state(self) -> MDState:
        """A host copy of the state (NumPy arrays)."""
        b, st = self.b, self.state
        return replace(st, positions=b.to_host(st.positions), velocities=b.to_host(st.velocities),
                       forces=b.to_host(st.forces), image=b.to_host(st.image), atype=st.atype.copy(),
                       cell=None if st.cell is None else st.cell.copy())
