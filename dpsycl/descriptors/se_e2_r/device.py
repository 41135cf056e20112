"""se_e2_r on a device: its constants uploaded once, and the launches of its kernel bodies
(device_kernels/se_e2_r.py, one work-item per atom and chunk of slots on every device)."""
from __future__ import annotations

from ...backends.launch import Args
from ...model import EnergyFitting
from ..smooth import SmoothDevice
from .params import SeE2R


class SeE2RDevice(SmoothDevice):
    """The device passes of se_e2_r for one model on one workspace (dpsycl.workspace.Workspace)."""

    layouts = ("chunk",)

    def __init__(self, d: SeE2R, fitting: EnergyFitting, ws, dtype):
        # G(R_pad) and G(0) of each (centre, neighbour) species block: model constants
        super().__init__(d, fitting, ws, dtype, "radial_padding", ("pad_g", "zero_g"))
        self.pad_g, self.zero_g = self.padding["pad_g"], self.padding["zero_g"]

    def energies_and_pair_gradients(self, geometries, natoms: int, atom_energy, pair_grads, layout: str,
                                    nchunk: int, params) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        b, dt, m = self.ws.backend, self.dtype, self.m_width
        g_part = self.ws.buffer("g_part", natoms * nchunk * m, dt)
        de_dd = self.ws.buffer("de_dd", natoms * m, dt)
        chunks = Args(nchunk=nchunk, chunk_len=-(-geo.nnei // nchunk))
        slot_scratch = {"ebuf": 4 * self.emb.ewmax, "row": 16}
        b.launch("radial_chunk", natoms * nchunk, geo, chunks, self.env, self.emb,
                 Args(pad_g=self.pad_g, zero_g=self.zero_g, g_part=g_part), scratch=slot_scratch, dtype=dt)
        b.launch("radial_fitting_atom", natoms,
                 Args(atype=geo.atype, nnei=geo.nnei, nchunk=nchunk, g_part=g_part, m_width=m),
                 self.fit, params, Args(atom_energy=atom_energy, de_dd=de_dd),
                 scratch={"dbuf": self.fit_inputs, "fbuf": 2 * self.fit.fwmax, "dact": self.n_hidden}, dtype=dt)
        b.launch("radial_gradient_chunk", natoms * nchunk, geo, chunks, self.env, self.emb,
                 Args(de_dd=de_dd, pair_grad=pair_grad), scratch=slot_scratch, dtype=dt)
