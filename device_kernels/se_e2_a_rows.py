"""se_e2_a's two ends of the fitting net by dense products (dpsycl/fitting_rows.py), one work-group per row:

    X_0 = D_i = T_iᵀ T_i[:, :M<]                              descriptor_rows
    ∂E_i/∂T_i[a, m] = Σ_n G[m, n]·T[a, n] + [m < M<] Σ_k G[k, m]·T[a, k]      t_gradient_rows

with G = ∂y/∂D_i (the backward products' G_0) scaled by out_std, and T_i = Σ_chunks t_part / nnei.  CPUs take
the lanes over m (a vector's lanes read T[a, m] side by side, NOTES.md session 13); wide devices (``wide_rows``,
compiled in) take the lanes over neighbouring values of D and of a padded group-local copy of G, so that a warp's
accesses are contiguous.  Both forms run each element's sum in se_e2_a.descriptor_of_t's and t_gradient's order.
"""
from .fitting_rows import fitting_rows_parameters
from .primitives import barrier

def t_of_atom(lane, nlane, i, nchunk, t_part, tw, inv_nnei, dst, at, shift_from):
    """T_i (the sums of atom i's chunk parts, over nnei) into dst[at:], the lanes over its tw = 4·M values; values
    from shift_from on one place further (t_gradient_pairs' layout; tw for none)."""
    for k in range(lane, tw, nlane):
        acc = 0.0 * t_part[0]
        for c in range(nchunk):
            acc += t_part[(i * nchunk + c) * tw + k]
        skip = 0
        if k >= shift_from:
            skip = 1
        dst[at + k + skip] = acc * inv_nnei


def descriptor_lanes(lane, nlane, t, t_at, m_width, axis_m, d, d_at):
    """D[m, n] = Σ_a T[a, m]·T[a, n] (T from t[t_at:]) into d[d_at + m·M< + n], the lanes over m: T[a, m] in
    four vector loads and T[a, n] broadcast, where lanes over the elements (m, n) gathered both (NOTES.md,
    session 13); the sums of se_e2_a.descriptor_of_t in its order."""
    for m in range(lane, m_width, nlane):
        t0 = t[t_at + m]
        t1 = t[t_at + m_width + m]
        t2 = t[t_at + 2 * m_width + m]
        t3 = t[t_at + 3 * m_width + m]
        for n in range(axis_m):
            acc = 0.0 * t0
            acc += t0 * t[t_at + n]
            acc += t1 * t[t_at + m_width + n]
            acc += t2 * t[t_at + 2 * m_width + n]
            acc += t3 * t[t_at + 3 * m_width + n]
            d[d_at + m * axis_m + n] = acc


def element_row(e, inv_axis):
    """e // axis_m from the reciprocal 1/axis_m: (e + ½)/axis_m lies ≥ ½/axis_m from an integer, far beyond the
    product's rounding for every e of a descriptor row (float32 too), and a GPU's 64-bit integer division is a
    call of ≈ 70 instructions."""
    return int((e + 0.5) * inv_axis)


def descriptor_elements(lane, nlane, t, t_at, m_width, axis_m, d, d_at):
    """descriptor_lanes with the lanes over the elements (m, n) of D: neighbouring lanes write neighbouring values
    (wide devices: lanes over m stored 32 values 128 bytes apart per warp store), T[a, m] broadcast and T[a, n]
    contiguous from group-local memory; each element's sum in descriptor_lanes' order."""
    inv_axis = 1.0 / axis_m
    e = lane
    while e < m_width * axis_m:         # not a range(): see t_gradient_pairs
        m = element_row(e, inv_axis)
        n = e - m * axis_m
        acc = 0.0 * t[t_at]
        acc += t[t_at + m] * t[t_at + n]
        acc += t[t_at + m_width + m] * t[t_at + m_width + n]
        acc += t[t_at + 2 * m_width + m] * t[t_at + 2 * m_width + n]
        acc += t[t_at + 3 * m_width + m] * t[t_at + 3 * m_width + n]
        d[d_at + e] = acc
        e += nlane


def t_gradient_lanes(lane, nlane, gd, g_at, t, t_at, m_width, axis_m, scale, dt_mat, dt_at):
    """se_e2_a.t_gradient with the lanes over m and the four rows a of ∂E/∂T_i[a, m] together: each ∂y/∂D[m, n]
    (gd[g_at:]) read once for the four (a gather over the lanes), ∂y/∂D[k, m] contiguous over
    them, T (t[t_at:]) broadcast; lanes over the elements (a, m) gathered every term (≈ 1,500 gathers an atom,
    the hottest instructions of the fitting kernel under perf: NOTES.md, session 13).  Each element's sum in
    se_e2_a's order."""
    for m in range(lane, m_width, nlane):
        e0 = 0.0 * t[t_at]
        e1 = e0
        e2 = e0
        e3 = e0
        for n in range(axis_m):
            gmn = gd[g_at + m * axis_m + n]
            e0 += gmn * t[t_at + n]
            e1 += gmn * t[t_at + m_width + n]
            e2 += gmn * t[t_at + 2 * m_width + n]
            e3 += gmn * t[t_at + 3 * m_width + n]
        if m < axis_m:
            for k in range(m_width):
                gkm = gd[g_at + k * axis_m + m]
                e0 += gkm * t[t_at + k]
                e1 += gkm * t[t_at + m_width + k]
                e2 += gkm * t[t_at + 2 * m_width + k]
                e3 += gkm * t[t_at + 3 * m_width + k]
        dt_mat[dt_at + m] = e0 * scale
        dt_mat[dt_at + m_width + m] = e1 * scale
        dt_mat[dt_at + 2 * m_width + m] = e2 * scale
        dt_mat[dt_at + 3 * m_width + m] = e3 * scale


def t_gradient_pairs(lane, nlane, gd, g_stride, t, t_at, m_width, axis_m, scale, dt_mat, dt_at):
    """t_gradient_lanes for wide devices, from the padded copy gd (g_stride values per m): the lanes over the pairs
    (a ∈ {2p, 2p + 1}, m), so that 2·M lanes share the rows a where M lanes took all four.  The 2·axis_m pairs of
    m < axis_m, which also run the M-term second sum, come first (one warp for axis_m ≤ 16, where lanes in order of
    (p, m) put them in two warps that each waited on 2·axis_m busy lanes), the other pairs after them.  T's rows
    2 and 3 lie one value further in t (t_of_atom's shift_from = 2·M), so that lanes of both pairs of rows in one
    warp read different banks.  Each element's sum in t_gradient_lanes' order."""
    n_long = 2 * axis_m
    inv_long = 1.0 / axis_m
    inv_short = 1.0 / max(m_width - axis_m, 1)
    q = lane
    while q < 2 * m_width:
        if q < n_long:
            p = element_row(q, inv_long)
            m = q - p * axis_m
        else:
            p = element_row(q - n_long, inv_short)
            m = axis_m + q - n_long - p * (m_width - axis_m)
        a0 = 2 * p
        u = t_at + a0 * m_width + p
        v = u + m_width
        e0 = 0.0 * t[t_at]
        e1 = e0
        # while loops over running indices, where numba's range() left a select chain and 64-bit index
        # arithmetic in every unrolled step: the kernel was issue-bound (benchmarks/NOTES.md, session 32)
        gi = m * g_stride
        n = 0
        while n < axis_m:
            gmn = gd[gi]
            e0 += gmn * t[u + n]
            e1 += gmn * t[v + n]
            gi += 1
            n += 1
        if m < axis_m:
            gi = m
            k = 0
            while k < m_width:
                gkm = gd[gi]
                e0 += gkm * t[u + k]
                e1 += gkm * t[v + k]
                gi += g_stride
                k += 1
        dt_mat[dt_at + a0 * m_width + m] = e0 * scale
        dt_mat[dt_at + (a0 + 1) * m_width + m] = e1 * scale
        q += nlane


def descriptor_rows(item, g, lane, nlane, rows, row0, nnei, nchunk, t_part, m_width, axis_m, fparam, nfp, aparam,
                    nap, values, x_width, wide_rows, sh_t):
    """X_0 of row g of a block of the fitting net by products (fitting_rows.py): its atom's D_i = T_iᵀ T_i[:, :M<]
    and parameters; wide devices (wide_rows) with the lanes over D's elements, CPUs over its rows."""
    i = rows[row0 + g]
    t_of_atom(lane, nlane, i, nchunk, t_part, 4 * m_width, 1.0 / nnei, sh_t, 0, 4 * m_width)
    barrier(item)
    if wide_rows:
        descriptor_elements(lane, nlane, sh_t, 0, m_width, axis_m, values, g * x_width)
    else:
        descriptor_lanes(lane, nlane, sh_t, 0, m_width, axis_m, values, g * x_width)
    fitting_rows_parameters(lane, nlane, i, g, m_width * axis_m, fparam, nfp, aparam, nap, values, x_width)


def t_gradient_rows(item, g, lane, nlane, rows, row0, atype, nnei, nchunk, t_part, m_width, axis_m, grad, x_width,
                    out_std, dt_mat, wide_rows, sh_t, sh_g):
    """dt_mat[i] = ∂E_i/∂T_i / nnei of row g's atom from G_0 = ∂y/∂X_0 (fitting_rows.py).  Wide devices
    (wide_rows) first copy the row's ∂y/∂D into sh_g, axis_m + 1 values per m, the lanes over its values (read
    where t_gradient_lanes' lanes over m would each read a value 16 apart), so that its reads are free of
    bank conflicts; CPUs read the row where it is (sh_g unused)."""
    i = rows[row0 + g]
    inv_nnei = 1.0 / nnei
    shift_from = 4 * m_width
    if wide_rows:
        shift_from = 2 * m_width
    t_of_atom(lane, nlane, i, nchunk, t_part, 4 * m_width, inv_nnei, sh_t, 0, shift_from)
    if wide_rows:
        inv_axis = 1.0 / axis_m
        e = lane
        while e < m_width * axis_m:
            sh_g[e + element_row(e, inv_axis)] = grad[g * x_width + e]
            e += nlane
    barrier(item)
    scale = out_std[atype[i]] * inv_nnei
    if wide_rows:
        t_gradient_pairs(lane, nlane, sh_g, axis_m + 1, sh_t, 0, m_width, axis_m, scale, dt_mat, i * 4 * m_width)
    else:
        t_gradient_lanes(lane, nlane, grad, g * x_width, sh_t, 0, m_width, axis_m, scale, dt_mat, i * 4 * m_width)


BODIES = (t_of_atom, descriptor_lanes, element_row, descriptor_elements, t_gradient_lanes, t_gradient_pairs,
          descriptor_rows, t_gradient_rows)
