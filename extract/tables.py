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

A compressed se_e3 graph has one ``TabulateFusionSeT`` op per pair of neighbour species a ≤ b
(scope ``filter_type_all``): input 3 is the Einsum of the direction columns of blocks a and b,
each a Slice of the environment matrix starting at column 4·sel_offsets[a] (and b); its tables
start at −upper_extrapolate (``low_tail``), as the op reads them.
"""
from __future__ import annotations

from dpsycl.descriptors.tables import EmbeddingTable
from dpsycl.model import ModelError

from .graph import Graph

TABLE_OPS = ("TabulateFusionSeA", "TabulateFusionSeR")
THREE_BODY_OP = "TabulateFusionSeT"


def is_compressed(g: Graph) -> bool:
    return any(g.ops.get(op) for op in (*TABLE_OPS, THREE_BODY_OP))


def _block_of(g: Graph, node, start: str, sel_offsets: list[int], columns: int) -> int:
    """The neighbour species whose slots tabulation op ``node`` reads through its input ``start``:
    through Reshapes and Slices inside the op's scope, a Slice of the environment matrix starting
    at column sel_offsets[t]·columns (the outermost Slice of the chain)."""
    scope = node.name.rsplit("/", 1)[0] + "/"
    current, begin = g.nodes.get(start.split(":")[0]), None
    while current is not None and current.name.startswith(scope) and current.op in ("Reshape", "Slice", "Identity"):
        if current.op == "Slice" and g.has_const(current.input[1].split(":")[0]):
            begin = g.const(current.input[1].split(":")[0]).ravel()
        current = g.nodes.get(current.input[0].split(":")[0])
    starts = [off * columns for off in sel_offsets[:-1]]
    if begin is None or len(begin) != 2 or int(begin[1]) not in starts:
        raise ModelError(f"{g.path}: cannot tell which neighbour species tabulation op {node.name} serves")
    return starts.index(int(begin[1]))


def _table_of(g: Graph, node, low_tail: bool = False) -> EmbeddingTable:
    """The op's table from its constant inputs 0 (coefficients) and 1 (table_info)."""
    inputs = [name.split(":")[0] for name in node.input[:3]]
    if len(inputs) != 3 or not all(g.has_const(name) for name in inputs[:2]):
        raise ModelError(f"{g.path}: tabulation op {node.name} does not read its table and table_info "
                         "from constants (not a graph written by `dp compress`)")
    return EmbeddingTable.from_info(g.const(inputs[0]), g.const(inputs[1]), low_tail=low_tail)


def _width(g: Graph, tables: dict, ops: list) -> int:
    widths = {int(node.attr["last_layer_size"].i) for node in ops} | {t.width for t in tables.values()}
    if len(widths) != 1:
        raise ModelError(f"{g.path}: tables of widths {sorted(widths)} (last_layer_size)")
    return widths.pop()


def read_tables(g: Graph, sel: list[int], suffix: str = "") -> tuple[bool, dict, int, list]:
    """(type_one_side, {(centre | −1, neighbour): EmbeddingTable}, embedding width, excluded pairs:
    those of a per-pair graph that has no op for them) of the descriptor whose scopes end in
    ``suffix`` ("" for the graph's one descriptor, "_k" for a hybrid's member k)."""
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
    tables = {}
    for node in ops:
        table = _table_of(g, node)
        scope = node.name.rsplit("/", 1)[0].removesuffix(suffix)
        centre = -1 if type_one_side else int(scope.rsplit("_", 1)[1])
        columns = 4 if node.op == "TabulateFusionSeA" else 1
        key = (centre, _block_of(g, node, node.input[2], sel_offsets, columns))
        if key in tables:
            raise ModelError(f"{g.path}: two tabulation ops for the species pair {key}")
        tables[key] = table
    width = _width(g, tables, ops)
    if type_one_side and len(tables) != ntypes:
        raise ModelError(f"{g.path}: {len(tables)} tabulation ops for {ntypes} neighbour species")
    missing = [] if type_one_side else [(i, j) for i in range(ntypes) for j in range(ntypes) if (i, j) not in tables]
    return type_one_side, tables, width, missing


def read_three_body_tables(g: Graph, sel: list[int], suffix: str = "") -> tuple[bool, dict, int, list]:
    """se_e3's (type_one_side False, {(a, b): EmbeddingTable} for a ≤ b, width, no exclusions):
    each op's pair from the two blocks its Einsum (input 3) multiplies; a hybrid's member k has its
    ops in scope ``filter_type_all_k``."""
    ntypes = len(sel)
    sel_offsets = [sum(sel[:t]) for t in range(ntypes + 1)]
    ops = [n for n in g.nodes_of_op(THREE_BODY_OP) if n.name.rsplit("/", 1)[0] == f"filter_type_all{suffix}"]
    tables = {}
    for node in ops:
        table = _table_of(g, node, low_tail=True)
        product = g.nodes.get(node.input[3].split(":")[0]) if len(node.input) > 3 else None
        if product is None or product.op != "Einsum" or len(product.input) != 2:
            raise ModelError(f"{g.path}: tabulation op {node.name} does not read an Einsum of two "
                             "neighbour blocks (not a se_e3 graph written by `dp compress`)")
        a, b = sorted(_block_of(g, node, name, sel_offsets, 4) for name in product.input)
        if (a, b) in tables:
            raise ModelError(f"{g.path}: two tabulation ops for the neighbour-species pair {(a, b)}")
        tables[(a, b)] = table
    wanted = {(a, b) for a in range(ntypes) for b in range(a, ntypes)}
    if set(tables) != wanted:
        raise ModelError(f"{g.path}: {THREE_BODY_OP} ops for the pairs {sorted(tables)}; se_e3 needs {sorted(wanted)}")
    return False, tables, _width(g, tables, ops), []
