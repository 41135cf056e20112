"""The row of a reverse entry's slot (device_kernels/environment.py: slot_row), which the gather of forces and virials
(device_kernels/forces.py) needs for each slot k·nnei + s that holds atom i: k, whose position gives r_ki.

Float32 kernels computed (slot + ½)·(1/nnei) in float32 (backends/compile_rules.py), whose rounding put the last slot
of a row into the next row from slot ≈ 6.1·10⁶ on: the virial of every atom with such a neighbour took another
atom's position.  slot_row computes it in float64 in either precision.  Checked as Python against ``//`` and
compiled on each kernel device in float32: the gather of slots past 2²⁴ against the host's sums."""
from __future__ import annotations

import numpy as np
import pytest

import dpsycl
from dpsycl.backends import make_backend
from dpsycl.backends.launch import Args
from dpsycl.device_kernels.environment import slot_row
from dpsycl.device_kernels.neighbors import pack_shift

DEVICES = [d for d in dpsycl.devices() if d != "numpy"]


def float32_estimate(slots: np.ndarray, nnei: int) -> np.ndarray:
    """(slot + ½)·(1/nnei) as a float32 kernel computes it: each step rounded to float32."""
    inv = np.float32(1.0) / np.float32(nnei)
    return ((slots.astype(np.float32) + np.float32(0.5)) * inv).astype(np.int64)


def test_the_float32_estimate_alone_misplaces_the_ends_of_rows():
    """Why slot_row works in float64: at 180 slots per row, from atom 34,056 on, the float32 estimate puts a row's
    last slot into the next row (the emulation of the old gather's arithmetic)."""
    nnei = 180
    slots = np.arange(0, 131072 * nnei, dtype=np.int64)
    wrong = float32_estimate(slots, nnei) != slots // nnei
    assert wrong.any()
    assert int(slots[wrong].min()) // nnei == 34056
    assert set((slots[wrong] % nnei).tolist()) == {nnei - 1}


@pytest.mark.parametrize("nnei", [1, 7, 16, 180, 1000])
def test_slot_row_is_the_integer_division_up_to_2_31(nnei):
    """The rule in float64 (the arithmetic float() gives it in either precision) against ``//`` for the first and
    last slots of rows up to 2³¹ (int32 slot numbers), where the float32 estimate was wrong."""
    rng = np.random.default_rng(nnei)
    rows = np.concatenate([np.arange(0, 64), rng.integers(0, 2 ** 31 // nnei, 2000), [2 ** 31 // nnei - 1]])
    slots = np.unique(np.concatenate([rows * nnei, rows * nnei + nnei - 1, rows * nnei + nnei // 2]))
    slots = slots[slots < 2 ** 31]
    inv_nnei = 1.0 / float(nnei)
    for s in slots.tolist():
        assert slot_row(s, inv_nnei) == s // nnei, (s, nnei)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_gather_of_slots_past_2_24_uses_the_right_rows(device):
    """gather_forces_and_virials compiled in float32: atom i's reverse entries are the last slots of the rows of
    atoms k ≥ 34,056 (180 slots a row), each with its own pair gradient g; then F_i = −Σ g and
    w_i = −Σ g ⊗ (x_i − x_k), summed here in float64."""
    backend = make_backend(device)
    nnei, natoms, ntargets, per_target = 180, 40000, 8, 16
    rng = np.random.default_rng(5)
    pos = rng.uniform(0.0, 50.0, (natoms, 3)).astype(np.float32)
    rows = np.arange(34056, 34056 + ntargets * per_target).reshape(ntargets, per_target)
    slots = rows * nnei + nnei - 1
    pair_grad = np.zeros(natoms * nnei * 3, np.float32)
    g = rng.uniform(-1.0, 1.0, (ntargets, per_target, 3)).astype(np.float32)
    pair_grad.reshape(-1, 3)[slots.ravel()] = g.reshape(-1, 3)
    nshift = np.full(natoms * nnei, pack_shift(0, 0, 0), np.int32)
    rev = np.zeros(natoms * per_target, np.int32)
    rev.reshape(natoms, per_target)[:ntargets] = slots
    rev_count = np.zeros(natoms, np.int32)
    rev_count[:ntargets] = per_target
    dt = np.float32
    up = backend.asarray
    force, atom_virial = up(np.zeros(natoms * 3, dt), dt), up(np.zeros(natoms * 9, dt), dt)
    backend.launch("gather_forces_and_virials", natoms,
                   Args(pos=up(pos.ravel(), dt), cell=up(np.zeros(9, dt), dt), nlist=up(np.zeros(1, np.int32)),
                        nshift=up(nshift), nnei=nnei, ncentres=0, pair_grad=up(pair_grad, dt), row_sums=0,
                        row_sum=up(np.zeros(3, dt), dt), rev=up(rev), rev_count=up(rev_count), rev_cap=per_target,
                        accumulate=0, force=force, atom_virial=atom_virial), dtype=dt)
    f = backend.to_host(force).reshape(natoms, 3)[:ntargets]
    w = backend.to_host(atom_virial).reshape(natoms, 9)[:ntargets]
    g64 = g.astype(np.float64)
    r_ki = pos[:ntargets, None, :].astype(np.float64) - pos[rows].astype(np.float64)
    np.testing.assert_allclose(f, -g64.sum(axis=1), rtol=1e-5, atol=1e-5)
    want_w = -np.einsum("tpa,tpb->tab", g64, r_ki).reshape(ntargets, 9)
    np.testing.assert_allclose(w, want_w, rtol=1e-5, atol=1e-4 * np.abs(want_w).max())
