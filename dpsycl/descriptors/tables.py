"""Tabulated embedding nets: DeePMD-kit's model compression (`dp compress`), in float64 NumPy.

A compressed model replaces each embedding net G: x ↦ R^M of a smooth descriptor by a table of
fifth-order polynomials.  Its ``table_info`` is (lower, upper, upper_extrapolate, stride1, stride2,
check_frequency): [lower, upper) is cut into intervals of width stride1, [upper,
upper_extrapolate) into intervals of width stride2, and on interval n starting at x_n

    G_m(x) = Σ_{k=0..5} a[n, 6m + k] · (x − x_n)^k

Where x falls (DeePMD-kit's ``locate_xx``, source/lib/src/tabulate.cc; C¹ continuation outside):

    x < lower                  interval 0 at offset 0, plus G'·(x − lower)
    lower ≤ x < upper          n = ⌊(x − lower)/stride1⌋,               x_n = lower + n·stride1
    upper ≤ x < u_e            n = n₁ + ⌊(x − upper)/stride2⌋,          x_n = upper + (n − n₁)·stride2
    x ≥ u_e                    the interval holding u_e⁻ at u_e, plus G'(u_e)·(x − u_e)
                               with n₁ = ⌊(upper − lower)/stride1⌋ (the first table's intervals)

The coefficients of an interval of width t come from the net's value v, slope d and curvature d2
at both ends (0: start, 1: end; h = v₁ − v₀), the quintic matching all six (``build``):

    a0 = v₀   a1 = d₀   a2 = d2₀/2
    a3 = (20h − (8d₁ + 12d₀)t − (3d2₀ − d2₁)t²) / (2t³)
    a4 = (−30h + (14d₁ + 16d₀)t + (3d2₀ − 2d2₁)t²) / (2t⁴)
    a5 = (12h − 6(d₁ + d₀)t + (d2₁ − d2₀)t²) / (2t⁵)

The grid and its range follow DeePMD-kit's ``BaseTabulate.build`` (deepmd/utils/tabulate.py):
lower = ⌊min s⌋, upper = ⌈max s⌉ over the species the net serves, with s the normalised first
environment column at r = ∞ (s̃ = 0) and at the closest neighbour distance of the training data.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..model import Layer, ModelError
from ..device_kernels.layers import embedding_skip


@dataclass
class EmbeddingTable:
    """The table of one embedding net: ``coefficients`` (nspline, 6·M) and its ``table_info``."""
    coefficients: np.ndarray
    lower: float
    upper: float
    upper_extrapolate: float
    stride1: float
    stride2: float
    check_frequency: int = -1

    @property
    def width(self) -> int:
        return self.coefficients.shape[1] // 6

    @property
    def table_info(self) -> np.ndarray:
        return np.array([self.lower, self.upper, self.upper_extrapolate, self.stride1, self.stride2,
                         self.check_frequency], dtype=np.float64)

    @classmethod
    def from_info(cls, coefficients: np.ndarray, info) -> "EmbeddingTable":
        info = [float(v) for v in np.asarray(info, dtype=np.float64).ravel()]
        if len(info) != 6:
            raise ModelError(f"a table_info holds 6 numbers, not {len(info)}")
        coefficients = np.asarray(coefficients)
        if coefficients.ndim != 2 or coefficients.shape[1] % 6 or coefficients.shape[0] < 1:
            raise ModelError(f"table coefficients of shape {coefficients.shape}: expected (nspline, 6·M)")
        table = cls(coefficients, *info[:5], check_frequency=int(info[5]))
        if not (table.stride1 > 0 and table.stride2 > 0 and table.lower <= table.upper <= table.upper_extrapolate):
            raise ModelError(f"table_info {info} is not lower <= upper <= upper_extrapolate with positive strides")
        if table.last_interval() >= len(coefficients):
            raise ModelError(f"table of {len(coefficients)} intervals is shorter than its table_info {info} needs")
        return table

    def astype(self, dtype) -> "EmbeddingTable":
        return replace(self, coefficients=self.coefficients.astype(dtype))

    def first_intervals(self) -> int:
        return int((self.upper - self.lower) / self.stride1)

    def last_interval(self) -> int:
        """The interval holding the largest number below upper_extrapolate (used from there on)."""
        below_top = np.nextafter(self.upper_extrapolate, self.lower)
        return self.first_intervals() + int((below_top - self.upper) / self.stride2)

    def locate(self, x: np.ndarray):
        """(interval, offset in it, distance beyond the table) of every x, as DeePMD-kit's locate_xx."""
        x = np.asarray(x, dtype=np.float64)
        lower, upper, top, s1, s2 = self.lower, self.upper, self.upper_extrapolate, self.stride1, self.stride2
        n1 = self.first_intervals()
        idx = np.zeros(x.shape, dtype=np.int64)
        offset = np.zeros(x.shape)
        beyond = np.zeros(x.shape)
        below = x < lower
        beyond[below] = x[below] - lower
        first = ~below & (x < upper)
        idx[first] = ((x[first] - lower) / s1).astype(np.int64)
        offset[first] = x[first] - (idx[first] * s1 + lower)
        second = (x >= upper) & (x < top)
        idx[second] = n1 + ((x[second] - upper) / s2).astype(np.int64)
        offset[second] = x[second] - ((idx[second] - n1) * s2 + upper)
        above = x >= top
        last = self.last_interval()
        idx[above] = last
        offset[above] = top - ((last - n1) * s2 + upper)
        beyond[above] = x[above] - top
        return idx, offset, beyond

    def evaluate(self, x: np.ndarray):
        """G(x) and dG/dx, shape x.shape + (M,)."""
        idx, offset, beyond = self.locate(x)
        a = self.coefficients[idx].reshape(*idx.shape, self.width, 6).astype(np.float64)
        t = offset[..., None]
        value = a[..., 0] + (a[..., 1] + (a[..., 2] + (a[..., 3] + (a[..., 4] + a[..., 5] * t) * t) * t) * t) * t
        slope = a[..., 1] + (2 * a[..., 2] + (3 * a[..., 3] + (4 * a[..., 4] + 5 * a[..., 5] * t) * t) * t) * t
        return value + slope * beyond[..., None], slope


# -- building a table from a net (``dpsycl compress``) ---------------------------------------------
def _activation_derivatives(activation: str, z: np.ndarray):
    """φ(z), φ'(z), φ''(z) of the activations DeePMD-kit tabulates and dpsycl builds tables for."""
    if activation == "tanh":
        y = np.tanh(z)
        d = 1.0 - y * y
        return y, d, -2.0 * y * d
    if activation == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-z))
        d = y * (1.0 - y)
        return y, d, d * (1.0 - 2.0 * y)
    if activation == "softplus":
        sg = 1.0 / (1.0 + np.exp(-z))
        return np.logaddexp(0.0, z), sg, sg * (1.0 - sg)
    raise ModelError(f"building tables for a '{activation}' embedding net is not supported (tanh, sigmoid, softplus)")


def net_derivatives(layers: list[Layer], activation: str, x: np.ndarray):
    """Value, first and second derivative (len(x), M) of an embedding net without idt."""
    y = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    dy = np.ones_like(y)
    d2y = np.zeros_like(y)
    for layer in layers:
        if layer.idt is not None:
            raise ModelError("an embedding net with resnet_dt (idt) cannot be tabulated (DeePMD-kit refuses it too)")
        w = layer.matrix.astype(np.float64)
        z = y @ w + layer.bias.astype(np.float64)
        dz = dy @ w
        d2z = d2y @ w
        h, dh, d2h = _activation_derivatives(activation, z)
        out, dout, d2out = h, dh * dz, d2h * dz * dz + dh * d2z
        skip = embedding_skip(w.shape[0], w.shape[1])
        if skip:
            reps = 1 if skip == 1 else 2
            out, dout, d2out = (out + np.tile(y, reps), dout + np.tile(dy, reps), d2out + np.tile(d2y, reps))
        y, dy, d2y = out, dout, d2out
    return y, dy, d2y


def build(layers: list[Layer], activation: str, lower: float, upper: float, extrapolate: float, stride1: float,
          stride2: float, check_frequency: int = -1) -> EmbeddingTable:
    """The table of one net on DeePMD-kit's grid: stride1 over [lower, upper), stride2 up to
    extrapolate·upper, the number of intervals truncated as DeePMD-kit does."""
    top = extrapolate * upper
    grid = np.concatenate([np.arange(lower, upper, stride1), np.arange(upper, top, stride2), [top]])
    nspline = int((upper - lower) / stride1 + (top - upper) / stride2)
    v, d, d2 = net_derivatives(layers, activation, grid)
    width = np.full((nspline, 1), float(stride2))
    width[:int((upper - lower) / stride1)] = stride1
    v0, v1, d0, d1, c0, c1 = v[:nspline], v[1:nspline + 1], d[:nspline], d[1:nspline + 1], d2[:nspline], d2[1:nspline + 1]
    h = v1 - v0
    a = np.empty((nspline, v.shape[1], 6))
    a[..., 0] = v0
    a[..., 1] = d0
    a[..., 2] = 0.5 * c0
    a[..., 3] = (20 * h - (8 * d1 + 12 * d0) * width - (3 * c0 - c1) * width * width) / (2 * width ** 3)
    a[..., 4] = (-30 * h + (14 * d1 + 16 * d0) * width + (3 * c0 - 2 * c1) * width * width) / (2 * width ** 4)
    a[..., 5] = (12 * h - 6 * (d1 + d0) * width + (c1 - c0) * width * width) / (2 * width ** 5)
    return EmbeddingTable(a.reshape(nspline, -1), float(lower), float(upper), float(top), float(stride1),
                          float(stride2), int(check_frequency))


def _switch(r: float, rmin: float, rmax: float) -> float:
    """DeePMD-kit's quintic switch at one distance (the s(r) of dpsycl/env_matrix.py times r)."""
    if r < rmin:
        return 1.0
    if r < rmax:
        u = (r - rmin) / (rmax - rmin)
        return u * u * u * (-6 * u * u + 15 * u - 10) + 1
    return 0.0


def tabulate(d, min_nbor_dist: float, step: float = 0.01, extrapolate: float = 5.0, frequency: int = -1) -> dict:
    """Tables of every net of smooth descriptor ``d`` (`dp compress -s step -e extrapolate -f frequency`):
    per centre species i the normalised s ranges over [⌊−t_avg/t_std⌋, ⌈(sw(d_min)/d_min − t_avg)/t_std⌉]
    (column 0 of slot 0), and a one-side net takes the widest range over the centre species
    that see its neighbour species (not excluded, sel > 0); stride2 = 10·step."""
    if d.resnet_dt:
        raise ModelError("model compression needs an embedding net without resnet_dt (DeePMD-kit refuses it too)")
    if not min_nbor_dist > 0:
        raise ModelError(f"the closest neighbour distance must be positive, not {min_nbor_dist}")
    avg, std = d.t_avg[:, 0].astype(np.float64), d.t_std[:, 0].astype(np.float64)
    sw = _switch(float(min_nbor_dist), float(d.rcut_smth), float(d.rcut))
    lower = np.floor(-avg / std)
    upper = np.ceil(((1 / min_nbor_dist) * sw - avg) / std)
    ntypes = len(d.sel)
    tables = {}
    for (centre, neighbour), layers in d.embedding_nets.items():
        if centre < 0:
            seen = [i for i in range(ntypes) if not d.is_excluded(i, neighbour) and d.sel[i] > 0]
            lo, up = lower[seen].min(), upper[seen].max()
        else:
            lo, up = lower[centre], upper[centre]
        tables[(centre, neighbour)] = build(layers, d.activation, lo, up, extrapolate, step, 10 * step, frequency)
    return tables
