"""Device evaluation of a model: host orchestration of the kernels in device_kernels/.

One evaluation, all on the device (docs/architecture.md draws it):

    positions ─ wrap_atom ─> neighbour lists: cell list, rows, reverse rows      (dpsycl/device_neighbors.py)
              ─> the descriptor unit's passes: E_i and g_ij = ∂E/∂r_ij                      (dpsycl.descriptors)
              ─> gather_forces_and_virials: F_i, w_i                                         per neighbour list

Nothing here knows the descriptor's equations or which backend runs the kernels: the unit's
``device`` passes launch its bodies, the backend (dpsycl/backends/protocol.py) supplies arrays and
launches.  The host reads back only a few counters of a neighbour-list build, and inside
``evaluate`` only after the results (one wait per frame).

Before the buffers of a system are allocated, their size is estimated (:meth:`DeviceEvaluator.
memory_estimate`: the evaluator's own buffers counted here, the descriptor's by a dry run of its
passes against an AllocationRecorder) and compared with the device's free memory; a system that
does not fit is refused with one line saying how many atoms of this model do.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .backends.launch import Args
from .backends.protocol import DeviceMemory, DeviceMemoryError
from .descriptors import Geometry, unit_of
from .device_kernels.neighbors import status_size
from .device_neighbors import SHIFT_DTYPE, Neighbors, NeighborBuilder, cell_capacity, grid, slot_index_dtype
from .evaluation import FrameResult
from .fitting import ParameterPack
from .model import Model, ModelError
from .neighbors import cell_inverse, warn_sel_truncation
from .workspace import AllocationRecorder, Workspace

#: atoms per block of the device's sums of E_i and w_i (device_kernels/forces.py: row_block_sums): a few
#: thousand work-items at 10⁵ atoms, and a few kilobytes of block sums to copy back
TOTAL_ROWS = 128


def total_blocks(natoms: int) -> int:
    """Blocks of TOTAL_ROWS atoms (the last one partial) that the device sums E_i and w_i over."""
    return -(-int(natoms) // TOTAL_ROWS)


#: device memory left to what the estimate does not count: kernels, private memory, the runtime
MEMORY_RESERVE = 64 << 20
#: and the share of the free memory kept back for what it counts approximately (a cell list re-binned
#: with more room, a reverse list longer than sel)
MEMORY_MARGIN = 0.05


@dataclass(frozen=True)
class MemoryEstimate:
    """Device memory of one evaluation of ``natoms`` atoms: the model's constants and every buffer."""
    natoms: int
    constants: int          # bytes held since the evaluator was made (weights, statistics, padding)
    buffers: dict           # name -> bytes of each buffer the evaluation asks for
    narrower: float = 0.0   # bytes per atom the index rows lose in int32 (a smaller system; slot_index_dtype)

    @property
    def total(self) -> int:
        return self.constants + sum(self.buffers.values())

    @property
    def largest(self) -> int:
        return max(self.buffers.values(), default=0)

    @property
    def per_atom(self) -> float:
        """Buffer bytes per atom (cell list and small constants included)."""
        return sum(self.buffers.values()) / max(self.natoms, 1)


class DeviceEvaluator:
    """Energy, forces and virials of one model on one device backend; arrays stay on the device.

    Public knobs: ``layout`` ("chunk", "group" or "split", picked for the device), ``chunks`` (slot
    chunks per atom in the chunk layout; None sizes them to fill the device) and
    ``neighbor_groups`` (neighbour rows by work-groups, as on wide devices, or one work-item per
    centre).  One evaluation at a time runs on an evaluator: concurrent callers queue on its lock
    (its buffers are shared).
    ``memory_limit`` (bytes; for tests) makes the evaluator see a device of that size.
    """

    def __init__(self, model: Model, backend, dtype=None, chunks: int | None = None):
        self.model = model
        self.backend = backend
        self.precision = precision_name(dtype or model.precision)
        # dtype: positions, the neighbour search, the force and virial gather and the results;
        # kernel_dtype: the descriptor's and fitting net's kernels (their constants and buffers)
        self.dtype = np.dtype(np.float64 if self.precision == "mixed" else self.precision)
        self.kernel_dtype = np.dtype(np.float32 if self.precision == "mixed" else self.precision)
        if self.dtype == np.float64 and not backend.fp64:
            needs = ("the model is float64" if self.precision == "float64" else
                     "precision 'mixed' keeps positions and forces in float64")
            raise ModelError(f"device {backend.name} has no float64 support and {needs}; "
                             "pass precision='float32' to DeepPot (or --precision float32) to run it in "
                             "float32 deliberately")
        self.workspace = Workspace(backend)
        self.specs = model.descriptor.neighbor_specs()
        self.neighbor_builder = NeighborBuilder(backend, self.workspace, self.dtype, self.specs)
        self.passes = unit_of(model.descriptor).device(model.descriptor, model.fitting, self.workspace,
                                                       self.kernel_dtype)
        self.takes_parameters = bool(model.fitting.numb_fparam or model.fitting.numb_aparam)
        self.no_parameters = ParameterPack(self.workspace.keep(np.zeros(1), self.kernel_dtype), 0,
                                           self.workspace.keep(np.zeros(1), self.kernel_dtype), 0)
        self.chunks = chunks
        wide = getattr(backend, "supports_groups", False) and backend.is_gpu
        self._layout = "group" if wide and "group" in self.passes.layouts else "chunk"
        # neighbour rows by work-groups of NEIGHBOR_LANES lanes (neighbor_row_group) on wide devices; not
        # under numba's CUDA simulator, where their ≈ 200 barriers per centre take minutes (the bodies
        # are tested on every device with work-groups: tests/test_neighbor_groups.py)
        self.neighbor_groups = bool(wide) and not getattr(backend, "simulated", False)
        self.lock = threading.RLock()
        self.constant_bytes = self.workspace.nbytes()
        self.dry_run = AllocationRecorder(self.backend)   # the descriptor's passes again, allocating nothing
        self.dry_passes = unit_of(model.descriptor).device(model.descriptor, model.fitting, self.dry_run,
                                                           self.kernel_dtype)
        self.memory_fits: set = set()          # sizes already checked (check_memory)
        self._memory_limit: int | None = None

    @property
    def layout(self) -> str:
        """How the descriptor's passes lay out the work: "chunk" (work-item per atom and chunk of
        slots), "group" (work-group per atom) or "split" (se_e2_a: the work-group passes around a
        fitting kernel over atoms of one species), of those its unit offers."""
        return self._layout

    @layout.setter
    def layout(self, value: str) -> None:
        if value not in self.passes.layouts:
            raise ValueError(f"layout '{value}' is not one of {self.model.descriptor_type}'s: "
                             f"{', '.join(self.passes.layouts)}")
        if value in ("group", "split") and not getattr(self.backend, "supports_groups", False):
            raise ValueError(f"work-group kernels cannot run on {self.backend.name}")
        self._layout = value

    @property
    def name(self) -> str:
        return self.backend.name

    def describe(self) -> str:
        return self.backend.describe()

    def workspace_bytes(self) -> int:
        """Device memory this evaluator holds now: model constants and every reused buffer."""
        return self.workspace.nbytes()

    def chunks_for(self, natoms: int) -> int:
        """Slot chunks per atom: enough (atom, chunk) work-items to fill the device, at most 32."""
        if self.chunks:
            return int(self.chunks)
        width = getattr(self.backend, "parallel_width", 1)
        return int(min(32, max(1, -(-width // max(natoms, 1)))))

    # -- geometry ---------------------------------------------------------------------------
    grid = staticmethod(grid)
    cell_capacity = staticmethod(cell_capacity)

    # -- device memory --------------------------------------------------------------------------
    @property
    def memory_limit(self) -> int | None:
        """For tests: a device of this many bytes used by this evaluator alone (its free memory is what
        the workspace does not hold), in place of what the backend reports; None: the backend's."""
        return self._memory_limit

    @memory_limit.setter
    def memory_limit(self, value: int | None) -> None:
        self._memory_limit = value
        self.memory_fits.clear()

    def device_memory(self) -> DeviceMemory:
        """What the device has (``memory_limit`` in its place when set)."""
        if self.memory_limit is not None:
            limit = int(self.memory_limit)
            return DeviceMemory(free=max(0, limit - self.workspace.nbytes()), total=limit, max_allocation=limit)
        return self.backend.memory()

    def memory_estimate(self, natoms: int, cell: np.ndarray | None = None, bounds=None, skin: float = 0.0,
                        ncentres: int | None = None) -> MemoryEstimate:
        """Device bytes of one evaluation of ``natoms`` atoms (rows for ``ncentres``, default all) in
        ``cell`` (None: open, ``bounds`` = (lo, hi) of the positions, default a dense cluster): the
        model's constants, the evaluator's buffers below and the descriptor passes' own (a dry run).
        Exact but for the reverse lists, counted at sel (their length is the most neighbours of an atom
        within the cutoff, known after the list is built), and a cell list that overflows its capacity."""
        natoms, centres = int(natoms), int(natoms if ncentres is None else ncentres)
        i8, d = 8, self.dtype.itemsize
        buffers = {"positions": 3 * natoms * d, "atype": natoms * i8, "out": 13 * natoms * d,
                   "cell": 9 * d, "grid_inv": 9 * d, "origin": 3 * d, "ncell": 3 * i8, "reach": 3 * i8,
                   "coincident": centres * i8}
        if self.backend.fp64:
            buffers["totals"] = 10 * total_blocks(natoms) * 8
        if cell is not None:
            buffers.update({"image": 3 * natoms * i8, "inv_cell": 9 * d})
            if self.narrows_on_device(cell):
                buffers.update({"positions:float64": 3 * natoms * 8, "cell:float64": 72, "inv_cell:float64": 72})
        elif bounds is None:     # a cluster at the density of a metal (0.085 atoms/Å³)
            side = (max(natoms, 1) / 0.085) ** (1 / 3)
            bounds = (np.zeros(3), np.full(3, side))
        ncells = max(int(np.prod(self.grid(cell, bounds, spec.rcut + skin, natoms)[2])) for spec in self.specs)
        buffers.update({"cell_count": ncells * i8, "cell_atoms": ncells * self.cell_capacity(natoms, ncells) * i8})
        narrower = 0.0
        for k, spec in enumerate(self.specs):
            nnei = int(sum(spec.sel))
            index = np.dtype(slot_index_dtype(natoms, centres, nnei)).itemsize
            narrower += (index - 4) * (centres * nnei + natoms * max(nnei, 1)) / max(natoms, 1)
            buffers.update({f"nlist:{k}": centres * nnei * index, f"nshift:{k}": centres * nnei * np.dtype(SHIFT_DTYPE).itemsize,
                            f"type_count:{k}": centres * len(spec.sel) * i8, f"status:{k}": status_size(nnei) * i8,
                            f"rev:{k}": natoms * max(nnei, 1) * index, f"rev_count:{k}": natoms * i8,
                            f"pair_grad:{k}": 3 * centres * nnei * d})
        if self.takes_parameters:
            fit = self.model.fitting
            buffers.update({"fparam": max(fit.numb_fparam, 1) * d, "aparam": max(natoms * fit.numb_aparam, 1) * d})
        self.dry_run.sizes = {}
        geometries = [Geometry(None, None, None, None, None, int(sum(spec.sel))) for spec in self.specs]
        self.dry_passes.energies_and_pair_gradients(geometries, centres, None, [None] * len(self.specs),
                                                    self.layout, self.chunks_for(centres), self.no_parameters)
        buffers.update(self.dry_run.sizes)
        return MemoryEstimate(natoms, self.constant_bytes, {k: max(v, 8) for k, v in buffers.items()}, narrower)

    def check_memory(self, natoms: int, cell: np.ndarray | None = None, bounds=None, skin: float = 0.0,
                     ncentres: int | None = None) -> None:
        """DeviceMemoryError (one line, with the most atoms that fit) unless an evaluation of ``natoms``
        atoms fits in the device's free memory (and its largest array in the largest allocation)."""
        # a size that fitted once fits again (an MD run, LAMMPS steps): the cell differs at most in
        # the cell list, a few bytes per atom, well inside MEMORY_MARGIN
        key = (int(natoms), ncentres, float(skin), self.layout, cell is None)
        if key in self.memory_fits:
            return
        estimate = self.memory_estimate(natoms, cell, bounds, skin, ncentres)
        held = self.workspace.nbytes()
        if estimate.total > held:        # else the buffers of an earlier, larger system are reused
            memory = self.device_memory()
            budget = memory.free * (1 - MEMORY_MARGIN) - MEMORY_RESERVE
            if estimate.total - held > budget or estimate.largest > memory.max_allocation:
                raise DeviceMemoryError(self.memory_message(estimate, memory, held, budget))
        if len(self.memory_fits) >= 256:
            self.memory_fits.clear()
        self.memory_fits.add(key)

    def memory_message(self, estimate: MemoryEstimate, memory: DeviceMemory, held: int, budget: float) -> str:
        room = max(0.0, budget + held - estimate.constants)
        fit = int(room // max(estimate.per_atom, 1.0))
        if estimate.narrower:            # the most atoms that fit may take int32 index rows (slot_index_dtype)
            narrow = int(room // max(estimate.per_atom - estimate.narrower, 1.0))
            if all(slot_index_dtype(narrow, narrow, int(sum(spec.sel))) == np.int32 for spec in self.specs):
                fit = narrow
        largest_per_atom = estimate.largest / max(estimate.natoms, 1)
        fit = min(fit, int(memory.max_allocation // max(largest_per_atom, 1.0)))
        limit = (f"; its largest array ({size_text(estimate.largest)}) is more than the device allocates at once "
                 f"({size_text(memory.max_allocation)})" if estimate.largest > memory.max_allocation else "")
        return (f"{estimate.natoms:,} atoms do not fit on {self.name}: they need about "
                f"{size_text(estimate.total - held)} more device memory ({estimate.per_atom:,.0f} bytes per atom; "
                f"the model's {size_text(estimate.constants)} are on the device already), the "
                f"device has {size_text(max(budget, 0.0))} to give ({size_text(memory.free)} free of "
                f"{size_text(memory.total)}, less {MEMORY_MARGIN:.0%} and {size_text(MEMORY_RESERVE)} kept for the "
                f"runtime){limit}; at most {fit:,} atoms of this model fit on this device")

    def wrap(self, pos, cell: np.ndarray, image):
        """Positions into the cell (fractional coordinates mod 1), counting the wraps in image."""
        ws = self.workspace
        self.backend.launch("wrap_atom", len_of(pos) // 3,
                            Args(pos=pos, cell=ws.constant("cell", cell, self.dtype),
                                 inv_cell=ws.constant("inv_cell", cell_inverse(cell), self.dtype), image=image),
                            dtype=self.dtype)

    def build_neighbors(self, pos, atype, cell: np.ndarray | None, skin: float = 0.0, bounds=None,
                        warn: bool = True, ncentres: int | None = None, deferred: bool = False) -> Neighbors:
        """Every list the descriptor reads, built with cutoff rcut + skin: cell list → sorted,
        sel-truncated rows → reverse slots, all on the device (dpsycl/device_neighbors.py).  Rows only
        for the first ``ncentres`` atoms (default all): the others are neighbours (ghosts) without
        energies.  ``deferred``: no status read where a build of this size gave the rooms (the caller
        then calls :meth:`settle_neighbors` after using the lists)."""
        natoms = len_of(pos) // 3
        self.check_memory(natoms, cell, bounds, skin, ncentres)
        by_groups = self.rows_by_groups(natoms)
        nb = Neighbors([self.neighbor_builder.build(k, pos, atype, cell, spec.rcut + skin, bounds, ncentres, by_groups,
                                             deferred)
                        for k, spec in enumerate(self.specs)])
        if warn and all(lst.settled for lst in nb.lists):    # else settle_neighbors warns, once
            self.warn_truncation(nb)
        return nb

    def settle_neighbors(self, nb: Neighbors, cell: np.ndarray | None, warn: bool = True) -> bool:
        """After using deferred lists: False if one overflowed its room (build again, settled, and
        discard what was computed from it); InputError for atoms at one place; else True, with the
        sel-truncation warning."""
        deferred = any(not lst.settled for lst in nb.lists)   # a settled build has warned already
        if not self.neighbor_builder.settle(nb, cell):
            return False
        if warn and deferred:
            self.warn_truncation(nb)
        return True

    def warn_truncation(self, nb: Neighbors) -> None:
        if nb.n_truncated:
            warn_sel_truncation(nb.n_truncated, self.specs[0].sel if len(self.specs) == 1 else
                                [s for spec in self.specs for s in spec.sel])

    def rows_by_groups(self, natoms: int) -> bool:
        """Whether the neighbour rows are built by work-groups (neighbor_row_group: wide devices),
        whose local arrays hold atom and grid-cell indices in the kernel's precision (exact below 2^24
        in float32; a grid has up to CELLS_PER_ATOM = 2 cells per atom)."""
        return (self.neighbor_groups and bool(getattr(self.backend, "supports_groups", False))
                and (self.dtype == np.float64 or natoms < 2 ** 23))

    # -- energy and forces --------------------------------------------------------------------
    def outputs(self, natoms: int, out: dict | None = None) -> dict:
        """Result arrays: those of ``out`` when it already has them for natoms atoms, else new ones."""
        out = out if out is not None else {}
        if out.get("natoms") != natoms:
            b = self.backend
            out.update(natoms=natoms, atom_energy=b.empty(natoms, self.dtype), force=b.empty(natoms * 3, self.dtype),
                       atom_virial=b.empty(natoms * 9, self.dtype))
        return out

    def parameters(self, fparam, aparam, natoms: int, to_device=None) -> ParameterPack:
        """The frame's and atoms' parameters on the device (the workspace's buffers unless
        ``to_device(name, values, dtype)`` is given: an MD run keeps arrays of its own)."""
        if not self.takes_parameters:
            return self.no_parameters
        return ParameterPack.upload(self.model.fitting, fparam, aparam, natoms, to_device or self.workspace.upload,
                                    self.kernel_dtype)

    def compute(self, pos, atype, cell: np.ndarray | None, nb: Neighbors, out: dict | None = None,
                params: ParameterPack | None = None, virials: bool = True) -> dict:
        """Atomic energies (N), forces (3N) and atomic virials (9N) as device arrays in ``out``;
        ``params`` from :meth:`parameters` for a model with frame or atomic parameters.  ``virials=False``
        leaves out["atom_virial"] as it was (an MD step between samples): the forces are the same to the bit,
        and the gather reads neither image shifts nor neighbours' positions."""
        if params is None:
            if self.takes_parameters:
                raise ValueError("this model takes frame/atomic parameters: pass params=evaluator.parameters(...)")
            params = self.no_parameters
        b, ws, dt = self.backend, self.workspace, self.dtype
        natoms = len_of(pos) // 3
        ncentres = nb.lists[0].ncentres
        out = self.outputs(natoms, out)
        cell_dev = ws.constant("cell", cell if cell is not None else np.zeros((3, 3)), dt)
        geometries, pair_grads = [], []
        for k, lst in enumerate(nb.lists):
            nnei = int(sum(lst.spec.sel))
            geometries.append(Geometry(pos, cell_dev, atype, lst.nlist, lst.nshift, nnei))
            pair_grads.append(ws.buffer(f"pair_grad:{k}", ncentres * nnei * 3, self.kernel_dtype))
        if ncentres < natoms:          # neighbour-only atoms carry no energy
            b.launch("fill", natoms, Args(arr=out["atom_energy"], value=0.0), dtype=dt)
        row_sums = self.passes.energies_and_pair_gradients(geometries, ncentres, out["atom_energy"], pair_grads,
                                                           self.layout, self.chunks_for(ncentres), params)
        # the passes' row sums are in the kernels' precision: "mixed" sums the float32 rows in float64 here
        if row_sums is None or self.kernel_dtype != dt:
            row_sums = [None] * len(nb.lists)
        for k, (geo, lst) in enumerate(zip(geometries, nb.lists)):
            # row_sum unread without row_sums: any array of the kernel's types stands in
            row_sum = pair_grads[k] if row_sums[k] is None else row_sums[k]
            sums = Args(nnei=geo.nnei, ncentres=ncentres, pair_grad=pair_grads[k],
                        row_sums=int(row_sums[k] is not None), row_sum=row_sum, rev=lst.rev, rev_count=lst.rev_count,
                        rev_cap=lst.rev_cap, accumulate=int(k > 0), force=out["force"])
            if virials:
                b.launch("gather_forces_and_virials", natoms, Args(pos=pos, cell=cell_dev, nlist=lst.nlist,
                                                                   nshift=lst.nshift), sums,
                         Args(atom_virial=out["atom_virial"]), dtype=dt)
            else:
                b.launch("gather_forces", natoms, Args(pos=pos), sums, dtype=dt)
        return out

    def run(self, pos, atype, cell: np.ndarray | None, bounds=None, out: dict | None = None,
            ncentres: int | None = None, params: ParameterPack | None = None) -> dict:
        """Wrap (PBC), build the lists and compute: one evaluation of device positions (wrapped in place)."""
        if cell is not None:
            self.wrap(pos, cell, self.workspace.buffer("image", len_of(pos), np.int64))
        nb = self.build_neighbors(pos, atype, cell, bounds=bounds, ncentres=ncentres)
        return self.compute(pos, atype, cell, nb, out, params)

    def evaluate(self, coords: np.ndarray, cell: np.ndarray | None, atype: np.ndarray,
                 ncentres: int | None = None, fparam=None, aparam=None, atomic: bool = True) -> FrameResult:
        """One frame from the host to the host (float64 results), through the workspace.  With
        ``ncentres``, only the first ncentres atoms are centres (DeePMD-kit's nloc; the rest are
        ghosts of a domain decomposition): energies are theirs, forces and virials fall on all atoms.
        ``fparam`` (numb_fparam,) and ``aparam`` (natoms, numb_aparam) for models that take them.
        Without ``atomic`` only the forces and the totals are copied back (atom_energy and
        atom_virial are None): 3·N numbers and a few kilobytes instead of 13·N.

        The neighbour lists are deferred (dpsycl/device_neighbors.py) once a frame of this size was
        evaluated: every kernel is queued before the one wait, for the results, and the lists'
        status is read after it; a list that overflowed its room is built again and the frame
        computed again."""
        with self.lock:
            ws = self.workspace
            coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
            if self.dtype != np.float64 and not self.narrows_on_device(cell):
                coords = positions_near_origin(coords, cell)
            bounds = None if cell is not None else position_bounds(coords)     # a periodic grid needs none
            natoms = len(atype)
            self.check_memory(natoms, cell, bounds, ncentres=ncentres)
            pos = self.upload_positions(coords, cell)
            atype_dev = ws.constant("atype", atype, np.int64)
            params = self.parameters(fparam, aparam, natoms)
            # results are copied to the host at once, so the output arrays are the workspace's: three
            # sections of one buffer, read back by one copy
            whole, (ae_d, f_d, av_d) = ws.sections("out", (natoms, 3 * natoms, 9 * natoms), self.dtype)
            out = {"natoms": natoms, "atom_energy": ae_d, "force": f_d, "atom_virial": av_d}
            if cell is not None:
                self.wrap(pos, cell, ws.buffer("image", len_of(pos), np.int64))
            nb = self.build_neighbors(pos, atype_dev, cell, bounds=bounds, ncentres=ncentres, deferred=True)
            self.compute(pos, atype_dev, cell, nb, out, params)
            result = self.frame_results(out, whole, atomic)
            if not self.settle_neighbors(nb, cell):
                nb = self.build_neighbors(pos, atype_dev, cell, bounds=bounds, ncentres=ncentres)
                self.compute(pos, atype_dev, cell, nb, out, params)
                result = self.frame_results(out, whole, atomic)
        return result

    def narrows_on_device(self, cell: np.ndarray | None) -> bool:
        """Whether a frame's float64 positions are moved near the origin and narrowed to float32 on the device
        (narrow_atom): periodic frames on a device with float64; the host's positions_near_origin took 1.0 ms
        of a 29 ms float32 evaluation at 131,072 atoms on an H200 (benchmarks/NOTES.md, session 19)."""
        return self.dtype != np.float64 and cell is not None and self.backend.fp64

    def upload_positions(self, coords: np.ndarray, cell: np.ndarray | None):
        """The frame's (N, 3) float64 positions as the device array ``positions`` of the evaluator's precision."""
        ws = self.workspace
        if not self.narrows_on_device(cell):
            return ws.upload("positions", coords, self.dtype)
        wide = ws.upload("positions:float64", coords, np.float64)
        pos = ws.buffer("positions", wide.shape[0], self.dtype)
        self.backend.launch("narrow_atom", len(coords),
                            Args(wide=wide, cell=ws.constant("cell:float64", cell, np.float64),
                                 inv_cell=ws.constant("inv_cell:float64", cell_inverse(cell), np.float64), pos=pos),
                            dtype=np.float64)
        return pos

    def frame_results(self, out: dict, whole, atomic: bool) -> FrameResult:
        """The results of ``out`` (the sections of the workspace's buffer ``whole``) on the host.  E and W are
        summed on the device in blocks of TOTAL_ROWS atoms (row_block_sums, in float64) where the device
        has float64; the host adds the blocks."""
        b, natoms = self.backend, out["natoms"]
        partial = None
        if b.fp64:
            nblocks = total_blocks(natoms)
            partial = self.workspace.buffer("totals", 10 * nblocks, np.float64)
            for at, values, ncols in ((0, out["atom_energy"], 1), (nblocks, out["atom_virial"], 9)):
                b.launch("row_block_sums", ncols * nblocks, Args(values=values, ncols=ncols, nrows=natoms,
                                                                block=TOTAL_ROWS, partial=partial, at=at),
                         dtype=self.dtype)
        ae = av = None
        if atomic or partial is None:
            # a fresh host array (no second copy for float64), its sections the results
            host = b.to_host(whole).astype(np.float64, copy=False)
            ae = host[:natoms]
            f = host[natoms:4 * natoms].reshape(-1, 3)
            av = host[4 * natoms:].reshape(-1, 9)
        else:
            f = b.to_host(out["force"]).astype(np.float64, copy=False).reshape(-1, 3)
        if partial is None:
            energy, virial = float(ae.sum()), column_sums(av)
        else:
            sums = b.to_host(partial)
            energy, virial = float(sums[:nblocks].sum()), sums[nblocks:].reshape(nblocks, 9).sum(axis=0)
        return FrameResult(energy, f, virial, ae, av) if atomic else FrameResult(energy, f, virial, None, None)

    def evaluate_device(self, pos, atype: np.ndarray, cell: np.ndarray | None, fparam=None, aparam=None) -> dict:
        """One frame of device positions (3N, copied first); results are new device arrays."""
        with self.lock:
            b = self.backend
            bounds = None
            if cell is None:
                host = b.to_host(pos).reshape(-1, 3).astype(np.float64)
                bounds = position_bounds(host)
            self.check_memory(len(atype), cell, bounds)
            return self.run(b.copy(pos), b.asarray(atype, np.int64), cell, bounds,
                            params=self.parameters(fparam, aparam, len(atype)))


#: what ``precision`` may name: a dtype for every kernel, or "mixed" (the descriptor's and fitting
#: net's kernels in float32; positions, the neighbour search, the force and virial gather and the
#: results in float64, as the mixed modes of GPU MD engines)
PRECISIONS = ("float64", "float32", "mixed")


def precision_name(precision) -> str:
    """"float64", "float32" or "mixed" for a precision given as a name or a NumPy dtype."""
    if isinstance(precision, str) and precision.lower() == "mixed":
        return "mixed"
    try:
        name = np.dtype(precision).name
    except TypeError:
        name = None
    if name not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    return name


def len_of(a) -> int:
    return int(a.shape[0]) if hasattr(a, "shape") else len(a)


# NumPy reduces an (N, k) C-ordered array along axis 0 a row at a time: at N = 131,072 its min over
# axis 0 took 3.2 ms where the three strided columns take 0.13 ms (benchmarks/NOTES.md, session 8)
def position_bounds(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) coordinate along each axis of (N, 3) positions."""
    return (np.array([coords[:, k].min() for k in range(coords.shape[1])]),
            np.array([coords[:, k].max() for k in range(coords.shape[1])]))


#: rows summed side by side in column_sums: a (N/ROW_BLOCK, ROW_BLOCK·k) view's sum over axis 0 runs
#: along contiguous rows of ROW_BLOCK·k numbers; nine strided column sums took 3.6× as long at
#: N = 131,072 (benchmarks/NOTES.md, session 11)
ROW_BLOCK = 64


def column_sums(values: np.ndarray) -> np.ndarray:
    """Σ over the rows of (N, k) values: ROW_BLOCK interleaved partial sums of each column (each
    over N/ROW_BLOCK rows), then their sum, then the rows left over."""
    values = np.ascontiguousarray(values)
    n, k = values.shape
    whole = n - n % ROW_BLOCK
    total = values[:whole].reshape(-1, ROW_BLOCK * k).sum(axis=0).reshape(ROW_BLOCK, k).sum(axis=0)
    return total + values[whole:].sum(axis=0)


def size_text(nbytes: float) -> str:
    """Bytes for a message: MiB below a GiB, else GiB, three digits."""
    return f"{nbytes / 2 ** 20:.3g} MiB" if nbytes < 2 ** 30 else f"{nbytes / 2 ** 30:.3g} GiB"


def positions_near_origin(coords: np.ndarray, cell: np.ndarray | None) -> np.ndarray:
    """The same structure with every position moved, in float64, into the cell by whole lattice vectors
    (periodic) or the whole system moved next to the origin (open): what a float32 model then sees
    does not depend on how far from the origin the coordinates were (DeePMD-kit's does not either).
    Positions already in the cell are left bit for bit.  The host's form, for open systems and devices without
    float64; periodic frames elsewhere take the same rule on the device (neighbors.narrow_atom: a change to
    one is a change to both)."""
    if cell is None:
        return coords - position_bounds(coords)[0]
    # np.dot, not @: NumPy's matmul loops over (N, 3)·(3, 3) itself, 4.8 ms against BLAS's 1.0 ms at
    # N = 131,072 (benchmarks/NOTES.md, session 11)
    frac = np.dot(coords, cell_inverse(cell))
    if frac.min() >= 0.0 and frac.max() < 1.0:  # already in the cell (a wrapped frame): no copy, no arithmetic
        return coords
    shift = np.floor(frac)
    moved = coords.copy()
    for k in range(3):        # in the order the device's wrap_atom subtracts them
        moved -= shift[:, k:k + 1] * cell[k]
    return moved
