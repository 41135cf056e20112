"""se_e2_a's fitting net on CPU devices: E_i = F_tᵢ(D_i), D_i = T_iᵀ T_i[:, :M<], and ∂E_i/∂T_i.

A work-group of 16 lanes (one vector of the OpenCL CPU compiler) takes FIT_ATOMS atoms of one
species: a layer's outputs over the lanes, the atoms' inputs side by side in local memory, so each
weight loaded feeds FIT_ATOMS multiply-adds.  One atom per work-group streamed the whole net from
cache for every atom (cuag: 1.4 MB of weights and transposed weights per atom, larger than a Zen 4
core's L2) and waited on one add chain per output (benchmarks/NOTES.md, session 13).  Each atom's
sums run in the order of se_e2_a_group.group_fitting_net with one output per lane, so its energy
and ∂E/∂T are those of the one-atom body bit for bit.

``fit_atoms[g·FIT_ATOMS + j]`` is atom j of group g (the host groups the atoms by species,
SeE2ADevice.species_groups); −1 pads a species' last group, whose padding runs on the group's first
atom and stores nothing.
"""
from .group import group_reduce
from .layers import fitting_energy, fitting_output, fitting_residual
from .primitives import barrier

#: atoms of one species per work-group
FIT_ATOMS = 4


def group_atom(fit_atoms, g, j):
    """Atom j of group g, or the group's first atom where j pads the group."""
    i = fit_atoms[g * FIT_ATOMS + j]
    return fit_atoms[g * FIT_ATOMS] if i < 0 else i


def dense_four_atoms(item, lane, nlane, buf, stride, x_at, n_in, y_at, dact, dstride, da, n_out, w, mo, bo, io, act,
                     act_arg, residual):
    """group.group_dense (one output per lane and pass) for four atoms whose buffers are ``stride``
    apart in buf and whose activation slopes are ``dstride`` apart in dact."""
    for o in range(lane, n_out, nlane):
        z0 = w[bo + o]
        z1 = z0
        z2 = z0
        z3 = z0
        xk = x_at
        wk = mo + o
        while xk < x_at + n_in:
            wv = w[wk]
            z0 += buf[xk] * wv
            z1 += buf[stride + xk] * wv
            z2 += buf[2 * stride + xk] * wv
            z3 += buf[3 * stride + xk] * wv
            xk += 1
            wk += n_out
        fitting_output(z0, o, w, io, act, act_arg, buf, y_at, dact, da, residual, x_at)
        fitting_output(z1, o, w, io, act, act_arg, buf, stride + y_at, dact, dstride + da, residual, stride + x_at)
        fitting_output(z2, o, w, io, act, act_arg, buf, 2 * stride + y_at, dact, 2 * dstride + da, residual,
                       2 * stride + x_at)
        fitting_output(z3, o, w, io, act, act_arg, buf, 3 * stride + y_at, dact, 3 * dstride + da, residual,
                       3 * stride + x_at)
    barrier(item)


def dense_backward_four_atoms(item, lane, nlane, buf, stride, g_at, n_out, gin_at, n_in, dact, dstride, da, wt, mo,
                              residual):
    """group.group_dense_backward (one input per lane and pass, over the transposed matrix wt) for
    four atoms laid out as in dense_four_atoms.  The loop over the outputs is a range: written as
    group_dense_backward's while loop over running indices, the OpenCL CPU compiler ran it as a
    divergent loop (a lane mask kept in memory per step) and gathered wt[wo] where it is one vector
    load: the kernel took 31 ms instead of 20 at 2,048 atoms (benchmarks/NOTES.md, session 14)."""
    for k in range(lane, n_in, nlane):
        a0 = 0.0 * buf[g_at]
        a1 = a0
        a2 = a0
        a3 = a0
        wo = mo + k
        for o in range(n_out):
            wv = wt[wo]
            a0 += (buf[g_at + o] * dact[da + o]) * wv
            a1 += (buf[stride + g_at + o] * dact[dstride + da + o]) * wv
            a2 += (buf[2 * stride + g_at + o] * dact[2 * dstride + da + o]) * wv
            a3 += (buf[3 * stride + g_at + o] * dact[3 * dstride + da + o]) * wv
            wo += n_in
        if residual:
            a0 += buf[g_at + k]
            a1 += buf[stride + g_at + k]
            a2 += buf[2 * stride + g_at + k]
            a3 += buf[3 * stride + g_at + k]
        buf[gin_at + k] = a0
        buf[stride + gin_at + k] = a1
        buf[2 * stride + gin_at + k] = a2
        buf[3 * stride + gin_at + k] = a3
    barrier(item)


def fitting_group_atoms(item, g, lane, nlane, fit_atoms, atype, nnei, nchunk, t_part, m_width, axis_m, fit_w, fit_off,
                        fit_widths, n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, n_hidden,
                        fparam, nfp, aparam, nap, atom_energy, dt_mat, sh_t, sh_f, sh_dact, sh_red):
    """E_i and dt_mat[i] = ∂E_i/∂T_i / nnei of the FIT_ATOMS atoms of group g.  Local arrays per atom j:
    sh_t[j·4M:] its T, sh_f[j·2·fwmax:] its two layer buffers (D first), sh_dact[j·n_hidden:] its
    activation slopes, sh_red[j·nlane:] its lanes' parts of the last layer."""
    ti = atype[fit_atoms[g * FIT_ATOMS]]
    zero = 0.0 * fit_w[0]
    inv_nnei = 1.0 / nnei
    tw = 4 * m_width
    half = 2 * fwmax
    for j in range(FIT_ATOMS):
        i = group_atom(fit_atoms, g, j)
        for k in range(lane, tw, nlane):
            acc = zero
            for c in range(nchunk):
                acc += t_part[(i * nchunk + c) * tw + k]
            sh_t[j * tw + k] = acc * inv_nnei
    barrier(item)
    # D[m, n] = Σ_a T[a, m]·T[a, n] with the lanes over m: T[a, m] in four vector loads and T[a, n] broadcast,
    # where lanes over the elements (m, n) gathered both (NOTES.md, session 13); the same sums in the same order
    for j in range(FIT_ATOMS):
        tj = j * tw
        for m in range(lane, m_width, nlane):
            t0 = sh_t[tj + m]
            t1 = sh_t[tj + m_width + m]
            t2 = sh_t[tj + 2 * m_width + m]
            t3 = sh_t[tj + 3 * m_width + m]
            for n in range(axis_m):
                acc = zero
                acc += t0 * sh_t[tj + n]
                acc += t1 * sh_t[tj + m_width + n]
                acc += t2 * sh_t[tj + 2 * m_width + n]
                acc += t3 * sh_t[tj + 3 * m_width + n]
                sh_f[j * half + m * axis_m + n] = acc
        i = group_atom(fit_atoms, g, j)
        for q in range(lane, nfp + nap, nlane):
            if q < nfp:
                sh_f[j * half + m_width * axis_m + q] = fparam[q]
            else:
                sh_f[j * half + m_width * axis_m + q] = aparam[i * nap + q - nfp]
    barrier(item)
    da = 0
    x_at = 0
    n_in = fit_widths[0]
    for layer in range(n_fit):
        n_out = fit_widths[layer + 1]
        base = (ti * (n_fit + 1) + layer) * 3
        dense_four_atoms(item, lane, nlane, sh_f, half, x_at, n_in, fwmax - x_at, sh_dact, n_hidden, da, n_out, fit_w,
                         fit_off[base], fit_off[base + 1], fit_off[base + 2], act_fit, act_fit_arg,
                         fitting_residual(layer, n_in, n_out))
        da += n_out
        n_in = n_out
        x_at = fwmax - x_at
    base = (ti * (n_fit + 1) + n_fit) * 3
    mo = fit_off[base]
    for j in range(FIT_ATOMS):
        part = zero
        for k in range(lane, n_in, nlane):
            part += sh_f[j * half + x_at + k] * fit_w[mo + k]
        sh_red[j * nlane + lane] = part
    group_reduce(item, lane, nlane, sh_red, FIT_ATOMS)
    if lane == 0:
        for j in range(FIT_ATOMS):
            i = fit_atoms[g * FIT_ATOMS + j]
            if i >= 0:
                atom_energy[i] = fitting_energy(sh_red[j * nlane] + fit_w[fit_off[base + 1]], ti, bias_e, out_std,
                                                out_bias)
    # reverse pass: ∂y/∂(last hidden) = W_final, then layer by layer down to ∂y/∂D
    g_at = fwmax - x_at
    for j in range(FIT_ATOMS):
        for k in range(lane, n_in, nlane):
            sh_f[j * half + g_at + k] = fit_w[mo + k]
    barrier(item)
    for lr in range(n_fit):
        layer = n_fit - 1 - lr
        n_out = fit_widths[layer + 1]
        n_prev = fit_widths[layer]
        da -= n_out
        dense_backward_four_atoms(item, lane, nlane, sh_f, half, g_at, n_out, fwmax - g_at, n_prev, sh_dact, n_hidden,
                                  da, fit_wt, fit_off[(ti * (n_fit + 1) + layer) * 3],
                                  fitting_residual(layer, n_prev, n_out))
        g_at = fwmax - g_at
    # se_e2_a.t_gradient, atom by atom, the lanes over m and the four rows a of ∂E/∂T_i[a, m] together: each
    # ∂y/∂D[m, n] read once for the four (a gather over the lanes), ∂y/∂D[k, m] contiguous over them, T
    # broadcast; lanes over the elements (a, m) gathered every term (≈ 1,500 gathers an atom, the hottest
    # instructions of the kernel under perf: NOTES.md, session 13).  Each element's sum in se_e2_a's order.
    scale = out_std[ti] * inv_nnei
    for j in range(FIT_ATOMS):
        i = fit_atoms[g * FIT_ATOMS + j]
        if i < 0:
            continue
        gj = j * half + g_at
        tj = j * tw
        for m in range(lane, m_width, nlane):
            e0 = zero
            e1 = zero
            e2 = zero
            e3 = zero
            for n in range(axis_m):
                gmn = sh_f[gj + m * axis_m + n]
                e0 += gmn * sh_t[tj + n]
                e1 += gmn * sh_t[tj + m_width + n]
                e2 += gmn * sh_t[tj + 2 * m_width + n]
                e3 += gmn * sh_t[tj + 3 * m_width + n]
            if m < axis_m:
                for k in range(m_width):
                    gkm = sh_f[gj + k * axis_m + m]
                    e0 += gkm * sh_t[tj + k]
                    e1 += gkm * sh_t[tj + m_width + k]
                    e2 += gkm * sh_t[tj + 2 * m_width + k]
                    e3 += gkm * sh_t[tj + 3 * m_width + k]
            dt_mat[i * tw + m] = e0 * scale
            dt_mat[i * tw + m_width + m] = e1 * scale
            dt_mat[i * tw + 2 * m_width + m] = e2 * scale
            dt_mat[i * tw + 3 * m_width + m] = e3 * scale


BODIES = (group_atom, dense_four_atoms, dense_backward_four_atoms, fitting_group_atoms)
