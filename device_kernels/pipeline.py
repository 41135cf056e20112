"""Per-atom energy pipeline: environment rows, embedding net, descriptor, fitting net, chain rule.

No (nnei × M) tensor ever reaches global memory.  Three passes, each over (atom, chunk of slots)
or atoms, so that small systems still fill a GPU (a chunk count of 1 is one work-item per atom):

    descriptor_chunk     T_i = Σ_j R_ij ⊗ G_ij / nnei, partial sums per chunk (4 × M each)
    fitting_atom         D_i = T_iᵀ T_i[:, :M<],  E_i = fitting net(D_i),  ∂E_i/∂T_i (reverse pass)
    pair_gradient_chunk  recomputing G_ij and dG/ds forward-mode,
                         g_ij = ∂E_i/∂r_ij = Σ_a (∂E/∂R_ij[a] / t_std[a]) ∂R̃_ij[a]/∂r_ij

Empty slots in a species block all hold the same normalised row R_pad = −t_avg/t_std, so their
share of T is n_pad · R_pad ⊗ G(R_pad[0]), with G(R_pad[0]) evaluated once per species pair
(padding_embeddings); they have no gradient.
The same formulas, vectorised, are in dpsycl/{env_matrix,descriptor,fitting,forces}.py.
"""
import math

from .neighbors import image_offset, unpack_shift

ACT_TANH, ACT_GELU, ACT_RELU, ACT_RELU6, ACT_SOFTPLUS, ACT_SIGMOID, ACT_LINEAR = range(7)
GELU_C = 0.7978845608028654  # sqrt(2/pi)


def activation(code, z):
    """φ(z) and φ'(z) for DeePMD-kit's activations (gelu is its tanh approximation)."""
    if code == 0:
        y = math.tanh(z)
        return y, 1.0 - y * y
    if code == 1:
        t = math.tanh(GELU_C * (z + 0.044715 * z * z * z))
        return 0.5 * z * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 0.134145 * z * z)
    if code == 2:
        return (z, 1.0) if z > 0.0 else (0.0 * z, 0.0 * z)
    if code == 3:
        if z <= 0.0:
            return 0.0 * z, 0.0 * z
        return (z, 1.0 + 0.0 * z) if z < 6.0 else (6.0 + 0.0 * z, 0.0 * z)
    if code == 4:
        if z > 30.0:
            return z, 1.0 + 0.0 * z
        e = math.exp(z)
        return math.log1p(e), e / (1.0 + e)
    if code == 5:
        y = 1.0 / (1.0 + math.exp(-z))
        return y, y * (1.0 - y)
    return z, 1.0 + 0.0 * z


def env_row(x, y, z, rcut, rcut_smth, out):
    """out[0:4] = R̃ = s(r)(1, x/r, y/r, z/r); out[4 + 3a + b] = ∂R̃[a]/∂r_b."""
    r = math.sqrt(x * x + y * y + z * z)
    inv = 1.0 / r
    if r < rcut_smth:
        sw = 1.0
        dsw = 0.0
    else:
        u = (r - rcut_smth) / (rcut - rcut_smth)
        poly = -6.0 * u * u + 15.0 * u - 10.0
        sw = u * u * u * poly + 1.0
        dsw = (3.0 * u * u * poly + u * u * u * (-12.0 * u + 15.0)) / (rcut - rcut_smth)
    s = sw * inv
    out[0] = s
    out[1] = s * x * inv
    out[2] = s * y * inv
    out[3] = s * z * inv
    c0 = (dsw * inv - sw * inv * inv) * inv
    out[4] = c0 * x
    out[5] = c0 * y
    out[6] = c0 * z
    c1 = dsw * inv * inv * inv - 2.0 * sw * inv * inv * inv * inv
    d = sw * inv * inv
    out[7] = d + c1 * x * x
    out[8] = c1 * x * y
    out[9] = c1 * x * z
    out[10] = c1 * y * x
    out[11] = d + c1 * y * y
    out[12] = c1 * y * z
    out[13] = c1 * z * x
    out[14] = c1 * z * y
    out[15] = d + c1 * z * z


def normalised_env_row(x, y, z, rcut, rcut_smth, blk_avg, blk_std, p, row):
    """env_row, then R = (R̃ − t_avg)/t_std with the statistics of species block p."""
    env_row(x, y, z, rcut, rcut_smth, row)
    for a in range(4):
        row[a] = (row[a] - blk_avg[4 * p + a]) / blk_std[4 * p + a]


def chunk_slots(w, nchunk, chunk_len, nnei):
    """Atom and slot range [lo, hi) of work-item w = atom·nchunk + chunk."""
    lo = (w % nchunk) * chunk_len
    hi = lo + chunk_len
    if hi > nnei:
        hi = nnei
    return w // nchunk, lo, hi


def embedding_forward(s, net, w, off, widths, nlayer, act, buf, wmax, tangent):
    """G(s) into buf[0:M] and, if tangent, dG/ds into buf[wmax:wmax+M] (forward mode)."""
    buf[0] = s
    buf[wmax] = 1.0 + 0.0 * s
    n_in = 1
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (net * nlayer + layer) * 3
        mo = off[base]
        bo = off[base + 1]
        io = off[base + 2]
        for o in range(n_out):
            zz, dz = dense_unit(buf, 0, wmax, n_in, w, mo, n_out, o, w[bo + o], tangent)
            h, dh = activation(act, zz)
            buf[2 * wmax + o] = h
            buf[3 * wmax + o] = dh * dz
        skip = 0
        if n_out == n_in:
            skip = 1
        elif n_out == 2 * n_in:
            skip = 2
        # descending o: the skip reads x[o mod n_in] <= o before x[o] is overwritten
        for oo in range(n_out):
            o = n_out - 1 - oo
            h = buf[2 * wmax + o]
            dh = buf[3 * wmax + o]
            if skip > 0:
                if io >= 0:
                    h *= w[io + o]
                    dh *= w[io + o]
                h += buf[o % n_in]
                dh += buf[wmax + o % n_in]
            buf[o] = h
            buf[wmax + o] = dh
        n_in = n_out


def fitting_forward_backward(t, d, w, off, widths, nlayer, act, buf, wmax, dact):
    """Fitting-net output for species t from descriptor d; on return d holds ∂out/∂d."""
    n_in = widths[0]
    for k in range(n_in):
        buf[k] = d[k]
    da = 0
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (t * (nlayer + 1) + layer) * 3
        mo = off[base]
        bo = off[base + 1]
        io = off[base + 2]
        for o in range(n_out):
            zz = w[bo + o]
            for k in range(n_in):
                zz += buf[k] * w[mo + k * n_out + o]
            h, dh = activation(act, zz)
            if io >= 0:
                h *= w[io + o]
                dh *= w[io + o]
            buf[wmax + o] = h
            dact[da + o] = dh
        residual = layer >= 1 and n_out == n_in
        for o in range(n_out):
            if residual:
                buf[o] = buf[o] + buf[wmax + o]
            else:
                buf[o] = buf[wmax + o]
        da += n_out
        n_in = n_out
    base = (t * (nlayer + 1) + nlayer) * 3
    mo = off[base]
    y = w[off[base + 1]]
    for k in range(n_in):
        y += buf[k] * w[mo + k]
    # reverse pass: buf[0:n] holds ∂y/∂(layer output), buf[wmax:] the input gradient being built
    for k in range(n_in):
        buf[k] = w[mo + k]
    for lr in range(nlayer):
        layer = nlayer - 1 - lr
        n_out = widths[layer + 1]
        n_prev = widths[layer]
        da -= n_out
        mo = off[(t * (nlayer + 1) + layer) * 3]
        for k in range(n_prev):
            acc = 0.0 * y
            for o in range(n_out):
                acc += buf[o] * dact[da + o] * w[mo + k * n_out + o]
            buf[wmax + k] = acc
        residual = layer >= 1 and n_out == n_prev
        for k in range(n_prev):
            if residual:
                buf[k] = buf[k] + buf[wmax + k]
            else:
                buf[k] = buf[wmax + k]
    for k in range(widths[0]):
        d[k] = buf[k]
    return y


def slot_vector(i, j, code, pos, cell):
    """r_ij = x_j + S·h − x_i for neighbour j seen through image shift S (packed in code)."""
    sx, sy, sz = unpack_shift(code)
    ox, oy, oz = image_offset(sx, sy, sz, cell)
    return pos[3 * j] + ox - pos[3 * i], pos[3 * j + 1] + oy - pos[3 * i + 1], pos[3 * j + 2] + oz - pos[3 * i + 2]


def live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut):
    """Whether slot jj of atom i holds a neighbour inside rcut (a list built with a skin also holds
    atoms beyond it), and its r_ij (zero when not)."""
    j = nlist[i * nnei + jj]
    zero = 0.0 * pos[0]
    if j < 0:
        return False, zero, zero, zero
    rx, ry, rz = slot_vector(i, j, nshift[i * nnei + jj], pos, cell)
    if rx * rx + ry * ry + rz * rz >= rcut * rcut:
        return False, zero, zero, zero
    return True, rx, ry, rz


def block_slots(ti, tj, ntypes, sel_off, lo, hi, one_side):
    """Slots [a0, a1) of neighbour species tj inside [lo, hi), their block p = (ti, tj) of t_avg/t_std
    and exclusions, and the embedding net that serves the block."""
    a0 = sel_off[tj] if sel_off[tj] > lo else lo
    a1 = sel_off[tj + 1] if sel_off[tj + 1] < hi else hi
    p = ti * ntypes + tj
    net = tj if one_side != 0 else p
    return a0, a1, p, net


def dense_unit(x, x_at, dx_at, n_in, w, mo, n_out, o, z, tangent):
    """Pre-activation z + Σ_k x[x_at+k]·W[k, o] of output o of a layer and, if tangent, its
    derivative Σ_k x[dx_at+k]·W[k, o] along the tangent stored beside the inputs."""
    dz = 0.0 * z
    if tangent != 0:
        for k in range(n_in):
            wk = w[mo + k * n_out + o]
            z += x[x_at + k] * wk
            dz += x[dx_at + k] * wk
    else:
        for k in range(n_in):
            z += x[x_at + k] * w[mo + k * n_out + o]
    return z, dz


def padding_embeddings(p, ntypes, blk_avg, blk_std, one_side, emb_w, emb_off, emb_widths, n_emb, act_emb,
                       ewmax, pad_g, ebuf):
    """G(R_pad[0]) of the empty-slot row of block p = (centre species, neighbour species)."""
    net = p % ntypes if one_side != 0 else p
    embedding_forward(-blk_avg[4 * p] / blk_std[4 * p], net, emb_w, emb_off, emb_widths, n_emb, act_emb,
                      ebuf, ewmax, 0)
    m_width = emb_widths[n_emb]
    for m in range(m_width):
        pad_g[p * m_width + m] = ebuf[m]


def descriptor_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut,
                     rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb,
                     act_emb, ewmax, pad_g, t_part, ebuf, row):
    """Share of slots [c·len, (c+1)·len) of atom i = w // nchunk in T_i·nnei = Σ_j R_ij ⊗ G_ij."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    base = w * 4 * m_width
    for k in range(4 * m_width):
        t_part[base + k] = 0.0 * pos[0]
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
            embedding_forward(row[0], net, emb_w, emb_off, emb_widths, n_emb, act_emb, ebuf, ewmax, 0)
            for a in range(4):
                ra = row[a]
                for m in range(m_width):
                    t_part[base + a * m_width + m] += ra * ebuf[m]
        if n_empty > 0:
            for a in range(4):
                ra = n_empty * (-blk_avg[4 * p + a] / blk_std[4 * p + a])
                for m in range(m_width):
                    t_part[base + a * m_width + m] += ra * pad_g[p * m_width + m]


def fitting_atom(i, atype, nnei, nchunk, t_part, emb_widths, n_emb, axis_m, fit_w, fit_off, fit_widths, n_fit,
                 act_fit, bias_e, out_std, out_bias, fwmax, atom_energy, dt_mat, tmat, dbuf, fbuf, dact):
    """E_i = fitting net(D_i) with D_i = T_iᵀ T_i[:, :M<]; dt_mat[i] ← ∂E_i/∂T_i / nnei."""
    m_width = emb_widths[n_emb]
    ti = atype[i]
    inv_nnei = 1.0 / nnei
    for k in range(4 * m_width):
        acc = 0.0 * t_part[0]
        for c in range(nchunk):
            acc += t_part[(i * nchunk + c) * 4 * m_width + k]
        tmat[k] = acc * inv_nnei
    for m in range(m_width):
        for n in range(axis_m):
            acc = 0.0 * tmat[0]
            for a in range(4):
                acc += tmat[a * m_width + m] * tmat[a * m_width + n]
            dbuf[m * axis_m + n] = acc
    y = fitting_forward_backward(ti, dbuf, fit_w, fit_off, fit_widths, n_fit, act_fit, fbuf, fwmax, dact)
    atom_energy[i] = (y + bias_e[ti]) * out_std[ti] + out_bias[ti]
    scale = out_std[ti] * inv_nnei
    for a in range(4):
        for m in range(m_width):
            acc = 0.0 * tmat[0]
            for n in range(axis_m):
                acc += dbuf[m * axis_m + n] * tmat[a * m_width + n]
            if m < axis_m:
                for k in range(m_width):
                    acc += dbuf[k * axis_m + m] * tmat[a * m_width + k]
            dt_mat[i * 4 * m_width + a * m_width + m] = acc * scale


def pair_gradient_chunk(w, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, sel_off, ntypes, rcut,
                        rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb,
                        act_emb, ewmax, dt_mat, pair_grad, ebuf, row):
    """g_ij = ∂E_i/∂r_ij for the slots of chunk w (zero for empty slots and excluded pairs)."""
    i, lo, hi = chunk_slots(w, nchunk, chunk_len, nnei)
    m_width = emb_widths[n_emb]
    dbase = i * 4 * m_width
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
            embedding_forward(row[0], net, emb_w, emb_off, emb_widths, n_emb, act_emb, ebuf, ewmax, 1)
            de_ds = 0.0 * rx
            for m in range(m_width):
                de_dg = 0.0 * rx
                for a in range(4):
                    de_dg += row[a] * dt_mat[dbase + a * m_width + m]
                de_ds += de_dg * ebuf[ewmax + m]
            gx = 0.0 * rx
            gy = 0.0 * rx
            gz = 0.0 * rx
            for a in range(4):
                de_dr = 0.0 * rx
                for m in range(m_width):
                    de_dr += dt_mat[dbase + a * m_width + m] * ebuf[m]
                if a == 0:
                    de_dr += de_ds
                de_dr /= blk_std[4 * p + a]
                gx += de_dr * row[4 + 3 * a]
                gy += de_dr * row[5 + 3 * a]
                gz += de_dr * row[6 + 3 * a]
            pair_grad[q] = gx
            pair_grad[q + 1] = gy
            pair_grad[q + 2] = gz


def gather_forces_and_virials(i, pos, cell, nlist, nshift, nnei, pair_grad, rev, rev_count, rev_cap,
                              force, atom_virial):
    """F_i = Σ_j g_ij − Σ_k g_ki and w_i = −Σ_k g_ki ⊗ r_ki, gathered without atomics."""
    fx = 0.0 * pos[0]
    fy = 0.0 * pos[0]
    fz = 0.0 * pos[0]
    for jj in range(nnei):
        p = 3 * (i * nnei + jj)
        fx += pair_grad[p]
        fy += pair_grad[p + 1]
        fz += pair_grad[p + 2]
    for k in range(9):
        atom_virial[9 * i + k] = 0.0 * fx
    for r in range(rev_count[i]):
        slot = rev[i * rev_cap + r]
        k = slot // nnei
        gx = pair_grad[3 * slot]
        gy = pair_grad[3 * slot + 1]
        gz = pair_grad[3 * slot + 2]
        fx -= gx
        fy -= gy
        fz -= gz
        rx, ry, rz = slot_vector(k, i, nshift[slot], pos, cell)
        atom_virial[9 * i] -= gx * rx
        atom_virial[9 * i + 1] -= gx * ry
        atom_virial[9 * i + 2] -= gx * rz
        atom_virial[9 * i + 3] -= gy * rx
        atom_virial[9 * i + 4] -= gy * ry
        atom_virial[9 * i + 5] -= gy * rz
        atom_virial[9 * i + 6] -= gz * rx
        atom_virial[9 * i + 7] -= gz * ry
        atom_virial[9 * i + 8] -= gz * rz
    force[3 * i] = fx
    force[3 * i + 1] = fy
    force[3 * i + 2] = fz
