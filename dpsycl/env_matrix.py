"""The smooth se_e2_a environment matrix and its derivative with respect to r_ij.

    s(r) = 1/r                                   r < r_s
    s(r) = u³(−6u² + 15u − 10) + 1) / r          r_s ≤ r < r_c,   u = (r − r_s)/(r_c − r_s)
    s(r) = 0                                     r ≥ r_c
    R̃_ij = s(r_ij) · (1, x_ij/r_ij, y_ij/r_ij, z_ij/r_ij)
    R_ij = (R̃_ij − t_avg[type_i, slot]) / t_std[type_i, slot]

Empty slots hold R̃ = 0, so after normalisation they are −t_avg/t_std (not zero), as in DeePMD-kit.
Back-propagation: g_ij = ∂E/∂r_ij = Σ_a (∂E/∂R_ij[a] / t_std[a]) · ∂R̃_ij[a]/∂r_ij  (pair_gradients).
The kernel form of the same equations is device_kernels/environment.py.
"""
from __future__ import annotations

import numpy as np


def switch(r: np.ndarray, rcut: float, rcut_smth: float):
    """Switching function sw(r) (s = sw/r) and its derivative d sw/d r."""
    u = np.clip((r - rcut_smth) / (rcut - rcut_smth), 0.0, 1.0)
    sw = u ** 3 * (-6.0 * u ** 2 + 15.0 * u - 10.0) + 1.0
    dsw = (3.0 * u ** 2 * (-6.0 * u ** 2 + 15.0 * u - 10.0) + u ** 3 * (-12.0 * u + 15.0)) / (rcut - rcut_smth)
    inside = (r >= rcut_smth) & (r < rcut)
    dsw = np.where(inside, dsw, 0.0)
    sw = np.where(r < rcut, sw, 0.0)
    return sw, dsw


def env_matrix(rij: np.ndarray, mask: np.ndarray, rcut: float, rcut_smth: float):
    """Raw environment rows R̃ (..., 4) and dR̃/dr_ij (..., 4, 3) for real neighbours (mask true)."""
    r = np.sqrt(np.sum(rij * rij, axis=-1))
    r = np.where(mask, r, 1.0)
    sw, dsw = switch(r, rcut, rcut_smth)
    sw = np.where(mask, sw, 0.0)
    dsw = np.where(mask, dsw, 0.0)
    inv_r = 1.0 / r
    s = sw * inv_r
    unit = rij * inv_r[..., None]
    env = np.concatenate([s[..., None], s[..., None] * unit], axis=-1)
    # d s/d r_a = (dsw/r − sw/r²) x_a/r
    ds_dr = (dsw * inv_r - sw * inv_r * inv_r)[..., None] * unit
    # d (sw x_b/r²)/d r_a = δ_ab sw/r² + x_b (dsw/r³ − 2 sw/r⁴) x_a
    eye = np.eye(3)
    c = (dsw * inv_r ** 3 - 2.0 * sw * inv_r ** 4)[..., None, None]
    dxyz = (sw * inv_r ** 2)[..., None, None] * eye + c * rij[..., :, None] * rij[..., None, :]
    deriv = np.concatenate([ds_dr[..., None, :], dxyz], axis=-2)
    return env, deriv


def normalise(env: np.ndarray, atype: np.ndarray, t_avg: np.ndarray, t_std: np.ndarray) -> np.ndarray:
    """(R̃ − t_avg[type_i]) / t_std[type_i], per slot and column (any number of columns)."""
    avg = t_avg[atype].reshape(env.shape)
    std = t_std[atype].reshape(env.shape)
    return (env - avg) / std


def pair_gradients(dE_dR: np.ndarray, std: np.ndarray, deriv: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """g_ij (nloc, nnei, 3) from ∂E/∂R (normalised rows), t_std rows and dR̃/dr_ij."""
    g = np.einsum("ija,ijab->ijb", dE_dR / std, deriv)
    return np.where(mask[..., None], g, 0.0)
