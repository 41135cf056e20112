"""Cell-list neighbour search on the device, in DeePMD-kit's se_e2_a layout.

Atoms are binned on a grid of ``ncell`` cells over the cell's fractional coordinates (or, without
periodic boundaries, over a box around the cluster).  Centre i scans the cells within ``reach``
of its own; a scanned cell outside the grid is a periodic image, its shift S carried with every
neighbour.  Inside each species block neighbours are ordered by (|r_ij|, in-cell before image, j, S)
— a total order, so the list does not depend on the order atoms were binned — and cut at sel.

What the host must know of a build (a cell or reverse row that overflowed its room, rows cut at
sel, atoms at one place, the longest row) is counted into one small ``status`` array by atomic
adds, so that a build needs one device-to-host read of a few hundred bytes, not of per-atom arrays:
slots ``STATUS_*`` below, then from ``STATUS_LENGTHS`` a histogram of the centres' numbers of atoms
within rc (the last bin: more than a whole row, nnei).
"""
import math

from .primitives import atomic_add

SHIFT_BIAS = 512
SHIFT_BASE = 1024

#: slots of a build's status array (the evaluator reads it once per neighbour list)
STATUS_CELL_OVERFLOW = 0       # atoms binned beyond their cell's room (cell_cap)
STATUS_TRUNCATED = 1           # centres with more atoms of a species within rc than its sel
STATUS_COINCIDENT = 2          # centres with another atom (or an image) at their place
STATUS_REVERSE_OVERFLOW = 3    # reverse entries beyond an atom's room (rev_cap)
STATUS_LENGTHS = 4             # then nnei + 2 bins: centres with 0, 1, ..., nnei, more atoms within rc


def status_size(nnei):
    """Length of a build's status array for rows of nnei entries."""
    return STATUS_LENGTHS + nnei + 2


def pack_shift(sx, sy, sz):
    """Image shift (each component in [-512, 511]) as one int32 code; 0 shift is a fixed code."""
    return ((sx + SHIFT_BIAS) * SHIFT_BASE + (sy + SHIFT_BIAS)) * SHIFT_BASE + (sz + SHIFT_BIAS)


def unpack_shift(code):
    sz = code % SHIFT_BASE - SHIFT_BIAS
    rest = code // SHIFT_BASE
    return rest // SHIFT_BASE - SHIFT_BIAS, rest % SHIFT_BASE - SHIFT_BIAS, sz


def fill(i, arr, value):
    """arr[i] ← value (clears reused counters without a host transfer)."""
    arr[i] = value


def wrap_atom(i, pos, cell, inv_cell, image):
    """Map atom i into the cell (fractional coordinates modulo 1); count the wraps in image."""
    x = pos[3 * i]
    y = pos[3 * i + 1]
    z = pos[3 * i + 2]
    for k in range(3):
        f = x * inv_cell[k] + y * inv_cell[3 + k] + z * inv_cell[6 + k]
        n = math.floor(f)
        if n != 0.0:
            image[3 * i + k] += int(n)
            pos[3 * i] -= n * cell[3 * k]
            pos[3 * i + 1] -= n * cell[3 * k + 1]
            pos[3 * i + 2] -= n * cell[3 * k + 2]


def narrow_atom(i, wide, cell, inv_cell, pos):
    """Atom i of the float64 positions ``wide`` moved into the cell by whole lattice vectors in float64 (the
    shifts from its fractional coordinates, subtracted in the order of the lattice vectors), then stored in
    pos's narrower precision: dpsycl.evaluator.positions_near_origin on the device, so that a float32 model
    sees the same numbers wherever the coordinates lie (an atom already in the cell is stored as it is)."""
    x = wide[3 * i]
    y = wide[3 * i + 1]
    z = wide[3 * i + 2]
    n0 = math.floor(x * inv_cell[0] + y * inv_cell[3] + z * inv_cell[6])
    n1 = math.floor(x * inv_cell[1] + y * inv_cell[4] + z * inv_cell[7])
    n2 = math.floor(x * inv_cell[2] + y * inv_cell[5] + z * inv_cell[8])
    x = ((x - n0 * cell[0]) - n1 * cell[3]) - n2 * cell[6]
    y = ((y - n0 * cell[1]) - n1 * cell[4]) - n2 * cell[7]
    z = ((z - n0 * cell[2]) - n1 * cell[5]) - n2 * cell[8]
    pos[3 * i] = x
    pos[3 * i + 1] = y
    pos[3 * i + 2] = z


def cell_of(i, pos, grid_inv, origin, ncell):
    """Index of the grid cell holding atom i (clamped into the grid)."""
    c = 0
    for k in range(3):
        f = ((pos[3 * i] - origin[0]) * grid_inv[k] + (pos[3 * i + 1] - origin[1]) * grid_inv[3 + k]
             + (pos[3 * i + 2] - origin[2]) * grid_inv[6 + k])
        ck = int(math.floor(f * ncell[k]))
        if ck < 0:
            ck = 0
        if ck >= ncell[k]:
            ck = ncell[k] - 1
        c = c * ncell[k] + ck
    return c


def bin_atom(i, pos, grid_inv, origin, ncell, cell_count, cell_atoms, cell_cap, status):
    """Atom i into the list of its grid cell.  The cell's count grows even when its list is full,
    and the status counts the atom, so the host bins again with room for the largest count."""
    c = cell_of(i, pos, grid_inv, origin, ncell)
    slot = atomic_add(cell_count, c, 1)
    if slot < cell_cap:
        cell_atoms[c * cell_cap + slot] = i
    else:
        atomic_add(status, STATUS_CELL_OVERFLOW, 1)


def row_status(i, ntypes, sel_off, nnei, type_count, coincident, status):
    """Centre i's row counted into the build's status: cut at sel, an atom at its place, and its
    number of atoms within rc in the histogram (the host's longest row and reverse-row room)."""
    total = 0
    cut = 0
    for t in range(ntypes):
        n_t = type_count[i * ntypes + t]
        total += n_t
        if n_t > sel_off[t + 1] - sel_off[t]:
            cut = 1
    if cut != 0:
        atomic_add(status, STATUS_TRUNCATED, 1)
    if coincident[i] >= 0:
        atomic_add(status, STATUS_COINCIDENT, 1)
    if total > nnei:
        total = nnei + 1
    atomic_add(status, STATUS_LENGTHS + total, 1)


def pair_before(d_a, img_a, j_a, s_a, d_b, img_b, j_b, s_b):
    """Total order of candidate neighbours: distance, then in-cell first, then index, then shift."""
    if d_a != d_b:
        return d_a < d_b
    if img_a != img_b:
        return img_a < img_b
    if j_a != j_b:
        return j_a < j_b
    return s_a < s_b


def grid_coordinates(ci, ncell):
    """(x, y, z) grid coordinates of grid cell ci."""
    return ci // (ncell[1] * ncell[2]), (ci // ncell[2]) % ncell[1], ci % ncell[2]


def grid_index(gx, gy, gz, ncell):
    """Grid cell at coordinates (gx, gy, gz) inside the grid."""
    return (gx * ncell[1] + gy) * ncell[2] + gz


def wrapped(g, n):
    """(g mod n, ⌊g / n⌋) of a stencil coordinate g by whole steps of n: the stencil reaches at most a few
    grid lengths past the grid, and a 64-bit integer division is a subroutine of some 70 instructions on a
    GPU; thirteen of them per scanned cell were the neighbour rows' largest cost (benchmarks/NOTES.md,
    session 17)."""
    s = 0
    while g < 0:
        g += n
        s -= 1
    while g >= n:
        g -= n
        s += 1
    return g, s


def stencil_cell(q, cx, cy, cz, ncell, reach):
    """Cell q of the (2·reach+1)³ stencil around the grid cell at (cx, cy, cz), z fastest (neighbor_row
    walks the stencil in this order): its grid cell and image shift."""
    nz = 2 * reach[2] + 1
    ny = 2 * reach[1] + 1
    gx, sx = wrapped(cx + q // (nz * ny) - reach[0], ncell[0])
    gy, sy = wrapped(cy + (q // nz) % ny - reach[1], ncell[1])
    gz, sz = wrapped(cz + q % nz - reach[2], ncell[2])
    return grid_index(gx, gy, gz, ncell), sx, sy, sz


def image_offset(sx, sy, sz, cell):
    """S·h: the displacement of periodic image S = (sx, sy, sz) of the cell h (rows = box vectors)."""
    return (sx * cell[0] + sy * cell[3] + sz * cell[6],
            sx * cell[1] + sy * cell[4] + sz * cell[7],
            sx * cell[2] + sy * cell[5] + sz * cell[8])


def atoms_to_visit(g, sx, sy, sz, periodic, cell_count, cell_cap):
    """How many atoms of grid cell g a scan visits as image S = (sx, sy, sz) of it: its count, at most its
    room, and none for a periodic image of an open box."""
    n_in_cell = cell_count[g]
    if n_in_cell > cell_cap:
        n_in_cell = cell_cap
    if periodic == 0 and (sx != 0 or sy != 0 or sz != 0):
        n_in_cell = 0
    return n_in_cell


def insert_in_block(row_at, start, kept, size, d, img, j, code, zero, nlist, nshift, dist):
    """Candidate (d, img, j, code) into the sorted species block of ``kept`` entries at nlist[row_at:]
    (room ``size``; distances in dist[start:]), the farthest dropped when it is full."""
    p = kept
    while p > 0:
        sb = nshift[row_at + p - 1]
        if pair_before(d, img, j, code, dist[start + p - 1], 0 if sb == zero else 1, nlist[row_at + p - 1], sb):
            p -= 1
        else:
            break
    if p >= size:
        return
    q = kept if kept < size else size - 1
    while q > p:
        nlist[row_at + q] = nlist[row_at + q - 1]
        nshift[row_at + q] = nshift[row_at + q - 1]
        dist[start + q] = dist[start + q - 1]
        q -= 1
    nlist[row_at + p] = j
    nshift[row_at + p] = code
    dist[start + p] = d


def neighbor_row(i, pos, atype, cell, grid_inv, origin, ncell, reach, periodic,
                 cell_count, cell_atoms, cell_cap, rc, sel_off, ntypes, nnei,
                 nlist, nshift, type_count, coincident, coincident_r2, status, dist):
    """Row i of the neighbour list: the sel[t] nearest of each species t within rc, sorted;
    coincident[i]: an atom at i's place (r² < coincident_r2, an image included), else −1; the row
    counted into the status (row_status)."""
    xi = pos[3 * i]
    yi = pos[3 * i + 1]
    zi = pos[3 * i + 2]
    for t in range(ntypes):
        type_count[i * ntypes + t] = 0
    for jj in range(nnei):
        nlist[i * nnei + jj] = -1
        nshift[i * nnei + jj] = 0
    coincident[i] = -1
    zero = pack_shift(0, 0, 0)
    cx, cy, cz = grid_coordinates(cell_of(i, pos, grid_inv, origin, ncell), ncell)
    # the stencil in stencil_cell's order (z fastest), coordinates stepped rather than divided out
    for dx in range(-reach[0], reach[0] + 1):
        gx, sx = wrapped(cx + dx, ncell[0])
        for dy in range(-reach[1], reach[1] + 1):
            gy, sy = wrapped(cy + dy, ncell[1])
            for dz in range(-reach[2], reach[2] + 1):
                gz, sz = wrapped(cz + dz, ncell[2])
                g = grid_index(gx, gy, gz, ncell)
                n_in_cell = atoms_to_visit(g, sx, sy, sz, periodic, cell_count, cell_cap)
                ox, oy, oz = image_offset(sx, sy, sz, cell)
                code = pack_shift(sx, sy, sz)
                img = 0 if code == zero else 1
                for q in range(n_in_cell):
                    j = cell_atoms[g * cell_cap + q]
                    if j == i and img == 0:
                        continue
                    rx = pos[3 * j] + ox - xi
                    ry = pos[3 * j + 1] + oy - yi
                    rz = pos[3 * j + 2] + oz - zi
                    r2 = rx * rx + ry * ry + rz * rz
                    if r2 >= rc * rc:
                        continue
                    if r2 < coincident_r2:
                        coincident[i] = j
                    d = math.sqrt(r2)
                    t = atype[j]
                    n_t = type_count[i * ntypes + t]
                    type_count[i * ntypes + t] = n_t + 1
                    start = sel_off[t]
                    size = sel_off[t + 1] - start
                    kept = n_t if n_t < size else size
                    insert_in_block(i * nnei + start, start, kept, size, d, img, j, code, zero, nlist, nshift, dist)
    row_status(i, ntypes, sel_off, nnei, type_count, coincident, status)


def scatter_reverse(q, nlist, rev, rev_count, rev_cap, status):
    """Slot q (= k·nnei + kk) of the centres' rows into the reverse row of the atom it holds: the
    slots that hold atom i, in the order the atomic count hands out places (sort_reverse_row then
    orders them).  rev_count[i] may exceed rev_cap (counted in the status): the host then rebuilds
    with more room.  One work
    item per slot reads its own entry, where a search from atom i's side read every slot of every
    candidate's row (benchmarks/NOTES.md, session 8)."""
    j = nlist[q]
    if j >= 0:
        n = atomic_add(rev_count, j, 1)
        if n < rev_cap:
            rev[j * rev_cap + n] = q
        else:
            atomic_add(status, STATUS_REVERSE_OVERFLOW, 1)


def sort_reverse_row(i, rev, rev_count, rev_cap):
    """The reverse row of atom i ascending (insertion sort), so that gather_forces sums its terms in
    the same order whatever order the atomics took."""
    m = rev_count[i]
    if m > rev_cap:
        m = rev_cap
    for a in range(1, m):
        v = rev[i * rev_cap + a]
        b = a
        while b > 0 and rev[i * rev_cap + b - 1] > v:
            rev[i * rev_cap + b] = rev[i * rev_cap + b - 1]
            b -= 1
        rev[i * rev_cap + b] = v


BODIES = (pack_shift, unpack_shift, fill, wrap_atom, narrow_atom, cell_of, bin_atom, pair_before, grid_coordinates,
          grid_index, wrapped, stencil_cell, image_offset, atoms_to_visit, row_status, insert_in_block, neighbor_row,
          scatter_reverse, sort_reverse_row)
