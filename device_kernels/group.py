"""Work-group helpers: lane sums (a tree, or partial sums of many terms at once), a prefix count,
and dense layers spread over the lanes of a group.

A work-group of ``nlane`` work-items (a CUDA thread block) cooperates on one atom; ``barrier``
is the backend's group barrier (device_kernels/primitives.py).  nlane is a power of two.
"""
from .layers import fitting_output
from .primitives import barrier


def group_reduce(item, lane, nlane, red, ncomp):
    """Sums red[c·nlane : (c+1)·nlane] into red[c·nlane] for c < ncomp (nlane a power of two)."""
    stride = nlane // 2
    while stride > 0:
        barrier(item)
        if lane < stride:
            for c in range(ncomp):
                red[c * nlane + lane] += red[c * nlane + lane + stride]
        stride //= 2
    barrier(item)


def group_prefix_count(item, lane, nlane, flag, buf):
    """(Σ of flag over the lanes before this one, Σ over all lanes), by Hillis–Steele steps between the
    two halves of buf (2·nlane values): log2(nlane) steps of one barrier each."""
    buf[lane] = flag
    barrier(item)
    src = 0
    offset = 1
    while offset < nlane:
        v = buf[src + lane]
        if lane >= offset:
            v += buf[src + lane - offset]
        dst = nlane - src
        buf[dst + lane] = v
        barrier(item)
        src = dst
        offset *= 2
    inclusive = int(buf[src + lane])
    total = int(buf[src + nlane - 1])
    barrier(item)       # every lane has read buf before the next call writes it
    return inclusive - flag, total


def group_partial_sums(item, lane, nlane, red, at, ncomp):
    """Partial sums over the lanes of ncomp terms, term c of lane l at red[at + c·(nlane + 1) + l]: part k
    of term c (lanes k·ncomp … (k+1)·ncomp − 1) lands at red[at + ncomp·(nlane + 1) + c·nparts + k], nparts =
    nlane // ncomp, which it returns (ncomp ≤ nlane, both powers of two).  Two barriers in all, where a
    tree costs one per halving; lane l sums part l // ncomp of term l mod ncomp, and the stride nlane + 1
    puts the terms a warp reads at once in different shared-memory banks."""
    stride = nlane + 1
    nparts = nlane // ncomp
    barrier(item)
    c = lane % ncomp
    part = lane // ncomp
    first = at + c * stride + part * ncomp
    acc = 0.0 * red[first]
    for t in range(ncomp):
        acc += red[first + t]
    red[at + ncomp * stride + c * nparts + part] = acc
    barrier(item)
    return nparts


def lane_element(q, width):
    """(row, column) of element q of a row-major matrix ``width`` wide: the one division of a loop
    that steps its elements by the lane count (next_element)."""
    row = q // width
    return row, q - row * width


def next_element(row, col, drow, dcol, width):
    """(row, column) after stepping by lane_element(step, width) = (drow, dcol), dcol < width."""
    col += dcol
    row += drow
    if col >= width:
        col -= width
        row += 1
    return row, col


def group_dense(item, lane, nlane, buf, x_at, n_in, y_at, dact, da, n_out, w, mo, bo, io, act, act_arg, residual,
                per_pass):
    """buf[y_at + o] = φ(x·W + b)[o]·idt (+ x[o] if residual) over lanes, x = buf[x_at:]; φ'·idt → dact.

    With per_pass = 2 a lane takes outputs o and o + nlane in one pass over the input: each x[k]
    read from local memory feeds two multiply-adds on two independent chains (a 120-wide layer on
    64 lanes is one pass instead of two dependent ones).  per_pass is compiled in (backends/launch.py:
    SPECIALISED); each output's sum keeps its order either way."""
    for o in range(lane, n_out, per_pass * nlane):
        o2 = o + nlane
        second = per_pass > 1 and o2 < n_out
        if not second:
            o2 = o
        z = w[bo + o]
        z2 = w[bo + o2]
        # a while loop over running indices: numba's range() left selects and a 64-bit multiply
        # in every unrolled step of this loop on CUDA (benchmarks/NOTES.md, session 9)
        xk = x_at
        wk = mo + o
        wk2 = mo + o2
        while xk < x_at + n_in:
            x = buf[xk]
            z += x * w[wk]
            if per_pass > 1:
                z2 += x * w[wk2]
            xk += 1
            wk += n_out
            wk2 += n_out
        fitting_output(z, o, w, io, act, act_arg, buf, y_at, dact, da, residual, x_at)
        if second:
            fitting_output(z2, o2, w, io, act, act_arg, buf, y_at, dact, da, residual, x_at)
    barrier(item)


def group_dense_backward(item, lane, nlane, buf, g_at, n_out, gin_at, n_in, dact, da, wt, mo, residual, per_pass):
    """buf[gin_at + k] = Σ_o g[o]·dact[o]·W[k, o] (+ g[k] if residual), g = buf[g_at:], over lanes,
    reading the transposed matrix wt[mo + o·n_in + k] = W[k, o] (packed at fit_w's offsets), so that
    neighbouring lanes read neighbouring weights: one coalesced load on a GPU, one vector load on a
    CPU, where W itself would be n_in·8 bytes apart lane to lane.  With per_pass = 2 a lane takes
    inputs k and k + nlane in one pass over the outputs (as group_dense); each sum keeps its order."""
    for k in range(lane, n_in, per_pass * nlane):
        k2 = k + nlane
        second = per_pass > 1 and k2 < n_in
        if not second:
            k2 = k
        acc = 0.0 * buf[g_at]
        acc2 = 0.0 * buf[g_at]
        go_at = g_at
        wo = mo + k
        wo2 = mo + k2
        while go_at < g_at + n_out:
            go = buf[go_at] * dact[da + go_at - g_at]
            acc += go * wt[wo]
            if per_pass > 1:
                acc2 += go * wt[wo2]
            go_at += 1
            wo += n_in
            wo2 += n_in
        if residual:
            acc += buf[g_at + k]
            acc2 += buf[g_at + k2]
        buf[gin_at + k] = acc
        if second:
            buf[gin_at + k2] = acc2
    barrier(item)


BODIES = (lane_element, next_element, group_reduce, group_prefix_count, group_partial_sums, group_dense,
          group_dense_backward)
