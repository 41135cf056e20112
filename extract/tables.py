"""Tables of a compressed frozen graph (`dp compress`): the constants its tabulation ops read.

Each embedding net of a compressed se_e2_a / se_e2_r graph is replaced by one op,
``TabulateFusionSeA`` / ``TabulateFusionSeR`` (scope ``filter_type_all`` with type_one_side,
else ``filter_type_{centre}``), whose inputs 0 and 1 are constants: the coefficients
(nspline, 6·M) and ``<op>/table_info`` (lower, upper, upper_extrapolate, stride1, stride2,
check_frequency; dpsycl/descriptors/tables.py).  The ops of one scope follow the neighbour species
in order (DeePMD-kit builds one per species block, skipping excluded pairs of a per-pair graph);
``last_layer_size`` is the embedding width.  The nets themselves are no longer in the graph, so
neuron and activation come from the training script.
"""
from __future__ import annotations

import re

from dpsycl.descriptors.tables import EmbeddingTable
from dpsycl.model import ModelError

from .graph import Graph

TABLE_OPS = ("TabulateFusionSeA", "TabulateFusionSeR")


def is_compressed(g: Graph) -> bool:
    return any(g.ops.get(op) for op in TABLE_OPS)


def _op_order(name: str) -> int:
    """TensorFlow's uniquifying suffix: Op, Op_1, Op_2, ..."""
    tail = re.search(r"_(\d+)$", name.rsplit("/", 1)[-1])
    return int(tail.group(1)) if tail else 0


def read_tables(g: Graph, ntypes: int) -> tuple[bool, dict, int]:
    """(type_one_side, {(centre | −1, neighbour): EmbeddingTable}, embedding width)."""
    ops = [n for op in TABLE_OPS for n in g.nodes_of_op(op)]
    scopes: dict[str, list] = {}
    for node in ops:
        scopes.setdefault(node.name.rsplit("/", 1)[0], []).append(node)
    if set(scopes) != {"filter_type_all"}:
        raise ModelError(f"{g.path}: compressed graph with tabulation ops in {sorted(scopes)}; only "
                         "type_one_side compressed models (scope filter_type_all) are supported yet")
    nodes = sorted(scopes["filter_type_all"], key=lambda n: _op_order(n.name))
    if len(nodes) != ntypes:
        raise ModelError(f"{g.path}: {len(nodes)} tabulation ops for {ntypes} neighbour species")
    tables, widths = {}, set()
    for tj, node in enumerate(nodes):
        inputs = [name.split(":")[0] for name in node.input[:2]]
        if len(inputs) != 2 or not all(g.has_const(name) for name in inputs):
            raise ModelError(f"{g.path}: tabulation op {node.name} does not read its table and table_info "
                             "from constants (not a graph written by `dp compress`)")
        table = EmbeddingTable.from_info(g.const(inputs[0]), g.const(inputs[1]))
        widths.add(int(node.attr["last_layer_size"].i))
        if table.width not in widths or len(widths) != 1:
            raise ModelError(f"{g.path}: tables of widths {sorted(widths | {table.width})} (last_layer_size)")
        tables[(-1, tj)] = table
    return True, tables, widths.pop()
