"""The se_e3 (se_t) descriptor on the device, one work-item per (atom, chunk of neighbour slots).

    q_ij = R_ij[1:4] = (R̃_ij[1:4] − t_avg[p, 1:4]) / t_std[p, 1:4]      smoothed direction of slot j
    e_jk = q_ij · q_ik,      D_i = Σ_{a ≤ b} 1/(sel_a sel_b) Σ_{j ∈ a, k ∈ b} e_jk 𝒩_ab(e_jk)

Three passes:

    three_body_chunk          partial sums of D_i over the pairs (j, k) whose first slot j is in
                              the chunk (k runs over every slot of a block b ≥ a)
    three_body_fitting_atom   D_i, E_i = fitting net(D_i) + statistics, and ∂E_i/∂D_i
    three_body_gradient_chunk g_ij for the chunk's slots j: every pair that holds j, as first or
                              second slot, recomputed forward-mode (the block a = b counts twice), so
                              that each slot's gradient is written by one work-item only

A pair with e_jk = 0 adds nothing to D_i, and a partner k whose q_ik is zero (an empty slot:
DeePMD-kit's statistics keep the direction columns' t_avg at zero) adds nothing to g_ij: both are
skipped, which leaves O(neighbours²) embedding evaluations per atom instead of O(nnei²).  The NumPy
form is dpsycl/descriptors/se_e3/reference.py.
"""
from .environment import chunk_slots, env_row, live_slot
from .layers import append_parameters, fitting_energy, embedding_forward, fitting_forward_backward


def slot_direction(i, jj, nlist, nshift, nnei, pos, cell, rcut, rcut_smth, blk_avg, blk_std, p, row):
    """Whether slot jj of atom i is live, and its q = R[1:4] normalised with block p's statistics
    (an empty slot: −t_avg/t_std); row[0:16] holds env_row of a live slot."""
    live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
    if live:
        env_row(rx, ry, rz, rcut, rcut_smth, row)
    else:
        for a in range(4):
            row[a] = 0.0 * rx
    qx = (row[1] - blk_avg[4 * p + 1]) / blk_std[4 * p + 1]
    qy = (row[2] - blk_avg[4 * p + 2]) / blk_std[4 * p + 2]
    qz = (row[3] - blk_avg[4 * p + 3]) / blk_std[4 * p + 3]
    return live, qx, qy, qz


def slot_block(jj, ntypes, sel_off):
    """The neighbour species whose block holds slot jj."""
    t = 0
    for tt in range(ntypes):
        if sel_off[tt] <= jj:
            t = tt
    return t


def three_body_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut, rcut_smth,
                     blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                     ewmax, d_part, ebuf, row, row_k):
    """Share of the pairs (j, k) with j in slots [c·len, (c+1)·len) of atom i = w // nchunk in D_i."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    base = w * m_width
    for m in range(m_width):
        d_part[base + m] = 0.0 * pos[0]
    ti = atype[i]
    for jj in range(lo, hi):
        ta = slot_block(jj, ntypes, sel_off)
        live_j, xj, yj, zj = slot_direction(i, jj, nlist, nshift, nnei, pos, cell, rcut, rcut_smth, blk_avg,
                                            blk_std, ti * ntypes + ta, row)
        if xj == 0.0 and yj == 0.0 and zj == 0.0:
            continue
        for tb in range(ta, ntypes):
            scale = 1.0 / ((sel_off[ta + 1] - sel_off[ta]) * (sel_off[tb + 1] - sel_off[tb]))
            for kk in range(sel_off[tb], sel_off[tb + 1]):
                live_k, xk, yk, zk = slot_direction(i, kk, nlist, nshift, nnei, pos, cell, rcut, rcut_smth,
                                                    blk_avg, blk_std, ti * ntypes + tb, row_k)
                e = xj * xk + yj * yk + zj * zk
                if e == 0.0:
                    continue
                embedding_forward(e, ta * ntypes + tb, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                                  ebuf, ewmax, 0)
                for m in range(m_width):
                    d_part[base + m] += scale * e * ebuf[m]


def three_body_fitting_atom(i, atype, nchunk, d_part, m_width, fit_w, fit_off, fit_widths, n_fit, act_fit,
                            act_fit_arg, bias_e, out_std, out_bias, fwmax, fparam, nfp, aparam, nap, atom_energy,
                            de_dd, dbuf, fbuf, dact):
    """E_i = fitting net(D_i), D_i = Σ over chunks of d_part; de_dd[i] ← ∂E_i/∂D_i."""
    ti = atype[i]
    for m in range(m_width):
        acc = 0.0 * d_part[0]
        for c in range(nchunk):
            acc += d_part[(i * nchunk + c) * m_width + m]
        dbuf[m] = acc
    append_parameters(i, dbuf, m_width, fparam, nfp, aparam, nap)
    y = fitting_forward_backward(ti, dbuf, fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, fbuf, fwmax, dact)
    atom_energy[i] = fitting_energy(y, ti, bias_e, out_std, out_bias)
    for m in range(m_width):
        de_dd[i * m_width + m] = dbuf[m] * out_std[ti]


def three_body_gradient_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut,
                              rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb,
                              act_emb, act_emb_arg, ewmax, de_dd, pair_grad, ebuf, row, row_k):
    """g_ij = ∂E_i/∂r_ij for the slots of chunk w (zero for empty slots)."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    ti = atype[i]
    for jj in range(lo, hi):
        q = 3 * (i * nnei + jj)
        pair_grad[q] = 0.0 * pos[0]
        pair_grad[q + 1] = 0.0 * pos[0]
        pair_grad[q + 2] = 0.0 * pos[0]
        ta = slot_block(jj, ntypes, sel_off)
        pa = ti * ntypes + ta
        live_j, xj, yj, zj = slot_direction(i, jj, nlist, nshift, nnei, pos, cell, rcut, rcut_smth, blk_avg, blk_std,
                                            pa, row)
        if not live_j:
            continue
        gx = 0.0 * xj
        gy = 0.0 * xj
        gz = 0.0 * xj
        for tb in range(ntypes):
            net = ta * ntypes + tb if ta <= tb else tb * ntypes + ta
            # ∂D/∂q_j of the block pair: j first and, for a = b, j second as well
            scale = (2.0 if ta == tb else 1.0) / ((sel_off[ta + 1] - sel_off[ta]) * (sel_off[tb + 1] - sel_off[tb]))
            for kk in range(sel_off[tb], sel_off[tb + 1]):
                live_k, xk, yk, zk = slot_direction(i, kk, nlist, nshift, nnei, pos, cell, rcut, rcut_smth,
                                                    blk_avg, blk_std, ti * ntypes + tb, row_k)
                if xk == 0.0 and yk == 0.0 and zk == 0.0:
                    continue
                e = xj * xk + yj * yk + zj * zk
                embedding_forward(e, net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ebuf, ewmax, 1)
                h = 0.0 * e
                for m in range(m_width):
                    h += de_dd[i * m_width + m] * (ebuf[m] + e * ebuf[ewmax + m])
                h *= scale
                gx += h * xk
                gy += h * yk
                gz += h * zk
        gx /= blk_std[4 * pa + 1]
        gy /= blk_std[4 * pa + 2]
        gz /= blk_std[4 * pa + 3]
        # ∂R̃[c]/∂r_b = row[4 + 3c + b], c = 1, 2, 3 the direction columns
        for b in range(3):
            pair_grad[q + b] = gx * row[7 + b] + gy * row[10 + b] + gz * row[13 + b]


BODIES = (slot_direction, slot_block, three_body_chunk, three_body_fitting_atom, three_body_gradient_chunk)
