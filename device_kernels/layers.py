"""Dense layers of DeePMD-kit's networks, and the rule of which layers carry a skip connection.

Layer l maps x → h = φ(x W + b), scaled by ``idt`` where the model was trained with resnet_dt.

* Embedding nets (input width 1): a layer whose width stays adds x (h·idt + x), one whose width
  doubles adds (x, x); other layers have no skip.  ``idt`` applies only to skip layers.
* Fitting nets: every hidden layer is scaled by ``idt``; a hidden layer after the first whose
  width stays adds x; the last layer is linear with one output.

``embedding_skip`` and ``fitting_residual`` are the single statement of that rule: the kernel
bodies below, the work-group kernels and the NumPy reference (dpsycl/networks.py) all call them.
Weights of all nets of one kind sit in one flat array; ``off[(net·nlayer + layer)·3 + {0,1,2}]``
is where layer ``layer`` of net ``net`` keeps its matrix (row-major, n_in × n_out), bias and
idt (−1: no idt).
"""
from .activations import activation, pair_activation

#: activation code of an embedding pack holding tables (dp compress) instead of layers
TABULATED = -1
#: values before a table's coefficients in its net's block (table_locate lists them)
TABLE_HEAD = 9


def embedding_skip(n_in, n_out):
    """0: no skip; 1: identity skip (width stays); 2: duplicated-input skip (width doubles)."""
    if n_out == n_in:
        return 1
    if n_out == 2 * n_in:
        return 2
    return 0


def fitting_residual(layer, n_in, n_out):
    """Whether hidden layer ``layer`` of a fitting net adds its input to its output."""
    return layer >= 1 and n_out == n_in


def dense_block(x, x_at, dx_at, n_in, w, mo, bo, n_out, o, tangent):
    """Pre-activations z of outputs o … o+3 of a layer, z[o] = b[o] + Σ_k x[x_at+k]·W[k, o], and, if
    tangent, their derivatives Σ_k x[dx_at+k]·W[k, o] along the tangent stored beside the inputs, in
    one pass over the input: each x[k] read feeds four independent multiply-add chains, where one
    output per pass waits on its add's latency at every k (NOTES.md, session 13).  Each sum keeps the
    order of k.  Outputs past n_out repeat output o; the caller does not store them."""
    o1 = o + 1 if o + 1 < n_out else o
    o2 = o + 2 if o + 2 < n_out else o
    o3 = o + 3 if o + 3 < n_out else o
    z0 = w[bo + o]
    z1 = w[bo + o1]
    z2 = w[bo + o2]
    z3 = w[bo + o3]
    d0 = 0.0 * z0
    d1 = 0.0 * z0
    d2 = 0.0 * z0
    d3 = 0.0 * z0
    if tangent != 0:
        for k in range(n_in):
            row = mo + k * n_out
            w0 = w[row + o]
            w1 = w[row + o1]
            w2 = w[row + o2]
            w3 = w[row + o3]
            xk = x[x_at + k]
            dk = x[dx_at + k]
            z0 += xk * w0
            z1 += xk * w1
            z2 += xk * w2
            z3 += xk * w3
            d0 += dk * w0
            d1 += dk * w1
            d2 += dk * w2
            d3 += dk * w3
    else:
        for k in range(n_in):
            row = mo + k * n_out
            xk = x[x_at + k]
            z0 += xk * w[row + o]
            z1 += xk * w[row + o1]
            z2 += xk * w[row + o2]
            z3 += xk * w[row + o3]
    return z0, z1, z2, z3, d0, d1, d2, d3


def activate_into(buf, wmax, o, act, act_arg, z, dz):
    """h = φ(z) into buf[2·wmax + o] and the tangent φ'(z)·dz into buf[3·wmax + o]."""
    h, dh = pair_activation(act, z, act_arg)
    buf[2 * wmax + o] = h
    buf[3 * wmax + o] = dh * dz


def table_interval(x, w, at):
    """Where x falls in the quintic table of a compressed net whose block starts at w[at] (dpsycl/descriptors/
    tables.py: C¹ continuation outside the table): (its interval, the offset in the interval, the distance beyond
    the table).  The block: lower, upper, upper_extrapolate, stride1, stride2, the interval starting at upper,
    the last interval (tables.py: last_interval), the table's start (bottom: lower, or −upper_extrapolate for
    se_e3's signed input), the intervals below lower, then the coefficients (nspline, 6·M)."""
    lower = w[at]
    upper = w[at + 1]
    top = w[at + 2]
    n_upper = int(w[at + 5])
    bottom = w[at + 7]
    n_low = int(w[at + 8])
    beyond = 0.0 * x
    if x < bottom:
        idx = 0
        t = 0.0 * x
        beyond = x - bottom
    elif x < lower:
        idx = int((x - bottom) / w[at + 4])
        t = x - (idx * w[at + 4] + bottom)
    elif x < upper:
        idx = n_low + int((x - lower) / w[at + 3])
        t = x - ((idx - n_low) * w[at + 3] + lower)
    elif x < top:
        idx = n_upper + int((x - upper) / w[at + 4])
        if idx > int(w[at + 6]):    # the last interval continues where a table is one short (se_e3's)
            idx = int(w[at + 6])
        t = x - ((idx - n_upper) * w[at + 4] + upper)
    else:
        idx = int(w[at + 6])
        t = top - ((idx - n_upper) * w[at + 4] + upper)
        beyond = x - top
    return idx, t, beyond


def table_row(net, off, idx, m_width):
    """Where in w the coefficients of interval idx of net ``net``'s table start (off[3·net]: its block)."""
    return off[3 * net] + TABLE_HEAD + idx * 6 * m_width


def table_locate(x, net, w, off, m_width):
    """(start in w of the coefficients of x's interval, offset in the interval, distance beyond the table)
    in the table of net ``net`` (table_interval, table_row)."""
    idx, t, beyond = table_interval(x, w, off[3 * net])
    return table_row(net, off, idx, m_width), t, beyond


def quintic(w, a, step, t):
    """Σ_k c_k t^k with c_k = w[a + k·step], k = 0 … 5 (Horner, as DeePMD-kit): one channel of a table
    interval, its coefficients side by side (step 1) or, in the CPU's channel-minor copy, M apart."""
    return w[a] + (w[a + step] + (w[a + 2 * step] + (w[a + 3 * step] + (w[a + 4 * step] + w[a + 5 * step] * t) * t)
                                  * t) * t) * t


def quintic_slope(w, a, step, t):
    """d/dt of quintic(w, a, step, t)."""
    return w[a + step] + (2.0 * w[a + 2 * step] + (3.0 * w[a + 3 * step] + (4.0 * w[a + 4 * step]
                                                                            + 5.0 * w[a + 5 * step] * t) * t) * t) * t


def table_value(w, row, m, t):
    """Channel m of G inside the table, from the interval's coefficients at ``row``."""
    return quintic(w, row + 6 * m, 1, t)


def channel_and_slope(w, a, step, t, beyond):
    """One channel of G and dG/dx, continued beyond the table, from its coefficients c_k = w[a + k·step]."""
    value = quintic(w, a, step, t)
    slope = quintic_slope(w, a, step, t)
    return value + slope * beyond, slope


def table_channel(w, row, m, t, beyond):
    """Channel m of G and dG/dx from the interval's coefficients at ``row``."""
    return channel_and_slope(w, row + 6 * m, 1, t, beyond)


def table_channel_minor(w, row, m, m_width, t, beyond):
    """table_channel from the channel-minor copy (coefficient k of channel m at row + k·M + m): the same sums;
    lanes over m read neighbouring values, where the channel-major rows put them 6 values apart (a warp's
    load of one coefficient spans six times the cache lines)."""
    return channel_and_slope(w, row + m, m_width, t, beyond)


def table_forward(x, net, w, off, m_width, buf, wmax, tangent):
    """G(x) into buf[0:M] and dG/dx into buf[wmax:wmax+M] from the table of a compressed net; without
    tangent, inside the table, G alone (the slope is only needed there for the tangent)."""
    row, t, beyond = table_locate(x, net, w, off, m_width)
    if tangent != 0 or beyond != 0.0:
        for m in range(m_width):
            g, dg = table_channel(w, row, m, t, beyond)
            buf[m] = g
            buf[wmax + m] = dg
    else:
        for m in range(m_width):
            buf[m] = table_value(w, row, m, t)


def embedding_forward(s, net, w, off, widths, nlayer, act, act_arg, buf, wmax, tangent):
    """G(s) into buf[0:M] and, if tangent, dG/ds into buf[wmax:wmax+M] (forward mode); a
    compressed model's pack (act == TABULATED) reads G from its table instead."""
    if act == TABULATED:
        table_forward(s, net, w, off, widths[1], buf, wmax, tangent)
        return
    buf[0] = s
    buf[wmax] = 1.0 + 0.0 * s
    n_in = 1
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (net * nlayer + layer) * 3
        mo = off[base]
        bo = off[base + 1]
        io = off[base + 2]
        for o in range(0, n_out, 4):
            z0, z1, z2, z3, d0, d1, d2, d3 = dense_block(buf, 0, wmax, n_in, w, mo, bo, n_out, o, tangent)
            activate_into(buf, wmax, o, act, act_arg, z0, d0)
            if o + 1 < n_out:
                activate_into(buf, wmax, o + 1, act, act_arg, z1, d1)
            if o + 2 < n_out:
                activate_into(buf, wmax, o + 2, act, act_arg, z2, d2)
            if o + 3 < n_out:
                activate_into(buf, wmax, o + 3, act, act_arg, z3, d3)
        skip = embedding_skip(n_in, n_out)
        # descending o: the skip reads x[o mod n_in] <= o before x[o] is overwritten; o < 2·n_in
        # wherever there is a skip, so o mod n_in is one subtraction (a division per output was
        # an integer divide per output on a CPU: NOTES.md, session 13)
        for oo in range(n_out):
            o = n_out - 1 - oo
            h = buf[2 * wmax + o]
            dh = buf[3 * wmax + o]
            if skip > 0:
                if io >= 0:
                    h *= w[io + o]
                    dh *= w[io + o]
                src = o - n_in if o >= n_in else o
                h += buf[src]
                dh += buf[wmax + src]
            buf[o] = h
            buf[wmax + o] = dh
        n_in = n_out


def append_parameters(i, buf, at, fparam, nfp, aparam, nap):
    """The fitting net's inputs after D_i, from buf[at] on: the frame's parameters, then atom i's
    (both already normalised)."""
    for k in range(nfp):
        buf[at + k] = fparam[k]
    for k in range(nap):
        buf[at + nfp + k] = aparam[i * nap + k]


def fitting_energy(y, ti, bias_e, out_std, out_bias):
    """E_i from the fitting net's output y for species ti: (y + bias_atom_e)·std + mean, DeePMD-kit's
    output scaling; every fitting kernel stores its energies through it."""
    return (y + bias_e[ti]) * out_std[ti] + out_bias[ti]


def fitting_output(zz, o, w, io, act, act_arg, buf, at, dact, da, residual, x_at):
    """Output o of a hidden fitting layer from its pre-activation zz: φ(zz)·idt (+ x[o] = buf[x_at+o]
    if residual) into buf[at+o], φ'(zz)·idt into dact[da+o]."""
    h, dh = activation(act, zz, act_arg)
    if io >= 0:
        h *= w[io + o]
        dh *= w[io + o]
    if residual:
        h += buf[x_at + o]
    buf[at + o] = h
    dact[da + o] = dh


def fitting_layer_forward(buf, n_in, w, mo, bo, io, n_out, act, act_arg, wmax, dact, da):
    """One hidden layer, input buf[0:n_in] → φ(x W + b)·idt into buf[wmax:] (fitting_output).
    Eight outputs per pass over the input: one load of x_k feeds eight multiply-adds on eight
    independent add chains (one chain per output waits on the adder's latency); each output still
    sums over k in ascending order from its bias, so the result is the one-output-at-a-time sum."""
    for blk in range(n_out // 8):
        o = 8 * blk
        z0 = w[bo + o]
        z1 = w[bo + o + 1]
        z2 = w[bo + o + 2]
        z3 = w[bo + o + 3]
        z4 = w[bo + o + 4]
        z5 = w[bo + o + 5]
        z6 = w[bo + o + 6]
        z7 = w[bo + o + 7]
        for k in range(n_in):
            x = buf[k]
            at = mo + k * n_out + o
            z0 += x * w[at]
            z1 += x * w[at + 1]
            z2 += x * w[at + 2]
            z3 += x * w[at + 3]
            z4 += x * w[at + 4]
            z5 += x * w[at + 5]
            z6 += x * w[at + 6]
            z7 += x * w[at + 7]
        fitting_output(z0, o, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z1, o + 1, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z2, o + 2, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z3, o + 3, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z4, o + 4, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z5, o + 5, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z6, o + 6, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
        fitting_output(z7, o + 7, w, io, act, act_arg, buf, wmax, dact, da, False, 0)
    for o in range(n_out - n_out % 8, n_out):
        zz = w[bo + o]
        for k in range(n_in):
            zz += buf[k] * w[mo + k * n_out + o]
        fitting_output(zz, o, w, io, act, act_arg, buf, wmax, dact, da, False, 0)


def fitting_layer_backward(buf, n_prev, w, mo, n_out, dact, da, wmax):
    """∂y/∂x_k = Σ_o ∂y/∂h_o · φ'_o · W[k, o] into buf[wmax+k] for the layer's input x, from
    ∂y/∂h in buf[0:n_out]; dact[da:da+n_out] is overwritten with ∂y/∂h_o · φ'_o.  Eight inputs k
    per pass over o (one load of that product feeds eight multiply-adds on eight chains), each
    summed over o in ascending order as one k at a time would be."""
    for o in range(n_out):
        dact[da + o] = buf[o] * dact[da + o]
    for blk in range(n_prev // 8):
        k = 8 * blk
        r0 = mo + k * n_out
        a0 = 0.0 * buf[0]
        a1 = 0.0 * buf[0]
        a2 = 0.0 * buf[0]
        a3 = 0.0 * buf[0]
        a4 = 0.0 * buf[0]
        a5 = 0.0 * buf[0]
        a6 = 0.0 * buf[0]
        a7 = 0.0 * buf[0]
        for o in range(n_out):
            g = dact[da + o]
            a0 += g * w[r0 + o]
            a1 += g * w[r0 + n_out + o]
            a2 += g * w[r0 + 2 * n_out + o]
            a3 += g * w[r0 + 3 * n_out + o]
            a4 += g * w[r0 + 4 * n_out + o]
            a5 += g * w[r0 + 5 * n_out + o]
            a6 += g * w[r0 + 6 * n_out + o]
            a7 += g * w[r0 + 7 * n_out + o]
        buf[wmax + k] = a0
        buf[wmax + k + 1] = a1
        buf[wmax + k + 2] = a2
        buf[wmax + k + 3] = a3
        buf[wmax + k + 4] = a4
        buf[wmax + k + 5] = a5
        buf[wmax + k + 6] = a6
        buf[wmax + k + 7] = a7
    for k in range(n_prev - n_prev % 8, n_prev):
        acc = 0.0 * buf[0]
        for o in range(n_out):
            acc += dact[da + o] * w[mo + k * n_out + o]
        buf[wmax + k] = acc


def fitting_forward_backward(t, d, w, off, widths, nlayer, act, act_arg, buf, wmax, dact):
    """Fitting-net output for species t from descriptor d; on return d holds ∂out/∂d."""
    n_in = widths[0]
    for k in range(n_in):
        buf[k] = d[k]
    da = 0
    for layer in range(nlayer):
        n_out = widths[layer + 1]
        base = (t * (nlayer + 1) + layer) * 3
        fitting_layer_forward(buf, n_in, w, off[base], off[base + 1], off[base + 2], n_out, act, act_arg,
                              wmax, dact, da)
        residual = fitting_residual(layer, n_in, n_out)
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
        fitting_layer_backward(buf, n_prev, w, off[(t * (nlayer + 1) + layer) * 3], n_out, dact, da, wmax)
        residual = fitting_residual(layer, n_prev, n_out)
        for k in range(n_prev):
            if residual:
                buf[k] = buf[k] + buf[wmax + k]
            else:
                buf[k] = buf[wmax + k]
    for k in range(widths[0]):
        d[k] = buf[k]
    return y


BODIES = (embedding_skip, fitting_residual, dense_block, activate_into, table_interval, table_row, table_locate,
          quintic, quintic_slope, table_value, channel_and_slope, table_channel, table_channel_minor, table_forward,
          embedding_forward, append_parameters, fitting_energy, fitting_output, fitting_layer_forward,
          fitting_layer_backward, fitting_forward_backward)
