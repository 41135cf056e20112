"""The se_e2_r descriptor on the device, one work-item per (atom, chunk of neighbour slots).

    R_ij = (s(r_ij) − t_avg[p]) / t_std[p]       G_ij = 𝒩_p(R_ij)       D_i = (1/5)(1/nnei) Σ_j G_ij

Three passes, as for se_e2_a (se_e2_a.py):

    radial_chunk           partial sums of Σ_j G_ij over the chunk's slots (M each)
    radial_fitting_atom    D_i, E_i = fitting net(D_i) + statistics, and ∂E_i/∂D_i / (5 nnei)
    radial_gradient_chunk  recomputing G_ij and dG/dR forward-mode, g_ij = ∂E_i/∂r_ij

As a member of a hybrid, radial_descriptor_atom writes D_i into the hybrid's row and
radial_descriptor_gradient_atom scales the row's ∂E/∂D_i by 1/(5 nnei) (the hybrid's fitting net
runs in between).

Empty slots of block p all hold R_pad = −t_avg[p]/t_std[p]: they add n_pad · G(R_pad) with
G(R_pad) evaluated once per species pair (radial_padding).  Excluded pairs add nothing with
per-pair nets; with one net per neighbour species DeePMD-kit zeroes their R, so each of their
slots adds G(0) (also evaluated once per pair).  Neither has a gradient.  The NumPy form is
dpsycl/descriptors/se_e2_r/reference.py.
"""
from .environment import block_slots, chunk_slots, env_row, live_slot
from .layers import append_parameters, fitting_energy, embedding_forward, fitting_forward_backward

RESCALE = 0.2        # DeePMD-kit's res_rescale of se_e2_r


def radial_padding(p, ntypes, blk_avg, blk_std, one_side, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ewmax,
                   pad_g, zero_g, ebuf):
    """G(R_pad) and G(0) of block p = (centre species, neighbour species)."""
    net = p % ntypes if one_side != 0 else p
    m_width = emb_widths[n_emb]
    embedding_forward(-blk_avg[p] / blk_std[p], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ebuf, ewmax, 0)
    for m in range(m_width):
        pad_g[p * m_width + m] = ebuf[m]
    embedding_forward(0.0 * blk_avg[p], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ebuf, ewmax, 0)
    for m in range(m_width):
        zero_g[p * m_width + m] = ebuf[m]


def radial_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut, rcut_smth,
                 blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ewmax, pad_g,
                 zero_g, g_part, ebuf, row):
    """Share of slots [c·len, (c+1)·len) of atom i = w // nchunk in Σ_j G_ij."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    base = w * m_width
    for m in range(m_width):
        g_part[base + m] = 0.0 * pos[0]
    ti = atype[i]
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, lo, hi, one_side)
        if a0 >= a1:
            continue
        if excluded[p] != 0:
            if one_side != 0:
                for m in range(m_width):
                    g_part[base + m] += (a1 - a0) * zero_g[p * m_width + m]
            continue
        n_empty = a1 - a0
        for jj in range(a0, a1):
            live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
            if not live:
                continue
            n_empty -= 1
            env_row(rx, ry, rz, rcut, rcut_smth, row)
            embedding_forward((row[0] - blk_avg[p]) / blk_std[p], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                              ebuf, ewmax, 0)
            for m in range(m_width):
                g_part[base + m] += ebuf[m]
        if n_empty > 0:
            for m in range(m_width):
                g_part[base + m] += n_empty * pad_g[p * m_width + m]


def radial_descriptor(i, nchunk, g_part, m_width, scale, out, at):
    """D_i = scale · Σ_c g_part (M) into out[at : at + M]."""
    for m in range(m_width):
        acc = 0.0 * g_part[0]
        for c in range(nchunk):
            acc += g_part[(i * nchunk + c) * m_width + m]
        out[at + m] = acc * scale


def radial_descriptor_atom(i, nnei, nchunk, g_part, m_width, desc, desc_stride, desc_at):
    """As a hybrid's member: D_i = Σ_j G_ij / (5 nnei) into desc[i·stride + at :]."""
    radial_descriptor(i, nchunk, g_part, m_width, RESCALE / nnei, desc, i * desc_stride + desc_at)


def radial_descriptor_gradient_atom(i, nnei, m_width, desc_grad, desc_stride, desc_at, de_dd):
    """As a hybrid's member: de_dd[i] ← ∂E_i/∂D_i / (5 nnei) from desc_grad[i·stride + at :]."""
    scale = RESCALE / nnei
    for m in range(m_width):
        de_dd[i * m_width + m] = desc_grad[i * desc_stride + desc_at + m] * scale


def radial_fitting_atom(i, atype, nnei, nchunk, g_part, m_width, fit_w, fit_off, fit_widths, n_fit, act_fit,
                        act_fit_arg, bias_e, out_std, out_bias, fwmax, fparam, nfp, aparam, nap, atom_energy, de_dd,
                        dbuf, fbuf, dact):
    """E_i = fitting net(D_i), D_i = Σ_j G_ij / (5 nnei); de_dd[i] ← ∂E_i/∂D_i / (5 nnei)."""
    ti = atype[i]
    scale = RESCALE / nnei
    radial_descriptor(i, nchunk, g_part, m_width, scale, dbuf, 0)
    append_parameters(i, dbuf, m_width, fparam, nfp, aparam, nap)
    y = fitting_forward_backward(ti, dbuf, fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, fbuf, fwmax, dact)
    atom_energy[i] = fitting_energy(y, ti, bias_e, out_std, out_bias)
    for m in range(m_width):
        de_dd[i * m_width + m] = dbuf[m] * out_std[ti] * scale


def radial_gradient_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut,
                          rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb,
                          act_emb, act_emb_arg, ewmax, de_dd, pair_grad, ebuf, row):
    """g_ij = ∂E_i/∂r_ij for the slots of chunk w (zero for empty slots and excluded pairs)."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    ti = atype[i]
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, lo, hi, one_side)
        skip_block = excluded[p] != 0
        for jj in range(a0, a1):
            q = 3 * (i * nnei + jj)
            pair_grad[q] = 0.0 * pos[0]
            pair_grad[q + 1] = 0.0 * pos[0]
            pair_grad[q + 2] = 0.0 * pos[0]
            if skip_block:
                continue
            live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
            if not live:
                continue
            env_row(rx, ry, rz, rcut, rcut_smth, row)
            embedding_forward((row[0] - blk_avg[p]) / blk_std[p], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                              ebuf, ewmax, 1)
            de_ds = 0.0 * rx
            for m in range(m_width):
                de_ds += de_dd[i * m_width + m] * ebuf[ewmax + m]
            de_ds /= blk_std[p]
            pair_grad[q] = de_ds * row[4]
            pair_grad[q + 1] = de_ds * row[5]
            pair_grad[q + 2] = de_ds * row[6]


BODIES = (radial_padding, radial_chunk, radial_descriptor, radial_descriptor_atom, radial_descriptor_gradient_atom,
          radial_fitting_atom, radial_gradient_chunk)
