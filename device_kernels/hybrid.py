"""The hybrid descriptor's own pass on the device: one fitting net on the members' descriptors.

    D_i = D_i^(0) ⊕ D_i^(1) ⊕ …      (each member writes its columns of row i of ``desc``)
    E_i = (𝓕_{type_i}(D_i ⊕ f̂ ⊕ â_i) + bias_atom_e) · out_std + out_bias
    desc_grad[i] ← ∂E_i/∂D_i          (each member's backward reads its columns back)

The members' own passes (their forward stages before, their backward stages after this one) are
launched by dpsycl/descriptors/hybrid/device.py; the NumPy form is descriptors/hybrid/reference.py.
A member whose D_i is the plain sum of its chunk partials (se_e3) moves it in and out of its columns
with the two copies below; the others scale on the way (their own ``*_descriptor_atom`` bodies).
"""
from .layers import append_parameters, fitting_energy, fitting_forward_backward


def hybrid_fitting_atom(i, atype, desc, desc_stride, fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, bias_e,
                        out_std, out_bias, fwmax, fparam, nfp, aparam, nap, atom_energy, desc_grad, dbuf, fbuf, dact):
    """E_i = fitting net(row i of desc); desc_grad row i ← ∂E_i/∂D_i."""
    ti = atype[i]
    row = i * desc_stride
    for k in range(desc_stride):
        dbuf[k] = desc[row + k]
    append_parameters(i, dbuf, desc_stride, fparam, nfp, aparam, nap)
    y = fitting_forward_backward(ti, dbuf, fit_w, fit_off, fit_widths, n_fit, act_fit, act_fit_arg, fbuf, fwmax, dact)
    atom_energy[i] = fitting_energy(y, ti, bias_e, out_std, out_bias)
    for k in range(desc_stride):
        desc_grad[row + k] = dbuf[k] * out_std[ti]


def columns_from_chunk_sums(i, nchunk, part, m_width, desc, desc_stride, desc_at):
    """desc[i·stride + at + m] ← Σ_c part[(i·nchunk + c)·M + m]: a member's D_i from its chunk partials."""
    for m in range(m_width):
        acc = 0.0 * part[0]
        for c in range(nchunk):
            acc += part[(i * nchunk + c) * m_width + m]
        desc[i * desc_stride + desc_at + m] = acc


def rows_from_columns(i, m_width, desc_grad, desc_stride, desc_at, rows):
    """rows[i·M + m] ← desc_grad[i·stride + at + m]: a member's ∂E_i/∂D_i as its own passes read it."""
    for m in range(m_width):
        rows[i * m_width + m] = desc_grad[i * desc_stride + desc_at + m]


BODIES = (hybrid_fitting_atom, columns_from_chunk_sums, rows_from_columns)
