"""The gradient pass's group-local layout (device_kernels/se_e2_a_group.py).  Where lane_sums_at puts the lane sums
must not overlap what the embedding's last layer still reads, and their parts must not overlap what the next batch's
first layer writes while some lanes still read them; the size the host asks for (SeE2ADevice.pass_values) must hold
it all.  Such a race passes on a CPU's work-groups and only corrupts forces on a GPU, so the rule is checked here
against the buffers' alternation itself, simulated layer by layer, for every layer count, batch and width.
"""
from __future__ import annotations

import types

import pytest

from dpsycl.descriptors.se_e2_a.device import SeE2ADevice
from dpsycl.device_kernels.layers import TABULATED
from dpsycl.device_kernels.se_e2_a_group import lane_sums_at


def last_layer_reads(nlayer: int, half: int):
    """The sh_f range the last layer of group_embedding_batch reads: two buffers of 2·half values (outputs, then
    tangents), layer l ≥ 1 reading the one layer l − 1 wrote; layer 0 reads the environment rows (None)."""
    read_at, write_at = 0, 2 * half
    reads = None
    for layer in range(nlayer):
        reads = (read_at, read_at + 2 * half) if layer > 0 else None
        read_at, write_at = write_at, read_at
    return reads


def overlap(a, b) -> bool:
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("nlayer", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("compressed", [False, True])
def test_the_lane_sums_never_meet_the_layers_that_are_still_read(nlayer, compressed):
    act = TABULATED if compressed else 0
    for wmax in (1, 4, 8, 16, 25, 32, 50, 64, 100, 128, 240):
        lanes = SeE2ADevice.group_lanes.fget(types.SimpleNamespace(emb=types.SimpleNamespace(ewmax=wmax)))
        layer_width = 0 if compressed else wmax          # a compressed model's pass has no layer buffers
        host = types.SimpleNamespace(emb_group=types.SimpleNamespace(act_emb=act, ewmax=wmax, n_emb=nlayer),
                                     group_lanes=lanes, embedding_values=lambda b, w=layer_width: 4 * b * w)
        for batch in (4, 8, 16):
            if 4 * batch > lanes:         # group_partial_sums needs ncomp ≤ nlane
                continue
            half = batch * layer_width
            terms_at = lane_sums_at(act, batch, wmax, nlayer)
            terms = (terms_at, terms_at + 4 * batch * (lanes + 1))
            parts = (terms[1], terms[1] + lanes)        # 4·batch terms × lanes // (4·batch) parts
            layers = (0, 4 * half)
            assert not overlap(terms, last_layer_reads(nlayer, half) if half else None), (wmax, batch)
            # the next batch's layer 0 writes buffer 1 without a barrier before it (batch_rows, odd layer counts)
            assert not overlap(parts, (2 * half, 4 * half) if half else None), (wmax, batch)
            assert not overlap(terms, parts)
            assert SeE2ADevice.pass_values(host, batch) >= max(parts[1], layers[1]), (wmax, batch)
