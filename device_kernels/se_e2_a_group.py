"""The se_e2_a energy pipeline with one work-group per atom: lanes share the embedding and fitting nets.

Same equations as se_e2_a.py (see its docstring and dpsycl/descriptors/se_e2_a/reference.py); only the work is laid
out for wide devices.  Lane m of the group owns embedding channel m: the lanes walk the
neighbour list together, a layer's outputs are spread over the lanes and its inputs read from group-local
memory, so no lane keeps an embedding vector of its own.  T_i[:, m] stays in lane m's registers;
the fitting net's layers are spread over lanes the same way.  ``barrier`` is the backend's (primitives.py).

Neighbours go through the embedding net ``batch`` at a time: the live slots of each species block are
first compacted in slot order into group-local memory (one slot per lane, places by a prefix count), once
for both passes; lane m keeps the batch's values of its channel in registers (private arrays, unrolled loops), the
layer inputs of the batch's neighbours sit side by side in group-local memory, so each weight W[k, m]
it loads feeds one multiply-add per neighbour, independent chains hide each other's latency, and one
barrier per layer serves the batch.  In the gradient pass the 4·batch per-lane terms of
∂E/∂R are summed over the lanes in one two-stage pass (group.py: group_partial_sums) instead of one
tree per neighbour.  A block's last batch may hold fewer live slots: the missing ones get the zero
row (R = 0, s = 0), whose terms add exactly nothing to T and whose gradients are never written out.
The environment rows are computed ENV_ROWS at a time (one lane each) for the next ENV_ROWS / batch batches.
"""
from .activations import activation
from .environment import block_slots, normalised_env_row, slot_in_cutoff, slot_vector
from .group import (group_dense, group_dense_backward, group_partial_sums, group_prefix_count, group_reduce,
                    lane_element, next_element)
from .layers import (TABULATED, embedding_skip, fitting_energy, fitting_residual, table_channel_minor, table_interval,
                     table_row)
from .primitives import barrier

#: neighbours per pass through the embedding net (the kernels' ``batch``, compiled in: launch.SPECIALISED), by
#: precision: each lane keeps their values in private arrays (hb, zb) indexed only in loops over the batch,
#: which the compilers unroll, so they stay in registers (ptxas: no local memory at 4 or 8).  Eight halve
#: the per-layer work per neighbour (offsets, loop set-up, barriers) but double the shared memory (sh_f:
#: 4·batch·wmax values, and the gradient pass's 4·batch lane sums per lane) and the registers: on an H200
#: float32 gains (group_descriptor 6.44 -> 4.72 ms at 131,072 atoms), float64 loses (group_pair_gradient
#: 16.2 -> 21.2 ms, six blocks per SM) (benchmarks/NOTES.md, session 20)
BATCH = {"float32": 8, "float64": 4}
#: the batch of a compressed model's passes, by precision: with no layer buffers (the table gives G and dG/ds),
#: eight fit float64 too and halve the gradient pass's lane sums per neighbour: NVE MD of the compressed cuag
#: at 131,072 atoms 15.78 -> 13.16 ms per step with the tables located once per neighbour (H200; four: eval
#: 18.20 ms, eight 17.19) (benchmarks/NOTES.md, session 31)
TABLE_BATCH = {"float32": 8, "float64": 8}
#: the batch where the work-group's local memory cannot hold the larger one
SMALL_BATCH = 4
#: values per neighbour in the batch's environment rows (environment.py: env_row)
ROW = 16
#: values per neighbour in sh_env: its environment row, then, for a compressed model, its table interval, the offset
#: in it and the distance beyond the table (layers.table_interval), found once by the lane that computed the row,
#: where every lane of the group found it again for its channel (a 64-bit division, its compares and the net's
#: header loads per channel and neighbour)
ENV_VALUES = ROW + 3
#: environment rows computed at once (one lane each), for ENV_ROWS / batch batches: their loads and square
#: roots overlap, where one batch's 4 lanes left the rest of the group waiting at the barrier behind them
ENV_ROWS = 16


def compact_live_slots(item, lane, nlane, i, a0, a1, nlist, nshift, nnei, pos, cell, rcut, sh_live, sh_scan,
                       pair_grad):
    """The live slots of [a0, a1), in slot order, into sh_live[a0:] (as numbers); returns how many.  The
    pair gradients of the other slots are zeroed here (the gradient pass writes only live ones).  nlane
    slots at a time, one per lane, so their neighbour loads overlap; each live lane's place comes from a
    prefix count (group.py).  The test is slot_in_cutoff: a first version calling live_slot from a helper
    walking the slots crashed the OpenCL CPU compiler (oneAPI 2024.2: SimplifyCFG, segfault)."""
    count = 0
    for c0 in range(a0, a1, nlane):
        jj = c0 + lane
        live = 0
        if jj < a1:
            if slot_in_cutoff(i, jj, nlist, nshift, nnei, pos, cell, rcut):
                live = 1
            else:
                q = 3 * (i * nnei + jj)
                pair_grad[q] = 0.0 * pos[0]
                pair_grad[q + 1] = 0.0 * pos[0]
                pair_grad[q + 2] = 0.0 * pos[0]
        before, total = group_prefix_count(item, lane, nlane, live, sh_scan)
        if live != 0:
            sh_live[a0 + count + before] = jj + 0.0 * pos[0]
        count += total
    return count


def batch_env_rows(item, i, lane, nb, sh_live, at, nlist, nshift, nnei, pos, cell, rcut, rcut_smth, blk_avg, blk_std,
                   p, sh_env, row, act, net, w, off):
    """sh_env[b·ENV_VALUES:] = the normalised environment row of the live slot sh_live[at + b] for b < ENV_ROWS
    (lane b computes it; zeros for b ≥ nb) and, for a compressed model (act == TABULATED), where its s falls
    in net ``net``'s table; barriers on both sides (the previous batches' readers, the next ones')."""
    barrier(item)
    if lane < ENV_ROWS:
        e = lane * ENV_VALUES
        zero = 0.0 * pos[0]
        if lane < nb:
            jj = int(sh_live[at + lane])
            rx, ry, rz = slot_vector(i, nlist[i * nnei + jj], nshift[i * nnei + jj], pos, cell)
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            for c in range(ROW):
                sh_env[e + c] = row[c]
        else:
            for c in range(ROW):
                sh_env[e + c] = zero
        if act == TABULATED:
            # a zero row's s = 0 is located too: its terms add exactly nothing wherever it falls
            idx, t, beyond = table_interval(sh_env[e], w, off[3 * net])
            sh_env[e + ROW] = idx + zero
            sh_env[e + ROW + 1] = t
            sh_env[e + ROW + 2] = beyond
    barrier(item)


def batch_rows(item, i, lane, b0, nb, sh_live, at, nlist, nshift, nnei, pos, cell, rcut, rcut_smth, blk_avg,
               blk_std, p, sh_env, row, act, net, w, off, nlayer):
    """Where in sh_env the rows of the batch starting at live slot b0 of its block lie.  A batch whose b0 is
    a multiple of ENV_ROWS computes the rows of the next ENV_ROWS slots first (batch_env_rows, at = the
    block's slot b0, nb slots left); any other batch only needs a barrier when the previous batch's last
    layer read the buffer this batch's layer 0 writes (nlayer even)."""
    e = (b0 % ENV_ROWS) * ENV_VALUES
    if e == 0:
        batch_env_rows(item, i, lane, nb, sh_live, at, nlist, nshift, nnei, pos, cell, rcut, rcut_smth, blk_avg,
                       blk_std, p, sh_env, row, act, net, w, off)
    elif nlayer % 2 == 0:
        barrier(item)
    return e


def group_embedding_batch(item, lane, sh_env, e_at, net, w, off, widths, nlayer, act, act_arg, sh_x, wmax, batch,
                          tangent, hb, zb):
    """Lane m's channel of G(s_b) into hb[b] and, if tangent, of dG/ds into hb[batch + b] (zero for lanes beyond
    the net's width), for the batch neighbours b whose s_b = sh_env[e_at + b·ENV_VALUES]; a compressed model's
    pack (act == TABULATED) reads the channel from its table instead, laid out channel-minor (the group kernels'
    pack: SeE2ADevice.emb_group), at the interval batch_env_rows found.  zb holds a layer's sums (z_b, then dz_b
    at batch + b).

    hb and zb are the lane's private arrays, indexed only in loops over the batch neighbours, which the
    compilers unroll: their values stay in registers.  sh_x holds two buffers of 2·batch·wmax values
    (outputs, then their tangents; value k of neighbour b at k·batch + b): layer l reads buffer l mod 2
    and writes the other, so one barrier per layer keeps readers and writers apart.  The last layer's
    outputs stay in hb and no barrier follows it: the caller's next batch_rows synchronises before layer 0
    writes again."""
    zero = 0.0 * sh_env[e_at]
    for b in range(2 * batch):
        hb[b] = zero
    if act == TABULATED:
        m_width = widths[1]
        if lane < m_width:
            for b in range(batch):
                r = e_at + b * ENV_VALUES
                row = table_row(net, off, int(sh_env[r + ROW]), m_width)
                h, dh = table_channel_minor(w, row, lane, m_width, sh_env[r + ROW + 1], sh_env[r + ROW + 2])
                hb[b] = h
                hb[batch + b] = dh
        return
    half = batch * wmax
    n_in = 1
    x_at = 0                # layer ≥ 1 reads this buffer ...
    y_at = 2 * half         # ... and writes that one
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (net * nlayer + layer) * 3
        mo = off[base]
        io = off[base + 2]
        x_end = x_at + n_in * batch
        for b in range(2 * batch):
            hb[b] = zero
        if lane < n_out:
            bias = w[off[base + 1] + lane]
            for b in range(batch):
                zb[b] = bias
                zb[batch + b] = zero
            if layer == 0:
                wk = w[mo + lane]
                for b in range(batch):
                    zb[b] += sh_env[e_at + b * ENV_VALUES] * wk
                    zb[batch + b] = wk
            elif tangent != 0:
                # written out rather than calling pipeline.dense_unit: with the shared-memory input
                # handed one call further down, this kernel measured 6.5% slower on an H100
                # (benchmarks/NOTES.md, session 2)
                wk_at = mo + lane
                xk = x_at
                while xk < x_end:
                    wk = w[wk_at]
                    for b in range(batch):
                        zb[b] += sh_x[xk + b] * wk
                        zb[batch + b] += sh_x[half + xk + b] * wk
                    wk_at += n_out
                    xk += batch
            else:
                wk_at = mo + lane
                xk = x_at
                while xk < x_end:
                    wk = w[wk_at]
                    for b in range(batch):
                        zb[b] += sh_x[xk + b] * wk
                    wk_at += n_out
                    xk += batch
            for b in range(batch):
                h, dh = activation(act, zb[b], act_arg)
                hb[b] = h
                hb[batch + b] = dh * zb[batch + b]
            if embedding_skip(n_in, n_out) != 0:
                if io >= 0:
                    idt = w[io + lane]
                    for b in range(2 * batch):
                        hb[b] *= idt
                if layer == 0:
                    for b in range(batch):
                        hb[b] += sh_env[e_at + b * ENV_VALUES]
                        hb[batch + b] += 1.0
                else:
                    # the input channel this output repeats: lane mod n_in, as n_out ≤ 2·n_in
                    xs = x_at + (lane - n_in if lane >= n_in else lane) * batch
                    for b in range(batch):
                        hb[b] += sh_x[xs + b]
                    if tangent != 0:
                        for b in range(batch):
                            hb[batch + b] += sh_x[half + xs + b]
            if layer + 1 < nlayer:
                ys = y_at + lane * batch
                for b in range(batch):
                    sh_x[ys + b] = hb[b]
                if tangent != 0:
                    for b in range(batch):
                        sh_x[half + ys + b] = hb[batch + b]
        if layer + 1 < nlayer:
            barrier(item)
        n_in = n_out
        x_at, y_at = y_at, x_at


def group_fitting_net(item, i, lane, nlane, ti, sh_t, m_width, axis_m, fit_w, fit_off, fit_widths, n_fit, act_fit,
                      act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fit_per_pass, fparam, nfp, aparam, nap,
                      atom_energy, sh_f, sh_dact, dact_at, sh_red):
    """From T_i in sh_t (4 × M, barrier passed): D_i = Tᵀ T[:, :M<] and the parameters into sh_f, the
    fitting net of species ti over the lanes (layer l reads one half of sh_f[0:2·fwmax] and writes the
    other; the activation slopes go to sh_dact from dact_at on, which may be sh_f itself past 2·fwmax),
    E_i into atom_energy[i], then the reverse pass (over fit_wt, the transposed matrices at fit_w's
    offsets) down to ∂y/∂D; returns where in sh_f ∂y/∂D starts.  The CPU's fitting kernel runs the
    same sums for four atoms at a time (se_e2_a_fitting.py)."""
    zero = 0.0 * fit_w[0]
    # element q = m·axis_m + n, stepped by nlane with a carry: a division per element is a
    # scalar idiv per lane on a CPU and a ~100-instruction sequence on a GPU (NOTES.md, session 13)
    m, n = lane_element(lane, axis_m)
    step_m, step_n = lane_element(nlane, axis_m)
    for q in range(lane, m_width * axis_m, nlane):
        acc = zero
        for a in range(4):
            acc += sh_t[a * m_width + m] * sh_t[a * m_width + n]
        sh_f[q] = acc
        m, n = next_element(m, n, step_m, step_n, axis_m)
    # the frame's and the atom's parameters after D, spread over the lanes (layers.py: append_parameters)
    for q in range(lane, nfp + nap, nlane):
        if q < nfp:
            sh_f[m_width * axis_m + q] = fparam[q]
        else:
            sh_f[m_width * axis_m + q] = aparam[i * nap + q - nfp]
    barrier(item)
    da = dact_at
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
        atom_energy[i] = fitting_energy(sh_red[0] + fit_w[fit_off[base + 1]], ti, bias_e, out_std, out_bias)
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


def group_descriptor_pass(item, i, lane, nlane, ti, pos, cell, nlist, nshift, nnei, sel_off, ntypes, rcut, rcut_smth,
                          blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                          ewmax, batch, pad_g, pair_grad, sh_env, sh_live, sh_f, sh_red, row, hb, zb):
    """Lane m's column of T_i·nnei = Σ_j R_ij G_ij[m] (+ the empty slots of each block), as four values (zero
    for lanes beyond the embedding width).  The live slots of each block are compacted into sh_live on the
    way, once for both passes (their count at sh_live[nnei + tj]), and the pair gradients of every other
    slot are zeroed."""
    m_width = emb_widths[n_emb]
    zero = 0.0 * pos[0]
    t0 = zero
    t1 = zero
    t2 = zero
    t3 = zero
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
        for b0 in range(0, nlive, batch):
            e = batch_rows(item, i, lane, b0, nlive - b0, sh_live, a0 + b0, nlist, nshift, nnei, pos, cell, rcut,
                           rcut_smth, blk_avg, blk_std, p, sh_env, row, act_emb, net, emb_w, emb_off, n_emb)
            group_embedding_batch(item, lane, sh_env, e, net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                                  sh_f, ewmax, batch, 0, hb, zb)
            # the rows of absent batch slots are zero: their terms add exactly nothing
            for b in range(batch):
                g = hb[b]
                r = e + b * ENV_VALUES
                t0 += sh_env[r] * g
                t1 += sh_env[r + 1] * g
                t2 += sh_env[r + 2] * g
                t3 += sh_env[r + 3] * g
        n_empty = a1 - a0 - nlive
        if n_empty > 0 and lane < m_width:
            gp = n_empty * pad_g[p * m_width + lane]
            t0 += -blk_avg[4 * p] / blk_std[4 * p] * gp
            t1 += -blk_avg[4 * p + 1] / blk_std[4 * p + 1] * gp
            t2 += -blk_avg[4 * p + 2] / blk_std[4 * p + 2] * gp
            t3 += -blk_avg[4 * p + 3] / blk_std[4 * p + 3] * gp
    return t0, t1, t2, t3


def group_row_sum(item, i, lane, nlane, nnei, zero, pair_grad, sh_f, red, row_sum):
    """row_sum[3i:3i+3] = Σ_j g_ij over atom i's row as the gradient pass wrote it (every slot not live was
    zeroed by the descriptor pass), so exactly the terms the gather's reverse sums read: the gather then reads
    three values where it read the whole row, nnei slots strided by a row per work-item (forces.py).  The
    lanes read the row side by side, then group_partial_sums adds their sums (four terms, the fourth zero).
    The first barrier also orders the other lanes' global writes before the reads (the backends' barriers
    fence global memory); the group-local values are free from there on.  The whole row, not only the live
    slots: its reads are side by side, and the zeros add nothing."""
    barrier(item)
    sx = zero
    sy = zero
    sz = zero
    for jj in range(lane, nnei, nlane):
        g = 3 * (i * nnei + jj)
        sx += pair_grad[g]
        sy += pair_grad[g + 1]
        sz += pair_grad[g + 2]
    stride = nlane + 1
    sh_f[red + lane] = sx
    sh_f[red + stride + lane] = sy
    sh_f[red + 2 * stride + lane] = sz
    sh_f[red + 3 * stride + lane] = zero
    nparts = group_partial_sums(item, lane, nlane, sh_f, red, 4)
    if lane < 3:
        total = zero
        for part in range(nparts):
            total += sh_f[red + 4 * stride + lane * nparts + part]
        row_sum[3 * i + lane] = total


def lane_sums_at(act, batch, wmax, nlayer):
    """Where the gradient pass's lane sums start in sh_f.  A compressed model's pass (act TABULATED) has no
    layer buffers: 0.  With an odd number of layers the last one reads buffer 0 of group_embedding_batch
    (layer l reads buffer l mod 2), so the sums start at buffer 1, 2·batch·wmax: they are written after the
    barrier that ends the layer before, and read only between group_partial_sums' two barriers, before the
    next batch's layer 0 writes buffer 1 again; their parts land beyond both buffers (4·batch·(nlane + 1) ≥
    2·batch·wmax, nlane ≥ wmax).  That frees 2·batch·wmax values per block (4 KB of float32's 18.7 for cuag),
    where shared memory bounds the blocks per SM.  With an even number the last layer reads buffer 1, and the
    sums follow both buffers, at 4·batch·wmax."""
    if act == TABULATED:
        return 0
    if nlayer % 2 == 1:
        return 2 * batch * wmax
    return 4 * batch * wmax


def group_gradient_pass(item, i, lane, nlane, ti, d0, d1, d2, d3, pos, cell, nlist, nshift, nnei, sel_off, ntypes, rcut,
                        rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb,
                        act_emb_arg, ewmax, batch, pair_grad, sh_env, sh_live, sh_f, row, hb, zb):
    """g_ij of the live slots in sh_live from lane m's column d0 … d3 of ∂E/∂T_i (divided by nnei), batch
    neighbours at a time: each lane's shares of ∂E/∂R_ij and ∂E/∂s_ij summed over the lanes.  sh_f takes the
    embedding layers and, from red on, the lane sums: term c = a·batch + b (component a of batch slot b) of
    lane l at red + c·(nlane + 1) + l."""
    zero = 0.0 * pos[0]
    stride = nlane + 1
    red = lane_sums_at(act_emb, batch, ewmax, n_emb)
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        if excluded[p] != 0:
            continue
        nlive = int(sh_live[nnei + tj])
        for b0 in range(0, nlive, batch):
            nb = nlive - b0
            e = batch_rows(item, i, lane, b0, nb, sh_live, a0 + b0, nlist, nshift, nnei, pos, cell, rcut,
                           rcut_smth, blk_avg, blk_std, p, sh_env, row, act_emb, net, emb_w, emb_off, n_emb)
            group_embedding_batch(item, lane, sh_env, e, net, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                                  sh_f, ewmax, batch, 1, hb, zb)
            for b in range(batch):
                g = hb[b]
                r = e + b * ENV_VALUES
                # ∂E/∂R[0] gets ∂E/∂G·dG/ds on top: Σ_a R_a d_a times the channel's tangent
                sh_f[red + b * stride + lane] = d0 * g + (sh_env[r] * d0 + sh_env[r + 1] * d1 + sh_env[r + 2] * d2
                                                          + sh_env[r + 3] * d3) * hb[batch + b]
                sh_f[red + (batch + b) * stride + lane] = d1 * g
                sh_f[red + (2 * batch + b) * stride + lane] = d2 * g
                sh_f[red + (3 * batch + b) * stride + lane] = d3 * g
            nparts = group_partial_sums(item, lane, nlane, sh_f, red, 4 * batch)
            if lane < nb and lane < batch:
                jb = int(sh_live[a0 + b0 + lane])
                gx = zero
                gy = zero
                gz = zero
                for a in range(4):
                    de_dr = zero
                    for part in range(nparts):
                        de_dr += sh_f[red + 4 * batch * stride + (a * batch + lane) * nparts + part]
                    de_dr = de_dr / blk_std[4 * p + a]
                    gx += de_dr * sh_env[e + lane * ENV_VALUES + 4 + 3 * a]
                    gy += de_dr * sh_env[e + lane * ENV_VALUES + 5 + 3 * a]
                    gz += de_dr * sh_env[e + lane * ENV_VALUES + 6 + 3 * a]
                q = 3 * (i * nnei + jb)
                pair_grad[q] = gx
                pair_grad[q + 1] = gy
                pair_grad[q + 2] = gz


def group_atom_energy(item, i, lane, nlane, pos, cell, atype, nlist, nshift, nnei,
                      sel_off, ntypes, rcut, rcut_smth, blk_avg, blk_std, one_side, excluded,
                      emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg, ewmax, batch, pad_g, axis_m,
                      fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax,
                      fit_wt, fit_per_pass, fparam, nfp, aparam, nap, atom_energy, pair_grad, sh_env, sh_live, sh_t,
                      sh_f, sh_red, row, hb, zb):
    """E_i and every g_ij of atom i, computed by the work-group's lanes together.  Group-local arrays: sh_env
    the environment rows of the next batches, sh_live the live slots of every block (then their counts),
    sh_t T_i, sh_red the prefix counts and the energy sum, and sh_f for what never lives at the same time:
    the embedding layers of a batch (group_embedding_batch's two buffers, from 0) during the passes, with
    the gradient pass's lane sums from lane_sums_at (group_partial_sums), and between the
    passes the fitting net's two halves (from 0) and its activation slopes (from 2·fwmax).  One array for
    all keeps the block small (cuag in float64: 23.6 KB) and under CUDA's 48 KB of static shared memory
    for DeePMD-kit's usual sizes (embedding 100 wide, axis 16: 43 KB)."""
    m_width = emb_widths[n_emb]
    ti = atype[i]
    zero = 0.0 * pos[0]
    t0, t1, t2, t3 = group_descriptor_pass(item, i, lane, nlane, ti, pos, cell, nlist, nshift, nnei, sel_off, ntypes,
                                           rcut, rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off,
                                           emb_widths, n_emb, act_emb, act_emb_arg, ewmax, batch, pad_g, pair_grad,
                                           sh_env, sh_live, sh_f, sh_red, row, hb, zb)
    inv_nnei = 1.0 / nnei
    if lane < m_width:
        sh_t[lane] = t0 * inv_nnei
        sh_t[m_width + lane] = t1 * inv_nnei
        sh_t[2 * m_width + lane] = t2 * inv_nnei
        sh_t[3 * m_width + lane] = t3 * inv_nnei
    barrier(item)
    g_at = group_fitting_net(item, i, lane, nlane, ti, sh_t, m_width, axis_m, fit_w, fit_off, fit_widths, n_fit,
                             act_fit, act_fit_arg, bias_e, out_std, out_bias, fwmax, fit_wt, fit_per_pass,
                             fparam, nfp, aparam, nap, atom_energy, sh_f, sh_f, 2 * fwmax, sh_red)
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
    # sh_f was read above, before the gradient pass's first barriers
    group_gradient_pass(item, i, lane, nlane, ti, d0, d1, d2, d3, pos, cell, nlist, nshift, nnei, sel_off, ntypes, rcut,
                        rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb,
                        act_emb_arg, ewmax, batch, pair_grad, sh_env, sh_live, sh_f, row, hb, zb)


def group_descriptor(item, i, lane, nlane, pos, cell, atype, nlist, nshift, nnei, sel_off, ntypes, rcut, rcut_smth,
                     blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                     ewmax, batch, pad_g, t_part, live_list, live_count, pair_grad, sh_env, sh_live, sh_f, sh_red, row,
                     hb, zb):
    """The first pass of group_atom_energy as a kernel of its own, for the split layout (the fitting net in
    between runs over atoms of one species: se_e2_a_fitting.py): T_i·nnei into t_part[i·4M:], the live
    slots of each block into live_list[i·nnei + slot] and their counts into live_count[i·ntypes + tj]."""
    m_width = emb_widths[n_emb]
    ti = atype[i]
    t0, t1, t2, t3 = group_descriptor_pass(item, i, lane, nlane, ti, pos, cell, nlist, nshift, nnei, sel_off, ntypes,
                                           rcut, rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off,
                                           emb_widths, n_emb, act_emb, act_emb_arg, ewmax, batch, pad_g, pair_grad,
                                           sh_env, sh_live, sh_f, sh_red, row, hb, zb)
    tw = 4 * m_width
    if lane < m_width:
        t_part[i * tw + lane] = t0
        t_part[i * tw + m_width + lane] = t1
        t_part[i * tw + 2 * m_width + lane] = t2
        t_part[i * tw + 3 * m_width + lane] = t3
    barrier(item)       # lane 0 wrote the counts
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        if excluded[p] == 0:
            nlive = int(sh_live[nnei + tj])
            for q in range(a0 + lane, a0 + nlive, nlane):
                live_list[i * nnei + q] = int(sh_live[q])
            if lane == 0:
                live_count[i * ntypes + tj] = nlive


def group_pair_gradient(item, i, lane, nlane, pos, cell, atype, nlist, nshift, nnei, sel_off, ntypes, rcut, rcut_smth,
                        blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb, act_emb_arg,
                        ewmax, batch, dt_mat, live_list, live_count, pair_grad, row_sum, sh_env, sh_live, sh_f, row, hb,
                        zb):
    """The second pass of group_atom_energy as a kernel of its own (the split layout): g_ij of the live slots
    group_descriptor listed, from dt_mat[i·4M:] = ∂E_i/∂T_i / nnei, and their sum into row_sum[3i:].  Not in
    group_atom_energy: there the same reads crashed the OpenCL CPU compiler in float32 (oneAPI 2024.2,
    ReduceCrossBarrierValuesPass, segfault), so the one-kernel layout leaves the row to the gather."""
    m_width = emb_widths[n_emb]
    ti = atype[i]
    zero = 0.0 * pos[0]
    for tj in range(ntypes):
        a0, a1, p, net = block_slots(ti, tj, ntypes, sel_off, 0, nnei, one_side)
        if excluded[p] == 0:
            nlive = live_count[i * ntypes + tj]
            for q in range(a0 + lane, a0 + nlive, nlane):
                sh_live[q] = live_list[i * nnei + q] + zero
            if lane == 0:
                sh_live[nnei + tj] = nlive + zero
    tw = 4 * m_width
    d0 = zero
    d1 = zero
    d2 = zero
    d3 = zero
    if lane < m_width:
        d0 = dt_mat[i * tw + lane]
        d1 = dt_mat[i * tw + m_width + lane]
        d2 = dt_mat[i * tw + 2 * m_width + lane]
        d3 = dt_mat[i * tw + 3 * m_width + lane]
    barrier(item)
    group_gradient_pass(item, i, lane, nlane, ti, d0, d1, d2, d3, pos, cell, nlist, nshift, nnei, sel_off, ntypes, rcut,
                        rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, emb_widths, n_emb, act_emb,
                        act_emb_arg, ewmax, batch, pair_grad, sh_env, sh_live, sh_f, row, hb, zb)
    group_row_sum(item, i, lane, nlane, nnei, zero, pair_grad, sh_f, 0, row_sum)


BODIES = (compact_live_slots, batch_env_rows, batch_rows, group_embedding_batch, group_fitting_net,
          group_descriptor_pass, group_row_sum, lane_sums_at, group_gradient_pass, group_atom_energy, group_descriptor,
          group_pair_gradient)
