"""The MD state on the device, its conversions to and from the host, and the per-atom operators.

    state = to_device(host_state, potential)   # MDState (NumPy) → DeviceState (no forces yet)
    host_state = to_host(state)                 # DeviceState → MDState: what H5MD stores

Positions, velocities, forces, image counts and the neighbour list stay on the device for the
whole run; the operators below update them in place, one kernel launch each (bodies in
device_kernels/integrators.py; ``inv_mass`` holds CONV/m):

    kick                 v ← v + Δt · CONV F/m                       (B)
    drift                x ← x + Δt · v                              (A)
    ornstein_uhlenbeck   v ← c₁ v + √((1 − c₁²) kT · CONV/m) ξ        (O; ξ ~ N(0, 1) keyed by
                                                                      seed, step, atom, component)
    scale_velocities     v ← α v

Reductions return one partial result per chunk of CHUNK atoms and finish on the host, so a step
reads back a few numbers, never a whole array: ``kinetic_energy`` K = ½ Σ m v² / CONV,
``max_displacement2`` max_i |x_i − x_i^ref|², ``position_bounds`` (the box of an open cluster).
``remove_total_momentum`` (v ← v − Σ m v / Σ m) runs on the host: it happens once per run at most.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.launch import Args
from .settings import CONV, MDError
from .state import MDState

CHUNK = 64                          # atoms per work-item of the reduction bodies


def chunk_count(natoms: int) -> int:
    return max(1, math.ceil(natoms / CHUNK))


# eq=False on both: their fields are device arrays, which have no meaningful == (nor hash)
@dataclass(frozen=True, eq=False)
class DeviceSystem:
    """What stays fixed during a run: species, masses, box, and the backend the arrays live on."""
    backend: Any                         # dpsycl.backends DeviceBackend
    dtype: np.dtype                      # the model's float type on the device
    type_map: list[str]
    atype: np.ndarray                    # (N,) species index, host
    atype_device: Any                    # (N,) int64, device
    masses: np.ndarray                   # (N,) amu, host
    inv_mass: Any                        # (N,) CONV/m, device
    cell: np.ndarray | None              # (3, 3) float64 box vectors as rows; None: open boundaries
    evaluator: Any                       # dpsycl.evaluator.DeviceEvaluator of the potential: forces and virials
    partial_sums: Any                    # (nchunks,) device buffer of the per-chunk reductions
    partial_bounds: Any                  # (6·nchunks,) device buffer of position_bounds
    params: Any = None                   # dpsycl.fitting.ParameterPack: frame/atomic parameters, on the device
    fparam: np.ndarray | None = None     # their host values (what to_host hands back)
    aparam: np.ndarray | None = None

    @property
    def natoms(self) -> int:
        return len(self.atype)

    @property
    def nchunks(self) -> int:
        return chunk_count(self.natoms)


@dataclass
class TruncationCount:
    """Sel truncation within rcut over a run's neighbour-list builds (what the summary reports)."""
    builds: int = 0                      # builds that truncated some atom's list
    most_atoms: int = 0                  # most atoms truncated at one build
    first_step: int | None = None
    last_step: int | None = None

    def add(self, n_truncated: int, step: int) -> None:
        self.builds += 1
        self.most_atoms = max(self.most_atoms, int(n_truncated))
        self.first_step = step if self.first_step is None else self.first_step
        self.last_step = step


@dataclass(eq=False)
class DeviceState:
    """The dynamical state during a run.  The integrators' steps update its device arrays in place
    (no copy per step) and return it; ``to_host`` gives an independent host copy."""
    system: DeviceSystem
    positions: Any                       # (3N,) Å, wrapped into the cell at the last list build
    velocities: Any                      # (3N,) Å/fs
    image: Any                           # (3N,) int64 periodic image counts
    step: int
    time: float                          # fs
    seed: int
    exact_neighbors_from: int | None = None  # step from which the skin is off (sel overflow)
    thermal_com: bool = False            # Langevin noise has given the centre of mass momentum
    neighbors: Any = None                # dpsycl.evaluator.Neighbors of the last list build
    skin_reference: Any = None           # positions at the last build; None when no skin is in use
    # a host state's list_reference and list_built_at, until the first list build takes them
    restored_reference: np.ndarray | None = None
    restored_built_at: int | None = None
    results: dict | None = None          # DeviceEvaluator.compute's arrays: atom_energy, force, atom_virial
    virial_step: int | None = None       # step of results["atom_virial"]: MD steps between samples leave it out
    n_rebuilds: int = 0                  # neighbour-list builds so far (diagnostics)
    truncation: TruncationCount = field(default_factory=TruncationCount)
    # watchdog (dpsycl/md/watchdog.py): the skin check's last max |x − x_ref| (Å), and the
    # (step, time fs, total energy eV) the NVE drift is measured from
    displacement_since_build: float = 0.0
    last_build_step: int = 0             # step of the last neighbour-list build
    nve_reference: tuple[int, float, float] | None = None

    @property
    def natoms(self) -> int:
        return self.system.natoms

    @property
    def forces(self):
        """(3N,) eV/Å at the current positions, on the device; None before the first evaluation."""
        return None if self.results is None else self.results["force"]


def require_device_potential(potential) -> None:
    if not potential.on_device:
        raise MDError(f"MD runs on a device backend; device '{potential.device}' has none "
                      "(use an opencl:*, level_zero:* or cuda device)")


def to_device(host: MDState, potential) -> DeviceState:
    """The host state as device arrays of the potential's backend and dtype (forces not computed)."""
    require_device_potential(potential)
    if list(host.type_map) != list(potential.get_type_map()):
        raise MDError(f"state species {host.type_map} differ from the model's type_map "
                      f"{potential.get_type_map()}")
    backend, dtype = potential.evaluator.backend, potential.evaluator.dtype
    atype = np.asarray(host.atype, dtype=np.int64).copy()
    masses = host.masses()
    nchunks = chunk_count(len(atype))
    system = DeviceSystem(
        backend=backend, dtype=dtype, type_map=list(host.type_map), atype=atype,
        atype_device=backend.asarray(atype, np.int64), masses=masses, inv_mass=backend.asarray(CONV / masses, dtype),
        cell=None if host.cell is None else np.array(host.cell, dtype=np.float64).reshape(3, 3),
        evaluator=potential.evaluator,
        partial_sums=backend.empty(nchunks, dtype), partial_bounds=backend.empty(6 * nchunks, dtype),
        # arrays of the run's own: evaluations in between must not overwrite them
        params=potential.evaluator.parameters(host.fparam, host.aparam, len(atype),
                                              to_device=lambda name, values, dt: backend.asarray(values, dt)),
        fparam=None if host.fparam is None else np.array(host.fparam, dtype=np.float64),
        aparam=None if host.aparam is None else np.array(host.aparam, dtype=np.float64))
    return DeviceState(system=system,
                       positions=backend.asarray(np.asarray(host.positions).ravel(), dtype),
                       velocities=backend.asarray(np.asarray(host.velocities).ravel(), dtype),
                       image=backend.asarray(np.asarray(host.image).ravel(), np.int64),
                       step=int(host.step), time=float(host.time), seed=int(host.seed),
                       exact_neighbors_from=host.exact_neighbors_from,
                       restored_reference=None if host.list_reference is None else np.asarray(host.list_reference),
                       restored_built_at=host.list_built_at)


def list_origin(state: DeviceState) -> tuple[int | None, Any]:
    """(step of the last list build, the positions it took on the host or None when it was this step);
    (None, None) without a skin in use: a continuation then builds from the positions alone.  A state not built
    yet hands on the origin it was given."""
    if state.restored_reference is not None:
        return state.restored_built_at, state.restored_reference
    if state.skin_reference is None:
        return None, None
    if state.last_build_step == state.step:
        return state.step, None
    return state.last_build_step, state.system.backend.to_host(state.skin_reference)


def to_host(state: DeviceState) -> MDState:
    """A host copy of the state (NumPy arrays): what H5MD stores and a restart starts from."""
    system, to_numpy = state.system, state.system.backend.to_host
    built_at, reference = list_origin(state)
    return MDState(positions=to_numpy(state.positions), velocities=to_numpy(state.velocities),
                   forces=None if state.forces is None else to_numpy(state.forces), image=to_numpy(state.image),
                   atype=system.atype.copy(), type_map=list(system.type_map),
                   cell=None if system.cell is None else system.cell.copy(), step=state.step, time=state.time,
                   seed=state.seed, exact_neighbors_from=state.exact_neighbors_from,
                   fparam=None if system.fparam is None else system.fparam.copy(),
                   aparam=None if system.aparam is None else system.aparam.copy(),
                   list_reference=reference, list_built_at=None if reference is None else built_at)


# -- per-atom operators ---------------------------------------------------------------------------
def kick(state: DeviceState, dt: float) -> None:
    system = state.system
    system.backend.launch("kick", system.natoms,
                          Args(vel=state.velocities, force=state.forces, inv_mass=system.inv_mass,
                               dt=system.dtype.type(dt)), dtype=system.dtype)


def drift(state: DeviceState, dt: float) -> None:
    system = state.system
    system.backend.launch("drift", system.natoms,
                          Args(pos=state.positions, vel=state.velocities, dt=system.dtype.type(dt)), dtype=system.dtype)


def ornstein_uhlenbeck(state: DeviceState, c1: float, kt: float, seed: int, step: int) -> None:
    """The exact O step over one time step: c1 = exp(−γ Δt), kt = k_B T in eV."""
    system = state.system
    real = system.dtype.type
    system.backend.launch("langevin_o_step", system.natoms,
                          Args(vel=state.velocities, inv_mass=system.inv_mass, c1=real(c1), kt_amu=real(kt),
                               seed=int(seed), step=int(step)), dtype=system.dtype)


def scale_velocities(state: DeviceState, alpha: float) -> None:
    system = state.system
    system.backend.launch("scale_velocities", system.natoms,
                          Args(vel=state.velocities, alpha=system.dtype.type(alpha)), dtype=system.dtype)


def kinetic_energy(state: DeviceState) -> float:
    """K in eV, from per-chunk sums of m v² on the device."""
    system = state.system
    system.backend.launch("twice_kinetic", system.nchunks,
                          Args(vel=state.velocities, inv_mass=system.inv_mass, n=system.natoms, chunk=CHUNK,
                               out=system.partial_sums), dtype=system.dtype)
    return 0.5 * float(system.backend.to_host(system.partial_sums).astype(np.float64).sum())


def max_displacement2(state: DeviceState) -> float:
    """max_i |x_i − x_i^ref|² (Å²) since the skin reference was taken."""
    system = state.system
    system.backend.launch("max_displacement2", system.nchunks,
                          Args(pos=state.positions, ref=state.skin_reference, n=system.natoms, chunk=CHUNK,
                               out=system.partial_sums), dtype=system.dtype)
    return float(system.backend.to_host(system.partial_sums).max())


def position_bounds(state: DeviceState, positions=None) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) coordinates over all atoms (of ``positions``, default the state's), float64 (3,) each."""
    system = state.system
    system.backend.launch("position_bounds", system.nchunks,
                          Args(pos=state.positions if positions is None else positions, n=system.natoms, chunk=CHUNK,
                               out=system.partial_bounds),
                          dtype=system.dtype)
    per_chunk = system.backend.to_host(system.partial_bounds).astype(np.float64).reshape(-1, 6)
    return per_chunk[:, :3].min(axis=0), per_chunk[:, 3:].max(axis=0)


def remove_total_momentum(state: DeviceState) -> None:
    system = state.system
    m = system.masses
    v = system.backend.to_host(state.velocities).astype(np.float64).reshape(-1, 3)
    v -= (m[:, None] * v).sum(axis=0) / m.sum()
    system.backend.copy_from_host(state.velocities, np.ascontiguousarray(v.ravel(), dtype=system.dtype))
