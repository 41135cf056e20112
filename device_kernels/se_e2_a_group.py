"""The se_e2_a energy pipeline with one work-group per atom: lanes share the embedding and fitting nets.

Same equations as se_e2_a.py (see its docstring and dpsycl/descriptors/se_e2_a/reference.py); only the work is laid
out for wide devices.  Lane l of the group owns embedding channels l and l + nlane: the lanes walk the
neighbour list together, a layer's outputs are spread over the lanes and its inputs read from group-local
memory, so no lane keeps an embedding vector of its own.  T_i[:, c] of its two channels stays in lane l's
registers; the fitting net's layers are spread over lanes the same way.  ``barrier`` is the backend's
(primitives.py).

Neighbours go through the embedding net ``BATCH`` at a time (se_e2_a_batch.py): the live slots of each species
block are first compacted in slot order into group-local memory (one slot per lane, places by a prefix count),
once for both passes; their environment rows are computed ENV_ROWS at a time.  In the gradient pass the
4·BATCH per-lane terms of ∂E/∂R are summed over the lanes in one two-stage pass (group.py:
group_partial_sums) instead of one tree per neighbour.  A block's last batch may hold fewer live slots: the
missing ones get the zero row (R = 0, s = 0), whose terms add exactly nothing to T and whose gradients are
never written out.
"""
from .environment import block_slots
from .group import group_dense, group_dense_backward, group_partial_sums, group_reduce
from .layers import fitting_residual
from .primitives import barrier
from .se_e2_a_batch import (BATCH, ENV_ROWS, ROW, batch_barrier, batch_env_rows, compact_live_slots,  # noqa: F401
                            group_embedding_batch)


def group_fitting_net(item, i, lane, nlane, ti, sh_t, m_width, axis_m, fit_w, fit_off, fit_widths, n_fit, act_fit,
                      act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fit_per_pass, fparam, nfp, aparam, nap,
                      atom_energy, sh_f, sh_dact, sh_red):
    """From T_i in sh_t (4 × M, barrier passed): D_i = Tᵀ T[:, :M<] and the parameters into sh_f, the
    fitting net of species ti over the lanes (layer l reads one half of sh_f and writes the other),
    E_i into atom_energy[i], then the reverse pass (over fit_wt, the transposed matrices at fit_w's
    offsets) down to ∂y/∂D; returns where in sh_f ∂y/∂D starts.  Shared by the work-group kernel and
    the CPU's fitting kernel, which differ only in where T comes from and where ∂E/∂T goes."""
    zero = 0.0 * fit_w[0]
    for q in range(lane, m_width * axis_m, nlane):
        m = q // axis_m
        n = q % axis_m
        acc = zero
        for a in range(4):
            acc += sh_t[a * m_width + m] * sh_t[a * m_width + n]
        sh_f[q] = acc
    # the frame's and the atom's parameters after D, spread over the lanes (layers.py: append_parameters)
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
                    fit_off[base + 1], fit_off[base + 2], act_fit, act_fit_arg, fitting_residual(layer, n_in, n_out),
                    fit_per_pass)
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
        group_dense_backward(item, lane, nlane, sh_f, g_at, n_out, fwmax - g_at, n_prev, sh_dact, da, fit_wt,
                             fit_off[(ti * (n_fit + 1) + layer) * 3], fitting_residual(layer, n_prev, n_out),
                             fit_per_pass)
        g_at = fwmax - g_at
    return g_at


def t_add_batch(sh_env, e, g0, g1, g2, g3, t0, t1, t2, t3):
    """One channel of T += Σ_b R_b G_b over the batch's rows at sh_env[e:] (absent slots: zero rows)."""
    t0 += sh_env[e] * g0 + sh_env[e + ROW] * g1 + sh_env[e + 2 * ROW] * g2 + sh_env[e + 3 * ROW] * g3
    t1 += sh_env[e + 1] * g0 + sh_env[e + ROW + 1] * g1 + sh_env[e + 2 * ROW + 1] * g2 + sh_env[e + 3 * ROW + 1] * g3
    t2 += sh_env[e + 2] * g0 + sh_env[e + ROW + 2] * g1 + sh_env[e + 2 * ROW + 2] * g2 + sh_env[e + 3 * ROW + 2] * g3
    t3 += sh_env[e + 3] * g0 + sh_env[e + ROW + 3] * g1 + sh_env[e + 2 * ROW + 3] * g2 + sh_env[e + 3 * ROW + 3] * g3
    return t0, t1, t2, t3


def t_add_padding(c, n_empty, m_width, pad_g, p, blk_avg, blk_std, t0, t1, t2, t3):
    """Channel c of T += the n_empty empty slots of block p (their row is −avg/std, their G is pad_g)."""
    if n_empty > 0 and c < m_width:
        gp = n_empty * pad_g[p * m_width + c]
        t0 += -blk_avg[4 * p] / blk_std[4 * p] * gp
        t1 += -blk_avg[4 * p + 1] / blk_std[4 * p + 1] * gp
        t2 += -blk_avg[4 * p + 2] / blk_std[4 * p + 2] * gp
        t3 += -blk_avg[4 * p + 3] / blk_std[4 * p + 3] * gp
    return t0, t1, t2, t3


def t_gradient_channel(c, m_width, axis_m, g_at, sh_f, sh_t, scale):
    """Column c of ∂E/∂T·scale from ∂y/∂D = sh_f[g_at:] (D = Tᵀ T[:, :axis_m]); zero beyond the width."""
    zero = 0.0 * scale
    d0 = zero
    d1 = zero
    d2 = zero
    d3 = zero
    if c < m_width:
        for n in range(axis_m):
            dd = sh_f[g_at + c * axis_m + n]
            d0 += dd * sh_t[n]
            d1 += dd * sh_t[m_width + n]
            d2 += dd * sh_t[2 * m_width + n]
            d3 += dd * sh_t[3 * m_width + n]
        if c < axis_m:
            for k in range(m_width):
                dd = sh_f[g_at + k * axis_m + c]
                d0 += dd * sh_t[k]
                d1 += dd * sh_t[m_width + k]
                d2 += dd * sh_t[2 * m_width + k]
                d3 += dd * sh_t[3 * m_width + k]
    return d0 * scale, d1 * scale, d2 * scale, d3 * scale


def lane_terms(sh_f, red, stride, lane, b, sh_env, e, d0, d1, d2, d3, f0, f1, f2, f3, g, dg, u, du):
    """The lane's share of ∂E/∂R_a of batch slot b (a = 0…3), summed over its two channels (∂E/∂T columns
    d and f, G values g and u, tangents dg and du) into term a·BATCH + b of red; ∂E/∂R[0] gets ∂E/∂G·dG/ds
    on top: Σ_a R_a d_a times the channel's tangent."""
    r0 = sh_env[e + b * ROW]
    r1 = sh_env[e + b * ROW + 1]
    r2 = sh_env[e + b * ROW + 2]
    r3 = sh_env[e + b * ROW + 3]
    rd = r0 * d0 + r1 * d1 + r2 * d2 + r3 * d3
    rf = r0 * f0 + r1 * f1 + r2 * f2 + r3 * f3
    sh_f[red + b * stride + lane] = d0 * g + rd * dg + f0 * u + rf * du
    sh_f[red + (BATCH + b) * stride + lane] = d1 * g + f1 * u
    sh_f[red + (2 * BATCH + b) * stride + lane] = d2 * g + f2 * u
    sh_f[red + (3 * BATCH + b) * stride + lane] = d3 * g + f3 * u


def group_atom_energy(item, i, lane, nlane, pos, cell, atype, nlist, nshift, nnei,
                      sel_off, ntypes, rcut, rcut_smth, blk_avg, blk_std, one_side, excluded,
                      emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ewmax, pad_g, axis_m,
                      fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax,
                      fit_wt, fit_per_pass, fparam, nfp, aparam, nap, atom_energy, pair_grad, sh_env, sh_live, sh_t,
                      sh_f, sh_dact, sh_red,
                      row):
    """E_i and every g_ij of atom i, computed by the work-group's lanes together (lane l: embedding channels
    l and l + nlane).  Group-local arrays: sh_env the environment rows of the next batches, sh_live the live
    slots of every block (then their counts), sh_t T_i, sh_dact the fitting net's activation slopes, sh_red
    the prefix counts and the energy sum, and sh_f for what never lives at the same time: the embedding
    layers of a batch (group_embedding_batch's two buffers, from 0) during the passes, with the gradient
    pass's lane sums after them (group_partial_sums, from 4·BATCH·ewmax), and the fitting net's two halves
    between the passes.  One array for both keeps the block under CUDA's 48 KB of static shared memory for
    DeePMD-kit's usual sizes."""
    m_width = emb_widths[n_emb]
    ti = atype[i]
    zero = 0.0 * pos[0]
    c2 = lane + nlane
    t0 = zero
    t1 = zero
    t2 = zero
    t3 = zero
    v0 = zero
    v1 = zero
    v2 = zero
    v3 = zero
    # pass 1: T_i[:, c] = Σ_j R_ij G_ij[c] (+ the empty slots of each block) for c = lane (t) and lane + nlane
    # (v); the live slots of each block are compacted into sh_live here, once for both passes (their count
    # at sh_live[nnei + tj])
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        if excluded[p] != 0:
            for jj in range(a0 + lane, a1, nlane):
                q = 3 * (i * nnei + jj)
                pair_grad[q] = zero
                pair_grad[q + 1] = zero
                pair_grad[q + 2] = zero
            continue
        nlive = compact_live_slots(item, lane, nlane, i, a0, a1, nlist, nshift, nnei, pos, cell, rcut, sh_live, sh_red,
                                   pair_grad)
        if lane == 0:
            sh_live[nnei + tj] = nlive + zero
        for b0 in range(0, nlive, BATCH):
            e = (b0 % ENV_ROWS) * ROW
            if e == 0:
                batch_env_rows(item, i, lane, nlive - b0, sh_live, a0 + b0, nlist, nshift, nnei, pos, cell, rcut,
                               rcut_smth, blk_avg, blk_std, p, sh_env, row)
            batch_barrier(item, b0, n_emb)
            g0, g1, g2, g3, dg0, dg1, dg2, dg3, u0, u1, u2, u3, du0, du1, du2, du3 = group_embedding_batch(
                item, lane, nlane, sh_env, e, net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, sh_f,
                ewmax, 0)
            t0, t1, t2, t3 = t_add_batch(sh_env, e, g0, g1, g2, g3, t0, t1, t2, t3)
            v0, v1, v2, v3 = t_add_batch(sh_env, e, u0, u1, u2, u3, v0, v1, v2, v3)
        n_empty = a1 - a0 - nlive
        t0, t1, t2, t3 = t_add_padding(lane, n_empty, m_width, pad_g, p, blk_avg, blk_std, t0, t1, t2, t3)
        v0, v1, v2, v3 = t_add_padding(c2, n_empty, m_width, pad_g, p, blk_avg, blk_std, v0, v1, v2, v3)
    inv_nnei = 1.0 / nnei
    if lane < m_width:
        sh_t[lane] = t0 * inv_nnei
        sh_t[m_width + lane] = t1 * inv_nnei
        sh_t[2 * m_width + lane] = t2 * inv_nnei
        sh_t[3 * m_width + lane] = t3 * inv_nnei
    if c2 < m_width:
        sh_t[c2] = v0 * inv_nnei
        sh_t[m_width + c2] = v1 * inv_nnei
        sh_t[2 * m_width + c2] = v2 * inv_nnei
        sh_t[3 * m_width + c2] = v3 * inv_nnei
    barrier(item)
    g_at = group_fitting_net(item, i, lane, nlane, ti, sh_t, m_width, axis_m, fit_w, fit_off, fit_widths, n_fit,
                             act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fit_per_pass,
                             fparam, nfp, aparam, nap, atom_energy, sh_f, sh_dact, sh_red)
    # ∂E/∂T[:, c] divided by nnei, from ∂y/∂D = sh_f[g_at:]: d for c = lane, f for c = lane + nlane
    scale = out_std[ti] * inv_nnei
    d0, d1, d2, d3 = t_gradient_channel(lane, m_width, axis_m, g_at, sh_f, sh_t, scale)
    f0, f1, f2, f3 = t_gradient_channel(c2, m_width, axis_m, g_at, sh_f, sh_t, scale)
    # pass 2: g_ij from the lanes' shares of ∂E/∂R_ij and ∂E/∂s_ij, BATCH neighbours at a time; sh_f
    # (read above, before the first batch's barriers) now takes the embedding layers and, from red on, the
    # lane sums: term c = a·BATCH + b (component a of batch slot b, both channels of the lane) of lane l at
    # red + c·(nlane + 1) + l
    stride = nlane + 1
    red = 4 * BATCH * ewmax
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        if excluded[p] != 0:
            continue
        nlive = int(sh_live[nnei + tj])
        for b0 in range(0, nlive, BATCH):
            nb = nlive - b0
            e = (b0 % ENV_ROWS) * ROW
            if e == 0:
                batch_env_rows(item, i, lane, nb, sh_live, a0 + b0, nlist, nshift, nnei, pos, cell, rcut, rcut_smth,
                               blk_avg, blk_std, p, sh_env, row)
            batch_barrier(item, b0, n_emb)
            g0, g1, g2, g3, dg0, dg1, dg2, dg3, u0, u1, u2, u3, du0, du1, du2, du3 = group_embedding_batch(
                item, lane, nlane, sh_env, e, net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, sh_f,
                ewmax, 1)
            lane_terms(sh_f, red, stride, lane, 0, sh_env, e, d0, d1, d2, d3, f0, f1, f2, f3, g0, dg0, u0, du0)
            lane_terms(sh_f, red, stride, lane, 1, sh_env, e, d0, d1, d2, d3, f0, f1, f2, f3, g1, dg1, u1, du1)
            lane_terms(sh_f, red, stride, lane, 2, sh_env, e, d0, d1, d2, d3, f0, f1, f2, f3, g2, dg2, u2, du2)
            lane_terms(sh_f, red, stride, lane, 3, sh_env, e, d0, d1, d2, d3, f0, f1, f2, f3, g3, dg3, u3, du3)
            nparts = group_partial_sums(item, lane, nlane, sh_f, red, 4 * BATCH)
            if lane < nb and lane < BATCH:
                jb = int(sh_live[a0 + b0 + lane])
                gx = zero
                gy = zero
                gz = zero
                for a in range(4):
                    de_dr = zero
                    for part in range(nparts):
                        de_dr += sh_f[red + 4 * BATCH * stride + (a * BATCH + lane) * nparts + part]
                    de_dr = de_dr / blk_std[4 * p + a]
                    gx += de_dr * sh_env[e + lane * ROW + 4 + 3 * a]
                    gy += de_dr * sh_env[e + lane * ROW + 5 + 3 * a]
                    gz += de_dr * sh_env[e + lane * ROW + 6 + 3 * a]
                q = 3 * (i * nnei + jb)
                pair_grad[q] = gx
                pair_grad[q + 1] = gy
                pair_grad[q + 2] = gz


def fitting_group_atom(item, i, lane, nlane, atype, nnei, nchunk, t_part, m_width, axis_m, fit_w, fit_off, fit_widths,
                       n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fit_per_pass, fparam,
                       nfp, aparam, nap, atom_energy, dt_mat, sh_t, sh_f, sh_dact, sh_red):
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
    g_at = group_fitting_net(item, i, lane, nlane, ti, sh_t, m_width, axis_m, fit_w, fit_off, fit_widths, n_fit,
                             act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fit_per_pass,
                             fparam, nfp, aparam, nap, atom_energy, sh_f, sh_dact, sh_red)
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


BODIES = (group_fitting_net, t_add_batch, t_add_padding, t_gradient_channel, lane_terms, group_atom_energy,
          fitting_group_atom)
