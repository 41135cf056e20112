"""Embedding nets laid out for the kernels (device_kernels/layers.py: embedding_forward), shared by
the descriptor units whose embedding nets map one scalar to M channels."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..device_kernels.activations import activation_argument, activation_code
from ..device_kernels.layers import TABLE_HEAD, TABULATED
from ..fitting import pack_layers


class EmbeddingPack(NamedTuple):
    """Kernel arguments of a set of embedding nets (names as in the kernel bodies)."""
    emb_w: Any          # all weights, flat
    emb_off: Any        # offsets of (net, layer, matrix|bias|idt)
    emb_widths: Any     # 1, then the layer widths
    n_emb: int          # layers per net
    act_emb: int        # activation code
    act_emb_arg: float  # its argument (silut's threshold)
    ewmax: int          # widest layer

    @classmethod
    def upload(cls, nets: list, neuron: list[int], activation: str, to_device, dtype) -> "EmbeddingPack":
        """``nets`` in the order the kernels index them; ``to_device(host_array, dtype)``."""
        w, off = pack_layers(nets, dtype)
        widths = [1] + list(neuron)
        return cls(to_device(w, dtype), to_device(off, np.int64), to_device(widths, np.int64), len(neuron),
                   activation_code(activation), activation_argument(activation), max(widths))

    @classmethod
    def upload_tables(cls, tables: list, to_device, dtype, channel_minor: bool = False) -> "EmbeddingPack":
        """The tables of a compressed model (dpsycl/descriptors/tables.py) in the kernels' order,
        as one pseudo-layer per net (device_kernels/layers.py: table_forward reads the block).
        An interval's 6·M coefficients are stored channel by channel (c_0 … c_5 of channel 0, then of
        channel 1, ...) or, ``channel_minor``, coefficient by coefficient (c_k of channels 0 … M−1 side by
        side: the CPU's table kernels, device_kernels/se_e2_a_tables.py), at the same offsets."""
        blocks, offsets, pos = [], [], 0
        for table in tables:
            head = [table.lower, table.upper, table.upper_extrapolate, table.stride1, table.stride2,
                    table.upper_interval(), table.last_interval(), table.bottom, table.low_intervals()]
            assert len(head) == TABLE_HEAD
            coefficients = np.asarray(table.coefficients, dtype=dtype)
            if channel_minor:
                n = coefficients.shape[0]
                coefficients = coefficients.reshape(n, table.width, 6).transpose(0, 2, 1)
            block = np.concatenate([np.asarray(head, dtype=np.float64).astype(dtype), coefficients.ravel()])
            blocks.append(block)
            offsets += [pos, -1, -1]
            pos += block.size
        width = tables[0].width
        return cls(to_device(np.concatenate(blocks), dtype), to_device(np.asarray(offsets, dtype=np.int64), np.int64),
                   to_device([1, width], np.int64), 1, TABULATED, 0.0, width)
