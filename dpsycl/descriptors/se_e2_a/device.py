"""se_e2_a on a device: its constants uploaded once, and the launches of its kernel bodies.

Three layouts of the same passes (device_kernels/se_e2_a.py, se_e2_a_group.py, se_e2_a_fitting.py):

* ``chunk``: one work-item per (atom, chunk of slots) for T_i, one per atom for the fitting net,
  again per (atom, chunk) for the pair gradients (CPUs: measured 1.5× faster there); where the device
  offers dense products (OpenCL CPU devices: oneMKL), the fitting net as products over each species'
  rows between descriptor_rows and t_gradient_rows (dpsycl/fitting_rows.py);
* ``group``: one work-group per atom, lanes sharing each net (GPUs); from SPLIT_FROM atoms on, where
  the fitting kernel's local arrays fit the device, the ``split`` passes;
* ``split``: the group kernel's two passes as two kernels, and between them the fitting net as
  work-groups over FIT_ATOMS atoms of one species, so each weight loaded serves FIT_ATOMS atoms.

As a member of a hybrid, ``descriptor_into`` and ``pair_gradients_from`` run the chunk passes
around the hybrid's fitting net (base.py: MemberPasses).
"""
from __future__ import annotations

import weakref

import numpy as np

from ...backends.launch import Args
from ...device_kernels import se_e2_a_group as kernels_group, se_e2_a_tables as kernels_tables
from ...device_kernels.layers import TABLE_HEAD
from ...device_kernels.se_e2_a_fitting import FIT_ATOMS, atom_stride, slopes_width, widest_hidden
from ...fitting_rows import ROW_LANES, products_for, species_order, transposed_weights
from ...model import EnergyFitting
from ..embedding import EmbeddingPack
from ..smooth import SmoothDevice, nets_in_kernel_order
from .params import SeE2A


#: lanes of the fitting net's work-groups on CPU devices: the OpenCL CPU compiler's vector width, as the
#: products' element-wise work-groups
FITTING_LANES = ROW_LANES
#: outputs a lane takes per pass over a fitting layer in the work-group kernel of wide devices
#: (group.py: group_dense; benchmarks/NOTES.md, session 7: −7.5% at 131,072 atoms on an H200)
GROUP_KERNEL_FIT_PER_PASS = 2
#: precisions whose split-layout fitting kernel loads a chunk's four values of an atom as one vector
#: (quad_chunked_sums): float32 4.43 -> 3.90 ms on an H200, float64 6.00 -> 6.52 ms (benchmarks/NOTES.md,
#: session 23)
FIT_QUADS = (np.dtype(np.float32),)
#: atoms from which the group layout runs the split passes (three launches instead of one)
SPLIT_FROM = 16384


class SeE2ADevice(SmoothDevice):
    """The device passes of se_e2_a for one model on one workspace (dpsycl.workspace.Workspace)."""

    layouts = ("chunk", "group", "split")

    def __init__(self, d: SeE2A, fitting: EnergyFitting, ws, dtype):
        # G at the empty-slot row of each (centre, neighbour) species block: a model constant
        super().__init__(d, fitting, ws, dtype, "padding_embeddings", ("pad_g",))
        self.pad_g = self.padding["pad_g"]
        self.axis_m = int(d.axis_neuron)
        # CPU devices run the fitting net as work-groups of FITTING_LANES lanes (one vector), wide devices
        # inside the work-group kernel; the reverse pass of both reads the transposed matrices, packed at
        # the same offsets as fit_w (group.py: group_dense_backward)
        self.group_fitting = fitting is not None and getattr(ws.backend, "group_fitting", False)
        neurons = list(fitting.neuron) if fitting is not None else []
        self.fit_widths = [0, *neurons, 1]
        self.widest_hidden = widest_hidden(self.fit_widths, len(neurons))
        self._species_groups = None
        # the group layout's switch to the split passes (an attribute, so that a benchmark can time both)
        self.split_from = SPLIT_FROM
        # lanes of the split layout's fitting kernel (None: the work-group kernels' group_lanes)
        self.fit_lanes = None
        # compressed models on CPU devices: the pair passes as work-groups of one vector that read a
        # channel-minor copy of the tables (se_e2_a_tables.py); its offsets within a net travel as floats
        self.tab_minor = None
        # the work-group kernels read a compressed model's tables channel-minor too (group_embedding_batch):
        # lanes over the channels then load neighbouring coefficients
        self.emb_group = self.emb
        if d.compressed:
            tables = nets_in_kernel_order(d, d.tables)
            self.emb_group = EmbeddingPack.upload_tables(tables, ws.keep, self.dtype, channel_minor=True)
            if (getattr(ws.backend, "group_fitting", False)
                    and max(t.coefficients.size for t in tables) + TABLE_HEAD < 2 ** np.finfo(self.dtype).nmant):
                self.tab_minor = self.emb_group.emb_w
        if fitting is not None:
            self.fit_wt = transposed_weights(fitting, ws, dtype)
        # the chunk layout's fitting net as dense products where the device has them (dpsycl/fitting_rows.py)
        self.fitting_rows = products_for(fitting, getattr(self, "fit", None), ws, dtype,
                                         fit_wt=getattr(self, "fit_wt", None))

    @property
    def group_lanes(self) -> int:
        """Work-group size of the cooperative kernel: a power of two ≥ the embedding width, ≥ 32 (so ≥ the
        4·batch lane sums of its gradient pass at the largest batch, 8: se_e2_a_group.BATCH)."""
        width = max(32, int(self.emb.ewmax))
        return 1 << (width - 1).bit_length()

    def energies_and_pair_gradients(self, geometries, natoms: int, atom_energy, pair_grads, layout: str,
                                    nchunk: int, params) -> list | None:
        (geo,), (pair_grad,) = geometries, pair_grads
        b, dt = self.ws.backend, self.dtype
        fitting_fits = self.products_take(natoms) or self.split_fits(self.fit_lanes or self.group_lanes)
        if layout == "split" or (layout == "group" and natoms >= self.split_from and fitting_fits):
            return [self.split_passes(geo, natoms, atom_energy, pair_grad, params)]
        if layout == "group":
            nlane = self.group_lanes

            def local(batch):
                return {"sh_env": kernels_group.ENV_ROWS * kernels_group.ENV_VALUES,
                        "sh_live": geo.nnei + self.env.ntypes, "sh_t": 4 * self.m_width,
                        "sh_f": max(2 * self.fit.fwmax + self.n_hidden, self.pass_values(batch)),
                        "sh_red": 2 * nlane}
            batch = self.group_batch(local)
            b.launch_groups("group_atom_energy", natoms, nlane, geo, self.env, self.emb_group,
                            Args(batch=batch, pad_g=self.pad_g, axis_m=self.axis_m), self.fit,
                            Args(fit_wt=self.fit_wt, fit_per_pass=GROUP_KERNEL_FIT_PER_PASS),
                            params, Args(atom_energy=atom_energy, pair_grad=pair_grad), local=local(batch),
                            scratch=self.group_scratch(batch), dtype=dt)
            return None
        t_part = self.t_partials(geo, natoms, nchunk)
        m = self.m_width
        dt_mat = self.ws.buffer("dt_mat", natoms * 4 * m, dt)
        if self.products_take(natoms):
            self.fitting_products(geo, natoms, nchunk, t_part, dt_mat, atom_energy, params)
            self.pair_gradients(geo, natoms, nchunk, dt_mat, pair_grad)
            return
        if self.group_fitting:
            fit_atoms, ngroups = self.species_groups(geo.atype, natoms)
            b.launch_groups("fitting_group_atoms", ngroups, FITTING_LANES,
                            Args(fit_atoms=fit_atoms, atype=geo.atype, nnei=geo.nnei, nchunk=nchunk, t_part=t_part,
                                 m_width=m, axis_m=self.axis_m), self.fit,
                            Args(fit_wt=self.fit_wt, n_hidden=self.slopes(False), fit_per_pass=1, fit_quads=False),
                            params, Args(atom_energy=atom_energy, dt_mat=dt_mat),
                            local=self.fitting_local(FITTING_LANES, False), dtype=dt)
            self.pair_gradients(geo, natoms, nchunk, dt_mat, pair_grad)
            return
        b.launch("fitting_atom", natoms,
                 Args(atype=geo.atype, nnei=geo.nnei, nchunk=nchunk, t_part=t_part, m_width=m, axis_m=self.axis_m),
                 self.fit, params, Args(atom_energy=atom_energy, dt_mat=dt_mat),
                 scratch={"tmat": 4 * m, "dbuf": self.fit_inputs, "fbuf": 2 * self.fit.fwmax, "dact": self.n_hidden},
                 dtype=dt)
        self.pair_gradients(geo, natoms, nchunk, dt_mat, pair_grad)

    def products_take(self, natoms: int) -> bool:
        """Whether an evaluation of natoms centres runs the fitting net as dense products (fitting_rows.py)."""
        return self.fitting_rows is not None and self.fitting_rows.takes(natoms)

    def fitting_products(self, geo, natoms: int, nchunk: int, t_part, dt_mat, atom_energy, params) -> None:
        """E_i and dt_mat = ∂E_i/∂T_i / nnei by the fitting net's dense products: D_i of each block's rows from
        T_i (descriptor_rows), ∂E_i/∂T_i from ∂y/∂D_i (t_gradient_rows), one work-group per row.  dt_mat may be
        t_part itself with one chunk (the split layout): a row reads its atom's T_i before it writes over it."""
        b, dt, m, lanes = self.ws.backend, self.dtype, self.m_width, self.fitting_rows.lanes
        t_args = Args(nnei=geo.nnei, nchunk=nchunk, t_part=t_part, m_width=m, axis_m=self.axis_m)

        # wide devices: lanes over D's elements, ∂y/∂D through a padded copy in group-local memory and T with
        # its rows 2 and 3 one value further (se_e2_a_rows.t_gradient_pairs)
        wide = int(self.fitting_rows.wide_rows)
        padded = m * (self.axis_m + 1) if wide else 1

        def fill_inputs(block):
            b.launch_groups("descriptor_rows", block.n, lanes, Args(rows=block.rows, row0=block.row0), t_args,
                            params, Args(values=block.values, x_width=block.x_width, wide_rows=wide),
                            local={"sh_t": 4 * m}, dtype=dt)

        def use_gradients(block):
            b.launch_groups("t_gradient_rows", block.n, lanes,
                            Args(rows=block.rows, row0=block.row0, atype=geo.atype), t_args,
                            Args(grad=block.grad, x_width=block.x_width, out_std=self.fit.out_std, dt_mat=dt_mat,
                                 wide_rows=wide), local={"sh_t": 4 * m + wide, "sh_g": padded}, dtype=dt)

        self.fitting_rows.run(geo.atype, natoms, fill_inputs, use_gradients, atom_energy)

    def pass_values(self, batch: int) -> int:
        """sh_f of the work-group passes: a batch's two buffers of layer values and tangents, and the
        gradient pass's lane sums (4·batch terms per lane, their parts) from se_e2_a_group.lane_sums_at."""
        pack = self.emb_group
        sums_at = kernels_group.lane_sums_at(pack.act_emb, batch, pack.ewmax, pack.n_emb)
        return max(self.embedding_values(batch), sums_at + 4 * batch * (self.group_lanes + 1) + self.group_lanes)

    def embedding_values(self, batch: int) -> int:
        """sh_f of the descriptor pass alone: a batch's two buffers of layer values and tangents
        (se_e2_a_group.group_embedding_batch), without the gradient pass's lane sums; none for a compressed
        model, whose tables give G and dG/ds (8 KB per float64 block of cuag's 64 channels)."""
        return 0 if self.compressed else 4 * batch * self.emb.ewmax

    @staticmethod
    def group_scratch(batch: int) -> dict:
        """Private arrays of the work-group passes: an environment row, a batch's embedding outputs and
        tangents (hb), its layer sums (zb)."""
        return {"row": 16, "hb": 2 * batch, "zb": 2 * batch}

    def group_batch(self, local_of) -> int:
        """Neighbours per embedding pass of a work-group launch: the precision's (se_e2_a_group.BATCH), or
        SMALL_BATCH where the launch's local arrays at that batch, ``local_of(batch)``, would not fit the
        device's work-group memory (float64 at eight: 37 KB per block for cuag's gradient pass)."""
        batches = kernels_group.TABLE_BATCH if self.compressed else kernels_group.BATCH
        batch = batches.get(np.dtype(self.dtype).name, kernels_group.SMALL_BATCH)
        limit = getattr(self.ws.backend, "local_memory_bytes", 0)
        if limit and sum(local_of(batch).values()) * np.dtype(self.dtype).itemsize > limit:
            return kernels_group.SMALL_BATCH
        return batch

    def fitting_local(self, nlane: int, quads: bool) -> dict:
        """Local arrays of fitting_group_atoms: per atom its layer buffers (T while read), activation slopes
        and lane parts of the last layer, laid out as the kernel compiled with fit_quads = quads lays them out."""
        return {"sh_f": FIT_ATOMS * atom_stride(self.fit.fwmax, self.widest_hidden, self.m_width, quads),
                "sh_dact": FIT_ATOMS * self.slopes(quads), "sh_red": FIT_ATOMS * (nlane // 2)}

    def slopes(self, quads: bool) -> int:
        """Activation slopes per atom of fitting_group_atoms compiled with fit_quads = quads."""
        return slopes_width(self.fit_widths, len(self.fit_widths) - 2, quads)

    @property
    def split_quads(self) -> bool:
        """fit_quads of the split layout's fitting kernel: this precision's (FIT_QUADS)."""
        return np.dtype(self.dtype) in FIT_QUADS

    def split_fits(self, nlane: int) -> bool:
        """Whether the fitting kernel's local arrays fit the device's work-group memory (CUDA's 48 KB of static
        shared memory: cuag in float64 needs 46 KB; DeePMD-kit's usual sizes, embedding 100 wide, axis 16,
        fitting 240, would need 128 KB, and keep the one-kernel group layout)."""
        need = sum(self.fitting_local(nlane, self.split_quads).values()) * np.dtype(self.dtype).itemsize
        return need <= getattr(self.ws.backend, "local_memory_bytes", 0)

    def split_passes(self, geo, natoms: int, atom_energy, pair_grad, params):
        """The split layout: group_descriptor, the fitting net (dense products where they take natoms, else
        fitting_group_atoms over atoms of one species), group_pair_gradient; returns the buffer of Σ_j g_ij per
        atom that group_pair_gradient wrote.
        T_i·nnei and then ∂E_i/∂T_i / nnei share one buffer (4·M values per atom); with the live-slot lists
        the layout holds 4·M values and 2·nnei + 4·ntypes bytes per atom more than the one-kernel group layout."""
        b, dt, nlane = self.ws.backend, self.dtype, self.group_lanes
        t_mat = self.ws.buffer("t_part", natoms * 4 * self.m_width, dt)
        # slot numbers in 2 bytes where they fit (cuag: 360 bytes per atom, not 720)
        slots = np.int16 if geo.nnei < 2 ** 15 else np.int32
        live = Args(live_list=self.ws.buffer("group_live", natoms * geo.nnei, slots),
                    live_count=self.ws.buffer("group_live_count", natoms * self.env.ntypes, np.int32))
        local = {"sh_env": kernels_group.ENV_ROWS * kernels_group.ENV_VALUES, "sh_live": geo.nnei + self.env.ntypes}
        # both passes take the batch the gradient pass's local arrays allow; the descriptor pass without the
        # gradient pass's lane sums: 12.7 KB per float64 block for cuag, not 21.6 (16.8 with the sums in the
        # embedding's dead buffer, se_e2_a_group.lane_sums_at), so that registers, not shared memory, bound
        # its blocks per SM (12, not 10)
        batch = self.group_batch(lambda batch: {**local, "sh_f": self.pass_values(batch)})
        b.launch_groups("group_descriptor", natoms, nlane, geo, self.env, self.emb_group,
                        Args(batch=batch, pad_g=self.pad_g, t_part=t_mat), live, Args(pair_grad=pair_grad),
                        local={**local, "sh_f": max(1, self.embedding_values(batch)), "sh_red": 2 * nlane},
                        scratch=self.group_scratch(batch), dtype=dt)
        if self.products_take(natoms):
            self.fitting_products(geo, natoms, 1, t_mat, t_mat, atom_energy, params)
        else:
            self.split_fitting_kernel(geo, natoms, t_mat, atom_energy, params)
        row_sum = self.ws.buffer("row_sum", natoms * 3, dt)
        b.launch_groups("group_pair_gradient", natoms, nlane, geo, self.env, self.emb_group,
                        Args(batch=batch, dt_mat=t_mat), live, Args(pair_grad=pair_grad, row_sum=row_sum),
                        local={**local, "sh_f": self.pass_values(batch)}, scratch=self.group_scratch(batch), dtype=dt)
        return row_sum

    def split_fitting_kernel(self, geo, natoms: int, t_mat, atom_energy, params) -> None:
        """The split layout's fitting net as fitting_group_atoms: FIT_ATOMS atoms of one species per work-group."""
        b, dt = self.ws.backend, self.dtype
        fit_lanes = self.fit_lanes or self.group_lanes
        fit_atoms, ngroups = self.species_groups(geo.atype, natoms)
        b.launch_groups("fitting_group_atoms", ngroups, fit_lanes,
                        Args(fit_atoms=fit_atoms, atype=geo.atype, nnei=geo.nnei, nchunk=1, t_part=t_mat,
                             m_width=self.m_width, axis_m=self.axis_m), self.fit,
                        Args(fit_wt=self.fit_wt, n_hidden=self.slopes(self.split_quads),
                             fit_per_pass=GROUP_KERNEL_FIT_PER_PASS, fit_quads=self.split_quads), params,
                        Args(atom_energy=atom_energy, dt_mat=t_mat),
                        local=self.fitting_local(fit_lanes, self.split_quads), dtype=dt)

    def species_groups(self, atype, natoms: int):
        """(fit_atoms, number of groups): atoms 0 … natoms−1 in groups of FIT_ATOMS of one species, each
        species' last group padded with −1, for the fitting kernel (se_e2_a_fitting.py: CPUs, and the split layout).  Read
        back and grouped on the host once per species array (MD and repeated frames pass the same
        device array; the workspace uploads a changed one as a new array)."""
        capacity = (natoms // FIT_ATOMS + self.env.ntypes) * FIT_ATOMS
        if atype is None:                       # the memory estimate's dry run: the buffer's size only
            return self.ws.buffer("fit_atoms", capacity, np.int64), 0
        held = self._species_groups
        if held is not None and held[0]() is atype and held[1] == natoms:
            return held[2], held[3]
        order, counts = species_order(self.ws.backend, atype, natoms, self.env.ntypes)
        grouped = np.full(capacity, -1, dtype=np.int64)     # Σ ⌈n_s/4⌉ ≤ ⌊N/4⌋ + ntypes groups
        at = 0
        for start, count in zip(np.cumsum(counts) - counts, counts):
            grouped[at:at + count] = order[start:start + count]
            at += -(-count // FIT_ATOMS) * FIT_ATOMS
        fit_atoms = self.ws.upload("fit_atoms", grouped, np.int64)     # the estimate's size: capacity
        self._species_groups = (weakref.ref(atype), natoms, fit_atoms, at // FIT_ATOMS)
        return fit_atoms, at // FIT_ATOMS

    # -- the chunk passes, also run as a member of a hybrid (dpsycl/descriptors/hybrid/device.py) --------
    def t_partials(self, geo, natoms: int, nchunk: int):
        """descriptor_chunk: the partial sums of T_i·nnei, (atom, chunk) by (atom, chunk)."""
        t_part = self.ws.buffer("t_part", natoms * nchunk * 4 * self.m_width, self.dtype)
        if self.tab_minor is not None:
            nlane = FITTING_LANES
            local = {"sh_pair": kernels_tables.SLOTS * nlane * kernels_tables.PAIR, "sh_t": nlane * 4 * self.m_width,
                     "sh_empty": nlane * (self.env.ntypes + 1)}
            self.ws.backend.launch_groups("descriptor_tables_group", -(-natoms * nchunk // nlane), nlane, geo,
                                          self.chunks(geo, nchunk), Args(nwork=natoms * nchunk), self.env,
                                          self.table_args(), Args(pad_g=self.pad_g, t_part=t_part),
                                          self.live_slots(geo, natoms, nchunk), local=local, scratch={"row": 16},
                                          dtype=self.dtype)
            return t_part
        self.ws.backend.launch("descriptor_chunk", natoms * nchunk, geo, self.chunks(geo, nchunk), self.env, self.emb,
                               Args(pad_g=self.pad_g, t_part=t_part),
                               scratch={**self.slot_scratch, **{f"t{a}": self.m_width for a in range(4)}},
                               dtype=self.dtype)
        return t_part

    def pair_gradients(self, geo, natoms: int, nchunk: int, dt_mat, pair_grad) -> None:
        """pair_gradient_chunk: g_ij from dt_mat = ∂E_i/∂T_i / nnei."""
        if self.tab_minor is not None:
            nlane = FITTING_LANES
            local = {"sh_pair": kernels_tables.SLOTS * nlane * kernels_tables.PAIR_GRAD,
                     "sh_sum": nlane * kernels_tables.SLOTS * kernels_tables.SUMS * nlane}
            self.ws.backend.launch_groups("pair_gradient_tables_group", -(-natoms * nchunk // nlane), nlane, geo,
                                          self.chunks(geo, nchunk), Args(nwork=natoms * nchunk), self.env,
                                          self.table_args(), self.live_slots(geo, natoms, nchunk),
                                          Args(dt_mat=dt_mat, pair_grad=pair_grad), local=local,
                                          scratch={"row": 16}, dtype=self.dtype)
            return
        self.ws.backend.launch("pair_gradient_chunk", natoms * nchunk, geo, self.chunks(geo, nchunk), self.env,
                               self.emb, Args(dt_mat=dt_mat, pair_grad=pair_grad),
                               scratch={**self.slot_scratch, **{f"d{a}": self.m_width for a in range(4)}},
                               dtype=self.dtype)

    def live_slots(self, geo, natoms: int, nchunk: int) -> Args:
        """The table kernels' list of each work-item's live slots (written by the descriptor pass, walked by
        the gradient pass) and their counts."""
        nwork, chunk_len = natoms * nchunk, -(-geo.nnei // nchunk)
        return Args(live_list=self.ws.buffer("live_list", nwork * chunk_len, np.int32),
                    live_count=self.ws.buffer("live_count", nwork, np.int32))

    def table_args(self) -> Args:
        """The table kernels' view of the embedding pack, with the channel-minor copy."""
        return Args(emb_w=self.emb.emb_w, emb_off=self.emb.emb_off, emb_widths=self.emb.emb_widths,
                    tab_minor=self.tab_minor)

    def descriptor_into(self, geometries, natoms: int, nchunk: int, desc, desc_stride: int, desc_at: int) -> None:
        (geo,) = geometries
        t_part = self.t_partials(geo, natoms, nchunk)
        self.ws.backend.launch("descriptor_atom", natoms,
                               Args(nnei=geo.nnei, nchunk=nchunk, t_part=t_part, m_width=self.m_width,
                                    axis_m=self.axis_m, desc=desc, desc_stride=desc_stride, desc_at=desc_at),
                               scratch={"tmat": 4 * self.m_width}, dtype=self.dtype)

    def pair_gradients_from(self, geometries, natoms: int, nchunk: int, desc_grad, desc_stride: int, desc_at: int,
                            pair_grads) -> None:
        (geo,), (pair_grad,) = geometries, pair_grads
        m = self.m_width
        t_part = self.ws.buffer("t_part", natoms * nchunk * 4 * m, self.dtype)     # what descriptor_into left
        dt_mat = self.ws.buffer("dt_mat", natoms * 4 * m, self.dtype)
        self.ws.backend.launch("descriptor_gradient_atom", natoms,
                               Args(nnei=geo.nnei, nchunk=nchunk, t_part=t_part, m_width=m, axis_m=self.axis_m,
                                    desc_grad=desc_grad, desc_stride=desc_stride, desc_at=desc_at, dt_mat=dt_mat),
                               scratch={"tmat": 4 * m}, dtype=self.dtype)
        self.pair_gradients(geo, natoms, nchunk, dt_mat, pair_grad)
