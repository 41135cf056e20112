"""The hybrid descriptor on a device: its members' passes around one fitting net.

    for each member k:  descriptor_into        D_i^(k) → columns [off_k, off_k + width_k) of desc (N × W)
    hybrid_fitting_atom                        E_i, and ∂E_i/∂D_i → desc_grad (N × W)
    for each member k:  pair_gradients_from    its columns of desc_grad → g_ij on its own list(s)

A member is the device passes of its own unit (dpsycl/descriptors/base.py: MemberPasses), built
without a fitting net and on a view of the workspace that gives its buffers names of their own
(two se_e2_a members must not share one ``t_part``).  Chunk layout only: every member's passes
run one work-item per (atom, chunk of slots).
"""
from __future__ import annotations

import numpy as np

from ...backends.launch import Args
from ...fitting import FittingPack
from ...fitting_rows import products_for
from ...model import EnergyFitting, ModelError
from ..base import unit_of
from .params import Hybrid


class MemberWorkspace:
    """A member's view of the hybrid's workspace: the same constants and backend, its buffers
    prefixed with the member's name."""

    def __init__(self, ws, prefix: str):
        self.ws = ws
        self.prefix = prefix
        self.backend = ws.backend

    def keep(self, values, dtype):
        return self.ws.keep(values, dtype)

    def buffer(self, name: str, n: int, dtype):
        return self.ws.buffer(self.prefix + name, n, dtype)

    def upload(self, name: str, values, dtype):
        return self.ws.upload(self.prefix + name, values, dtype)

    def constant(self, name: str, values, dtype):
        return self.ws.constant(self.prefix + name, values, dtype)


class HybridDevice:
    """The device passes of a hybrid for one model on one workspace (dpsycl.workspace.Workspace)."""

    layouts = ("chunk",)

    def __init__(self, d: Hybrid, fitting: EnergyFitting, ws, dtype):
        self.ws = ws
        self.dtype = dt = np.dtype(dtype)
        self.members = []
        for k, member in enumerate(d.members):
            passes = unit_of(member).device(member, None, MemberWorkspace(ws, f"hybrid{k}:"), dt)
            if not all(callable(getattr(passes, name, None)) for name in ("descriptor_into", "pair_gradients_from")):
                raise ModelError(f"descriptor '{member.kind}' cannot be a member of a hybrid on a device yet")
            self.members.append(passes)
        self.lists = d.member_lists()
        self.offsets = d.offsets
        self.width = d.output_width
        self.fit = FittingPack.upload(fitting, ws.keep, dt)
        self.fit_inputs = fitting.input_width
        self.n_hidden = max(1, sum(fitting.neuron))
        # the fitting net as dense products where the device has them (dpsycl/fitting_rows.py)
        self.fitting_rows = products_for(fitting, self.fit, ws, dt, prefix="hybrid:")

    def energies_and_pair_gradients(self, geometries, natoms: int, atom_energy, pair_grads, layout: str,
                                    nchunk: int, params) -> None:
        ws, dt, w = self.ws, self.dtype, self.width
        rows = self.fitting_rows if self.fitting_rows is not None and self.fitting_rows.takes(natoms) else None
        desc = ws.buffer("hybrid:desc", natoms * w, dt) if rows is None else rows.descriptor_rows(natoms, w)
        for passes, lists, at in zip(self.members, self.lists, self.offsets):
            passes.descriptor_into(geometries[lists], natoms, nchunk, desc, w, at)
        if rows is not None:        # ∂E_i/∂D_i written over D_i
            desc_grad = desc
            rows.run_on_rows(geometries[0].atype, natoms, desc, w, atom_energy, params)
        else:
            desc_grad = ws.buffer("hybrid:desc_grad", natoms * w, dt)
            ws.backend.launch("hybrid_fitting_atom", natoms, Args(atype=geometries[0].atype, desc=desc, desc_stride=w),
                              self.fit, params, Args(atom_energy=atom_energy, desc_grad=desc_grad),
                              scratch={"dbuf": self.fit_inputs, "fbuf": 2 * self.fit.fwmax, "dact": self.n_hidden},
                              dtype=dt)
        for passes, lists, at in zip(self.members, self.lists, self.offsets):
            passes.pair_gradients_from(geometries[lists], natoms, nchunk, desc_grad, w, at, pair_grads[lists])
