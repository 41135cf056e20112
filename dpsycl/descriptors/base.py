"""What a descriptor unit provides, and what its device passes receive.

A descriptor unit (one per DeePMD-kit descriptor type) is registered once, in
``dpsycl.descriptors.UNITS``, as a :class:`DescriptorUnit`:

* ``params``: a dataclass of its hyper-parameters and weights, satisfying :class:`DescriptorParams`;
* ``reference``: its float64 NumPy maths (``forward`` to the descriptor D_i, ``backward`` from
  ∂E/∂D_i to the pair gradients g_ij), the specification its kernels are tested against;
* ``device``: a class satisfying :class:`DevicePasses` that uploads its constants and launches
  its kernel bodies (which live in ``kernel_modules``, under device_kernels/);
* ``write_section`` / ``read_section``: its group ``/descriptor`` of the model file;
* ``extraction``: ``"module:function"`` reading its parameters from a frozen graph (needs
  TensorFlow, so it is imported only when a graph is read): ``function(graph, ntypes, script section,
  fitting input width, scope=Scope())``, the width None and the scope (extract/smooth.py) naming
  member k's tensors when the descriptor is a hybrid's member;
* ``serialised_type``: its name in DeePMD-kit 3's backend-neutral ``.dp`` files (read by
  dpsycl/deepmd_dp/, which maps the fields the smooth-edition descriptors share).

Nothing outside the unit knows its equations: the reference evaluator, the device evaluator, the
model file and the extractor only call these entries.  Neighbour lists, the fitting net, forces,
virials and MD are shared by every unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Protocol

from ..model import ModelError


class NeighborSpec(NamedTuple):
    """A neighbour list a descriptor needs: cutoff and per-species capacity (DeePMD-kit's sel)."""
    rcut: float
    sel: tuple[int, ...]


class Geometry(NamedTuple):
    """Kernel arguments describing one neighbour list of the current positions on the device."""
    pos: Any            # (3N,) positions (wrapped into the cell)
    cell: Any           # (9,) box vectors as rows (zeros without PBC)
    atype: Any          # (N,) species
    nlist: Any          # (N·nnei,) neighbour index per slot, −1 = empty
    nshift: Any         # (N·nnei,) packed periodic image shift per slot
    nnei: int           # slots per atom (Σ sel)


class DescriptorParams(Protocol):
    """The parameters object of a unit (a dataclass)."""
    kind: str           # DeePMD-kit's descriptor type name, e.g. "se_e2_a" (a class attribute)
    rcut: float
    sel: list[int]

    @property
    def output_width(self) -> int:
        """Width of D_i: the fitting net's input."""

    def neighbor_specs(self) -> list[NeighborSpec]:
        """The neighbour lists this descriptor reads (one per sub-descriptor of a hybrid)."""

    def validate(self, ntypes: int) -> None:
        """ModelError (one line) on inconsistent parameters."""

    def astype(self, dtype) -> "DescriptorParams":
        """The same parameters with every array in ``dtype``."""

    def summary(self) -> str:
        """One line for `dpsycl extract` and model listings."""


class DevicePasses(Protocol):
    """The device side of a unit: ``Device(params, fitting, workspace, dtype)``."""
    layouts: tuple[str, ...]    # "chunk" (work-item per atom and slot chunk), "group" (work-group per atom), "split"

    def energies_and_pair_gradients(self, geometries: list[Geometry], natoms: int, atom_energy, pair_grads: list,
                                    layout: str, nchunk: int, params) -> list | None:
        """Launch the passes that write E_i into ``atom_energy`` and g_ij = ∂E/∂r_ij (3 per slot)
        into ``pair_grads[k]`` for neighbour list k (zero for empty slots); ``params`` is the
        fitting net's ParameterPack (dpsycl.fitting: frame and atomic parameters), to hand on.
        Passes that also sum each centre's row return, per list, a buffer of Σ_j g_ij (3 values per
        centre, in the passes' precision; None for a list they did not sum), else None: the force
        gather then reads those three values instead of the row."""


class MemberPasses(Protocol):
    """What the device passes of a unit also offer to be a member of a hybrid (chunk layout): its
    forward stages writing D_i, and its backward stages from ∂E/∂D_i, with the hybrid's fitting net
    in between.  Row i of ``desc`` / ``desc_grad`` holds the hybrid's whole D_i (``desc_stride``
    values); the member's columns start at ``desc_at``.  Built as ``Device(params, None, workspace,
    dtype)``: no fitting net of its own."""

    def descriptor_into(self, geometries: list[Geometry], natoms: int, nchunk: int, desc, desc_stride: int,
                        desc_at: int) -> None:
        """Write D_i of every atom into its columns of ``desc``."""

    def pair_gradients_from(self, geometries: list[Geometry], natoms: int, nchunk: int, desc_grad, desc_stride: int,
                            desc_at: int, pair_grads: list) -> None:
        """g_ij into ``pair_grads[k]`` (its lists) from ∂E/∂D_i in its columns of ``desc_grad``, after
        descriptor_into of the same positions (its buffers still hold what that wrote)."""


@dataclass(frozen=True)
class DescriptorUnit:
    kind: str
    params: type
    reference: Any                          # module: forward(params, atype, lists), backward(...)
    device: Callable[..., DevicePasses]
    kernel_modules: tuple                   # device_kernels modules holding its bodies
    write_section: Callable                 # (h5 group "/descriptor", params) -> None
    read_section: Callable                  # (model_io reader, h5 group "/descriptor") -> params
    extraction: str                         # "dpsycl.extract.<module>:<function>"
    serialised_type: str                    # its ``type`` in DeePMD-kit 3's serialised models (.dp)


#: kind -> unit: the registry, filled in one place (dpsycl/descriptors/__init__.py: UNITS is this dict);
#: kept here so that a unit made of other units (hybrid) finds its members' without importing the registry
REGISTERED: dict[str, DescriptorUnit] = {}


def unit(kind: str) -> DescriptorUnit:
    """The registered unit of a descriptor type; ModelError naming the supported ones otherwise."""
    try:
        return REGISTERED[kind]
    except KeyError:
        raise ModelError(f"descriptor '{kind}' is not supported yet; supported: {', '.join(REGISTERED)}") from None


def unit_of(params) -> DescriptorUnit:
    """The unit a parameters object belongs to."""
    found = unit(getattr(params, "kind", type(params).__name__))
    if not isinstance(params, found.params):
        raise ModelError(f"descriptor parameters of type {type(params).__name__} are not those of '{found.kind}'")
    return found
