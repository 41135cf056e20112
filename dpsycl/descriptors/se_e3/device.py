"""se_e3 on a device: its constants uploaded once, and the launches of its kernel bodies
(device_kernels/se_e3.py, one work-item per atom and chunk of slots on every device)."""
from __future__ import annotations

import numpy as np

from ...backends.launch import Args
from ...fitting import FittingPack
from ...model import EnergyFitting
from ..embedding import EmbeddingPack
from ..smooth import nets_in_kernel_order, upload_environment
from .params import SeE3


class SeE3Device:
    """The device passes of se_e3 for one model on one workspace (dpsycl.workspace.Workspace)."""

    layouts = ("chunk",)

    def __init__(self, d: SeE3, fitting: EnergyFitting, ws, dtype):
        self.ws = ws
        self.dtype = dt = np.dtype(dtype)
        self.env = upload_environment(d, ws.keep, dt)
        # net of neighbour species (a, b), a ≤ b, at index a·ntypes + b (the others are never run)
        if d.compressed:    # tables (device_kernels/layers.py: embedding_forward reads them)
            self.emb = EmbeddingPack.upload_tables(nets_in_kernel_order(d, d.tables), ws.keep, dt)
        else:
            self.emb = EmbeddingPack.upload(nets_in_kernel_order(d), d.neuron, d.activation, ws.keep, dt)
        self.fit = FittingPack.upload(fitting, ws.keep, dt)
        self.fit_inputs = fitting.input_width
        self.m_width = d.embedding_width
        self.n_hidden = max(1, sum(fitting.neuron))

    def energies_and_pair_gradients(self, geometries, natoms: int, atom_energy, pair_grads, layout: str,
                                    nchunk: int, params) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        b, dt, m = self.ws.backend, self.dtype, self.m_width
        d_part = self.ws.buffer("d_part", natoms * nchunk * m, dt)
        de_dd = self.ws.buffer("de_dd", natoms * m, dt)
        chunks = Args(nchunk=nchunk, chunk_len=-(-geo.nnei // nchunk))
        slot_scratch = {"ebuf": 4 * self.emb.ewmax, "row": 16, "row_k": 16}
        b.launch("three_body_chunk", natoms * nchunk, geo, chunks, self.env, self.emb, Args(d_part=d_part),
                 scratch=slot_scratch, dtype=dt)
        b.launch("three_body_fitting_atom", natoms,
                 Args(atype=geo.atype, nchunk=nchunk, d_part=d_part, m_width=m),
                 self.fit, params, Args(atom_energy=atom_energy, de_dd=de_dd),
                 scratch={"dbuf": self.fit_inputs, "fbuf": 2 * self.fit.fwmax, "dact": self.n_hidden}, dtype=dt)
        b.launch("three_body_gradient_chunk", natoms * nchunk, geo, chunks, self.env, self.emb,
                 Args(de_dd=de_dd, pair_grad=pair_grad), scratch=slot_scratch, dtype=dt)
