"""The kernels' rule for where an input falls in a compressed net's table (device_kernels/layers.py:
table_interval, table_row, which the GPU work-group passes now run once per neighbour) against the host's
vectorised one (dpsycl/descriptors/tables.py: EmbeddingTable.locate, DeePMD-kit's locate_xx), on the packed
block the kernels read, over every region: below the table, its low tail, both strides, past its end."""
from __future__ import annotations

import numpy as np
import pytest

import dpsycl
from dpsycl.descriptors.embedding import EmbeddingPack
from dpsycl.device_kernels.layers import table_interval, table_locate, table_row
from conftest import model_file


def host_pack(tables):
    return EmbeddingPack.upload_tables(tables, lambda a, dtype: np.asarray(a, dtype=dtype), np.float64)


def probe_points(table, rng):
    """Random inputs over the table and a margin past both ends, and the region boundaries themselves."""
    lo, hi = table.bottom, table.upper_extrapolate
    edges = [lo, table.lower, table.upper, hi]
    near = [e + d for e in edges for d in (-1e-9, 0.0, 1e-9)]
    return np.concatenate([rng.uniform(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo), 400), near])


# se_e2_a's one-sided tables, se_e3's two-sided ones (bottom = −upper_extrapolate, a table one short), se_e2_r's
@pytest.mark.parametrize("name", ["tiny_compress", "tiny_se_e3_compress", "tiny_se_r_compress"])
def test_kernel_table_interval_is_the_host_locate(name):
    d = dpsycl.load_model(model_file(name)).descriptor
    tables = list(d.tables.values())
    pack = host_pack(tables)
    rng = np.random.default_rng(7)
    for net, table in enumerate(tables):
        x = probe_points(table, rng)
        idx, offset, beyond = table.locate(x)
        # every region is met, so the comparison covers each branch of the rule
        assert (beyond < 0).any() and (beyond > 0).any() and (idx > table.upper_interval()).any()
        at = int(pack.emb_off[3 * net])
        for k, xk in enumerate(x):
            assert table_interval(float(xk), pack.emb_w, at) == (idx[k], offset[k], beyond[k]), (name, net, xk)
            row, t, b = table_locate(float(xk), net, pack.emb_w, pack.emb_off, table.width)
            assert row == table_row(net, pack.emb_off, int(idx[k]), table.width)
            # the row the kernels read holds that interval's coefficients as the host's table has them
            np.testing.assert_array_equal(pack.emb_w[row:row + 6 * table.width], table.coefficients[idx[k]])
            assert (t, b) == (offset[k], beyond[k])
