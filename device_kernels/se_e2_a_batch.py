"""Batches of neighbours through the embedding net on a work-group (the se_e2_a work-group kernel's inner
part, se_e2_a_group.py): the live slots compacted, their environment rows, and G(s) with dG/ds.

Lane l of a group of nlane lanes owns embedding channels l and l + nlane (a net at most 2·nlane wide):
for a layer wider than nlane each weight pair W[k, l], W[k, l + nlane] and each input x_k of the
BATCH neighbours, read once, feed 2·BATCH multiply-adds (8 independent chains, 16 with the tangent);
narrower layers take one channel per lane.  One warp per atom for DeePMD-kit's usual widths up to 64
(32 lanes), so the barriers between layers hold no other warp (benchmarks/NOTES.md, session 9).
The layer inputs of the BATCH neighbours sit side by side in group-local memory (value k of neighbour
b at k·BATCH + b), in two buffers that alternate by layer.
"""
from .activations import activation
from .environment import normalised_env_row, slot_in_cutoff, slot_vector
from .group import group_prefix_count
from .layers import TABULATED, embedding_skip, table_channel, table_locate
from .primitives import barrier

#: neighbours per pass through the embedding net; the bodies below hold one scalar per neighbour
#: (numba keeps scalars in registers, a private array indexed in a loop could go to local memory),
#: so they are written for exactly 4
BATCH = 4
#: values per neighbour in the batch's environment rows (environment.py: env_row)
ROW = 16
#: environment rows computed at once (one lane each), for ENV_ROWS / BATCH batches: their loads and square
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
                   p, sh_env, row):
    """sh_env[b·ROW : (b+1)·ROW] = the normalised environment row of the live slot sh_live[at + b] for
    b < ENV_ROWS (lane b computes it; zeros for b ≥ nb); barriers on both sides (the previous batches'
    readers, the next ones')."""
    barrier(item)
    if lane < ENV_ROWS:
        if lane < nb:
            jj = int(sh_live[at + lane])
            rx, ry, rz = slot_vector(i, nlist[i * nnei + jj], nshift[i * nnei + jj], pos, cell)
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            for c in range(ROW):
                sh_env[lane * ROW + c] = row[c]
        else:
            for c in range(ROW):
                sh_env[lane * ROW + c] = 0.0 * pos[0]
    barrier(item)

def batch_barrier(item, b0, nlayer):
    """Before a batch that computes no environment rows (b0 not a multiple of ENV_ROWS): a barrier when
    the previous batch's last layer read the buffer this batch's layer 0 writes (nlayer even)."""
    if b0 % ENV_ROWS != 0 and nlayer % 2 == 0:
        barrier(item)


def embedding_channel_out(c, layer, n_in, n_out, io, w, act, act_arg, z0, z1, z2, z3, dz0, dz1, dz2, dz3,
                          s0, s1, s2, s3, sh_x, x_at, y_at, half, tangent, store):
    """Channel c of one embedding layer for the batch, from its pre-activations z_b and tangents dz_b:
    φ(z)·idt (+ the skip input) and its tangent; stored at y_at for the next layer if ``store``."""
    h0, dh0 = activation(act, z0, act_arg)
    h1, dh1 = activation(act, z1, act_arg)
    h2, dh2 = activation(act, z2, act_arg)
    h3, dh3 = activation(act, z3, act_arg)
    dh0 *= dz0
    dh1 *= dz1
    dh2 *= dz2
    dh3 *= dz3
    if embedding_skip(n_in, n_out) != 0:
        if io >= 0:
            idt = w[io + c]
            h0 *= idt
            h1 *= idt
            h2 *= idt
            h3 *= idt
            dh0 *= idt
            dh1 *= idt
            dh2 *= idt
            dh3 *= idt
        if layer == 0:
            h0 += s0
            h1 += s1
            h2 += s2
            h3 += s3
            dh0 += 1.0
            dh1 += 1.0
            dh2 += 1.0
            dh3 += 1.0
        else:
            xs = x_at + (c % n_in) * BATCH
            h0 += sh_x[xs]
            h1 += sh_x[xs + 1]
            h2 += sh_x[xs + 2]
            h3 += sh_x[xs + 3]
            if tangent != 0:
                dh0 += sh_x[half + xs]
                dh1 += sh_x[half + xs + 1]
                dh2 += sh_x[half + xs + 2]
                dh3 += sh_x[half + xs + 3]
    if store != 0:
        ys = y_at + c * BATCH
        sh_x[ys] = h0
        sh_x[ys + 1] = h1
        sh_x[ys + 2] = h2
        sh_x[ys + 3] = h3
        if tangent != 0:
            sh_x[half + ys] = dh0
            sh_x[half + ys + 1] = dh1
            sh_x[half + ys + 2] = dh2
            sh_x[half + ys + 3] = dh3
    return h0, h1, h2, h3, dh0, dh1, dh2, dh3


def table_channels(c, s0, s1, s2, s3, net, w, off, width):
    """Channel c of G and dG/ds for the batch from a compressed net's table (zero beyond its width)."""
    zero = 0.0 * s0
    h0 = zero
    h1 = zero
    h2 = zero
    h3 = zero
    dh0 = zero
    dh1 = zero
    dh2 = zero
    dh3 = zero
    if c < width:
        row, t, beyond = table_locate(s0, net, w, off, width)
        h0, dh0 = table_channel(w, row, c, t, beyond)
        row, t, beyond = table_locate(s1, net, w, off, width)
        h1, dh1 = table_channel(w, row, c, t, beyond)
        row, t, beyond = table_locate(s2, net, w, off, width)
        h2, dh2 = table_channel(w, row, c, t, beyond)
        row, t, beyond = table_locate(s3, net, w, off, width)
        h3, dh3 = table_channel(w, row, c, t, beyond)
    return h0, h1, h2, h3, dh0, dh1, dh2, dh3


def group_embedding_batch(item, lane, nlane, sh_env, e_at, net, w, off, widths, nlayer, act, act_arg, sh_x, wmax,
                          tangent):
    """Channels lane and lane + nlane of G(s_b) and, if tangent, of dG/ds (zero beyond the net's width), for
    the BATCH neighbours b whose s_b = sh_env[e_at + b·ROW]: (G of the first channel for b = 0…3, its
    tangents, G of the second, its tangents).  A compressed model's pack (act == TABULATED) reads the
    channels from its table instead.

    sh_x holds two buffers of 2·BATCH·wmax values (outputs, then their tangents): layer l reads buffer
    l mod 2 and writes the other, so one barrier per layer keeps readers and writers apart.  The last
    layer's outputs stay in registers and no barrier follows it: the caller's next batch_env_rows
    synchronises before layer 0 writes again, or, in a batch without one, batch_barrier.  A lane whose
    second channel lies beyond a layer wider than nlane computes its first channel's column twice and
    keeps one."""
    s0 = sh_env[e_at]
    s1 = sh_env[e_at + ROW]
    s2 = sh_env[e_at + 2 * ROW]
    s3 = sh_env[e_at + 3 * ROW]
    c2 = lane + nlane
    if act == TABULATED:
        h0, h1, h2, h3, dh0, dh1, dh2, dh3 = table_channels(lane, s0, s1, s2, s3, net, w, off, widths[1])
        u0, u1, u2, u3, du0, du1, du2, du3 = table_channels(c2, s0, s1, s2, s3, net, w, off, widths[1])
        return h0, h1, h2, h3, dh0, dh1, dh2, dh3, u0, u1, u2, u3, du0, du1, du2, du3
    zero = 0.0 * s0
    half = BATCH * wmax
    n_in = 1
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (net * nlayer + layer) * 3
        mo = off[base]
        bo = off[base + 1]
        io = off[base + 2]
        x_at = (layer % 2) * 2 * half       # layer ≥ 1 reads this buffer ...
        y_at = 2 * half - x_at              # ... and writes that one
        x_end = x_at + n_in * BATCH
        store = 1 if layer + 1 < nlayer else 0
        h0 = zero
        h1 = zero
        h2 = zero
        h3 = zero
        dh0 = zero
        dh1 = zero
        dh2 = zero
        dh3 = zero
        u0 = zero
        u1 = zero
        u2 = zero
        u3 = zero
        du0 = zero
        du1 = zero
        du2 = zero
        du3 = zero
        if lane < n_out:
            second = c2 < n_out
            cb = c2 if second else lane
            z0 = w[bo + lane]
            z1 = z0
            z2 = z0
            z3 = z0
            a0 = w[bo + cb]
            a1 = a0
            a2 = a0
            a3 = a0
            dz0 = zero
            dz1 = zero
            dz2 = zero
            dz3 = zero
            da0 = zero
            da1 = zero
            da2 = zero
            da3 = zero
            if layer == 0:
                wk = w[mo + lane]
                wb = w[mo + cb]
                z0 += s0 * wk
                z1 += s1 * wk
                z2 += s2 * wk
                z3 += s3 * wk
                a0 += s0 * wb
                a1 += s1 * wb
                a2 += s2 * wb
                a3 += s3 * wb
                dz0 = wk
                dz1 = wk
                dz2 = wk
                dz3 = wk
                da0 = wb
                da1 = wb
                da2 = wb
                da3 = wb
            elif n_out > nlane:
                # while loops over running indices: numba's range() left selects and a 64-bit multiply in
                # every unrolled step on CUDA (benchmarks/NOTES.md, session 9)
                wk_at = mo + lane
                wb_at = mo + cb
                xk = x_at
                if tangent != 0:
                    while xk < x_end:
                        wk = w[wk_at]
                        wb = w[wb_at]
                        x0 = sh_x[xk]
                        x1 = sh_x[xk + 1]
                        x2 = sh_x[xk + 2]
                        x3 = sh_x[xk + 3]
                        y0 = sh_x[half + xk]
                        y1 = sh_x[half + xk + 1]
                        y2 = sh_x[half + xk + 2]
                        y3 = sh_x[half + xk + 3]
                        z0 += x0 * wk
                        z1 += x1 * wk
                        z2 += x2 * wk
                        z3 += x3 * wk
                        a0 += x0 * wb
                        a1 += x1 * wb
                        a2 += x2 * wb
                        a3 += x3 * wb
                        dz0 += y0 * wk
                        dz1 += y1 * wk
                        dz2 += y2 * wk
                        dz3 += y3 * wk
                        da0 += y0 * wb
                        da1 += y1 * wb
                        da2 += y2 * wb
                        da3 += y3 * wb
                        wk_at += n_out
                        wb_at += n_out
                        xk += BATCH
                else:
                    while xk < x_end:
                        wk = w[wk_at]
                        wb = w[wb_at]
                        x0 = sh_x[xk]
                        x1 = sh_x[xk + 1]
                        x2 = sh_x[xk + 2]
                        x3 = sh_x[xk + 3]
                        z0 += x0 * wk
                        z1 += x1 * wk
                        z2 += x2 * wk
                        z3 += x3 * wk
                        a0 += x0 * wb
                        a1 += x1 * wb
                        a2 += x2 * wb
                        a3 += x3 * wb
                        wk_at += n_out
                        wb_at += n_out
                        xk += BATCH
            else:
                wk_at = mo + lane
                xk = x_at
                if tangent != 0:
                    while xk < x_end:
                        wk = w[wk_at]
                        z0 += sh_x[xk] * wk
                        z1 += sh_x[xk + 1] * wk
                        z2 += sh_x[xk + 2] * wk
                        z3 += sh_x[xk + 3] * wk
                        dz0 += sh_x[half + xk] * wk
                        dz1 += sh_x[half + xk + 1] * wk
                        dz2 += sh_x[half + xk + 2] * wk
                        dz3 += sh_x[half + xk + 3] * wk
                        wk_at += n_out
                        xk += BATCH
                else:
                    while xk < x_end:
                        wk = w[wk_at]
                        z0 += sh_x[xk] * wk
                        z1 += sh_x[xk + 1] * wk
                        z2 += sh_x[xk + 2] * wk
                        z3 += sh_x[xk + 3] * wk
                        wk_at += n_out
                        xk += BATCH
            h0, h1, h2, h3, dh0, dh1, dh2, dh3 = embedding_channel_out(
                lane, layer, n_in, n_out, io, w, act, act_arg, z0, z1, z2, z3, dz0, dz1, dz2, dz3, s0, s1, s2, s3,
                sh_x, x_at, y_at, half, tangent, store)
            if second:
                u0, u1, u2, u3, du0, du1, du2, du3 = embedding_channel_out(
                    c2, layer, n_in, n_out, io, w, act, act_arg, a0, a1, a2, a3, da0, da1, da2, da3, s0, s1, s2, s3,
                    sh_x, x_at, y_at, half, tangent, store)
        if store != 0:
            barrier(item)
        n_in = n_out
    return h0, h1, h2, h3, dh0, dh1, dh2, dh3, u0, u1, u2, u3, du0, du1, du2, du3


BODIES = (compact_live_slots, batch_env_rows, batch_barrier, embedding_channel_out, table_channels,
          group_embedding_batch)
