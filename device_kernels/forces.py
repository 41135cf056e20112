"""Forces and virials from the pair gradients g_ij = ∂E/∂r_ij, gathered per atom without atomics.

    F_i = Σ_j g_ij − Σ_k g_ki          w_i = −Σ_k g_ki ⊗ r_ki   (DeePMD-kit's atomic virial)

``rev`` lists, per atom i, the slots (k·nnei + kk) of other rows that hold i (device_kernels/
neighbors.py: scatter_reverse, sort_reverse_row), so each atom sums its own terms in a fixed order: results do not
depend on scheduling.  Atoms from ``ncentres`` on (the ghosts of a domain decomposition) have no
rows of their own: their forces and virials come from the centres' rows only, DeePMD-kit's
nloc/nall split.  The NumPy form is dpsycl/forces.py.  row_block_sums gives the frame's totals
E = Σ_i E_i and W = Σ_i w_i in blocks of rows, added up on the host.
"""
from .environment import slot_row, slot_vector


def own_row_force(i, pos, nnei, ncentres, pair_grad, row_sums, row_sum, accumulate, force):
    """The part of F_i that is not gathered: the force already in ``force`` when ``accumulate`` (a second
    neighbour list) plus Σ_j g_ij over atom i's own row, centres only.  With ``row_sums``, Σ_j g_ij is
    row_sum[3i:3i+3], summed by the descriptor's passes (se_e2_a_group.py: group_row_sum), not the nnei
    slots of the row."""
    fx = 0.0 * pos[0]
    fy = 0.0 * pos[0]
    fz = 0.0 * pos[0]
    if accumulate != 0:
        fx = force[3 * i]
        fy = force[3 * i + 1]
        fz = force[3 * i + 2]
    if i < ncentres:                   # only centres have rows of their own
        if row_sums != 0:
            fx += row_sum[3 * i]
            fy += row_sum[3 * i + 1]
            fz += row_sum[3 * i + 2]
        else:
            for jj in range(nnei):
                p = 3 * (i * nnei + jj)
                fx += pair_grad[p]
                fy += pair_grad[p + 1]
                fz += pair_grad[p + 2]
    return fx, fy, fz


def reverse_count(i, rev_count, rev_cap):
    """How many reverse entries of atom i to read: a deferred build that overflowed its table is flagged and
    redone, and never read past the row."""
    m = rev_count[i]
    if m > rev_cap:
        m = rev_cap
    return m


def gather_forces(i, pos, nnei, ncentres, pair_grad, row_sums, row_sum, rev, rev_count, rev_cap, accumulate,
                  force):
    """F_i = Σ_j g_ij − Σ_k g_ki alone, for the steps that need no virial (an MD step between samples): the
    same sums in the same order as gather_forces_and_virials, so the same forces to the bit, without the
    image shifts and positions of the k, gathered from all over memory, nor the nine stores of w_i."""
    fx, fy, fz = own_row_force(i, pos, nnei, ncentres, pair_grad, row_sums, row_sum, accumulate, force)
    m = reverse_count(i, rev_count, rev_cap)
    for r in range(m):
        slot = rev[i * rev_cap + r]
        fx -= pair_grad[3 * slot]
        fy -= pair_grad[3 * slot + 1]
        fz -= pair_grad[3 * slot + 2]
    force[3 * i] = fx
    force[3 * i + 1] = fy
    force[3 * i + 2] = fz


def gather_forces_and_virials(i, pos, cell, nlist, nshift, nnei, ncentres, pair_grad, row_sums, row_sum, rev,
                              rev_count, rev_cap, accumulate, force, atom_virial):
    """F_i = Σ_j g_ij − Σ_k g_ki and w_i = −Σ_k g_ki ⊗ r_ki, gathered without atomics; added to the
    values already in force and atom_virial when ``accumulate`` (a second neighbour list)."""
    fx, fy, fz = own_row_force(i, pos, nnei, ncentres, pair_grad, row_sums, row_sum, accumulate, force)
    # the virial in nine registers, written once: the same sums in the same order as adding into
    # atom_virial term by term, without a store and a dependent load per term (the compiler cannot
    # tell atom_virial from the arrays read in the loop)
    w0 = 0.0 * fx
    w1 = 0.0 * fx
    w2 = 0.0 * fx
    w3 = 0.0 * fx
    w4 = 0.0 * fx
    w5 = 0.0 * fx
    w6 = 0.0 * fx
    w7 = 0.0 * fx
    w8 = 0.0 * fx
    if accumulate != 0:
        w0 = atom_virial[9 * i]
        w1 = atom_virial[9 * i + 1]
        w2 = atom_virial[9 * i + 2]
        w3 = atom_virial[9 * i + 3]
        w4 = atom_virial[9 * i + 4]
        w5 = atom_virial[9 * i + 5]
        w6 = atom_virial[9 * i + 6]
        w7 = atom_virial[9 * i + 7]
        w8 = atom_virial[9 * i + 8]
    inv_nnei = 1.0 / float(nnei)       # float64 in either precision: slot_row
    m = reverse_count(i, rev_count, rev_cap)
    for r in range(m):
        slot = rev[i * rev_cap + r]
        gx = pair_grad[3 * slot]
        gy = pair_grad[3 * slot + 1]
        gz = pair_grad[3 * slot + 2]
        # a slot beyond rcut holds zeros (the descriptor pass wrote them): its image shift and its atom's position
        # are read at places every such slot shares (slot 0's shift, atom i), cached, where a live slot's are
        # gathered from all over memory; its terms are the zeros they were.  No branch around the loads, so
        # that the box and x_i stay hoisted out of the loop (in a branch they were reloaded for every live slot:
        # session 33's float64 gather gained nothing).  MD's lists hold such slots: 1 − (rcut / (rcut + skin))³
        # of them at a build, 37% for 6 Å and a 1 Å skin
        k = i
        shift_at = 0
        if gx != 0 or gy != 0 or gz != 0:
            k = slot_row(slot, inv_nnei)
            shift_at = slot
        fx -= gx
        fy -= gy
        fz -= gz
        rx, ry, rz = slot_vector(k, i, nshift[shift_at], pos, cell)
        w0 -= gx * rx
        w1 -= gx * ry
        w2 -= gx * rz
        w3 -= gy * rx
        w4 -= gy * ry
        w5 -= gy * rz
        w6 -= gz * rx
        w7 -= gz * ry
        w8 -= gz * rz
    atom_virial[9 * i] = w0
    atom_virial[9 * i + 1] = w1
    atom_virial[9 * i + 2] = w2
    atom_virial[9 * i + 3] = w3
    atom_virial[9 * i + 4] = w4
    atom_virial[9 * i + 5] = w5
    atom_virial[9 * i + 6] = w6
    atom_virial[9 * i + 7] = w7
    atom_virial[9 * i + 8] = w8
    force[3 * i] = fx
    force[3 * i + 1] = fy
    force[3 * i + 2] = fz


def row_block_sums(w, values, ncols, nrows, block, partial, at):
    """partial[at + w] = Σ of column c = w mod ncols of the (nrows, ncols) row-major values over the rows
    [g·block, (g+1)·block), g = w ÷ ncols, summed in partial's precision (float64 whatever the values'):
    the host adds the blocks' sums, so a frame's energy and virial come back as a few kilobytes where
    the atomic values were 10·N numbers (dpsycl/evaluator.py: frame_results)."""
    g = w // ncols
    c = w - g * ncols
    r = g * block
    end = r + block
    if end > nrows:
        end = nrows
    # a float64 zero whatever the values' precision, from the slot this item writes: partial is not cleared
    # beforehand, so a product with any value read from it could be NaN (0·NaN)
    partial[at + w] = 0
    total = partial[at + w]
    while r < end:
        total += values[r * ncols + c]
        r += 1
    partial[at + w] = total


BODIES = (own_row_force, reverse_count, gather_forces, gather_forces_and_virials, row_block_sums)
