"""The se_e2_a energy pipeline with one work-group per atom: lanes share the embedding and fitting nets.

Same equations as se_e2_a.py (see its docstring and dpsycl/descriptors/se_e2_a/reference.py); only the work is laid
out for wide devices.  Lane m of the group owns embedding channel m: every lane walks the same
neighbour list, a layer's outputs are spread over the lanes and its inputs read from group-local
memory, so no lane keeps an embedding vector of its own.  T_i[:, m] stays in lane m's registers;
the fitting net's layers are spread over lanes the same way; the per-neighbour contractions of the
gradient pass are tree reductions in local memory.  ``barrier`` is the backend's (primitives.py).
"""
from .activations import activation
from .environment import block_slots, live_slot, normalised_env_row
from .group import group_dense, group_dense_backward, group_dense_backward_t, group_reduce
from .layers import TABULATED, embedding_skip, fitting_residual, table_channel, table_locate
from .primitives import barrier


def group_embedding(item, lane, s, net, w, off, widths, nlayer, act, act_arg, sh_x, wmax, tangent):
    """Lane m's channel of G(s) and, if tangent, of dG/ds (zero for lanes beyond the net's width);
    a compressed model's pack (act == TABULATED) reads the channel from its table instead."""
    if act == TABULATED:
        g = 0.0 * s
        dg = 0.0 * s
        if lane < widths[1]:
            row, t, beyond = table_locate(s, net, w, off, widths[1])
            g, dg = table_channel(w, row, lane, t, beyond)
        barrier(item)    # one synchronisation point per slot, as the layers' path has
        return g, dg
    n_in = 1
    h = 0.0 * s
    dh = 0.0 * s
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (net * nlayer + layer) * 3
        mo = off[base]
        io = off[base + 2]
        hn = 0.0 * s
        dhn = 0.0 * s
        if lane < n_out:
            z = w[off[base + 1] + lane]
            dz = 0.0 * s
            if layer == 0:
                z += s * w[mo + lane]
                dz += w[mo + lane]
            else:
                # written out rather than calling pipeline.dense_unit: with the shared-memory input
                # handed one call further down, this kernel measured 6.5% slower on an H100
                # (benchmarks/NOTES.md, session 2)
                if tangent != 0:
                    for k in range(n_in):
                        wk = w[mo + k * n_out + lane]
                        z += sh_x[k] * wk
                        dz += sh_x[wmax + k] * wk
                else:
                    for k in range(n_in):
                        z += sh_x[k] * w[mo + k * n_out + lane]
            hn, dhn = activation(act, z, act_arg)
            dhn *= dz
            if embedding_skip(n_in, n_out) != 0:
                if io >= 0:
                    hn *= w[io + lane]
                    dhn *= w[io + lane]
                if layer == 0:
                    hn += s
                    dhn += 1.0
                else:
                    hn += sh_x[lane % n_in]
                    dhn += sh_x[wmax + lane % n_in]
        barrier(item)
        if lane < n_out:
            sh_x[lane] = hn
            sh_x[wmax + lane] = dhn
        barrier(item)
        h = hn
        dh = dhn
        n_in = n_out
    return h, dh


def group_atom_energy(item, i, lane, nlane, pos, cell, atype, nlist, nshift, nnei,
                      sel_off, ntypes, rcut, rcut_smth, blk_avg, blk_std, one_side, excluded,
                      emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ewmax, pad_g, axis_m,
                      fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax,
                      fparam, nfp, aparam, nap, atom_energy, pair_grad, sh_x, sh_t, sh_f, sh_dact, sh_red, row):
    """E_i and every g_ij of atom i, computed by the work-group's lanes together."""
    m_width = emb_widths[n_emb]
    ti = atype[i]
    zero = 0.0 * pos[0]
    t0 = zero
    t1 = zero
    t2 = zero
    t3 = zero
    # pass 1: T_i[:, lane] = Σ_j R_ij G_ij[lane] (+ the empty slots of each block)
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        if excluded[p] != 0:
            continue
        n_empty = a1 - a0
        for jj in range(a0, a1):
            live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
            if not live:
                continue
            n_empty -= 1
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            g, dg = group_embedding(item, lane, row[0], net, emb_w, emb_off, emb_widths, n_emb, act_emb,
                                    act_emb_arg, sh_x, ewmax, 0)
            t0 += row[0] * g
            t1 += row[1] * g
            t2 += row[2] * g
            t3 += row[3] * g
        if n_empty > 0 and lane < m_width:
            gp = n_empty * pad_g[p * m_width + lane]
            t0 += -blk_avg[4 * p] / blk_std[4 * p] * gp
            t1 += -blk_avg[4 * p + 1] / blk_std[4 * p + 1] * gp
            t2 += -blk_avg[4 * p + 2] / blk_std[4 * p + 2] * gp
            t3 += -blk_avg[4 * p + 3] / blk_std[4 * p + 3] * gp
    inv_nnei = 1.0 / nnei
    if lane < m_width:
        sh_t[lane] = t0 * inv_nnei
        sh_t[m_width + lane] = t1 * inv_nnei
        sh_t[2 * m_width + lane] = t2 * inv_nnei
        sh_t[3 * m_width + lane] = t3 * inv_nnei
    barrier(item)
    # descriptor D = Tᵀ T[:, :M<] into sh_f[0:], then the fitting net; layer l reads one half of
    # sh_f and writes the other
    for q in range(lane, m_width * axis_m, nlane):
        m = q // axis_m
        n = q % axis_m
        acc = zero
        for a in range(4):
            acc += sh_t[a * m_width + m] * sh_t[a * m_width + n]
        sh_f[q] = acc
    # the frame's and the atom's parameters after D (layers.py: append_parameters), written out:
    # handing a shared-memory array to a device function measured 6.5% slower (benchmarks/NOTES.md)
    for q in range(lane, nfp + nap, nlane):
        if q < nfp:
            sh_f[m_width * axis_m + q] = fparam[q]
        else:
            sh_f[m_width * axis_m + q] = aparam[i * nap + q - nfp]
    barrier(item)
    da = 0
    x_at = 0
    n_in = fit_widths[0]
    for layer in range(n_fit):
        n_out = fit_widths[layer + 1]
        base = (ti * (n_fit + 1) + layer) * 3
        group_dense(item, lane, nlane, sh_f, x_at, n_in, fwmax - x_at, sh_dact, da, n_out, fit_w, fit_off[base],
                    fit_off[base + 1], fit_off[base + 2], act_fit, act_fit_arg, fitting_residual(layer, n_in, n_out))
        da += n_out
        n_in = n_out
        x_at = fwmax - x_at
    base = (ti * (n_fit + 1) + n_fit) * 3
    mo = fit_off[base]
    part = zero
    for k in range(lane, n_in, nlane):
        part += sh_f[x_at + k] * fit_w[mo + k]
    sh_red[lane] = part
    group_reduce(item, lane, nlane, sh_red, 1)
    if lane == 0:
        atom_energy[i] = (sh_red[0] + fit_w[fit_off[base + 1]] + bias_e[ti]) * out_std[ti] + out_bias[ti]
    # reverse pass: ∂y/∂(last hidden) = W_final, then layer by layer down to ∂y/∂D
    g_at = fwmax - x_at
    for k in range(lane, n_in, nlane):
        sh_f[g_at + k] = fit_w[mo + k]
    barrier(item)
    for lr in range(n_fit):
        layer = n_fit - 1 - lr
        n_out = fit_widths[layer + 1]
        n_prev = fit_widths[layer]
        da -= n_out
        group_dense_backward(item, lane, nlane, sh_f, g_at, n_out, fwmax - g_at, n_prev, sh_dact, da, fit_w,
                             fit_off[(ti * (n_fit + 1) + layer) * 3], fitting_residual(layer, n_prev, n_out))
        g_at = fwmax - g_at
    # ∂E/∂T[:, lane] (divided by nnei), from ∂y/∂D = sh_f[g_at:]
    scale = out_std[ti] * inv_nnei
    d0 = zero
    d1 = zero
    d2 = zero
    d3 = zero
    if lane < m_width:
        for n in range(axis_m):
            dd = sh_f[g_at + lane * axis_m + n]
            d0 += dd * sh_t[n]
            d1 += dd * sh_t[m_width + n]
            d2 += dd * sh_t[2 * m_width + n]
            d3 += dd * sh_t[3 * m_width + n]
        if lane < axis_m:
            for k in range(m_width):
                dd = sh_f[g_at + k * axis_m + lane]
                d0 += dd * sh_t[k]
                d1 += dd * sh_t[m_width + k]
                d2 += dd * sh_t[2 * m_width + k]
                d3 += dd * sh_t[3 * m_width + k]
    d0 *= scale
    d1 *= scale
    d2 *= scale
    d3 *= scale
    # pass 2: g_ij from the lanes' shares of ∂E/∂R_ij and ∂E/∂s_ij
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        skip_block = excluded[p] != 0
        for jj in range(a0, a1):
            q = 3 * (i * nnei + jj)
            live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
            if skip_block or not live:
                if lane == 0:
                    pair_grad[q] = zero
                    pair_grad[q + 1] = zero
                    pair_grad[q + 2] = zero
                continue
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            g, dg = group_embedding(item, lane, row[0], net, emb_w, emb_off, emb_widths, n_emb, act_emb,
                                    act_emb_arg, sh_x, ewmax, 1)
            sh_red[lane] = d0 * g + (row[0] * d0 + row[1] * d1 + row[2] * d2 + row[3] * d3) * dg
            sh_red[nlane + lane] = d1 * g
            sh_red[2 * nlane + lane] = d2 * g
            sh_red[3 * nlane + lane] = d3 * g
            group_reduce(item, lane, nlane, sh_red, 4)
            if lane == 0:
                gx = zero
                gy = zero
                gz = zero
                for a in range(4):
                    de_dr = sh_red[a * nlane] / blk_std[4 * p + a]
                    gx += de_dr * row[4 + 3 * a]
                    gy += de_dr * row[5 + 3 * a]
                    gz += de_dr * row[6 + 3 * a]
                pair_grad[q] = gx
                pair_grad[q + 1] = gy
                pair_grad[q + 2] = gz
            barrier(item)


def fitting_group_atom(item, i, lane, nlane, atype, nnei, nchunk, t_part, m_width, axis_m, fit_w, fit_off, fit_widths,
                       n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fparam, nfp, aparam,
                       nap, atom_energy, dt_mat, sh_t, sh_f, sh_dact, sh_red):
    """se_e2_a.fitting_atom with the lanes of a work-group sharing atom i: T_i from the chunk
    partial sums, D_i, the fitting net (a layer's outputs over the lanes, its input in local
    memory; the reverse pass over fit_wt, the transposed matrices at the same offsets) and
    dt_mat[i] = ∂E_i/∂T_i / nnei.  For CPUs: 16 lanes are one vector, where the per-atom body is
    scalar code (its weights differ per lane with the species, its buffers are too large to keep
    lane-contiguous)."""
    ti = atype[i]
    zero = 0.0 * fit_w[0]
    inv_nnei = 1.0 / nnei
    for k in range(lane, 4 * m_width, nlane):
        acc = zero
        for c in range(nchunk):
            acc += t_part[(i * nchunk + c) * 4 * m_width + k]
        sh_t[k] = acc * inv_nnei
    barrier(item)
    for q in range(lane, m_width * axis_m, nlane):
        m = q // axis_m
        n = q % axis_m
        acc = zero
        for a in range(4):
            acc += sh_t[a * m_width + m] * sh_t[a * m_width + n]
        sh_f[q] = acc
    for q in range(lane, nfp + nap, nlane):
        if q < nfp:
            sh_f[m_width * axis_m + q] = fparam[q]
        else:
            sh_f[m_width * axis_m + q] = aparam[i * nap + q - nfp]
    barrier(item)
    da = 0
    x_at = 0
    n_in = fit_widths[0]
    for layer in range(n_fit):
        n_out = fit_widths[layer + 1]
        base = (ti * (n_fit + 1) + layer) * 3
        group_dense(item, lane, nlane, sh_f, x_at, n_in, fwmax - x_at, sh_dact, da, n_out, fit_w, fit_off[base],
                    fit_off[base + 1], fit_off[base + 2], act_fit, act_fit_arg, fitting_residual(layer, n_in, n_out))
        da += n_out
        n_in = n_out
        x_at = fwmax - x_at
    base = (ti * (n_fit + 1) + n_fit) * 3
    mo = fit_off[base]
    part = zero
    for k in range(lane, n_in, nlane):
        part += sh_f[x_at + k] * fit_w[mo + k]
    sh_red[lane] = part
    group_reduce(item, lane, nlane, sh_red, 1)
    if lane == 0:
        atom_energy[i] = (sh_red[0] + fit_w[fit_off[base + 1]] + bias_e[ti]) * out_std[ti] + out_bias[ti]
    g_at = fwmax - x_at
    for k in range(lane, n_in, nlane):
        sh_f[g_at + k] = fit_w[mo + k]
    barrier(item)
    for lr in range(n_fit):
        layer = n_fit - 1 - lr
        n_out = fit_widths[layer + 1]
        n_prev = fit_widths[layer]
        da -= n_out
        group_dense_backward_t(item, lane, nlane, sh_f, g_at, n_out, fwmax - g_at, n_prev, sh_dact, da, fit_wt,
                               fit_off[(ti * (n_fit + 1) + layer) * 3], fitting_residual(layer, n_prev, n_out))
        g_at = fwmax - g_at
    # se_e2_a.t_gradient over the lanes: element (a, m) of ∂E/∂T_i, scaled
    scale = out_std[ti] * inv_nnei
    for q in range(lane, 4 * m_width, nlane):
        a = q // m_width
        m = q % m_width
        acc = zero
        for n in range(axis_m):
            acc += sh_f[g_at + m * axis_m + n] * sh_t[a * m_width + n]
        if m < axis_m:
            for k in range(m_width):
                acc += sh_f[g_at + k * axis_m + m] * sh_t[a * m_width + k]
        dt_mat[i * 4 * m_width + q] = acc * scale


BODIES = (group_embedding, group_atom_energy, fitting_group_atom)
