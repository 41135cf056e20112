"""What the smooth-edition descriptors (se_e2_a, se_e2_r, ...) share: their parameters, embedding
nets evaluated slot by slot, statistics per species block, their model-file fields and the
constants their kernels read.

Each centre atom i has nnei = Σ_t sel[t] neighbour slots, species block by species block. A slot
holds a neighbour j within rcut (or is empty); its environment columns are normalised with the
statistics of its block p = (type_i, type_j),  R_ij = (R̃_ij − t_avg[p]) / t_std[p], and its
embedding net is 𝒩_{type_j} (type_one_side) or 𝒩_{type_i, type_j}.  An empty slot holds R̃ = 0,
so its normalised value −t_avg/t_std is the same for every empty slot of a block.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from ..backends.launch import Args
from ..fitting import FittingPack
from ..model import Layer, ModelError, check_activation
from ..hdf5_files import fixed_text
from ..model_sections import SectionReader, write_layers
from ..networks import embedding_net
from .base import NeighborSpec
from .embedding import EmbeddingPack
from .tables import EmbeddingTable, tabulate


@dataclass(kw_only=True)
class SmoothDescriptor:
    """Fields and helpers common to the smooth-edition descriptors (a unit subclasses it)."""

    rcut: float
    rcut_smth: float
    sel: list[int]                    # neighbour slots per species
    neuron: list[int]                 # embedding-net widths
    type_one_side: bool               # one embedding net per neighbour species (else per pair)
    resnet_dt: bool
    activation: str
    t_avg: np.ndarray                 # (ntypes, nnei·columns) statistics of the environment columns
    t_std: np.ndarray
    # key (centre_type, neighbour_type); centre_type == −1 when type_one_side is true
    embedding_nets: dict[tuple[int, int], list[Layer]]
    exclude_types: list[tuple[int, int]] = field(default_factory=list)
    set_davg_zero: bool = False
    # compressed models (`dp compress`): the table replacing each net, same keys (tables.py)
    tables: dict[tuple[int, int], EmbeddingTable] = field(default_factory=dict)

    columns = 4                       # environment columns per slot (se_e2_r: 1)

    @property
    def nnei(self) -> int:
        return int(sum(self.sel))

    @property
    def sel_offsets(self) -> np.ndarray:
        """Start of each neighbour-species block in a neighbour-list row."""
        return np.concatenate([[0], np.cumsum(self.sel)]).astype(np.int64)

    @property
    def embedding_width(self) -> int:
        return int(self.neuron[-1])

    def neighbor_specs(self) -> list[NeighborSpec]:
        return [NeighborSpec(float(self.rcut), tuple(int(s) for s in self.sel))]

    def embedding_net(self, centre_type: int, neighbour_type: int) -> list[Layer]:
        return self.embedding_nets[(-1 if self.type_one_side else centre_type, neighbour_type)]

    @property
    def compressed(self) -> bool:
        """Whether G is evaluated from tables (dp compress) instead of the nets."""
        return bool(self.tables)

    def tabulate(self, min_nbor_dist: float, step: float, extrapolate: float, frequency: int) -> dict:
        """The tables `dp compress` makes of its nets (dpsycl/descriptors/tables.py), same keys."""
        return tabulate(self, min_nbor_dist, step, extrapolate, frequency)

    def is_excluded(self, centre_type: int, neighbour_type: int) -> bool:
        return (centre_type, neighbour_type) in self.exclude_types or (
            neighbour_type, centre_type) in self.exclude_types

    def validate(self, ntypes: int) -> None:
        check_activation(self.activation, "embedding-net")
        if len(self.sel) != ntypes:
            raise ModelError(f"sel has {len(self.sel)} entries for {ntypes} species")
        shape = (ntypes, self.columns * self.nnei)
        if self.t_avg.shape != shape or self.t_std.shape != shape:
            raise ModelError(f"t_avg/t_std have shape {self.t_avg.shape}, expected {shape}")
        if not 0 <= self.rcut_smth < self.rcut:
            raise ModelError(f"rcut_smth {self.rcut_smth} must lie in [0, rcut = {self.rcut})")
        for a, b in self.exclude_types:
            if not (0 <= a < ntypes and 0 <= b < ntypes):
                raise ModelError(f"exclude_types pair ({a}, {b}) names a species outside 0..{ntypes - 1}")
        centres = [-1] if self.type_one_side else range(ntypes)
        for ti in centres:
            for tj in range(ntypes):
                nets = self.tables if self.compressed else self.embedding_nets
                if (ti, tj) not in nets and (ti < 0 or not self.is_excluded(ti, tj)):
                    raise ModelError(f"no embedding {'table' if self.compressed else 'net'} for species pair ({ti}, {tj})")
        for table in self.tables.values():
            if table.width != self.embedding_width:
                raise ModelError(f"a table has {table.width} outputs, the embedding width is {self.embedding_width}")

    def astype(self, dtype):
        return replace(self, t_avg=self.t_avg.astype(dtype), t_std=self.t_std.astype(dtype),
                       embedding_nets={k: [layer.astype(dtype) for layer in v] for k, v in self.embedding_nets.items()},
                       tables={k: v.astype(dtype) for k, v in self.tables.items()})

    def summary_of_embedding(self) -> str:
        side = "one-side" if self.type_one_side else "per-pair"
        excl = f", exclude {[list(p) for p in self.exclude_types]}" if self.exclude_types else ""
        resnet = ", resnet_dt" if self.resnet_dt else ""
        if self.compressed:
            t = next(iter(self.tables.values()))
            resnet += (f", compressed: tables [{t.lower:g}, {t.upper:g}) step {t.stride1:g}, "
                       f"to {t.upper_extrapolate:g} step {t.stride2:g}")
        return (f"{self.kind} rcut {self.rcut} (smooth from {self.rcut_smth}); sel {list(self.sel)}; "
                f"embedding {'-'.join(str(n) for n in self.neuron)} ({side}, {self.activation}{resnet}){excl}")


# -- NumPy reference ------------------------------------------------------------------------------
def embed_slots(d: SmoothDescriptor, atype: np.ndarray, s: np.ndarray):
    """G(s_ij) and dG/ds (nloc, nnei, M) for every slot, empty ones included; pairs that have no
    net (excluded, per-pair nets) are zero."""
    nloc, nnei = s.shape
    M = d.embedding_width
    G = np.zeros((nloc, nnei, M))
    dG = np.zeros((nloc, nnei, M))
    offs = d.sel_offsets
    ntypes = len(d.sel)
    for ti in ([-1] if d.type_one_side else range(ntypes)):
        rows = np.arange(nloc) if ti == -1 else np.nonzero(atype == ti)[0]
        if len(rows) == 0:
            continue
        for tj in range(ntypes):
            if ti >= 0 and d.is_excluded(ti, tj):
                continue  # graphs without type_one_side carry no net for an excluded pair
            block = slice(offs[tj], offs[tj + 1])
            if d.compressed:
                g, dg = d.tables[(ti, tj)].evaluate(s[rows, block].reshape(-1))
            else:
                g, dg = embedding_net(d.embedding_net(ti, tj), d.activation, s[rows, block].reshape(-1))
            G[rows, block] = g.reshape(len(rows), -1, M)
            dG[rows, block] = dg.reshape(len(rows), -1, M)
    return G, dG


def excluded_slots(d: SmoothDescriptor, atype: np.ndarray) -> np.ndarray:
    """(nloc, nnei) True where the (centre, neighbour-block) pair is excluded."""
    offs = d.sel_offsets
    out = np.zeros((len(atype), d.nnei), dtype=bool)
    for ti, tj in d.exclude_types:
        for a, b in ((ti, tj), (tj, ti)):
            out[atype == a, offs[b]:offs[b + 1]] = True
    return out


# -- model file -----------------------------------------------------------------------------------
def _net_name(key: tuple[int, int]) -> str:
    centre, neighbour = key
    return f"net_{'all' if centre < 0 else centre}_{neighbour}"


def write_common(group, d: SmoothDescriptor) -> None:
    """The fields every smooth descriptor writes into its group ``/descriptor``."""
    group.attrs["type"] = fixed_text(d.kind)
    group.attrs["rcut"] = np.float64(d.rcut)
    group.attrs["rcut_smth"] = np.float64(d.rcut_smth)
    group.attrs["sel"] = np.asarray(d.sel, dtype=np.int64)
    group.attrs["neuron"] = np.asarray(d.neuron, dtype=np.int64)
    group.attrs["type_one_side"] = np.int8(bool(d.type_one_side))
    group.attrs["resnet_dt"] = np.int8(bool(d.resnet_dt))
    group.attrs["activation"] = fixed_text(d.activation)
    group.attrs["set_davg_zero"] = np.int8(bool(d.set_davg_zero))
    group.create_dataset("t_avg", data=d.t_avg)
    group.create_dataset("t_std", data=d.t_std)
    group.create_dataset("exclude_types", data=np.asarray(d.exclude_types, dtype=np.int64).reshape(-1, 2))
    nets = group.create_group("embedding_nets")
    for key in sorted(d.embedding_nets):
        g = nets.create_group(_net_name(key))
        g.attrs["centre_type"] = np.int64(key[0])
        g.attrs["neighbour_type"] = np.int64(key[1])
        write_layers(g, d.embedding_nets[key])
    if d.compressed:
        tables = group.create_group("embedding_tables")
        for key in sorted(d.tables):
            g = tables.create_group(_net_name(key))
            g.attrs["centre_type"] = np.int64(key[0])
            g.attrs["neighbour_type"] = np.int64(key[1])
            g.attrs["table_info"] = d.tables[key].table_info
            g.attrs["low_tail"] = np.int8(d.tables[key].low_tail)
            g.create_dataset("coefficients", data=d.tables[key].coefficients)


def read_common(r: SectionReader, group) -> dict:
    """Keyword arguments of a SmoothDescriptor from its group (schema 1 kept the nets at the root)."""
    nets_path = f"{group.name.lstrip('/')}/embedding_nets" if "embedding_nets" in group else "embedding_nets"
    nets_group = r.group(nets_path)
    embedding_nets = {}
    for name in sorted(nets_group.keys()):
        g = r.group(f"{nets_path}/{name}")
        embedding_nets[(int(r.attr(g, "centre_type")), int(r.attr(g, "neighbour_type")))] = r.layers(g)
    tables = {}
    if "embedding_tables" in group:
        path = f"{group.name.lstrip('/')}/embedding_tables"
        for name in sorted(r.group(path).keys()):
            g = r.group(f"{path}/{name}")
            # low_tail: optional (files written before se_e3 tables have none, and only tables without)
            tables[(int(r.attr(g, "centre_type")), int(r.attr(g, "neighbour_type")))] = EmbeddingTable.from_info(
                r.array(g, "coefficients"), r.attr(g, "table_info"),
                low_tail=bool(r.attr(g, "low_tail")) if "low_tail" in g.attrs else False)
    exclude = r.array(group, "exclude_types").reshape(-1, 2)
    return dict(rcut=float(r.attr(group, "rcut")), rcut_smth=float(r.attr(group, "rcut_smth")),
                sel=list(r.attr(group, "sel")), neuron=list(r.attr(group, "neuron")),
                type_one_side=bool(r.attr(group, "type_one_side")), resnet_dt=bool(r.attr(group, "resnet_dt")),
                activation=str(r.attr(group, "activation")), t_avg=r.array(group, "t_avg"),
                t_std=r.array(group, "t_std"), embedding_nets=embedding_nets,
                exclude_types=[(int(a), int(b)) for a, b in exclude],
                set_davg_zero=bool(r.attr(group, "set_davg_zero")), tables=tables)


# -- device constants -----------------------------------------------------------------------------
class SmoothEnvironment(NamedTuple):
    """Kernel arguments of the environment columns: slot blocks, cutoffs, block statistics, exclusions."""
    sel_off: Any        # start of each species block in a row
    ntypes: int
    rcut: Any           # a scalar of the kernels' precision
    rcut_smth: Any
    blk_avg: Any        # t_avg per (centre species, neighbour species) block, ``columns`` each
    blk_std: Any        # t_std per block
    one_side: int       # 1: embedding net per neighbour species; 0: per species pair
    excluded: Any       # (ntypes²) 1 where the pair is excluded


def block_stats(d: SmoothDescriptor):
    """t_avg/t_std per (centre species, neighbour species) block; DeePMD-kit keeps them uniform."""
    nt, cols = len(d.sel), d.columns
    avg = np.zeros((nt, nt, cols))
    std = np.zeros((nt, nt, cols))
    offs = d.sel_offsets
    for ti in range(nt):
        a = d.t_avg[ti].reshape(-1, cols)
        s = d.t_std[ti].reshape(-1, cols)
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


def upload_environment(d: SmoothDescriptor, keep, dtype) -> SmoothEnvironment:
    """The environment pack on a device; ``keep(host_array, dtype)`` makes a lasting device array."""
    ntypes = len(d.sel)
    avg, std = block_stats(d)
    excluded = np.zeros((ntypes, ntypes), dtype=np.int64)
    for a, b in d.exclude_types:
        excluded[a, b] = excluded[b, a] = 1
    # the cutoffs as scalars of the kernels' precision: a Python float is a float64 argument, which made a
    # float32 kernel compute its switch and environment rows in float64, with a conversion at every use
    # (benchmarks/NOTES.md, session 18)
    scalar = np.dtype(dtype).type
    return SmoothEnvironment(keep(d.sel_offsets, np.int64), ntypes, scalar(d.rcut), scalar(d.rcut_smth),
                             keep(avg, dtype), keep(std, dtype), int(d.type_one_side), keep(excluded, np.int64))


def nets_in_kernel_order(d: SmoothDescriptor, nets: dict | None = None) -> list:
    """Embedding nets (or ``nets``: the tables of a compressed model) in the order the kernels index
    them: by neighbour species (type_one_side), else by block p = centre·ntypes + neighbour (an
    excluded pair's slot holds any net: never run)."""
    nets = d.embedding_nets if nets is None else nets
    ntypes = len(d.sel)
    if d.type_one_side:
        return [nets[(-1, tj)] for tj in range(ntypes)]
    present = next(iter(nets.values()))
    return [nets.get((ti, tj), present) for ti in range(ntypes) for tj in range(ntypes)]


class SmoothDevice:
    """What the device passes of a smooth-edition unit share: its constants in the workspace
    (environment, embedding and fitting packs) and the launch of its padding body, which writes the
    embeddings every empty slot of a species block shares (``padding_outputs``: name -> array).
    ``fitting`` is None for a hybrid's member: the hybrid runs the one fitting net."""

    def __init__(self, d: SmoothDescriptor, fitting, ws, dtype, padding_body: str, padding_outputs: tuple[str, ...]):
        self.ws = ws
        self.dtype = dt = np.dtype(dtype)
        keep = ws.keep
        ntypes = len(d.sel)
        self.env = upload_environment(d, keep, dt)
        # whether the embedding nets are dp compress's tables (their packs, batches and buffers differ)
        self.compressed = d.compressed
        if d.compressed:
            self.emb = EmbeddingPack.upload_tables(nets_in_kernel_order(d, d.tables), keep, dt)
        else:
            self.emb = EmbeddingPack.upload(nets_in_kernel_order(d), d.neuron, d.activation, keep, dt)
        if fitting is not None:
            self.fit = FittingPack.upload(fitting, keep, dt)
            self.fit_inputs = fitting.input_width
            self.n_hidden = max(1, sum(fitting.neuron))
        self.m_width = d.embedding_width
        self.padding = {name: keep(np.zeros(ntypes * ntypes * self.m_width), dt) for name in padding_outputs}
        ws.backend.launch(padding_body, ntypes * ntypes,
                          Args(ntypes=ntypes, blk_avg=self.env.blk_avg, blk_std=self.env.blk_std,
                               one_side=self.env.one_side),
                          self.emb, Args(**self.padding), scratch={"ebuf": 4 * self.emb.ewmax}, dtype=dt)

    @staticmethod
    def chunks(geo, nchunk: int) -> Args:
        """The chunk layout's split of an atom's slots: nchunk chunks of ⌈nnei / nchunk⌉ slots."""
        return Args(nchunk=nchunk, chunk_len=-(-geo.nnei // nchunk))

    @property
    def slot_scratch(self) -> dict:
        """Private scratch of a per-slot pass: the embedding's layer buffers and one environment row."""
        return {"ebuf": 4 * self.emb.ewmax, "row": 16}
