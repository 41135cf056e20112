"""Tabulated embedding nets: DeePMD-kit's model compression (`dp compress`), in float64 NumPy.

A compressed model replaces each embedding net G: x ↦ R^M of a smooth descriptor by a table of
fifth-order polynomials.  Its ``table_info`` is (lower, upper, upper_extrapolate, stride1, stride2,
check_frequency): [lower, upper) is cut into intervals of width stride1, [upper,
upper_extrapolate) into intervals of width stride2, and on interval n starting at x_n

    G_m(x) = Σ_{k=0..5} a[n, 6m + k] · (x − x_n)^k

se_e3's tables (``low_tail``: its input, a product of two direction rows, is signed) start lower,
at bottom = −upper_extrapolate, with intervals of width stride2 up to lower; other tables start at
bottom = lower.  Where x falls (DeePMD-kit's ``locate_xx`` / ``locate_xx_se_t``,
source/lib/src/tabulate.cc; C¹ continuation outside the table):

    x < bottom                 interval 0 at offset 0, plus G'·(x − bottom)
    bottom ≤ x < lower         n = ⌊(x − bottom)/stride2⌋,              x_n = bottom + n·stride2
    lower ≤ x < upper          n = n₀ + ⌊(x − lower)/stride1⌋,          x_n = lower + (n − n₀)·stride1
    upper ≤ x < u_e            n = n₁ + ⌊(x − upper)/stride2⌋,          x_n = upper + (n − n₁)·stride2
    x ≥ u_e                    the interval holding u_e⁻ at u_e, plus G'(u_e)·(x − u_e)
            with n₀ = ⌊(lower − bottom)/stride2⌋ and n₁ = n₀ + ⌊(upper − lower)/stride1⌋

The coefficients of an interval of width t come from the net's value v, slope d and curvature d2
at both ends (0: start, 1: end; h = v₁ − v₀), the quintic matching all six (``build``):

    a0 = v₀   a1 = d₀   a2 = d2₀/2
    a3 = (20h − (8d₁ + 12d₀)t − (3d2₀ − d2₁)t²) / (2t³)
    a4 = (−30h + (14d₁ + 16d₀)t + (3d2₀ − 2d2₁)t²) / (2t⁴)
    a5 = (12h − 6(d₁ + d₀)t + (d2₁ − d2₀)t²) / (2t⁵)

The grid and its range follow DeePMD-kit's ``BaseTabulate.build`` (deepmd/utils/tabulate.py):
lower = ⌊min x⌋, upper = ⌈max x⌉ over the species the net serves, with x the net's input at the
closest neighbour distance d_min of the training data and at r = ∞ (``tabulate``: s̃ of slot 0;
``tabulate_three_body``: ±(sw(d_min)/(d_min·t_std))² of slot 0's direction columns).  The second
derivatives of the activations are dpsycl/networks.py's (``activate_twice``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..model import Layer, ModelError
from ..networks import TABULATED_ACTIVATIONS, activate_twice
from ..device_kernels.activations import canonical_activation
from ..device_kernels.layers import embedding_skip


@dataclass
class EmbeddingTable:
    """The table of one embedding net: ``coefficients`` (nspline, 6·M), its ``table_info`` and
    whether it starts at −upper_extrapolate (``low_tail``, se_e3) or at lower."""
    coefficients: np.ndarray
    lower: float
    upper: float
    upper_extrapolate: float
    stride1: float
    stride2: float
    check_frequency: int = -1
    low_tail: bool = False

    @property
    def width(self) -> int:
        return self.coefficients.shape[1] // 6

    @property
    def table_info(self) -> np.ndarray:
        return np.array([self.lower, self.upper, self.upper_extrapolate, self.stride1, self.stride2,
                         self.check_frequency], dtype=np.float64)

    @classmethod
    def from_info(cls, coefficients: np.ndarray, info, low_tail: bool = False) -> "EmbeddingTable":
        info = [float(v) for v in np.asarray(info, dtype=np.float64).ravel()]
        if len(info) != 6:
            raise ModelError(f"a table_info holds 6 numbers, not {len(info)}")
        coefficients = np.asarray(coefficients)
        if coefficients.ndim != 2 or coefficients.shape[1] % 6 or coefficients.shape[0] < 1:
            raise ModelError(f"table coefficients of shape {coefficients.shape}: expected (nspline, 6·M)")
        table = cls(coefficients, *info[:5], check_frequency=int(info[5]), low_tail=bool(low_tail))
        if not (table.stride1 > 0 and table.stride2 > 0 and table.bottom <= table.lower <= table.upper
                <= table.upper_extrapolate):
            raise ModelError(f"table_info {info} is not {'-upper_extrapolate <= ' if low_tail else ''}lower <= upper "
                             "<= upper_extrapolate with positive strides")
        # DeePMD-kit sizes a se_e3 table one interval short when ((extrapolate − 1)·upper)/stride2 has a
        # fractional part below 1/2: its op then reads past the table's end near upper_extrapolate
        if table.addressed_intervals() > len(coefficients) + int(table.low_tail):
            raise ModelError(f"table of {len(coefficients)} intervals is shorter than its table_info {info} needs")
        return table

    def astype(self, dtype) -> "EmbeddingTable":
        return replace(self, coefficients=self.coefficients.astype(dtype))

    @property
    def bottom(self) -> float:
        """Where the table starts."""
        return -self.upper_extrapolate if self.low_tail else self.lower

    def low_intervals(self) -> int:
        """n₀: the intervals of width stride2 below lower (none without a low tail)."""
        return int((self.lower - self.bottom) / self.stride2) if self.low_tail else 0

    def first_intervals(self) -> int:
        """The intervals of width stride1, [lower, upper)."""
        return int((self.upper - self.lower) / self.stride1)

    def upper_interval(self) -> int:
        """n₁: the index of the interval starting at upper."""
        return self.low_intervals() + self.first_intervals()

    def addressed_intervals(self) -> int:
        """How many intervals DeePMD-kit's lookup addresses: up to the one holding the largest
        number below upper_extrapolate."""
        below_top = np.nextafter(self.upper_extrapolate, self.lower)
        return self.upper_interval() + int((below_top - self.upper) / self.stride2) + 1

    def last_interval(self) -> int:
        """The interval used near and beyond upper_extrapolate: the one holding the largest number
        below it, or the table's last where the table is one short (DeePMD-kit's se_e3 tables; its
        op reads past the end there, dpsycl continues the last polynomial)."""
        return min(self.addressed_intervals(), len(self.coefficients)) - 1

    def locate(self, x: np.ndarray):
        """(interval, offset in it, distance beyond the table) of every x, as DeePMD-kit's locate_xx."""
        x = np.asarray(x, dtype=np.float64)
        bottom, lower, upper, top = self.bottom, self.lower, self.upper, self.upper_extrapolate
        s1, s2 = self.stride1, self.stride2
        n0, n1 = self.low_intervals(), self.upper_interval()
        idx = np.zeros(x.shape, dtype=np.int64)
        offset = np.zeros(x.shape)
        beyond = np.zeros(x.shape)
        below = x < bottom
        beyond[below] = x[below] - bottom
        tail = ~below & (x < lower)
        idx[tail] = ((x[tail] - bottom) / s2).astype(np.int64)
        offset[tail] = x[tail] - (idx[tail] * s2 + bottom)
        first = ~below & ~tail & (x < upper)
        idx[first] = n0 + ((x[first] - lower) / s1).astype(np.int64)
        offset[first] = x[first] - ((idx[first] - n0) * s1 + lower)
        second = (x >= upper) & (x < top)
        last = self.last_interval()
        idx[second] = np.minimum(n1 + ((x[second] - upper) / s2).astype(np.int64), last)
        offset[second] = x[second] - ((idx[second] - n1) * s2 + upper)
        above = x >= top
        idx[above] = last
        offset[above] = top - ((last - n1) * s2 + upper)
        beyond[above] = x[above] - top
        return idx, offset, beyond

    def interval_widths(self) -> np.ndarray:
        """The width of every interval (nspline,), as the grid lays them out."""
        n = len(self.coefficients)
        at = np.arange(n)
        return np.where((at >= self.low_intervals()) & (at < self.upper_interval()), self.stride1, self.stride2)

    def evaluate(self, x: np.ndarray):
        """G(x) and dG/dx, shape x.shape + (M,)."""
        idx, offset, beyond = self.locate(x)
        a = self.coefficients[idx].reshape(*idx.shape, self.width, 6).astype(np.float64)
        t = offset[..., None]
        value = a[..., 0] + (a[..., 1] + (a[..., 2] + (a[..., 3] + (a[..., 4] + a[..., 5] * t) * t) * t) * t) * t
        slope = a[..., 1] + (2 * a[..., 2] + (3 * a[..., 3] + (4 * a[..., 4] + 5 * a[..., 5] * t) * t) * t) * t
        return value + slope * beyond[..., None], slope


# -- building a table from a net (``dpsycl compress``) ---------------------------------------------
def net_derivatives(layers: list[Layer], activation: str, x: np.ndarray):
    """Value, first and second derivative (len(x), M) of an embedding net without idt."""
    if canonical_activation(activation) not in TABULATED_ACTIVATIONS:
        raise ModelError(f"building tables for a '{activation}' embedding net is not supported "
                         f"({', '.join(TABULATED_ACTIVATIONS)}: the activations DeePMD-kit tabulates)")
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
        h, dh, d2h = activate_twice(activation, z)
        out, dout, d2out = h, dh * dz, d2h * dz * dz + dh * d2z
        skip = embedding_skip(w.shape[0], w.shape[1])
        if skip:
            reps = 1 if skip == 1 else 2
            out, dout, d2out = (out + np.tile(y, reps), dout + np.tile(dy, reps), d2out + np.tile(d2y, reps))
        y, dy, d2y = out, dout, d2out
    return y, dy, d2y


def quintics(layers: list[Layer], activation: str, grid: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Coefficients (nspline, 6·M) of the quintics between consecutive grid points, nspline =
    len(width); ``width`` is the t each interval's a3..a5 are built with."""
    nspline = len(width)
    v, d, d2 = net_derivatives(layers, activation, grid)
    width = np.asarray(width, dtype=np.float64).reshape(-1, 1)
    v0, v1, d0, d1, c0, c1 = v[:nspline], v[1:nspline + 1], d[:nspline], d[1:nspline + 1], d2[:nspline], d2[1:nspline + 1]
    h = v1 - v0
    a = np.empty((nspline, v.shape[1], 6))
    a[..., 0] = v0
    a[..., 1] = d0
    a[..., 2] = 0.5 * c0
    a[..., 3] = (20 * h - (8 * d1 + 12 * d0) * width - (3 * c0 - c1) * width * width) / (2 * width ** 3)
    a[..., 4] = (-30 * h + (14 * d1 + 16 * d0) * width + (3 * c0 - 2 * c1) * width * width) / (2 * width ** 4)
    a[..., 5] = (12 * h - 6 * (d1 + d0) * width + (c1 - c0) * width * width) / (2 * width ** 5)
    return a.reshape(nspline, -1)


def build(layers: list[Layer], activation: str, lower: float, upper: float, extrapolate: float, stride1: float,
          stride2: float, check_frequency: int = -1) -> EmbeddingTable:
    """The table of one net on DeePMD-kit's grid: stride1 over [lower, upper), stride2 up to
    extrapolate·upper, the number of intervals truncated as DeePMD-kit does."""
    top = extrapolate * upper
    grid = np.concatenate([np.arange(lower, upper, stride1), np.arange(upper, top, stride2), [top]])
    nspline = int((upper - lower) / stride1 + (top - upper) / stride2)
    width = np.full(nspline, float(stride2))
    width[:int((upper - lower) / stride1)] = stride1
    return EmbeddingTable(quintics(layers, activation, grid, width), float(lower), float(upper), float(top),
                          float(stride1), float(stride2), int(check_frequency))


def build_two_sided(layers: list[Layer], activation: str, lower: float, upper: float, extrapolate: float,
                    stride1: float, stride2: float, check_frequency: int = -1) -> EmbeddingTable:
    """A se_e3 table on DeePMD-kit's grid: stride2 from extrapolate·lower, stride1 over [lower,
    upper), stride2 up to extrapolate·upper (lower = −upper).  DeePMD-kit builds a3..a5 of the
    stride1 intervals with width stride1 one interval late (its ``tt[start:end]`` begins at
    n₀ + 1): the interval starting at lower is built as if stride2 wide, the one starting at upper
    as if stride1 wide.  Where (extrapolate − 1)·upper/stride2 is not whole, its grid has
    ⌈that⌉ low-tail intervals while its lookup counts ⌊that⌋ (locate_xx_se_t), so its model
    evaluates 𝒩(x − stride1) over [lower, upper).  Its tables are reproduced as they are."""
    top = extrapolate * upper
    grid = np.concatenate([np.arange(extrapolate * lower, lower, stride2), np.arange(lower, upper, stride1),
                           np.arange(upper, top, stride2), [top]])
    nspline = int((upper - lower) / stride1 + 2 * ((extrapolate * upper - upper) / stride2))
    width = np.full(nspline, float(stride2))
    start = int((lower - extrapolate * lower) / stride2) + 1
    width[start:start + int((upper - lower) / stride1)] = stride1
    return EmbeddingTable(quintics(layers, activation, grid, width), float(lower), float(upper), float(top),
                          float(stride1), float(stride2), int(check_frequency), low_tail=True)


def _switch(r: float, rmin: float, rmax: float) -> float:
    """DeePMD-kit's quintic switch at one distance (the s(r) of dpsycl/env_matrix.py times r)."""
    if r < rmin:
        return 1.0
    if r < rmax:
        u = (r - rmin) / (rmax - rmin)
        return u * u * u * (-6 * u * u + 15 * u - 10) + 1
    return 0.0


def _check_tabulable(d, min_nbor_dist: float) -> None:
    if d.resnet_dt:
        raise ModelError("model compression needs an embedding net without resnet_dt (DeePMD-kit refuses it too)")
    if not min_nbor_dist > 0:
        raise ModelError(f"the closest neighbour distance must be positive, not {min_nbor_dist}")


def tabulate(d, min_nbor_dist: float, step: float = 0.01, extrapolate: float = 5.0, frequency: int = -1) -> dict:
    """Tables of every net of smooth descriptor ``d`` (`dp compress -s step -e extrapolate -f frequency`):
    per centre species i the normalised s ranges over [⌊−t_avg/t_std⌋, ⌈(sw(d_min)/d_min − t_avg)/t_std⌉]
    (column 0 of slot 0), and a one-side net takes the widest range over the centre species
    that see its neighbour species (not excluded, sel > 0); stride2 = 10·step."""
    _check_tabulable(d, min_nbor_dist)
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


def tabulate_three_body(d, min_nbor_dist: float, step: float = 0.01, extrapolate: float = 5.0,
                        frequency: int = -1) -> dict:
    """Tables of the nets of se_e3 descriptor ``d`` (`dp compress -s step ...`): its strides are ten
    times se_e2_a's (stride1 = 10·step, stride2 = 100·step, as DeePMD-kit's se_t multiplies both
    table strides by 10); the net of neighbour species (a, b) spans ±⌈max_c (sw(d_min) /
    (d_min·t_std[a, c]))²⌉ over the direction columns c = 1..3 of slot 0 of row a (DeePMD-kit reads
    the row of the net's first species, as if it were a centre species)."""
    _check_tabulable(d, min_nbor_dist)
    sw = _switch(float(min_nbor_dist), float(d.rcut_smth), float(d.rcut))
    var = np.square(sw / (min_nbor_dist * d.t_std[:, 1:4].astype(np.float64)))
    lower, upper = np.floor(np.min(-var, axis=1)), np.ceil(np.max(var, axis=1))
    stride1, stride2 = step * 10, (10 * step) * 10      # DeePMD-kit's order of operations: the same doubles
    return {(a, b): build_two_sided(layers, d.activation, lower[a], upper[a], extrapolate, stride1, stride2, frequency)
            for (a, b), layers in d.embedding_nets.items()}
