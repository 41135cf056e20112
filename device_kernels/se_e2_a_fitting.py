"""se_e2_a's fitting net on CPU devices: E_i = F_tᵢ(D_i), D_i = T_iᵀ T_i[:, :M<], and ∂E_i/∂T_i.

A work-group of 16 lanes (one vector of the OpenCL CPU compiler) takes FIT_ATOMS atoms of one
species: a layer's outputs over the lanes, the atoms' inputs side by side in local memory, so each
weight loaded feeds FIT_ATOMS multiply-adds.  One atom per work-group streamed the whole net from
cache for every atom (cuag: 1.4 MB of weights and transposed weights per atom, larger than a Zen 4
core's L2) and waited on one add chain per output (benchmarks/NOTES.md, session 13).  Each atom's
sums run in the order of se_e2_a_group.group_fitting_net with one output per lane, so its energy
and ∂E/∂T are those of the one-atom body bit for bit.

In float32 on wide devices (fit_quads) an atom's buffers and its rows of activation slopes start on
multiples of four values (quad_ceil), so that the four consecutive values of one atom a chunk of
quad_chunked_sums reads are one aligned vector load (group-local arrays are 16-byte aligned: dpsycl/backends/cuda.py).

``fit_atoms[g·FIT_ATOMS + j]`` is atom j of group g (the host groups the atoms by species,
SeE2ADevice.species_groups); −1 pads a species' last group, whose padding runs on the group's first
atom and stores nothing.
"""
from .group import group_reduce
from .layers import fitting_energy, fitting_output, fitting_residual
from .primitives import barrier

#: atoms of one species per work-group
FIT_ATOMS = 4


def quad_ceil(n, quads):
    """n rounded up to a multiple of four where quads (quad_chunked_sums' vector loads), n itself otherwise: the
    offsets of an atom's buffers, slope rows and share of a local array.  Rounded where quads is false, the
    float64 kernel compiled differently (LLVM then proved some loads aligned, merged them and stopped unrolling
    the loop) and ran slower."""
    if quads:
        return (n + 3) // 4 * 4
    return n


def group_atom(fit_atoms, g, j):
    """Atom j of group g, or the group's first atom where j pads the group."""
    i = fit_atoms[g * FIT_ATOMS + j]
    return fit_atoms[g * FIT_ATOMS] if i < 0 else i


def dense_four_atoms(item, lane, nlane, buf, stride, x_at, n_in, y_at, dact, dstride, da, n_out, w, mo, bo, io, act,
                     act_arg, residual, per_pass, quads):
    """group.group_dense for four atoms whose buffers are ``stride`` apart in buf and whose activation
    slopes are ``dstride`` apart in dact: with per_pass = 2 a lane takes outputs o and o + nlane in one
    pass over the input (the wide devices' work-groups: a 120-wide layer on 64 lanes in one pass, each
    input read from local memory feeding eight multiply-add chains, by chunked_sums); per_pass is compiled
    in."""
    for o in range(lane, n_out, per_pass * nlane):
        o2 = o + nlane
        second = per_pass > 1 and o2 < n_out
        if not second:
            o2 = o
        z0 = w[bo + o]
        z1 = z0
        z2 = z0
        z3 = z0
        y0 = w[bo + o2]
        y1 = y0
        y2 = y0
        y3 = y0
        if per_pass > 1 and quads:
            z0, z1, z2, z3, y0, y1, y2, y3 = quad_chunked_sums(buf, stride, x_at, n_in, w, mo + o, n_out, o2 - o,
                                                               z0, z1, z2, z3, y0, y1, y2, y3)
        elif per_pass > 1:
            z0, z1, z2, z3, y0, y1, y2, y3 = chunked_sums(buf, stride, x_at, n_in, w, mo + o, n_out, o2 - o,
                                                          z0, z1, z2, z3, y0, y1, y2, y3)
        else:
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
        if second:
            fitting_output(y0, o2, w, io, act, act_arg, buf, y_at, dact, da, residual, x_at)
            fitting_output(y1, o2, w, io, act, act_arg, buf, stride + y_at, dact, dstride + da, residual,
                           stride + x_at)
            fitting_output(y2, o2, w, io, act, act_arg, buf, 2 * stride + y_at, dact, 2 * dstride + da, residual,
                           2 * stride + x_at)
            fitting_output(y3, o2, w, io, act, act_arg, buf, 3 * stride + y_at, dact, 3 * dstride + da, residual,
                           3 * stride + x_at)
    barrier(item)


def four_atom_terms(vals, vstride, at, wv, wv2, a0, a1, a2, a3, b0, b1, b2, b3):
    """One term of the four atoms' sums: their values vals[at], vals[vstride + at], … times the weight wv
    added to a0 … a3, times wv2 to b0 … b3."""
    x0 = vals[at]
    x1 = vals[vstride + at]
    x2 = vals[2 * vstride + at]
    x3 = vals[3 * vstride + at]
    return (a0 + x0 * wv, a1 + x1 * wv, a2 + x2 * wv, a3 + x3 * wv,
            b0 + x0 * wv2, b1 + x1 * wv2, b2 + x2 * wv2, b3 + x3 * wv2)


def chunk_weights(w, wn, wstep, off2):
    """The weights of one chunk of four terms: w[wn + t·wstep] and w[wn + off2 + t·wstep], t < 4."""
    return (w[wn], w[wn + wstep], w[wn + 2 * wstep], w[wn + 3 * wstep],
            w[wn + off2], w[wn + off2 + wstep], w[wn + off2 + 2 * wstep], w[wn + off2 + 3 * wstep])


def chunked_sums(vals, vstride, at, count, w, wi, wstep, off2, a0, a1, a2, a3, b0, b1, b2, b3):
    """The four atoms' sums over t < count of vals[at + t] (as in four_atom_terms) times w[wi + t·wstep] (into
    a0 … a3) and w[wi + off2 + t·wstep] (b0 … b3), term by term in order, on wide devices: the weights of
    four terms are loaded one chunk ahead of their multiply-adds, so that a warp waits on L2 once per chunk.
    A loop that used each weight about twenty instructions after its load spent a third of the float32
    fitting kernel's stall samples waiting on those loads on an H200 (benchmarks/NOTES.md, session 21).
    float64's loop (fit_quads false); float32 runs quad_chunked_sums."""
    t = at
    end4 = at + count - count % 4
    q0 = a0
    q1 = a0
    q2 = a0
    q3 = a0
    r0 = a0
    r1 = a0
    r2 = a0
    r3 = a0
    if t < end4:
        q0, q1, q2, q3, r0, r1, r2, r3 = chunk_weights(w, wi, wstep, off2)
    wn = wi
    while t < end4:
        v0 = q0
        v1 = q1
        v2 = q2
        v3 = q3
        u0 = r0
        u1 = r1
        u2 = r2
        u3 = r3
        if t + 4 < end4:          # the last chunk loads itself again: no read past the matrix
            wn += 4 * wstep
        q0, q1, q2, q3, r0, r1, r2, r3 = chunk_weights(w, wn, wstep, off2)
        a0, a1, a2, a3, b0, b1, b2, b3 = chunk_terms(vals, vstride, t, v0, v1, v2, v3, u0, u1, u2, u3, a0, a1, a2, a3,
                                                     b0, b1, b2, b3)
        t += 4
    return remainder_terms(vals, vstride, at, count, t, w, wi, wstep, off2, a0, a1, a2, a3, b0, b1, b2, b3)


def quad_chunked_sums(vals, vstride, at, count, w, wi, wstep, off2, a0, a1, a2, a3, b0, b1, b2, b3):
    """chunked_sums for at and vstride multiples of four (the kernel's layout with fit_quads, quad_ceil): the loop
    runs over chunk numbers q and reads the values at 4·q + u, so that the compiler loads an atom's four values
    of a chunk in one instruction.  On an H200 (NOTES.md, session 23) that took the float32 kernel from 4.43 to
    3.90 ms and the float64 kernel from 6.00 to 6.52 ms, so float64 keeps chunked_sums.  A separate body, not
    a switch inside one loop: numba optimises each device function before inlining it, and one loop whose
    step and stride followed the switch compiled to other float32 code, 4.44 ms (floor divisions) and 4.08 ms
    (shifts); with this body the float32 SASS is again that of the 3.90 ms tree.  Its prologue and loop are
    chunked_sums' written out again: with them in shared helpers the float32 kernel took 106 registers, not 96."""
    quad_stride = 4 * (vstride >> 2)
    q = at >> 2
    end_q = q + (count >> 2)
    q0 = a0
    q1 = a0
    q2 = a0
    q3 = a0
    r0 = a0
    r1 = a0
    r2 = a0
    r3 = a0
    if q < end_q:
        q0, q1, q2, q3, r0, r1, r2, r3 = chunk_weights(w, wi, wstep, off2)
    wn = wi
    while q < end_q:
        v0 = q0
        v1 = q1
        v2 = q2
        v3 = q3
        u0 = r0
        u1 = r1
        u2 = r2
        u3 = r3
        if q + 1 < end_q:         # the last chunk loads itself again: no read past the matrix
            wn += 4 * wstep
        q0, q1, q2, q3, r0, r1, r2, r3 = chunk_weights(w, wn, wstep, off2)
        a0, a1, a2, a3, b0, b1, b2, b3 = chunk_terms(vals, quad_stride, 4 * q, v0, v1, v2, v3, u0, u1, u2, u3, a0, a1,
                                                     a2, a3, b0, b1, b2, b3)
        q += 1
    return remainder_terms(vals, vstride, at, count, 4 * q, w, wi, wstep, off2, a0, a1, a2, a3, b0, b1, b2, b3)


def chunk_terms(vals, vstride, c, v0, v1, v2, v3, u0, u1, u2, u3, a0, a1, a2, a3, b0, b1, b2, b3):
    """One chunk's four terms c … c + 3 of the four atoms' sums (four_atom_terms), their weights v0 … v3 into
    a0 … a3 and u0 … u3 into b0 … b3."""
    a0, a1, a2, a3, b0, b1, b2, b3 = four_atom_terms(vals, vstride, c, v0, u0, a0, a1, a2, a3, b0, b1, b2, b3)
    a0, a1, a2, a3, b0, b1, b2, b3 = four_atom_terms(vals, vstride, c + 1, v1, u1, a0, a1, a2, a3, b0, b1, b2, b3)
    a0, a1, a2, a3, b0, b1, b2, b3 = four_atom_terms(vals, vstride, c + 2, v2, u2, a0, a1, a2, a3, b0, b1, b2, b3)
    return four_atom_terms(vals, vstride, c + 3, v3, u3, a0, a1, a2, a3, b0, b1, b2, b3)


def remainder_terms(vals, vstride, at, count, t, w, wi, wstep, off2, a0, a1, a2, a3, b0, b1, b2, b3):
    """The terms t … count − 1 past the last whole chunk, one at a time, each weight loaded where it is used."""
    wn = wi + (t - at) * wstep
    while t < at + count:
        a0, a1, a2, a3, b0, b1, b2, b3 = four_atom_terms(vals, vstride, t, w[wn], w[wn + off2], a0, a1, a2, a3, b0,
                                                         b1, b2, b3)
        t += 1
        wn += wstep
    return a0, a1, a2, a3, b0, b1, b2, b3


def dense_backward_four_atoms(item, lane, nlane, buf, stride, g_at, n_out, gin_at, n_in, dact, dstride, da, wt, mo,
                              residual, per_pass, quads):
    """group.group_dense_backward (over the transposed matrix wt) for four atoms laid out as in
    dense_four_atoms, per_pass inputs k, k + nlane per lane and pass.  ∂y/∂z = g·φ' is formed once per
    output and atom, in place of the slopes (no later layer reads them), where the loop over the inputs
    formed it again for every input (two local loads and a multiply per multiply-add).

    The loop over the outputs takes one of two forms, each output's terms added in the same order: on
    CPU devices (per_pass = 1) a range: written as a while loop over running indices, the OpenCL CPU
    compiler ran it as a divergent loop (a lane mask kept in memory per step) and gathered wt[wo] where it
    is one vector load: the kernel took 31 ms instead of 20 at 2,048 atoms (benchmarks/NOTES.md, session
    14).  On wide devices chunked_sums, whose weights are loaded a chunk ahead: the kernel took 19% less
    time in float32 on an H200, and less in float64 than with a while loop over running indices (NOTES.md,
    session 21)."""
    for o in range(lane, n_out, nlane):
        dact[da + o] = buf[g_at + o] * dact[da + o]
        dact[dstride + da + o] = buf[stride + g_at + o] * dact[dstride + da + o]
        dact[2 * dstride + da + o] = buf[2 * stride + g_at + o] * dact[2 * dstride + da + o]
        dact[3 * dstride + da + o] = buf[3 * stride + g_at + o] * dact[3 * dstride + da + o]
    barrier(item)
    for k in range(lane, n_in, per_pass * nlane):
        k2 = k + nlane
        second = per_pass > 1 and k2 < n_in
        if not second:
            k2 = k
        a0 = 0.0 * wt[mo]
        a1 = a0
        a2 = a0
        a3 = a0
        b0 = a0
        b1 = a0
        b2 = a0
        b3 = a0
        if per_pass > 1 and quads:
            a0, a1, a2, a3, b0, b1, b2, b3 = quad_chunked_sums(dact, dstride, da, n_out, wt, mo + k, n_in, k2 - k,
                                                               a0, a1, a2, a3, b0, b1, b2, b3)
        elif per_pass > 1:
            a0, a1, a2, a3, b0, b1, b2, b3 = chunked_sums(dact, dstride, da, n_out, wt, mo + k, n_in, k2 - k,
                                                          a0, a1, a2, a3, b0, b1, b2, b3)
        else:
            wo = mo + k
            for o in range(n_out):
                wv = wt[wo]
                a0 += dact[da + o] * wv
                a1 += dact[dstride + da + o] * wv
                a2 += dact[2 * dstride + da + o] * wv
                a3 += dact[3 * dstride + da + o] * wv
                wo += n_in
        if residual:
            a0 += buf[g_at + k]
            a1 += buf[stride + g_at + k]
            a2 += buf[2 * stride + g_at + k]
            a3 += buf[3 * stride + g_at + k]
            b0 += buf[g_at + k2]
            b1 += buf[stride + g_at + k2]
            b2 += buf[2 * stride + g_at + k2]
            b3 += buf[3 * stride + g_at + k2]
        buf[gin_at + k] = a0
        buf[stride + gin_at + k] = a1
        buf[2 * stride + gin_at + k] = a2
        buf[3 * stride + gin_at + k] = a3
        if second:
            buf[gin_at + k2] = b0
            buf[stride + gin_at + k2] = b1
            buf[2 * stride + gin_at + k2] = b2
            buf[3 * stride + gin_at + k2] = b3
    barrier(item)


def widest_hidden(fit_widths, n_fit):
    """The widest hidden layer of the fitting net (0 without one)."""
    widest = 0
    for layer in range(n_fit):
        if fit_widths[layer + 1] > widest:
            widest = fit_widths[layer + 1]
    return widest


def slopes_width(fit_widths, n_fit, quads):
    """Values of sh_dact per atom: the hidden layers' activation slopes, each layer's row from quad_ceil (at
    least one value)."""
    width = 0
    for layer in range(n_fit):
        width += quad_ceil(fit_widths[layer + 1], quads)
    return max(width, 1)


def atom_stride(fwmax, hidden, m_width, quads):
    """Values of sh_f per atom: buffer A (fwmax values, from 0) holds D, later ∂y/∂D, and the hidden layers of
    one parity; buffer B (from quad_ceil(fwmax, quads)) holds T_i while it is read (4·M values, at the start and
    again beside ∂y/∂D at the end) and the other hidden layers.  The reverse pass starts in the buffer the
    forward pass ended in, so ∂y/∂D lands in A whatever the depth, and B needs only max(4·M, the widest hidden
    layer): cuag's 512 + 256 values where two buffers of fwmax took 1,024 (8 KB less shared memory per float64
    block of four atoms)."""
    return quad_ceil(fwmax, quads) + quad_ceil(max(4 * m_width, hidden), quads)




def load_t(item, lane, nlane, g, fit_atoms, nchunk, t_part, tw, inv_nnei, sh_f, stride, at):
    """T_i of the group's atoms (the sums of their chunks' parts, over nnei) into sh_f[j·stride + at:], then a
    barrier: where dt_mat is t_part itself (one chunk) every read is done before the first write.  t_of_atom's loop
    written out, as fitting_group_atoms writes out its other two helpers: with the three called, numba-cuda
    compiled the kernel to slower code (which of them costs what was not separated; see fitting_group_atoms)."""
    for j in range(FIT_ATOMS):
        i = group_atom(fit_atoms, g, j)
        for k in range(lane, tw, nlane):
            acc = 0.0 * t_part[0]
            for c in range(nchunk):
                acc += t_part[(i * nchunk + c) * tw + k]
            sh_f[j * stride + at + k] = acc * inv_nnei
    barrier(item)












def last_layer_part(lane, nlane, n_in, sh_f, x_at, fit_w, mo, zero):
    """Lane's part of the last layer's sum Σ_k x_k·w_k (k = lane, lane + nlane, ...)."""
    part = zero
    for k in range(lane, n_in, nlane):
        part += sh_f[x_at + k] * fit_w[mo + k]
    return part


def fitting_group_atoms(item, g, lane, nlane, fit_atoms, atype, nnei, nchunk, t_part, m_width, axis_m, fit_w, fit_off,
                        fit_widths, n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, n_hidden,
                        fit_per_pass, fit_quads, fparam, nfp, aparam, nap, atom_energy, dt_mat, sh_f, sh_dact, sh_red):
    """E_i and dt_mat[i] = ∂E_i/∂T_i / nnei of the FIT_ATOMS atoms of group g.  Local arrays per atom j:
    sh_f[j·stride:] its two layer buffers (D first; T beside them while it is read, atom_stride),
    sh_dact[j·n_hidden:] its activation slopes (n_hidden = slopes_width(…, fit_quads)), sh_red[j·nlane/2:] its
    lanes' parts of the last layer (nlane a power of two ≥ 2).
    dt_mat may be t_part itself where each atom has one chunk (the work-group kernels of wide devices:
    T_i's row is then overwritten by ∂E_i/∂T_i), since every read of an atom's row precedes a barrier
    and its writes follow it; T is read twice so that no array of its own takes shared memory."""
    ti = atype[fit_atoms[g * FIT_ATOMS]]
    zero = 0.0 * fit_w[0]
    inv_nnei = 1.0 / nnei
    tw = 4 * m_width
    stride = atom_stride(fwmax, widest_hidden(fit_widths, n_fit), m_width, fit_quads)
    fb = quad_ceil(fwmax, fit_quads)            # buffer B
    load_t(item, lane, nlane, g, fit_atoms, nchunk, t_part, tw, inv_nnei, sh_f, stride, fb)
    # descriptor_lanes and t_gradient_lanes written out here (the same sums in the same order): called from this
    # kernel, numba-cuda compiled it to other code on the H200 (float32 96 → 91 registers) and DeepPot.eval at
    # 131,072 atoms ran 16% slower in float32 and 2% in float64 (benchmarks/NOTES.md, session 28)
    for j in range(FIT_ATOMS):
        tj = j * stride + fb
        for m in range(lane, m_width, nlane):
            t0 = sh_f[tj + m]
            t1 = sh_f[tj + m_width + m]
            t2 = sh_f[tj + 2 * m_width + m]
            t3 = sh_f[tj + 3 * m_width + m]
            for n in range(axis_m):
                acc = zero
                acc += t0 * sh_f[tj + n]
                acc += t1 * sh_f[tj + m_width + n]
                acc += t2 * sh_f[tj + 2 * m_width + n]
                acc += t3 * sh_f[tj + 3 * m_width + n]
                sh_f[j * stride + m * axis_m + n] = acc
        i = group_atom(fit_atoms, g, j)
        for q in range(lane, nfp + nap, nlane):
            if q < nfp:
                sh_f[j * stride + m_width * axis_m + q] = fparam[q]
            else:
                sh_f[j * stride + m_width * axis_m + q] = aparam[i * nap + q - nfp]
    barrier(item)
    da = 0
    x_at = 0
    n_in = fit_widths[0]
    for layer in range(n_fit):
        n_out = fit_widths[layer + 1]
        base = (ti * (n_fit + 1) + layer) * 3
        dense_four_atoms(item, lane, nlane, sh_f, stride, x_at, n_in, fb - x_at, sh_dact, n_hidden, da, n_out, fit_w,
                         fit_off[base], fit_off[base + 1], fit_off[base + 2], act_fit, act_fit_arg,
                         fitting_residual(layer, n_in, n_out), fit_per_pass, fit_quads)
        da += quad_ceil(n_out, fit_quads)
        n_in = n_out
        x_at = fb - x_at
    base = (ti * (n_fit + 1) + n_fit) * 3
    mo = fit_off[base]
    # the lanes' parts of the last layer, the upper half's added into the lower half's places (the first step
    # of group_reduce's tree, so the same sums), which lets sh_red hold half the lanes: 1 KB less per float64
    # block, six blocks per H200 SM where five fitted (benchmarks/NOTES.md, session 17)
    half = nlane // 2
    for j in range(FIT_ATOMS):
        if lane < half:
            sh_red[j * half + lane] = last_layer_part(lane, nlane, n_in, sh_f, j * stride + x_at, fit_w, mo, zero)
    barrier(item)
    for j in range(FIT_ATOMS):
        if lane >= half:
            sh_red[j * half + lane - half] += last_layer_part(lane, nlane, n_in, sh_f, j * stride + x_at, fit_w, mo,
                                                               zero)
    group_reduce(item, lane, half, sh_red, FIT_ATOMS)
    if lane == 0:
        for j in range(FIT_ATOMS):
            i = fit_atoms[g * FIT_ATOMS + j]
            if i >= 0:
                atom_energy[i] = fitting_energy(sh_red[j * half] + fit_w[fit_off[base + 1]], ti, bias_e, out_std,
                                                out_bias)
    # reverse pass: ∂y/∂(last hidden) = W_final over the last hidden layer's values (read above, before
    # group_reduce's barriers), then layer by layer down to ∂y/∂D, which lands in buffer A (atom_stride)
    g_at = x_at
    for j in range(FIT_ATOMS):
        for k in range(lane, n_in, nlane):
            sh_f[j * stride + g_at + k] = fit_w[mo + k]
    barrier(item)
    for lr in range(n_fit):
        layer = n_fit - 1 - lr
        n_out = fit_widths[layer + 1]
        n_prev = fit_widths[layer]
        da -= quad_ceil(n_out, fit_quads)
        dense_backward_four_atoms(item, lane, nlane, sh_f, stride, g_at, n_out, fb - g_at, n_prev, sh_dact, n_hidden,
                                  da, fit_wt, fit_off[(ti * (n_fit + 1) + layer) * 3],
                                  fitting_residual(layer, n_prev, n_out), fit_per_pass, fit_quads)
        g_at = fb - g_at
    scale = out_std[ti] * inv_nnei
    t_at = fb - g_at                # buffer B, beside ∂y/∂D
    load_t(item, lane, nlane, g, fit_atoms, nchunk, t_part, tw, inv_nnei, sh_f, stride, t_at)
    for j in range(FIT_ATOMS):
        i = fit_atoms[g * FIT_ATOMS + j]
        if i < 0:
            continue
        gj = j * stride + g_at
        tj = j * stride + t_at
        for m in range(lane, m_width, nlane):
            e0 = zero
            e1 = zero
            e2 = zero
            e3 = zero
            for n in range(axis_m):
                gmn = sh_f[gj + m * axis_m + n]
                e0 += gmn * sh_f[tj + n]
                e1 += gmn * sh_f[tj + m_width + n]
                e2 += gmn * sh_f[tj + 2 * m_width + n]
                e3 += gmn * sh_f[tj + 3 * m_width + n]
            if m < axis_m:
                for k in range(m_width):
                    gkm = sh_f[gj + k * axis_m + m]
                    e0 += gkm * sh_f[tj + k]
                    e1 += gkm * sh_f[tj + m_width + k]
                    e2 += gkm * sh_f[tj + 2 * m_width + k]
                    e3 += gkm * sh_f[tj + 3 * m_width + k]
            dt_mat[i * tw + m] = e0 * scale
            dt_mat[i * tw + m_width + m] = e1 * scale
            dt_mat[i * tw + 2 * m_width + m] = e2 * scale
            dt_mat[i * tw + 3 * m_width + m] = e3 * scale






BODIES = (quad_ceil, group_atom, four_atom_terms, chunk_weights, chunk_terms, remainder_terms, chunked_sums,
          quad_chunked_sums, dense_four_atoms, dense_backward_four_atoms, widest_hidden, slopes_width, atom_stride,
          load_t, last_layer_part, fitting_group_atoms)
