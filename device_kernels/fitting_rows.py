"""The fitting net over a block of rows, atoms sorted by species, its dense products left to the backend's GEMM.

For the rows r of one species s (one run of the sorted order) and hidden layer l of width n_l:

    Z_l     = X_l · W_l^s                                   backend.matmul (oneMKL on SYCL CPU devices)
    X_{l+1} = φ(Z_l + b_l^s)·idt (+ X_l where residual)      fitting_rows_forward, through layers.fitting_output
    y       = X_L · w_L^s + b_L^s,   E_i = fitting_energy(y)  matmul, then fitting_rows_seed
    G_L     = w_L^s,   H_l = G_{l+1} ⊙ φ'(Z_l + b_l)·idt      fitting_rows_seed, fitting_rows_backward
    G_l     = H_l · (W_l^s)ᵀ (+ G_{l+1} where residual)       matmul, fitting_rows_backward

G_0 = ∂y/∂X_0 is what a descriptor turns into its own gradients (E_i's derivative is out_std·G_0).
The products write Z_l where X_{l+1} goes, and each G_l lands where X_l was: the backward pass reads only the
slopes, so the block needs one set of layer values (dpsycl/fitting_rows.py).
The same layer rule and output scaling as the one-atom kernels (layers.fitting_residual, fitting_output,
fitting_energy); only the order of the sums inside the products differs (the GEMM's blocking).

Work-groups of one row: lanes over a row's columns, so that a CPU's vector lanes read neighbouring values.
``rows[row0 + g]`` is the atom of row g of the block (dpsycl/fitting_rows.py keeps the sorted order);
``values`` holds the block's X_0, X_1, … one after another (X_l from ``x_at``, n_l values per row), ``slopes``
the activation slopes of each hidden layer, H_l in their place once the backward pass reaches them.
"""
from .layers import fitting_energy, fitting_output, fitting_residual


def fitting_rows_gather(item, g, lane, nlane, rows, row0, desc, desc_stride, fparam, nfp, aparam, nap, values,
                        x_width):
    """X_0 of row g: its atom's descriptor row of ``desc``, then the frame's and the atom's parameters."""
    i = rows[row0 + g]
    for c in range(lane, desc_stride, nlane):
        values[g * x_width + c] = desc[i * desc_stride + c]
    fitting_rows_parameters(lane, nlane, i, g, desc_stride, fparam, nfp, aparam, nap, values, x_width)


def fitting_rows_parameters(lane, nlane, i, g, at, fparam, nfp, aparam, nap, values, x_width):
    """Columns at … of X_0's row g: the frame's parameters, then atom i's (both normalised)."""
    for q in range(lane, nfp + nap, nlane):
        if q < nfp:
            values[g * x_width + at + q] = fparam[q]
        else:
            values[g * x_width + at + q] = aparam[i * nap + q - nfp]


def fitting_rows_forward(item, g, lane, nlane, rows, row0, atype, layer, n_in, n_out, values, x_at, y_at, slopes,
                         slope_at, fit_w, fit_off, n_fit, act_fit, act_fit_arg):
    """Row g of X_{layer+1} (from y_at, where the product left Z_layer) and of its slopes (from slope_at), from
    Z_layer and X_layer (x_at)."""
    ti = atype[rows[row0 + g]]
    base = (ti * (n_fit + 1) + layer) * 3
    bo = fit_off[base + 1]
    io = fit_off[base + 2]
    residual = fitting_residual(layer, n_in, n_out)
    for o in range(lane, n_out, nlane):
        fitting_output(values[y_at + g * n_out + o] + fit_w[bo + o], o, fit_w, io, act_fit, act_fit_arg, values,
                       y_at + g * n_out, slopes, slope_at + g * n_out, residual, x_at + g * n_in)


def fitting_rows_seed(item, g, lane, nlane, rows, row0, atype, n_last, out_raw, fit_w, fit_off, n_fit, bias_e,
                      out_std, out_bias, values, grad_at, slopes, slope_at, atom_energy):
    """E_i of row g's atom from y − b_L = out_raw[g]; G_L = w_L into values from grad_at (where X_L was),
    H_{L−1} = w_L ⊙ slopes in place."""
    i = rows[row0 + g]
    ti = atype[i]
    base = (ti * (n_fit + 1) + n_fit) * 3
    mo = fit_off[base]
    if lane == 0:
        atom_energy[i] = fitting_energy(out_raw[g] + fit_w[fit_off[base + 1]], ti, bias_e, out_std, out_bias)
    for k in range(lane, n_last, nlane):
        values[grad_at + g * n_last + k] = fit_w[mo + k]
        slopes[slope_at + g * n_last + k] *= fit_w[mo + k]


def fitting_rows_backward(item, g, lane, nlane, width, residual, values, grad_at, out_at, slopes, slope_at):
    """G_l = H_l·Wᵀ (values from grad_at) + G_{l+1} (from out_at) where layer l is residual, kept in place; then
    H_{l−1} = G_l ⊙ slopes of layer l − 1 in place."""
    for k in range(lane, width, nlane):
        gk = values[grad_at + g * width + k]
        if residual:
            gk += values[out_at + g * width + k]
            values[grad_at + g * width + k] = gk
        slopes[slope_at + g * width + k] *= gk


def fitting_rows_scatter(item, g, lane, nlane, rows, row0, atype, grad, x_width, out_std, desc_grad, desc_stride):
    """∂E_i/∂D_i = out_std · G_0 of row g into its atom's row of desc_grad."""
    i = rows[row0 + g]
    scale = out_std[atype[i]]
    for c in range(lane, desc_stride, nlane):
        desc_grad[i * desc_stride + c] = grad[g * x_width + c] * scale


BODIES = (fitting_rows_parameters, fitting_rows_gather, fitting_rows_forward, fitting_rows_seed,
          fitting_rows_backward, fitting_rows_scatter)
