"""The fitting stage as dense products: each species' rows through its net by the backend's GEMM.

    X_{l+1} = φ(X_l W_l + b_l)·idt (+ X_l),    ∂y/∂X_l = (∂y/∂X_{l+1} ⊙ φ'·idt) W_lᵀ (+ ∂y/∂X_{l+1})

over all atoms of one species at once, where the one-atom kernels (device_kernels/layers.py, se_e2_a_fitting.py)
stream every weight once per atom or per four atoms.  The atoms are sorted by species (``rows``), cut into
blocks of ROW_BLOCK rows (memory stays bounded whatever the system), and within a block each run of one
species is one product per layer and direction (``backend.matmul``); the element-wise steps are the work-group
bodies of device_kernels/fitting_rows.py.  A descriptor supplies the two ends: ``fill_inputs`` writes X_0 of a
block's rows, ``use_gradients`` reads G_0 = ∂y/∂X_0 back (E_i's gradient is out_std · G_0).
"""
from __future__ import annotations

import types
import weakref

import numpy as np

from .backends.launch import Args
from .device_kernels.layers import fitting_residual
from .fitting import pack_layers

#: atoms (centres) from which the products run: below, the calls' fixed costs outweigh what they save (cuag on a
#: 2-core Zen 3, evaluations alternated with the fitting kernels: 0.87-0.88x at 256 atoms, 0.96-0.98x at 1,024,
#: 1.04-1.07x at 2,048; benchmarks/NOTES.md, session 27)
PRODUCTS_FROM = 2048
#: rows per block: the block's layer values and slopes are ≈ 1,250 values per row for cuag's nets (20 MB in
#: float64), whatever the number of atoms; 1,024, 2,048 and 4,096 rows took the same time within the machine's
#: spread (compressed cuag, 8,192 atoms: 386 / 375 / 385 ms, NOTES.md, session 27)
ROW_BLOCK = 2048
#: lanes of the element-wise work-groups: one vector of the OpenCL CPU compiler
ROW_LANES = 16
#: rows per block and lanes per row on GPUs: each block is ≈ 20 launches (products and element-wise kernels),
#: so a block must hold enough rows to keep the GPU busy past their host cost; 16,384 rows of cuag's nets are
#: 161 MB of block buffers in float64 (1.2 KB/atom at 131,072 atoms, nothing at 10 M), and 65,536 were no
#: faster; four warps over a row's columns (cuag: 120 outputs) were 1-2% faster than two (H100, 131,072 atoms:
#: benchmarks/NOTES.md, session 30)
GPU_ROW_BLOCK = 16384
GPU_ROW_LANES = 128


class Block(types.SimpleNamespace):
    """One block of sorted rows: ``rows[row0 + r]`` is the atom of row r < n; X_0 goes to ``values`` (x_width
    values per row) and G_0 comes back in ``grad`` (x_width per row)."""


def species_order(backend, atype, natoms: int, ntypes: int):
    """(order, counts): the atoms sorted by species (stable) and each species' count, from the device's species
    array read back once."""
    host = np.asarray(backend.to_host(atype))[:natoms]
    return np.argsort(host, kind="stable"), np.bincount(host, minlength=ntypes)


def products_for(fitting, fit, ws, dtype, prefix: str = "", fit_wt=None):
    """FittingRows for a model's fitting net where the workspace's device offers dense products and the net has a
    hidden layer; None where the kernels' own layers run it."""
    if fitting is None or not fitting.neuron or not getattr(ws.backend, "dense_products", False):
        return None
    return FittingRows(fitting, fit, ws, dtype, prefix, fit_wt)


class FittingRows:
    """One model's fitting net as dense products on one workspace (``fit``: its FittingPack on the device).
    ``takes(natoms)`` says whether an evaluation of that many centres runs it; ``enabled``, ``products_from``
    (default PRODUCTS_FROM), ``row_block`` and ``lanes`` (ROW_BLOCK and ROW_LANES, GPU_ROW_BLOCK and
    GPU_ROW_LANES on GPUs) and ``wide_rows`` (GPUs) are attributes, so that a benchmark or a test can choose."""

    def __init__(self, fitting, fit, ws, dtype, prefix: str = "", fit_wt=None):
        self.ws, self.fit, self.dtype, self.prefix = ws, fit, np.dtype(dtype), prefix
        self.widths = [fitting.input_width, *fitting.neuron, 1]
        self.n_fit = len(fitting.neuron)
        self.ntypes = len(fitting.nets)
        # the host's copy of the offsets (fit.fit_off on the device): where each product's matrix starts
        self.offsets = pack_layers(fitting.nets, dtype)[1].reshape(-1, 3)
        self.fit_wt = transposed_weights(fitting, ws, dtype) if fit_wt is None else fit_wt
        self.value_at = np.cumsum([0, *self.widths[:-1]])[:-1]               # X_l of row 0 in a block's values
        self.slope_at = np.cumsum([0, *self.widths[1:-1]])                   # slopes of hidden layer l
        self._sorted = None
        self.enabled = True
        self.products_from = PRODUCTS_FROM
        gpu = bool(getattr(ws.backend, "is_gpu", False))
        self.row_block = GPU_ROW_BLOCK if gpu else ROW_BLOCK
        self.lanes = GPU_ROW_LANES if gpu else ROW_LANES
        # a descriptor's row kernels in the wide devices' form (lanes over neighbouring values: coalesced)
        self.wide_rows = gpu

    def takes(self, natoms: int) -> bool:
        return self.enabled and natoms >= self.products_from

    def buffers(self, n: int):
        """The block buffers for n rows: the layer values X_0 … X_L (each product's output, later the gradients),
        the hidden layers' slopes, the outputs y − b_L."""
        ws, p, dt, w = self.ws, self.prefix, self.dtype, self.widths
        return types.SimpleNamespace(values=ws.buffer(p + "fit_rows:values", n * sum(w[:-1]), dt),
                                     slopes=ws.buffer(p + "fit_rows:slopes", n * max(sum(w[1:-1]), 1), dt),
                                     out=ws.buffer(p + "fit_rows:out", n, dt))

    def species_rows(self, atype, natoms: int):
        """(rows, runs): the atoms sorted by species on the device, and each species' (species, first, end) in that
        order.  Read back and sorted on the host once per species array (MD passes the same device array)."""
        if atype is None:               # the memory estimate's dry run
            return self.ws.buffer(self.prefix + "fit_rows:rows", natoms, np.int64), []
        held = self._sorted
        if held is not None and held[0]() is atype and held[1] == natoms:
            return held[2], held[3]
        order, counts = species_order(self.ws.backend, atype, natoms, self.ntypes)
        ends = np.cumsum(counts)
        runs = [(s, int(e - c), int(e)) for s, (c, e) in enumerate(zip(counts, ends)) if c]
        rows = self.ws.upload(self.prefix + "fit_rows:rows", order, np.int64)
        self._sorted = (weakref.ref(atype), natoms, rows, runs)
        return rows, runs

    def matrix_at(self, species: int, layer: int) -> int:
        """Where the matrix of a species' layer starts in fit_w (and its transpose in fit_wt)."""
        return int(self.offsets[species * (self.n_fit + 1) + layer, 0])

    def descriptor_rows(self, natoms: int, width: int):
        """The buffer of every atom's D_i (``width`` values each) that run_on_rows reads and overwrites."""
        return self.ws.buffer(self.prefix + "fit_rows:desc", natoms * width, self.dtype)

    def run_on_member(self, passes, geometries, natoms: int, nchunk: int, width: int, atom_energy, pair_grads,
                      params) -> None:
        """A whole evaluation of a unit that offers MemberPasses (descriptors/base.py) and D_i of ``width`` values:
        its D_i rows (descriptor_into), the products (run_on_rows), its backward from ∂E_i/∂D_i written over them
        (pair_gradients_from)."""
        desc = self.descriptor_rows(natoms, width)
        passes.descriptor_into(geometries, natoms, nchunk, desc, width, 0)
        self.run_on_rows(geometries[0].atype, natoms, desc, width, atom_energy, params)
        passes.pair_gradients_from(geometries, natoms, nchunk, desc, width, 0, pair_grads)

    def run_on_rows(self, atype, natoms: int, desc, width: int, atom_energy, params) -> None:
        """E_i into atom_energy from D_i = row i of desc, whose row i then holds ∂E_i/∂D_i: a block's rows are
        gathered before its gradients are scattered back, and no later block reads them (fitting_rows_gather,
        fitting_rows_scatter), so the two share one buffer."""
        b, dt = self.ws.backend, self.dtype

        def gather(block):
            b.launch_groups("fitting_rows_gather", block.n, self.lanes,
                            Args(rows=block.rows, row0=block.row0, desc=desc, desc_stride=width), params,
                            Args(values=block.values, x_width=block.x_width), dtype=dt)

        def scatter(block):
            b.launch_groups("fitting_rows_scatter", block.n, self.lanes,
                            Args(rows=block.rows, row0=block.row0, atype=atype, grad=block.grad,
                                 x_width=block.x_width, out_std=self.fit.out_std, desc_grad=desc, desc_stride=width),
                            dtype=dt)

        self.run(atype, natoms, gather, scatter, atom_energy)

    def run(self, atype, natoms: int, fill_inputs, use_gradients, atom_energy) -> None:
        """E_i into atom_energy for every atom; ``fill_inputs(block)`` and ``use_gradients(block)`` launch the
        descriptor's two ends of each block (Block)."""
        rows, runs = self.species_rows(atype, natoms)
        b, dt, fit, w = self.ws.backend, self.dtype, self.fit, self.widths
        for row0 in range(0, max(natoms, 1), self.row_block):
            n = min(self.row_block, natoms - row0)
            buf = self.buffers(n)
            # each species' run of rows inside this block: (species, first row, end row), block-relative
            parts = [(s, max(first, row0) - row0, min(end, row0 + n) - row0) for s, first, end in runs
                     if first < row0 + n and end > row0]
            block = Block(rows=rows, row0=row0, n=n, values=buf.values, x_width=w[0], grad=None)
            fill_inputs(block)
            group = Args(rows=rows, row0=row0, atype=atype)
            for layer in range(self.n_fit):
                n_in, n_out = w[layer], w[layer + 1]
                x_at, y_at = int(self.value_at[layer]) * n, int(self.value_at[layer + 1]) * n
                for s, lo, hi in parts:
                    b.matmul(buf.values, x_at + lo * n_in, fit.fit_w, self.matrix_at(s, layer), buf.values,
                             y_at + lo * n_out, hi - lo, n_in, n_out)
                b.launch_groups("fitting_rows_forward", n, self.lanes, group,
                                Args(layer=layer, n_in=n_in, n_out=n_out, values=buf.values, x_at=x_at, y_at=y_at,
                                     slopes=buf.slopes, slope_at=int(self.slope_at[layer]) * n),
                                Args(fit_w=fit.fit_w, fit_off=fit.fit_off, n_fit=fit.n_fit, act_fit=fit.act_fit,
                                     act_fit_arg=fit.act_fit_arg), dtype=dt)
            n_last = w[self.n_fit]
            last_at = int(self.value_at[self.n_fit]) * n
            for s, lo, hi in parts:
                b.matmul(buf.values, last_at + lo * n_last, fit.fit_w, self.matrix_at(s, self.n_fit), buf.out, lo,
                         hi - lo, n_last, 1)
            b.launch_groups("fitting_rows_seed", n, self.lanes, group,
                            Args(n_last=n_last, out_raw=buf.out, fit_w=fit.fit_w, fit_off=fit.fit_off, n_fit=fit.n_fit,
                                 bias_e=fit.bias_e, out_std=fit.out_std, out_bias=fit.out_bias, values=buf.values,
                                 grad_at=last_at, slopes=buf.slopes, slope_at=int(self.slope_at[self.n_fit - 1]) * n,
                                 atom_energy=atom_energy), dtype=dt)
            for layer in reversed(range(self.n_fit)):
                n_in, n_out = w[layer], w[layer + 1]
                g_at = int(self.value_at[layer]) * n
                for s, lo, hi in parts:
                    b.matmul(buf.slopes, int(self.slope_at[layer]) * n + lo * n_out, self.fit_wt,
                             self.matrix_at(s, layer), buf.values, g_at + lo * n_in, hi - lo, n_out, n_in)
                if layer > 0:
                    b.launch_groups("fitting_rows_backward", n, self.lanes,
                                    Args(width=n_in, residual=int(fitting_residual(layer, n_in, n_out)),
                                         values=buf.values, grad_at=g_at, out_at=int(self.value_at[layer + 1]) * n,
                                         slopes=buf.slopes, slope_at=int(self.slope_at[layer - 1]) * n), dtype=dt)
            block.grad = buf.values         # G_0, where X_0 was
            use_gradients(block)


def transposed_weights(fitting, ws, dtype):
    """Every fitting layer's matrix transposed, packed at the offsets of the matrices themselves (pack_layers):
    the backward products, and the one-atom kernels' reverse loops, read Wᵀ row by row."""
    transposed = [[types.SimpleNamespace(matrix=np.asarray(layer.matrix).T, bias=layer.bias, idt=layer.idt)
                   for layer in net] for net in fitting.nets]
    return ws.keep(pack_layers(transposed, dtype)[0], dtype)
