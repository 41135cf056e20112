"""se_e3 on a device: its constants uploaded once, and the launches of its kernel bodies
(device_kernels/se_e3.py, one work-item per atom and chunk of slots on every device).  As a member
of a hybrid, ``descriptor_into`` and ``pair_gradients_from`` run the same chunk passes around the
hybrid's fitting net (base.py: MemberPasses)."""
from __future__ import annotations

import numpy as np

from ...backends.launch import Args
from ...fitting import FittingPack
from ...fitting_rows import products_for
from ...model import EnergyFitting
from ..embedding import EmbeddingPack
from ..smooth import nets_in_kernel_order, upload_environment
from .params import SeE3


class SeE3Device:
    """The device passes of se_e3 for one model on one workspace (dpsycl.workspace.Workspace)."""

    layouts = ("chunk",)

    def __init__(self, d: SeE3, fitting: EnergyFitting | None, ws, dtype):
        self.ws = ws
        self.dtype = dt = np.dtype(dtype)
        self.env = upload_environment(d, ws.keep, dt)
        # net of neighbour species (a, b), a ≤ b, at index a·ntypes + b (the others are never run)
        if d.compressed:    # tables (device_kernels/layers.py: embedding_forward reads them)
            self.emb = EmbeddingPack.upload_tables(nets_in_kernel_order(d, d.tables), ws.keep, dt)
        else:
            self.emb = EmbeddingPack.upload(nets_in_kernel_order(d), d.neuron, d.activation, ws.keep, dt)
        self.fitting_rows = None
        if fitting is not None:         # None: a hybrid's member (the hybrid runs the one fitting net)
            self.fit = FittingPack.upload(fitting, ws.keep, dt)
            self.fit_inputs = fitting.input_width
            self.n_hidden = max(1, sum(fitting.neuron))
            # the fitting net as dense products where the device has them (dpsycl/fitting_rows.py)
            self.fitting_rows = products_for(fitting, self.fit, ws, dt)
        self.m_width = d.embedding_width

    def energies_and_pair_gradients(self, geometries, natoms: int, atom_energy, pair_grads, layout: str,
                                    nchunk: int, params) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        b, dt, m = self.ws.backend, self.dtype, self.m_width
        if self.fitting_rows is not None and self.fitting_rows.takes(natoms):
            return self.fitting_rows.run_on_member(self, geometries, natoms, nchunk, m, atom_energy, pair_grads,
                                                   params)
        d_part = self.d_partials(geo, natoms, nchunk)
        de_dd = self.ws.buffer("de_dd", natoms * m, dt)
        b.launch("three_body_fitting_atom", natoms,
                 Args(atype=geo.atype, nchunk=nchunk, d_part=d_part, m_width=m),
                 self.fit, params, Args(atom_energy=atom_energy, de_dd=de_dd),
                 scratch={"dbuf": self.fit_inputs, "fbuf": 2 * self.fit.fwmax, "dact": self.n_hidden}, dtype=dt)
        self.pair_gradients(geo, natoms, nchunk, de_dd, pair_grad)

    # -- the chunk passes, also run as a member of a hybrid (dpsycl/descriptors/hybrid/device.py) --------
    @property
    def slot_scratch(self) -> dict:
        return {"ebuf": 4 * self.emb.ewmax, "row": 16, "row_k": 16}

    def d_partials(self, geo, natoms: int, nchunk: int):
        """three_body_chunk: the partial sums of D_i, (atom, chunk) by (atom, chunk)."""
        d_part = self.ws.buffer("d_part", natoms * nchunk * self.m_width, self.dtype)
        chunks = Args(nchunk=nchunk, chunk_len=-(-geo.nnei // nchunk))
        self.ws.backend.launch("three_body_chunk", natoms * nchunk, geo, chunks, self.env, self.emb,
                               Args(d_part=d_part), scratch=self.slot_scratch, dtype=self.dtype)
        return d_part

    def pair_gradients(self, geo, natoms: int, nchunk: int, de_dd, pair_grad) -> None:
        """three_body_gradient_chunk: g_ij from de_dd = ∂E_i/∂D_i."""
        chunks = Args(nchunk=nchunk, chunk_len=-(-geo.nnei // nchunk))
        self.ws.backend.launch("three_body_gradient_chunk", natoms * nchunk, geo, chunks, self.env, self.emb,
                               Args(de_dd=de_dd, pair_grad=pair_grad), scratch=self.slot_scratch, dtype=self.dtype)

    def descriptor_into(self, geometries, natoms: int, nchunk: int, desc, desc_stride: int, desc_at: int) -> None:
        (geo,) = geometries
        d_part = self.d_partials(geo, natoms, nchunk)
        self.ws.backend.launch("columns_from_chunk_sums", natoms,
                               Args(nchunk=nchunk, part=d_part, m_width=self.m_width, desc=desc,
                                    desc_stride=desc_stride, desc_at=desc_at), dtype=self.dtype)

    def pair_gradients_from(self, geometries, natoms: int, nchunk: int, desc_grad, desc_stride: int, desc_at: int,
                            pair_grads) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        de_dd = self.ws.buffer("de_dd", natoms * self.m_width, self.dtype)
        self.ws.backend.launch("rows_from_columns", natoms,
                               Args(m_width=self.m_width, desc_grad=desc_grad, desc_stride=desc_stride,
                                    desc_at=desc_at, rows=de_dd), dtype=self.dtype)
        self.pair_gradients(geo, natoms, nchunk, de_dd, pair_grad)
