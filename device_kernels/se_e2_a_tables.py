"""se_e2_a's two pair passes for compressed models on CPU devices, as work-groups of one vector.

The sums of se_e2_a.py's descriptor_chunk and pair_gradient_chunk (see its docstring), with G read from
the tables of ``dp compress`` (layers.py: table_locate):

    T_i·nnei = Σ_j R_ij ⊗ G(s_ij)
    ∂E/∂R_ij[a] = Σ_m ∂E/∂T_i[a, m]·G_m + [a = 0]·Σ_m (Σ_b R_ij[b] ∂E/∂T_i[b, m])·G'_m

In the chunk kernels each of a vector's 16 lanes is an atom at its own table interval, so every
coefficient of every channel is a gather (≈ 20 of the ≈ 80 ms of a 2,048-atom compressed evaluation on a
Zen 4, benchmarks/NOTES.md, session 14).  Here a work-group of nlane lanes takes nlane (atom, chunk)
work-items, and every round of SLOTS slots runs in phases:

  1. each lane for its own atom (vectorised over the atoms, as in the chunk kernels): the slot's
     environment row, whether it is live, its table interval and offset, into group-local memory;
  2. atom by atom, the lanes over the channels: the coefficients of the atom's SLOTS slots, contiguous in
     a channel-minor copy of the tables (coefficient k of channel m at interval + k·M + m), into T
     (descriptor pass) or into each lane's share of the pairs' sums over its channels (gradient pass),
     the slots' independent quintics side by side; a dead slot is a zero row (R = 0 at the net's
     first interval), whose terms add exactly nothing;
  3. gradient pass: each lane sums its own pairs' shares and writes g_ij.

The descriptor pass walks a species block of its slots only up to the block's first -1 (the lists put -1 only
at a block's end, so the rest are empty slots, counted unread), skips the rounds that no lane needs, and lists
each work-item's live slots; the gradient pass walks only those, up to the
largest count of its group's lanes, in rounds of SLOTS (a uniform loop: the chunk kernels walking a
per-lane count measured 43–52% slower, benchmarks/NOTES.md, session 15).

A block's empty slots are counted per lane and added at the end, n_empty·R_pad ⊗ G(R_pad), after all
live slots (the chunk kernel adds them block by block: the sums differ in rounding only).
"""
from .environment import chunk_slots, live_slot, normalised_env_row
from .layers import TABLE_HEAD, quintic, quintic_slope, table_locate
from .primitives import barrier

#: slots per lane and round (a round: two barriers in the descriptor pass, three in the gradient pass),
#: a multiple of 4: the descriptor pass takes them four at a time, the gradient pass two at a time (its ten
#: sums per two slots fill the registers).  8 measured faster than 4 or 16 (benchmarks/NOTES.md, session 15)
SLOTS = 8
#: values per slot in the local rows: live, R[0:4], its interval's offset in its net's block, the net, t,
#: beyond; value v of slot q of lane l at (q·values + v)·nlane + l (stores contiguous over the lanes)
PAIR = 9
#: values per slot in the gradient pass's local rows: PAIR's, then ∂R̃/∂r (12) and the species block
PAIR_GRAD = 22
#: the gradient pass's per-pair sums over the channels: ∂E/∂s through G', then ∂E/∂R[a] through G
SUMS = 5


def slot_species(jj, sel_off, ntypes):
    """The neighbour species whose block of a row holds slot jj."""
    tj = 0
    for t in range(1, ntypes):
        if jj >= sel_off[t]:
            tj = t
    return tj


def lane_slots(g, lane, nlane, nwork, nchunk, chunk_len, nnei):
    """(atom, first slot, end slot) of the work-item of lane ``lane`` in work-group g; no slots past nwork."""
    w = g * nlane + lane
    if w < nwork:
        return chunk_slots(w, nchunk, chunk_len, nnei)
    return 0, 0, 0


def dead_slot(sh, at, nlane, zero):
    """The zero row of a slot past its lane's chunk (table_slot's row of a dead slot): R = 0 at the first
    interval of net 0, whose terms add exactly nothing."""
    for v in range(PAIR):
        sh[at + v * nlane] = zero
    sh[at + 5 * nlane] = TABLE_HEAD + zero


def table_slot(i, ti, jj, nlist, nshift, nnei, pos, cell, sel_off, ntypes, rcut, rcut_smth, blk_avg, blk_std,
               one_side, excluded, emb_w, emb_off, m_width, row, sh, at, nlane):
    """Slot jj of atom i (centre species ti) into the local row whose value v is sh[at + v·nlane] (PAIR
    values; the interval's offset in its net's block and the net travel as small integers, exact in
    float32 too); row keeps the full environment row.  Returns (state, tj): state 1 live, 0 an empty
    slot of a counted block, −1 an excluded block's slot."""
    tj = slot_species(jj, sel_off, ntypes)
    p = ti * ntypes + tj
    state = -1
    zero = 0.0 * pos[0]
    r0 = zero
    r1 = zero
    r2 = zero
    r3 = zero
    offset = TABLE_HEAD + zero
    net = zero
    t = zero
    beyond = zero
    if excluded[p] == 0:
        state = 0
        live, rx, ry, rz = live_slot(i, jj, nlist, nshift, nnei, pos, cell, rcut)
        if live:
            state = 1
            normalised_env_row(rx, ry, rz, rcut, rcut_smth, blk_avg, blk_std, p, row)
            k = tj if one_side != 0 else p
            trow, t, beyond = table_locate(row[0], k, emb_w, emb_off, m_width)
            r0 = row[0]
            r1 = row[1]
            r2 = row[2]
            r3 = row[3]
            offset = (trow - emb_off[3 * k]) + zero
            net = k + zero
    sh[at] = state + zero if state > 0 else zero
    sh[at + nlane] = r0
    sh[at + 2 * nlane] = r1
    sh[at + 3 * nlane] = r2
    sh[at + 4 * nlane] = r3
    sh[at + 5 * nlane] = offset
    sh[at + 6 * nlane] = net
    sh[at + 7 * nlane] = t
    sh[at + 8 * nlane] = beyond
    return state, tj


def slot_start(sh, at, nlane, emb_off):
    """Where the interval of the slot whose local row starts at sh[at] begins in the tables."""
    return emb_off[3 * int(sh[at + 6 * nlane])] + int(sh[at + 5 * nlane])


def slot_g(tab, a, m_width, t, beyond, slopes):
    """G_c of a slot (its coefficients from tab[a], channel-minor), continued beyond the table when slopes."""
    g = quintic(tab, a, m_width, t)
    if slopes:
        g += quintic_slope(tab, a, m_width, t) * beyond
    return g


def four_slots_into_t(tab, emb_off, sh_pair, x0, qs, nlane, lane, m_width, sh_t, tb):
    """T·nnei of one lane's atom (sh_t[tb:]) += the terms of its four slots whose local rows start at sh_pair[x0],
    sh_pair[x0 + qs], ... (their channels over the lanes; dead slots are zero rows)."""
    if sh_pair[x0] + sh_pair[x0 + qs] + sh_pair[x0 + 2 * qs] + sh_pair[x0 + 3 * qs] != 0.0:
        a0 = slot_start(sh_pair, x0, nlane, emb_off)
        a1 = slot_start(sh_pair, x0 + qs, nlane, emb_off)
        a2 = slot_start(sh_pair, x0 + 2 * qs, nlane, emb_off)
        a3 = slot_start(sh_pair, x0 + 3 * qs, nlane, emb_off)
        t0 = sh_pair[x0 + 7 * nlane]
        t1 = sh_pair[x0 + qs + 7 * nlane]
        t2 = sh_pair[x0 + 2 * qs + 7 * nlane]
        t3 = sh_pair[x0 + 3 * qs + 7 * nlane]
        b0 = sh_pair[x0 + 8 * nlane]
        b1 = sh_pair[x0 + qs + 8 * nlane]
        b2 = sh_pair[x0 + 2 * qs + 8 * nlane]
        b3 = sh_pair[x0 + 3 * qs + 8 * nlane]
        slopes = b0 != 0.0 or b1 != 0.0 or b2 != 0.0 or b3 != 0.0
        for c0 in range(0, m_width, nlane):
            c = c0 + lane
            if c < m_width:
                g0 = slot_g(tab, a0 + c, m_width, t0, b0, slopes)
                g1 = slot_g(tab, a1 + c, m_width, t1, b1, slopes)
                g2 = slot_g(tab, a2 + c, m_width, t2, b2, slopes)
                g3 = slot_g(tab, a3 + c, m_width, t3, b3, slopes)
                for a in range(4):
                    acc = sh_t[tb + a * m_width + c]
                    acc += sh_pair[x0 + (a + 1) * nlane] * g0
                    acc += sh_pair[x0 + qs + (a + 1) * nlane] * g1
                    acc += sh_pair[x0 + 2 * qs + (a + 1) * nlane] * g2
                    acc += sh_pair[x0 + 3 * qs + (a + 1) * nlane] * g3
                    sh_t[tb + a * m_width + c] = acc


def descriptor_tables_group(item, g, lane, nlane, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, nwork,
                            sel_off, ntypes, rcut, rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off,
                            emb_widths, tab_minor, pad_g, t_part, live_list, live_count, sh_pair, sh_t, sh_empty, row):
    """t_part of work-items g·nlane … g·nlane + nlane − 1 (descriptor_chunk's sums).  Local arrays: sh_pair
    the round's slot rows, sh_t the lanes' T·nnei (4·M each), sh_empty the lanes' empty-slot counts (species
    tj of lane l at tj·nlane + l), then the lanes' next slots: (ntypes + 1)·nlane values."""
    m_width = emb_widths[1]
    tw = 4 * m_width
    zero = 0.0 * pos[0]
    i, lo, hi = lane_slots(g, lane, nlane, nwork, nchunk, chunk_len, nnei)
    ti = atype[i]
    for k in range(lane * tw, (lane + 1) * tw):
        sh_t[k] = zero
    for tj in range(ntypes):
        sh_empty[tj * nlane + lane] = zero
    qs = PAIR * nlane
    w = g * nlane + lane
    nlive = 0
    # neighbour lists hold -1 only at the end of a species block (neighbors.py, device_kernels/neighbors.py):
    # from a lane's first -1 in a block on, the rest of that block is empty, counted without being read, and
    # rounds in which no lane can meet a live slot are skipped (sh_empty[nx + l]: lane l's next slot that may
    # be live, relative to its chunk's start)
    dead_block = -1
    nx = ntypes * nlane
    s0 = 0
    while s0 < chunk_len:
        for q in range(SLOTS):
            at = q * qs + lane
            jj = lo + s0 + q
            state = -1
            tj = 0
            if jj < hi:
                tj = slot_species(jj, sel_off, ntypes)
                if tj == dead_block:
                    state = 0
                    dead_slot(sh_pair, at, nlane, zero)
                else:
                    state, tj = table_slot(i, ti, jj, nlist, nshift, nnei, pos, cell, sel_off, ntypes, rcut,
                                           rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off, m_width,
                                           row, sh_pair, at, nlane)
                    if state == 1:
                        live_list[w * chunk_len + nlive] = jj
                        nlive += 1
                    elif state == 0 and nlist[i * nnei + jj] < 0:
                        dead_block = tj
            else:
                dead_slot(sh_pair, at, nlane, zero)
            if state == 0:
                sh_empty[tj * nlane + lane] += 1.0
        nxt = s0 + SLOTS
        if lo + nxt < hi and dead_block >= 0 and slot_species(lo + nxt, sel_off, ntypes) == dead_block:
            nxt = sel_off[dead_block + 1] - lo          # sel_off[ntypes] is nnei
        if lo + nxt >= hi:
            nxt = chunk_len
        sh_empty[nx + lane] = nxt + zero
        barrier(item)
        for p in range(nlane):
            for q0 in range(0, SLOTS, 4):
                four_slots_into_t(tab_minor, emb_off, sh_pair, q0 * qs + p, qs, nlane, lane, m_width, sh_t, p * tw)
        s_next = chunk_len
        for p in range(nlane):
            if sh_empty[nx + p] < s_next:
                s_next = int(sh_empty[nx + p])
        # this lane's slots that the group skips lie in its dead block
        skip_end = lo + s_next if lo + s_next < hi else hi
        if skip_end > lo + s0 + SLOTS:
            sh_empty[dead_block * nlane + lane] += skip_end - (lo + s0 + SLOTS)
        barrier(item)
        s0 = s_next
    if w < nwork:
        live_count[w] = nlive
    # the empty slots of each lane's blocks, then the lanes' T to t_part, the lanes over the channels
    for p in range(nlane):
        wp = g * nlane + p
        if wp < nwork:
            tb = p * tw
            tp = atype[wp // nchunk]
            for tj in range(ntypes):
                n_empty = sh_empty[tj * nlane + p]
                if n_empty > 0.0:
                    blk = tp * ntypes + tj
                    r0 = n_empty * (-blk_avg[4 * blk] / blk_std[4 * blk])
                    r1 = n_empty * (-blk_avg[4 * blk + 1] / blk_std[4 * blk + 1])
                    r2 = n_empty * (-blk_avg[4 * blk + 2] / blk_std[4 * blk + 2])
                    r3 = n_empty * (-blk_avg[4 * blk + 3] / blk_std[4 * blk + 3])
                    for c0 in range(0, m_width, nlane):
                        c = c0 + lane
                        if c < m_width:
                            gp = pad_g[blk * m_width + c]
                            sh_t[tb + c] += r0 * gp
                            sh_t[tb + m_width + c] += r1 * gp
                            sh_t[tb + 2 * m_width + c] += r2 * gp
                            sh_t[tb + 3 * m_width + c] += r3 * gp
    barrier(item)
    for p in range(nlane):
        wp = g * nlane + p
        if wp < nwork:
            for c0 in range(0, tw, nlane):
                c = c0 + lane
                if c < tw:
                    t_part[wp * tw + c] = sh_t[p * tw + c]


def two_slot_sums(tab, emb_off, sh_pair, qa, qs, p, nlane, lane, m_width, dt_mat, db, sh_sum, sb):
    """Lane's share (its channels) of the SUMS sums of slots qa and qa + 1 of lane p into sh_sum[sb:]
    (sum v of slot q at sb + (q·SUMS + v)·nlane): two slots at a time keep the accumulators in registers."""
    zero = 0.0 * sh_pair[0]
    xa = qa * qs + p
    xb = xa + qs
    aa = slot_start(sh_pair, xa, nlane, emb_off)
    ab = slot_start(sh_pair, xb, nlane, emb_off)
    ta = sh_pair[xa + 7 * nlane]
    tb = sh_pair[xb + 7 * nlane]
    ba = sh_pair[xa + 8 * nlane]
    bb = sh_pair[xb + 8 * nlane]
    slopes = ba != 0.0 or bb != 0.0
    ra0 = sh_pair[xa + nlane]
    ra1 = sh_pair[xa + 2 * nlane]
    ra2 = sh_pair[xa + 3 * nlane]
    ra3 = sh_pair[xa + 4 * nlane]
    rb0 = sh_pair[xb + nlane]
    rb1 = sh_pair[xb + 2 * nlane]
    rb2 = sh_pair[xb + 3 * nlane]
    rb3 = sh_pair[xb + 4 * nlane]
    sa = zero
    sa0 = zero
    sa1 = zero
    sa2 = zero
    sa3 = zero
    sb_ = zero
    sb0 = zero
    sb1 = zero
    sb2 = zero
    sb3 = zero
    for c0 in range(0, m_width, nlane):
        c = c0 + lane
        if c < m_width:
            d0 = dt_mat[db + c]
            d1 = dt_mat[db + m_width + c]
            d2 = dt_mat[db + 2 * m_width + c]
            d3 = dt_mat[db + 3 * m_width + c]
            dga = quintic_slope(tab, aa + c, m_width, ta)
            dgb = quintic_slope(tab, ab + c, m_width, tb)
            ga = quintic(tab, aa + c, m_width, ta)
            gb = quintic(tab, ab + c, m_width, tb)
            if slopes:
                ga += dga * ba
                gb += dgb * bb
            sa += (ra0 * d0 + ra1 * d1 + ra2 * d2 + ra3 * d3) * dga
            sb_ += (rb0 * d0 + rb1 * d1 + rb2 * d2 + rb3 * d3) * dgb
            sa0 += d0 * ga
            sa1 += d1 * ga
            sa2 += d2 * ga
            sa3 += d3 * ga
            sb0 += d0 * gb
            sb1 += d1 * gb
            sb2 += d2 * gb
            sb3 += d3 * gb
    at = sb + qa * SUMS * nlane + lane
    sh_sum[at] = sa
    sh_sum[at + nlane] = sa0
    sh_sum[at + 2 * nlane] = sa1
    sh_sum[at + 3 * nlane] = sa2
    sh_sum[at + 4 * nlane] = sa3
    at += SUMS * nlane
    sh_sum[at] = sb_
    sh_sum[at + nlane] = sb0
    sh_sum[at + 2 * nlane] = sb1
    sh_sum[at + 3 * nlane] = sb2
    sh_sum[at + 4 * nlane] = sb3


def pair_gradient_tables_group(item, g, lane, nlane, pos, cell, atype, nlist, nshift, nnei, nchunk, chunk_len, nwork,
                               sel_off, ntypes, rcut, rcut_smth, blk_avg, blk_std, one_side, excluded, emb_w, emb_off,
                               emb_widths, tab_minor, live_list, live_count, dt_mat, pair_grad, sh_pair, sh_sum,
                               row):
    """g_ij of the slots of work-items g·nlane … (pair_gradient_chunk's sums; zero for empty slots and
    excluded pairs).  Local arrays: sh_pair the round's slot rows (PAIR_GRAD values each), sh_sum lane l's
    share of sum v of slot q of lane p at ((p·SLOTS + q)·SUMS + v)·nlane + l."""
    m_width = emb_widths[1]
    tw = 4 * m_width
    zero = 0.0 * pos[0]
    i, lo, hi = lane_slots(g, lane, nlane, nwork, nchunk, chunk_len, nnei)
    ti = atype[i]
    qs = PAIR_GRAD * nlane
    # the live slots the descriptor pass listed, in slot order (every other slot's gradient is zero); the
    # group walks them up to its lanes' largest count
    w = g * nlane + lane
    nlive = 0
    if w < nwork:
        nlive = live_count[w]
    for jj in range(lo, hi):
        pg = 3 * (i * nnei + jj)
        pair_grad[pg] = zero
        pair_grad[pg + 1] = zero
        pair_grad[pg + 2] = zero
    sh_sum[lane] = nlive + zero
    barrier(item)
    rounds = 0
    for p in range(nlane):
        if sh_sum[p] > rounds:
            rounds = int(sh_sum[p])
    barrier(item)
    for s0 in range(0, rounds, SLOTS):
        for q in range(SLOTS):
            at = q * qs + lane
            sh_pair[at] = zero
            if s0 + q < nlive:
                jj = live_list[w * chunk_len + s0 + q]
                state, tj = table_slot(i, ti, jj, nlist, nshift, nnei, pos, cell, sel_off, ntypes, rcut, rcut_smth,
                                       blk_avg, blk_std, one_side, excluded, emb_w, emb_off, m_width, row, sh_pair,
                                       at, nlane)
                if state == 1:
                    for v in range(12):
                        sh_pair[at + (PAIR + v) * nlane] = row[4 + v]
                    sh_pair[at + (PAIR + 12) * nlane] = ti * ntypes + tj + zero
            else:
                dead_slot(sh_pair, at, nlane, zero)
        barrier(item)
        for p in range(nlane):
            db = ((g * nlane + p) // nchunk) * tw
            sb = p * SLOTS * SUMS * nlane
            for q0 in range(0, SLOTS, 2):
                if sh_pair[q0 * qs + p] + sh_pair[(q0 + 1) * qs + p] != 0.0:
                    two_slot_sums(tab_minor, emb_off, sh_pair, q0, qs, p, nlane, lane, m_width, dt_mat, db, sh_sum,
                                  sb)
        barrier(item)
        for q in range(SLOTS):
            at = q * qs + lane
            if sh_pair[at] != 0.0:
                sb = (lane * SLOTS + q) * SUMS * nlane
                de_ds = zero
                dr0 = zero
                dr1 = zero
                dr2 = zero
                dr3 = zero
                for l in range(nlane):
                    de_ds += sh_sum[sb + l]
                    dr0 += sh_sum[sb + nlane + l]
                    dr1 += sh_sum[sb + 2 * nlane + l]
                    dr2 += sh_sum[sb + 3 * nlane + l]
                    dr3 += sh_sum[sb + 4 * nlane + l]
                blk = int(sh_pair[at + (PAIR + 12) * nlane])
                dr0 = (dr0 + de_ds) / blk_std[4 * blk]
                dr1 = dr1 / blk_std[4 * blk + 1]
                dr2 = dr2 / blk_std[4 * blk + 2]
                dr3 = dr3 / blk_std[4 * blk + 3]
                d = at + PAIR * nlane
                pg = 3 * (i * nnei + live_list[w * chunk_len + s0 + q])
                for x in range(3):
                    pair_grad[pg + x] = (dr0 * sh_pair[d + x * nlane] + dr1 * sh_pair[d + (3 + x) * nlane]
                                         + dr2 * sh_pair[d + (6 + x) * nlane] + dr3 * sh_pair[d + (9 + x) * nlane])
        barrier(item)


BODIES = (slot_species, lane_slots, dead_slot, table_slot, slot_start, slot_g, four_slots_into_t,
          descriptor_tables_group, two_slot_sums, pair_gradient_tables_group)
