"""Tables of a compressed frozen graph (`dp compress`): the constants its tabulation ops read.

Each embedding net of a compressed se_e2_a / se_e2_r graph is replaced by one op,
``TabulateFusionSeA`` / ``TabulateFusionSeR`` (scope ``filter_type_all`` with type_one_side,
else ``filter_type_{centre}``), whose inputs 0 and 1 are constants: the coefficients
(nspline, 6·M) and ``<op>/table_info`` (lower, upper, upper_extrapolate, stride1, stride2,
check_frequency; dpsycl/descriptors/tables.py).  The ops of one scope follow the neighbour species
of the block they read (the column where their slice of the environment matrix starts); a per-pair
graph has no op for an excluded pair;
``last_layer_size`` is the embedding width.  The nets themselves are no longer in the graph, so
neuron and activation come from the training script.  Member k of a compressed hybrid has its ops in
its own scopes, ``filter_type_all_k`` or ``filter_type_{centre}_k`` (the suffix of read_tables).
"""
from __future__ import annotations

from dpsycl.descriptors.tables import EmbeddingTable
from dpsycl.model import ModelError

from .graph import Graph

TABLE_OPS = ("TabulateFusionSeA", "TabulateFusionSeR")


def is_compressed(g: Graph) -> bool:
    return any(g.ops.get(op) for op in TABLE_OPS)


def _neighbour_block(g: Graph, node, sel_offsets: list[int]) -> int:
    """The neighbour species whose slots the op reads: its environment input is, through Reshapes
    and Slices inside the op's scope, a Slice of the environment matrix starting at column
    sel_offsets[t]·columns (the outermost Slice of the chain)."""
    columns = 4 if node.op == "TabulateFusionSeA" else 1
    scope = node.name.rsplit("/", 1)[0] + "/"
    current, begin = g.nodes.get(node.input[2].split(":")[0]), None
    while current is not None and current.name.startswith(scope) and current.op in ("Reshape", "Slice", "Identity"):
        if current.op == "Slice" and g.has_const(current.input[1].split(":")[0]):
            begin = g.const(current.input[1].split(":")[0]).ravel()
        current = g.nodes.get(current.input[0].split(":")[0])
    starts = [off * columns for off in sel_offsets[:-1]]
    if begin is None or len(begin) != 2 or int(begin[1]) not in starts:
        raise ModelError(f"{g.path}: cannot tell which neighbour species tabulation op {node.name} serves")
    return starts.index(int(begin[1]))


def read_tables(g: Graph, sel: list[int], suffix: str = "") -> tuple[bool, dict, int]:
    """(type_one_side, {(centre | −1, neighbour): EmbeddingTable}, embedding width) of the
    descriptor whose scopes end in ``suffix`` ("" for the graph's one descriptor, "_k" for a hybrid's member k)."""
    ntypes = len(sel)
    sel_offsets = [sum(sel[:t]) for t in range(ntypes + 1)]
    ops = [n for op in TABLE_OPS for n in g.nodes_of_op(op)]
    if suffix:      # a hybrid: every member's ops are in the graph; keep member k's
        own = {f"filter_type_all{suffix}"} | {f"filter_type_{i}{suffix}" for i in range(ntypes)}
        ops = [n for n in ops if n.name.rsplit("/", 1)[0] in own]
        if not ops:
            raise ModelError(f"{g.path}: a compressed hybrid without tabulation ops for member "
                             f"{suffix.lstrip('_')} (scope filter_type_all{suffix} or filter_type_<centre>{suffix})")
    scopes = {n.name.rsplit("/", 1)[0].removesuffix(suffix) for n in ops}
    type_one_side = scopes == {"filter_type_all"}
    if not type_one_side and not scopes <= {f"filter_type_{i}" for i in range(ntypes)}:
        raise ModelError(f"{g.path}: tabulation ops in scopes {sorted(scopes)}; expected filter_type_all or "
                         "filter_type_<centre species>")
    tables, widths = {}, set()
    for node in ops:
        inputs = [name.split(":")[0] for name in node.input[:3]]
        if len(inputs) != 3 or not all(g.has_const(name) for name in inputs[:2]):
            raise ModelError(f"{g.path}: tabulation op {node.name} does not read its table and table_info "
                             "from constants (not a graph written by `dp compress`)")
        scope = node.name.rsplit("/", 1)[0].removesuffix(suffix)
        centre = -1 if type_one_side else int(scope.rsplit("_", 1)[1])
        key = (centre, _neighbour_block(g, node, sel_offsets))
        if key in tables:
            raise ModelError(f"{g.path}: two tabulation ops for the species pair {key}")
        tables[key] = EmbeddingTable.from_info(g.const(inputs[0]), g.const(inputs[1]))
        widths |= {int(node.attr["last_layer_size"].i), tables[key].width}
    if len(widths) != 1:
        raise ModelError(f"{g.path}: tables of widths {sorted(widths)} (last_layer_size)")
    if type_one_side and len(tables) != ntypes:
        raise ModelError(f"{g.path}: {len(tables)} tabulation ops for {ntypes} neighbour species")
    return type_one_side, tables, widths.pop()
