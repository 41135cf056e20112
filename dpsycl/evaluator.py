"""Device evaluation of a se_e2_a model: host orchestration of the kernels in device_kernels/.

Nothing here knows which backend runs the kernels; a backend supplies arrays, launches, and the
one atomic kernel (cell binning).  Data stays on the device from coordinates in to energies,
forces and virials out; the host only reads a few counters after a neighbour-list build.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .model import Model, ModelError
from .neighbors import SelTruncationWarning, perpendicular_widths
from .device_kernels.pipeline import (ACT_GELU, ACT_LINEAR, ACT_RELU, ACT_RELU6, ACT_SIGMOID,
                                      ACT_SOFTPLUS, ACT_TANH)

_ACT_CODES = {"tanh": ACT_TANH, "gelu": ACT_GELU, "gelu_tf": ACT_GELU, "relu": ACT_RELU,
              "relu6": ACT_RELU6, "softplus": ACT_SOFTPLUS, "sigmoid": ACT_SIGMOID,
              "linear": ACT_LINEAR, "none": ACT_LINEAR}


def _pack_layers(nets: list[list], dtype):
    """Flat weight buffer and (net, layer, {matrix, bias, idt}) offsets; idt −1 when absent."""
    chunks, offsets, pos = [], [], 0
    for layers in nets:
        for layer in layers:
            row = []
            for arr in (layer.matrix, layer.bias, layer.idt):
                if arr is None:
                    row.append(-1)
                    continue
                row.append(pos)
                flat = np.asarray(arr, dtype=dtype).ravel()
                chunks.append(flat)
                pos += flat.size
            offsets.append(row)
    return np.concatenate(chunks), np.asarray(offsets, dtype=np.int64).ravel()


def _block_stats(model: Model):
    """t_avg/t_std per (centre species, neighbour species) block; DeePMD-kit keeps them uniform."""
    nt = model.ntypes
    avg = np.zeros((nt, nt, 4))
    std = np.zeros((nt, nt, 4))
    offs = model.sel_offsets
    for ti in range(nt):
        a = model.t_avg[ti].reshape(-1, 4)
        s = model.t_std[ti].reshape(-1, 4)
        for tj in range(nt):
            blk_a, blk_s = a[offs[tj]:offs[tj + 1]], s[offs[tj]:offs[tj + 1]]
            if len(blk_a) == 0:
                continue
            if np.ptp(blk_a, axis=0).max() > 0 or np.ptp(blk_s, axis=0).max() > 0:
                raise ModelError("t_avg/t_std vary inside a neighbour block; the device kernels need them "
                                 "uniform per (centre, neighbour) species block, as DeePMD-kit writes them")
            avg[ti, tj] = blk_a[0]
            std[ti, tj] = blk_s[0]
    return avg.ravel(), std.ravel()


@dataclass
class NeighborState:
    """A neighbour list on the device and what it was built for."""
    nlist: object
    nshift: object
    rev: object
    rev_count: object
    rev_cap: int
    n_truncated: int
    max_candidates: int


class DeviceEvaluator:
    """Energy, forces and virials of one model on one backend; arrays stay on the device."""

    def __init__(self, model: Model, backend, dtype=None, chunks: int | None = None):
        self.model = model
        self.backend = backend
        self.dtype = np.dtype(dtype or model.precision)
        if self.dtype == np.float64 and not backend.fp64:
            raise ModelError(f"device {backend.name} has no float64 support and the model is float64; "
                             "pass precision='float32' to DeepPot (or --precision float32) to run it in "
                             "float32 deliberately")
        m = model
        dt = self.dtype
        to = backend.asarray
        self.nnei = m.nnei
        self.ntypes = m.ntypes
        if m.type_one_side:
            nets = [m.embedding_nets[(-1, tj)] for tj in range(m.ntypes)]
        else:
            # an excluded pair has no net in the graph and is never evaluated: any net keeps the layout
            present = next(iter(m.embedding_nets.values()))
            nets = [m.embedding_nets.get((ti, tj), present) for ti in range(m.ntypes) for tj in range(m.ntypes)]
        emb_w, emb_off = _pack_layers(nets, dt)
        fit_w, fit_off = _pack_layers(m.fitting_nets, dt)
        emb_widths = [1] + list(m.neuron)
        fit_widths = [m.embedding_width * m.axis_neuron] + list(m.fitting_neuron) + [1]
        avg, std = _block_stats(m)
        excluded = np.zeros((m.ntypes, m.ntypes), dtype=np.int64)
        for a, b in m.exclude_types:
            excluded[a, b] = excluded[b, a] = 1
        self.sel_off = to(m.sel_offsets, np.int64)
        ewmax = max(emb_widths)
        fwmax = max(fit_widths)
        m_width = m.embedding_width
        # arguments shared by the two per-slot passes (descriptor and pair gradients)
        self.embedding_args = (
            self.sel_off, m.ntypes, float(m.rcut), float(m.rcut_smth), to(avg, dt), to(std, dt),
            int(m.type_one_side), to(excluded, np.int64),
            to(emb_w, dt), to(emb_off, np.int64), to(emb_widths, np.int64), len(m.neuron),
            _ACT_CODES[m.activation], ewmax)
        self.fitting_args = (
            to(emb_widths, np.int64), len(m.neuron), int(m.axis_neuron),
            to(fit_w, dt), to(fit_off, np.int64), to(fit_widths, np.int64), len(m.fitting_neuron),
            _ACT_CODES[m.fitting_activation], to(m.bias_atom_e, dt), to(m.out_std, dt), to(m.out_bias, dt), fwmax)
        # private scratch sizes (compile-time constants of each kernel)
        self.slot_scratch = (4 * ewmax, 16)                       # embedding buffers, environment row
        self.fitting_scratch = (4 * m_width, m_width * m.axis_neuron, 2 * fwmax, max(1, sum(m.fitting_neuron)))
        self.m_width = m_width
        # G at the empty-slot row of each (centre, neighbour) species block: a model constant
        self.pad_g = backend.empty(m.ntypes * m.ntypes * m_width, dt)
        (_, ntypes, _, _, blk_avg, blk_std, one_side, _, e_w, e_off, e_widths, n_emb, act, _) = self.embedding_args
        backend.launch("padding_embeddings", m.ntypes * m.ntypes, ntypes, blk_avg, blk_std, one_side, e_w, e_off,
                       e_widths, n_emb, act, ewmax, self.pad_g, scratch=(4 * ewmax,), dtype=dt)
        self.chunks = chunks
        self._buffers: dict = {}
        self._constants: dict = {}
        self.layout = "group" if getattr(backend, "supports_groups", False) and backend.is_gpu else "chunk"

    def _outputs(self, natoms: int, out: dict | None) -> dict:
        """Result arrays: those of ``out`` when it already has them for natoms atoms, else new ones."""
        out = out if out is not None else {}
        if out.get("natoms") != natoms:
            b = self.backend
            out.update(natoms=natoms, atom_energy=b.empty(natoms, self.dtype), force=b.empty(natoms * 3, self.dtype),
                       atom_virial=b.empty(natoms * 9, self.dtype))
        return out

    def compute_grouped(self, pos, atype, cell, nb: NeighborState, out: dict | None = None):
        """Same results as compute(), one work-group per atom (device_kernels/cooperative.py)."""
        b = self.backend
        natoms = len_of(pos) // 3
        out = self._outputs(natoms, out)
        cell_dev = self.constant("cell", cell if cell is not None else np.zeros((3, 3)), self.dtype)
        pair_grad = self.buffer("pair_grad", natoms * self.nnei * 3, self.dtype)
        m = self.model
        nlane = self.group_lanes
        local = (2 * self.embedding_args[-1], 4 * self.m_width, 2 * self.fitting_args[-1],
                 max(1, sum(m.fitting_neuron)), 4 * nlane)
        b.launch_groups("group_atom_energy", natoms, nlane, pos, cell_dev, atype, nb.nlist, nb.nshift, self.nnei,
                        *self.embedding_args, self.pad_g, *self.fitting_args, out["atom_energy"], pair_grad,
                        local=local, scratch=(16,), dtype=self.dtype)
        b.launch("gather_forces_and_virials", natoms, pos, cell_dev, nb.nlist, nb.nshift, self.nnei, pair_grad,
                 nb.rev, nb.rev_count, nb.rev_cap, out["force"], out["atom_virial"], dtype=self.dtype)
        return out

    @property
    def group_lanes(self) -> int:
        """Work-group size of the cooperative kernel: a power of two ≥ the embedding width, ≥ 32."""
        width = max(32, max(self.model.neuron))
        return 1 << (width - 1).bit_length()

    def chunks_for(self, natoms: int) -> int:
        """Slot chunks per atom: enough (atom, chunk) work-items to fill the device, at most 32."""
        if self.chunks:
            return int(self.chunks)
        width = getattr(self.backend, "parallel_width", 1)
        return int(min(32, max(1, -(-width // max(natoms, 1)))))

    # -- geometry ---------------------------------------------------------------------------
    def grid(self, cell: np.ndarray | None, pos_host_bounds, rc: float):
        """Cell-list grid: (grid matrix, origin, ncell, reach, periodic)."""
        if cell is not None:
            widths = perpendicular_widths(cell)
            ncell = np.maximum(np.floor(widths / rc).astype(np.int64), 1)
            ncell = np.minimum(ncell, 1024)
            reach = np.ceil(rc * ncell / widths - 1e-12).astype(np.int64)
            return cell, np.zeros(3), ncell, np.maximum(reach, 1), 1
        lo, hi = pos_host_bounds
        ext = np.maximum(hi - lo, 1e-6) * (1 + 1e-9) + 1e-9
        ncell = np.minimum(np.maximum(np.floor(ext / rc).astype(np.int64), 1), 1024)
        reach = np.ceil(rc * ncell / ext - 1e-12).astype(np.int64)
        return np.diag(ext), lo, ncell, np.minimum(np.maximum(reach, 1), ncell), 0

    def wrap(self, pos, cell: np.ndarray, image):
        b = self.backend
        b.launch("wrap_atom", len_of(pos) // 3, pos, self.constant("cell", cell, self.dtype),
                 self.constant("inv_cell", np.linalg.inv(cell), self.dtype), image, dtype=self.dtype)

    def buffer(self, name: str, n: int, dtype):
        """A device array of n elements kept between calls (reallocated only to grow).

        Device allocation costs milliseconds on a GPU, more than a small evaluation; the evaluator
        therefore owns one workspace: a new neighbour-list build reuses the previous one's arrays.
        """
        n = max(int(n), 1)
        held = self._buffers.get(name)
        if held is None or held[0].shape[0] < n or held[0].dtype != np.dtype(dtype):
            whole = self.backend.empty(n, dtype)
            held = self._buffers[name] = (whole, {n: whole})
        views = held[1]
        if n not in views:  # a device-array view costs ~0.1 ms in numba-cuda: keep them
            views[n] = held[0][:n]
        return views[n]

    def upload(self, name: str, values, dtype):
        """Host values copied into the workspace array ``name``: no device allocation (and later
        release) per evaluation."""
        values = np.ascontiguousarray(values, dtype=dtype).ravel()
        dst = self.buffer(name, values.size, dtype)
        self.backend.copy_from_host(dst, values)
        return dst

    def constant(self, name: str, values, dtype):
        """A small device array of host values, uploaded again only when the values change."""
        values = np.ascontiguousarray(values, dtype=dtype).ravel()
        key = values.tobytes()
        held = self._constants.get(name)
        if held is None or held[0] != key:
            held = self._constants[name] = (key, self.backend.asarray(values, dtype))
        return held[1]

    def build_neighbors(self, pos, atype, cell: np.ndarray | None, rc: float, bounds=None,
                        warn: bool = True) -> NeighborState:
        """Cell list → sorted, sel-truncated rows → reverse slots, all on the device."""
        b = self.backend
        natoms = len_of(pos) // 3
        gmat, origin, ncell, reach, periodic = self.grid(cell, bounds, rc)
        cell_dev = self.constant("cell", cell if cell is not None else np.zeros((3, 3)), self.dtype)
        grid_inv = self.constant("grid_inv", np.linalg.inv(gmat), self.dtype)
        origin_d = self.constant("origin", origin, self.dtype)
        ncell_d = self.constant("ncell", ncell, np.int64)
        reach_d = self.constant("reach", reach, np.int64)
        ncells = int(np.prod(ncell))
        cap = max(8, 2 * int(math.ceil(natoms / ncells)) + 8)
        while True:
            cell_count = self.buffer("cell_count", ncells, np.int64)
            b.launch("fill", ncells, cell_count, 0, dtype=self.dtype)
            cell_atoms = self.buffer("cell_atoms", ncells * cap, np.int64)
            b.bin_atoms(natoms, pos, grid_inv, origin_d, ncell_d, cell_count, cell_atoms, cap)
            fullest = int(b.to_host(cell_count).max()) if ncells else 0
            if fullest <= cap:
                break
            cap = fullest
        nnei = self.nnei
        nlist = self.buffer("nlist", natoms * nnei, np.int64)
        nshift = self.buffer("nshift", natoms * nnei, np.int64)
        type_count = self.buffer("type_count", natoms * self.ntypes, np.int64)
        b.launch("neighbor_row", natoms, pos, atype, cell_dev, grid_inv, origin_d, ncell_d, reach_d, periodic,
                 cell_count, cell_atoms, cap, float(rc), self.sel_off, self.ntypes, nnei, nlist, nshift,
                 type_count, scratch=(nnei,), dtype=self.dtype)
        counts = b.to_host(type_count).reshape(natoms, self.ntypes)
        n_truncated = int(np.any(counts > np.asarray(self.model.sel)[None, :], axis=1).sum())
        if n_truncated and warn:
            warnings.warn(f"{n_truncated} atom(s) have more neighbours of one species than "
                          f"sel={list(self.model.sel)}; the farthest were dropped, as DeePMD-kit does",
                          SelTruncationWarning, stacklevel=3)
        max_candidates = int(counts.sum(axis=1).max()) if natoms else 0
        rev_cap = max(1, max_candidates)
        rev = self.buffer("rev", natoms * rev_cap, np.int64)
        rev_count = self.buffer("rev_count", natoms, np.int64)
        b.launch("reverse_row", natoms, pos, atype, cell_dev, grid_inv, origin_d, ncell_d, reach_d, periodic,
                 cell_count, cell_atoms, cap, float(rc), self.sel_off, nnei, nlist, nshift, rev, rev_count,
                 rev_cap, dtype=self.dtype)
        return NeighborState(nlist, nshift, rev, rev_count, rev_cap, n_truncated, max_candidates)

    # -- energy and forces --------------------------------------------------------------------
    def compute(self, pos, atype, cell: np.ndarray | None, nb: NeighborState, out: dict | None = None):
        """Atomic energies (N), forces (3N) and atomic virials (9N) as device arrays.

        GPUs get one work-group per atom (lanes share each net); CPUs one work-item per
        (atom, slot chunk), which measured 1.5x faster on the OpenCL CPU device (benchmarks/NOTES.md).
        """
        if self.layout == "group":
            return self.compute_grouped(pos, atype, cell, nb, out)
        return self.compute_chunked(pos, atype, cell, nb, out)

    def compute_chunked(self, pos, atype, cell: np.ndarray | None, nb: NeighborState, out: dict | None = None):
        """compute() with one work-item per (atom, chunk of neighbour slots)."""
        b = self.backend
        natoms = len_of(pos) // 3
        out = self._outputs(natoms, out)
        nchunk = self.chunks_for(natoms)
        cell_dev = self.constant("cell", cell if cell is not None else np.zeros((3, 3)), self.dtype)
        t_part = self.buffer("t_part", natoms * nchunk * 4 * self.m_width, self.dtype)
        dt_mat = self.buffer("dt_mat", natoms * 4 * self.m_width, self.dtype)
        pair_grad = self.buffer("pair_grad", natoms * self.nnei * 3, self.dtype)
        chunk_len = -(-self.nnei // nchunk)
        slots = (pos, cell_dev, atype, nb.nlist, nb.nshift, self.nnei, nchunk, chunk_len)
        b.launch("descriptor_chunk", natoms * nchunk, *slots, *self.embedding_args, self.pad_g, t_part,
                 scratch=self.slot_scratch, dtype=self.dtype)
        b.launch("fitting_atom", natoms, atype, self.nnei, nchunk, t_part, *self.fitting_args,
                 out["atom_energy"], dt_mat, scratch=self.fitting_scratch, dtype=self.dtype)
        b.launch("pair_gradient_chunk", natoms * nchunk, *slots, *self.embedding_args, dt_mat,
                 pair_grad, scratch=self.slot_scratch, dtype=self.dtype)
        b.launch("gather_forces_and_virials", natoms, pos, cell_dev, nb.nlist, nb.nshift, self.nnei, pair_grad,
                 nb.rev, nb.rev_count, nb.rev_cap, out["force"], out["atom_virial"], dtype=self.dtype)
        return out


def len_of(a) -> int:
    return int(a.shape[0]) if hasattr(a, "shape") else len(a)
