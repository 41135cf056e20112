"""se_e2_r on a device: its constants uploaded once, and the launches of its kernel bodies
(device_kernels/se_e2_r.py, one work-item per atom and chunk of slots on every device); as a member
of a hybrid, ``descriptor_into`` and ``pair_gradients_from`` (base.py: MemberPasses)."""
from __future__ import annotations

from ...backends.launch import Args
from ...fitting_rows import products_for
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
        # the fitting net as dense products where the device has them (dpsycl/fitting_rows.py)
        self.fitting_rows = products_for(fitting, getattr(self, "fit", None), ws, dtype)

    def energies_and_pair_gradients(self, geometries, natoms: int, atom_energy, pair_grads, layout: str,
                                    nchunk: int, params) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        b, dt, m = self.ws.backend, self.dtype, self.m_width
        if self.fitting_rows is not None and self.fitting_rows.takes(natoms):
            return self.fitting_rows.run_on_member(self, geometries, natoms, nchunk, m, atom_energy, pair_grads,
                                                   params)
        g_part = self.g_partials(geo, natoms, nchunk)
        de_dd = self.ws.buffer("de_dd", natoms * m, dt)
        b.launch("radial_fitting_atom", natoms,
                 Args(atype=geo.atype, nnei=geo.nnei, nchunk=nchunk, g_part=g_part, m_width=m),
                 self.fit, params, Args(atom_energy=atom_energy, de_dd=de_dd),
                 scratch={"dbuf": self.fit_inputs, "fbuf": 2 * self.fit.fwmax, "dact": self.n_hidden}, dtype=dt)
        self.pair_gradients(geo, natoms, nchunk, de_dd, pair_grad)

    # -- the passes, also run as a member of a hybrid (dpsycl/descriptors/hybrid/device.py) ----------------
    def g_partials(self, geo, natoms: int, nchunk: int):
        """radial_chunk: the partial sums of Σ_j G_ij, (atom, chunk) by (atom, chunk)."""
        g_part = self.ws.buffer("g_part", natoms * nchunk * self.m_width, self.dtype)
        self.ws.backend.launch("radial_chunk", natoms * nchunk, geo, self.chunks(geo, nchunk), self.env, self.emb,
                               Args(pad_g=self.pad_g, zero_g=self.zero_g, g_part=g_part), scratch=self.slot_scratch,
                               dtype=self.dtype)
        return g_part

    def pair_gradients(self, geo, natoms: int, nchunk: int, de_dd, pair_grad) -> None:
        """radial_gradient_chunk: g_ij from de_dd = ∂E_i/∂D_i / (5 nnei)."""
        self.ws.backend.launch("radial_gradient_chunk", natoms * nchunk, geo, self.chunks(geo, nchunk), self.env,
                               self.emb, Args(de_dd=de_dd, pair_grad=pair_grad), scratch=self.slot_scratch,
                               dtype=self.dtype)

    def descriptor_into(self, geometries, natoms: int, nchunk: int, desc, desc_stride: int, desc_at: int) -> None:
        (geo,) = geometries
        g_part = self.g_partials(geo, natoms, nchunk)
        self.ws.backend.launch("radial_descriptor_atom", natoms,
                               Args(nnei=geo.nnei, nchunk=nchunk, g_part=g_part, m_width=self.m_width, desc=desc,
                                    desc_stride=desc_stride, desc_at=desc_at), dtype=self.dtype)

    def pair_gradients_from(self, geometries, natoms: int, nchunk: int, desc_grad, desc_stride: int, desc_at: int,
                            pair_grads) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        de_dd = self.ws.buffer("de_dd", natoms * self.m_width, self.dtype)
        self.ws.backend.launch("radial_descriptor_gradient_atom", natoms,
                               Args(nnei=geo.nnei, m_width=self.m_width, desc_grad=desc_grad, desc_stride=desc_stride,
                                    desc_at=desc_at, de_dd=de_dd), dtype=self.dtype)
        self.pair_gradients(geo, natoms, nchunk, de_dd, pair_grad)
