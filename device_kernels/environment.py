"""Per-neighbour geometry of the smooth-edition descriptors: r_ij, the environment row and its
derivative, and the walk over a centre's neighbour slots.

    s(r) = sw(r)/r,  sw(r) = 1 (r < r_s),  u³(−6u² + 15u − 10) + 1 (r_s ≤ r < r_c),  u = (r − r_s)/(r_c − r_s)
    R̃_ij = s(r_ij) · (1, x_ij/r_ij, y_ij/r_ij, z_ij/r_ij),    R_ij = (R̃_ij − t_avg[p]) / t_std[p]

p = (type_i, type_j) is the species block of the slot: DeePMD-kit's statistics are uniform inside a
block.  The NumPy form of the same equations is dpsycl/env_matrix.py.
"""
import math

from .neighbors import image_offset, unpack_shift


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

def slot_vector(i, j, code, pos, cell):
    """r_ij = x_j + S·h − x_i for neighbour j seen through image shift S (packed in code)."""
    sx, sy, sz = unpack_shift(code)
    ox, oy, oz = image_offset(sx, sy, sz, cell)
    return pos[3 * j] + ox - pos[3 * i], pos[3 * j + 1] + oy - pos[3 * i + 1], pos[3 * j + 2] + oz - pos[3 * i + 2]


def slot_row(slot, inv_nnei):
    """slot // nnei: the row that slot number ``slot`` (≥ 0) of a list of nnei entries per row lies in, from
    inv_nnei = 1 / float(nnei), without an integer division by a run-time nnei (a scalar idiv per lane on a CPU:
    −1.3 of 5.7 ms at 2,048 atoms, NOTES.md session 15; a call of ≈ 70 instructions on a GPU).  (slot + ½)·inv_nnei
    lies ≥ ½/nnei from an integer, far beyond the float64 product's rounding for every slot below 2⁵¹, and float()
    keeps it float64 in a float32 kernel too, where the compile rules type ``slot + 0.5`` as float32: that form put
    the last slot of a row into the next row from slot ≈ 6.1·10⁶ on (34,056 atoms of 180 slots), until session 33
    (tests/test_slot_row.py)."""
    return int((float(slot) + 0.5) * inv_nnei)


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


def slot_in_cutoff(i, jj, nlist, nshift, nnei, pos, cell, rcut):
    """live_slot's test alone: whether slot jj of atom i holds a neighbour inside rcut."""
    j = nlist[i * nnei + jj]
    if j < 0:
        return False
    rx, ry, rz = slot_vector(i, j, nshift[i * nnei + jj], pos, cell)
    return rx * rx + ry * ry + rz * rz < rcut * rcut


def block_slots(ti, tj, ntypes, sel_off, lo, hi, one_side):
    """Slots [a0, a1) of neighbour species tj inside [lo, hi), their block p = (ti, tj) of t_avg/t_std
    and exclusions, and the embedding net that serves the block."""
    a0 = sel_off[tj] if sel_off[tj] > lo else lo
    a1 = sel_off[tj + 1] if sel_off[tj + 1] < hi else hi
    p = ti * ntypes + tj
    net = tj if one_side != 0 else p
    return a0, a1, p, net


BODIES = (env_row, normalised_env_row, chunk_slots, slot_vector, slot_row, live_slot, slot_in_cutoff, block_slots)
