"""The se_e2_a descriptor on the device, one work-item per (atom, chunk of neighbour slots).

    G_ij = 𝒩_p(R_ij[0])          T_i = Σ_j R_ij ⊗ G_ij / nnei  (4 × M)          D_i = T_iᵀ T_i[:, :M<]

No (nnei × M) tensor ever reaches global memory.  Three passes, each over (atom, chunk of slots)
or atoms, so that small systems still fill a device (a chunk count of 1 is one work-item per atom):

    descriptor_chunk     partial sums of T_i·nnei over the chunk's slots (4 × M each)
    fitting_atom         D_i, E_i = fitting net(D_i) + statistics, and ∂E_i/∂T_i (reverse pass)
    pair_gradient_chunk  recomputing G_ij and dG/ds forward-mode,
                         g_ij = ∂E_i/∂r_ij = Σ_a (∂E/∂R_ij[a] / t_std[a]) ∂R̃_ij[a]/∂r_ij

As a member of a hybrid (dpsycl/descriptors/hybrid/), fitting_atom is split in two around the
hybrid's fitting net: descriptor_atom writes D_i into the hybrid's row, descriptor_gradient_atom
turns the row's ∂E/∂D_i into ∂E/∂T_i; both share t_matrix, descriptor_of_t and t_gradient with
fitting_atom, so D_i and its reverse are written once.

Empty slots in a species block all hold the same normalised row R_pad = −t_avg/t_std, so their
share of T is n_pad · R_pad ⊗ G(R_pad[0]), with G(R_pad[0]) evaluated once per species pair
(padding_embeddings); they have no gradient.  The work-group layout of the same passes is
se_e2_a_group.py; the NumPy form is dpsycl/descriptors/se_e2_a/reference.py.
"""
from .environment import block_slots, chunk_slots, live_slot, normalised_env_row
from .layers import append_parameters, fitting_energy, embedding_forward, fitting_forward_backward


def padding_embeddings(p, ntypes, blk_avg, blk_std, one_side, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                       ewmax, pad_g, ebuf):
    """G(R_pad[0]) of the empty-slot row of block p = (centre species, neighbour species)."""
    net = p % ntypes if one_side != 0 else p
    embedding_forward(-blk_avg[4 * p] / blk_std[4 * p], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                      ebuf, ewmax, 0)
    m_width = emb_widths[n_emb]
    for m in range(m_width):
        pad_g[p * m_width + m] = ebuf[m]


def descriptor_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut,
                     rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb,
                     act_emb, act_emb_arg, ewmax, pad_g, t_part, ebuf, row, t0, t1, t2, t3):
    """Share of slots [c·len, (c+1)·len) of atom i = w // nchunk in T_i·nnei = Σ_j R_ij ⊗ G_ij.

    Row a of the sums builds up in the private array t<a> (M each) and reaches t_part once: a CPU
    runs 16 work-items in the lanes of its vector registers, and lane-strided t_part[w·4M + k]
    would be a gather and a scatter per term, where a small private array is one lane-contiguous
    load and store (four arrays of M: the OpenCL CPU compiler keeps one of 4·M per lane, strided)."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    for m in range(m_width):
        t0[m] = 0.0 * pos[0]
        t1[m] = 0.0 * pos[0]
        t2[m] = 0.0 * pos[0]
        t3[m] = 0.0 * pos[0]
    ti = atype[i]
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, lo, hi, one_side)
        if a0 >= a1 or excluded[p] != 0:
            continue
        n_empty = a1 - a0
        for jj in range(a0, a1):
            live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
            if not live:
                continue
            n_empty -= 1
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            embedding_forward(row[0], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ebuf, ewmax, 0)
            for m in range(m_width):
                g = ebuf[m]
                t0[m] += row[0] * g
                t1[m] += row[1] * g
                t2[m] += row[2] * g
                t3[m] += row[3] * g
        if n_empty > 0:
            r0 = n_empty * (-blk_avg[4 * p] / blk_std[4 * p])
            r1 = n_empty * (-blk_avg[4 * p + 1] / blk_std[4 * p + 1])
            r2 = n_empty * (-blk_avg[4 * p + 2] / blk_std[4 * p + 2])
            r3 = n_empty * (-blk_avg[4 * p + 3] / blk_std[4 * p + 3])
            for m in range(m_width):
                g = pad_g[p * m_width + m]
                t0[m] += r0 * g
                t1[m] += r1 * g
                t2[m] += r2 * g
                t3[m] += r3 * g
    base = w * 4 * m_width
    for m in range(m_width):
        t_part[base + m] = t0[m]
        t_part[base + m_width + m] = t1[m]
        t_part[base + 2 * m_width + m] = t2[m]
        t_part[base + 3 * m_width + m] = t3[m]


def t_matrix(i, nchunk, t_part, m_width, inv_nnei, tmat):
    """T_i (4 × M) from the chunk partial sums of atom i: Σ_c t_part / nnei."""
    for k in range(4 * m_width):
        acc = 0.0 * t_part[0]
        for c in range(nchunk):
            acc += t_part[(i * nchunk + c) * 4 * m_width + k]
        tmat[k] = acc * inv_nnei


def descriptor_of_t(tmat, m_width, axis_m, out, at):
    """D_i = T_iᵀ T_i[:, :M<] into out[at : at + M·M<]."""
    for m in range(m_width):
        for n in range(axis_m):
            acc = 0.0 * tmat[0]
            for a in range(4):
                acc += tmat[a * m_width + m] * tmat[a * m_width + n]
            out[at + m * axis_m + n] = acc


def t_gradient(dd, dd_at, tmat, m_width, axis_m, scale, dt_mat, dt_at):
    """dt_mat[dt_at:] ← scale · ∂E/∂T_i from ∂E/∂D_i = dd[dd_at : dd_at + M·M<] (the reverse of descriptor_of_t)."""
    for a in range(4):
        for m in range(m_width):
            acc = 0.0 * tmat[0]
            for n in range(axis_m):
                acc += dd[dd_at + m * axis_m + n] * tmat[a * m_width + n]
            if m < axis_m:
                for k in range(m_width):
                    acc += dd[dd_at + k * axis_m + m] * tmat[a * m_width + k]
            dt_mat[dt_at + a * m_width + m] = acc * scale


def fitting_atom(i, atype, nnei, nchunk, t_part, m_width, axis_m, fit_w, fit_off, fit_widths, n_fit,
                 act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fparam, nfp, aparam, nap, atom_energy, dt_mat,
                 tmat, dbuf, fbuf, dact):
    """E_i = fitting net(D_i) with D_i = T_iᵀ T_i[:, :M<]; dt_mat[i] ← ∂E_i/∂T_i / nnei."""
    ti = atype[i]
    inv_nnei = 1.0 / nnei
    t_matrix(i, nchunk, t_part, m_width, inv_nnei, tmat)
    descriptor_of_t(tmat, m_width, axis_m, dbuf, 0)
    append_parameters(i, dbuf, m_width * axis_m, fparam, nfp, aparam, nap)
    y = fitting_forward_backward(ti, dbuf, fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, fbuf, fwmax, dact)
    atom_energy[i] = fitting_energy(y, ti, bias_e, out_std, out_bias)
    t_gradient(dbuf, 0, tmat, m_width, axis_m, out_std[ti] * inv_nnei, dt_mat, i * 4 * m_width)


def descriptor_atom(i, nnei, nchunk, t_part, m_width, axis_m, desc, desc_stride, desc_at, tmat):
    """As a hybrid's member: D_i into desc[i·stride + at :], for the hybrid's fitting net."""
    t_matrix(i, nchunk, t_part, m_width, 1.0 / nnei, tmat)
    descriptor_of_t(tmat, m_width, axis_m, desc, i * desc_stride + desc_at)


def descriptor_gradient_atom(i, nnei, nchunk, t_part, m_width, axis_m, desc_grad, desc_stride, desc_at, dt_mat, tmat):
    """As a hybrid's member: dt_mat[i] ← ∂E_i/∂T_i / nnei from ∂E_i/∂D_i = desc_grad[i·stride + at :]."""
    inv_nnei = 1.0 / nnei
    t_matrix(i, nchunk, t_part, m_width, inv_nnei, tmat)
    t_gradient(desc_grad, i * desc_stride + desc_at, tmat, m_width, axis_m, inv_nnei, dt_mat, i * 4 * m_width)


def pair_gradient_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut,
                        rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb,
                        act_emb, act_emb_arg, ewmax, dt_mat, pair_grad, ebuf, row, d0, d1, d2, d3):
    """g_ij = ∂E_i/∂r_ij for the slots of chunk w (zero for empty slots and excluded pairs).

    Row a of ∂E_i/∂T_i is copied once into the private array d<a>: read per slot from the
    lane-strided dt_mat[i·4M + …] it would be a gather per term on a CPU (descriptor_chunk)."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    dbase = i * 4 * m_width
    for m in range(m_width):
        d0[m] = dt_mat[dbase + m]
        d1[m] = dt_mat[dbase + m_width + m]
        d2[m] = dt_mat[dbase + 2 * m_width + m]
        d3[m] = dt_mat[dbase + 3 * m_width + m]
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
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            embedding_forward(row[0], net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ebuf, ewmax, 1)
            # ∂E/∂s through G' (de_ds) and ∂E/∂R̃[a] through G (dr<a>), both summed over m in order
            de_ds = 0.0 * rx
            dr0 = 0.0 * rx
            dr1 = 0.0 * rx
            dr2 = 0.0 * rx
            dr3 = 0.0 * rx
            for m in range(m_width):
                de_dg = 0.0 * rx
                de_dg += row[0] * d0[m]
                de_dg += row[1] * d1[m]
                de_dg += row[2] * d2[m]
                de_dg += row[3] * d3[m]
                de_ds += de_dg * ebuf[ewmax + m]
                g = ebuf[m]
                dr0 += d0[m] * g
                dr1 += d1[m] * g
                dr2 += d2[m] * g
                dr3 += d3[m] * g
            dr0 = (dr0 + de_ds) / blk_std[4 * p]
            dr1 = dr1 / blk_std[4 * p + 1]
            dr2 = dr2 / blk_std[4 * p + 2]
            dr3 = dr3 / blk_std[4 * p + 3]
            gx = 0.0 * rx
            gy = 0.0 * rx
            gz = 0.0 * rx
            gx += dr0 * row[4]
            gy += dr0 * row[5]
            gz += dr0 * row[6]
            gx += dr1 * row[7]
            gy += dr1 * row[8]
            gz += dr1 * row[9]
            gx += dr2 * row[10]
            gy += dr2 * row[11]
            gz += dr2 * row[12]
            gx += dr3 * row[13]
            gy += dr3 * row[14]
            gz += dr3 * row[15]
            pair_grad[q] = gx
            pair_grad[q + 1] = gy
            pair_grad[q + 2] = gz


BODIES = (padding_embeddings, descriptor_chunk, t_matrix, descriptor_of_t, t_gradient, fitting_atom, descriptor_atom,
          descriptor_gradient_atom, pair_gradient_chunk)
