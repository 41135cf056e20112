"""The neighbour row of one centre with the lanes of a work-group (wide devices).

neighbors.neighbor_row gives each centre one work-item that scans the stencil's cells and inserts
every atom within rc into its sorted species block: a chain of dependent loads and stores that a
GPU cannot hide when there are few centres (0.94 ms at 2,048 atoms on an H200, the longest kernel
of the evaluation; benchmarks/NOTES.md, session 10).  Here the lanes test a cell's atoms together
and append those within rc to a group-local list (a prefix count over the lanes keeps the scan
order), then each lane places its entries by their rank in the same total order as neighbor_row
(pair_before: distance, in-cell before image, index, shift), so the row is the same, entry for
entry.  The list holds the atoms and stencil cells as numbers of the kernel's precision: exact for
float64, and for float32 below 2²⁴ atoms (the evaluator's rule for choosing this body).
"""
import math

from .group import group_prefix_count
from .neighbors import (cell_of, grid_coordinates, neighbor_row, pack_shift, pair_before, row_status, sort_reverse_row,
                        stencil_cell, stencil_image, wrapped)
from .primitives import barrier


def entry_shift(q_cell, ci, ncell, reach):
    """(shift code, image flag) of a list entry from the stencil cell it was found in."""
    _, sx, sy, sz = stencil_cell(q_cell, ci, ncell, reach)
    code = pack_shift(sx, sy, sz)
    return code, 0 if code == pack_shift(0, 0, 0) else 1


def scan_cell(item, i, lane, nlane, q_cell, gx, sx, gy, sy, gz, sz, xi, yi, zi, pos, atype, cell, ncell, periodic,
              cell_count, cell_atoms, cell_cap, rc, nnei, count, sh_d, sh_j, sh_q, sh_t, sh_scan):
    """The atoms within rc of i in stencil cell q_cell appended, in cell order, to the local list of
    ``count`` entries (at most nnei kept); returns the new count (entries beyond nnei counted too)."""
    g, ox, oy, oz, n_in_cell = stencil_image(gx, sx, gy, sy, gz, sz, ncell, periodic, cell, cell_count, cell_cap)
    img = 0 if sx == 0 and sy == 0 and sz == 0 else 1
    base = 0
    while base < n_in_cell:        # the same bound for every lane: the prefix count's barriers match
        q = base + lane
        found = 0
        j = 0
        d = 0.0 * rc
        if q < n_in_cell:
            j = cell_atoms[g * cell_cap + q]
            if j != i or img != 0:
                rx = pos[3 * j] + ox - xi
                ry = pos[3 * j + 1] + oy - yi
                rz = pos[3 * j + 2] + oz - zi
                r2 = rx * rx + ry * ry + rz * rz
                if r2 < rc * rc:
                    found = 1
                    d = math.sqrt(r2)
        before, total = group_prefix_count(item, lane, nlane, found, sh_scan)
        slot = count + before
        if found == 1 and slot < nnei:
            sh_d[slot] = d
            sh_j[slot] = j
            sh_q[slot] = q_cell
            sh_t[slot] = atype[j]
        count += total
        base += nlane
    return count


def neighbor_row_group(item, i, lane, nlane, pos, atype, cell, grid_inv, origin, ncell, reach, periodic,
                       cell_count, cell_atoms, cell_cap, rc, sel_off, ntypes, nnei, nlist, nshift, type_count,
                       coincident, coincident_r2, status, sh_d, sh_j, sh_q, sh_t, sh_scan, dist):
    """neighbor_row(i, ...) by the nlane lanes of a group.  The local list holds up to nnei atoms
    within rc (distance, index, stencil cell, species: four arrays, so that the placement loop
    compares numbers without integer divisions); a centre with more (its rows truncated beyond the
    whole row) is done by lane 0 with neighbor_row itself."""
    xi = pos[3 * i]
    yi = pos[3 * i + 1]
    zi = pos[3 * i + 2]
    for s in range(lane, nnei, nlane):
        nlist[i * nnei + s] = -1
        nshift[i * nnei + s] = 0
    ci = cell_of(i, pos, grid_inv, origin, ncell)
    cx, cy, cz = grid_coordinates(ci, ncell)
    count = 0
    q_cell = 0          # the stencil in stencil_cell's order, coordinates stepped (neighbors.wrapped)
    for dx in range(-reach[0], reach[0] + 1):
        gx, sx = wrapped(cx + dx, ncell[0])
        for dy in range(-reach[1], reach[1] + 1):
            gy, sy = wrapped(cy + dy, ncell[1])
            for dz in range(-reach[2], reach[2] + 1):
                gz, sz = wrapped(cz + dz, ncell[2])
                count = scan_cell(item, i, lane, nlane, q_cell, gx, sx, gy, sy, gz, sz, xi, yi, zi, pos, atype, cell,
                                  ncell, periodic, cell_count, cell_atoms, cell_cap, rc, nnei, count, sh_d, sh_j, sh_q,
                                  sh_t, sh_scan)
                q_cell += 1
    barrier(item)
    if count > nnei:
        if lane == 0:
            neighbor_row(i, pos, atype, cell, grid_inv, origin, ncell, reach, periodic, cell_count, cell_atoms,
                         cell_cap, rc, sel_off, ntypes, nnei, nlist, nshift, type_count, coincident,
                         coincident_r2, status, dist)
        return
    if lane == 0:                      # the last atom at i's place in scan order, as neighbor_row keeps
        coincident[i] = -1
        for e in range(count):
            if sh_d[e] * sh_d[e] < coincident_r2:
                coincident[i] = int(sh_j[e])
    for t in range(lane, ntypes, nlane):
        n_t = 0
        for e in range(count):
            if sh_t[e] == t:
                n_t += 1
        type_count[i * ntypes + t] = n_t
    for e in range(lane, count, nlane):
        t_e = sh_t[e]
        t = int(t_e)
        d = sh_d[e]
        j = int(sh_j[e])
        code, img = entry_shift(int(sh_q[e]), ci, ncell, reach)
        rank = 0
        for f in range(count):
            if sh_t[f] != t_e:
                continue
            d_f = sh_d[f]
            if d_f < d:
                rank += 1
            elif d_f == d and f != e:
                code_f, img_f = entry_shift(int(sh_q[f]), ci, ncell, reach)
                if pair_before(d_f, img_f, int(sh_j[f]), code_f, d, img, j, code):
                    rank += 1
        start = sel_off[t]
        if rank < sel_off[t + 1] - start:
            nlist[i * nnei + start + rank] = j
            nshift[i * nnei + start + rank] = code
    barrier(item)                      # every lane's type counts written before lane 0 reads them
    if lane == 0:
        row_status(i, ntypes, sel_off, nnei, type_count, coincident, status)


#: a reverse-row entry (a slot number, up to ncentres·nnei) is kept in two numbers below 2²⁰ and
#: 2²⁴, exact in float32 too
SLOT_SPLIT = 1 << 20


def sort_reverse_row_group(item, i, lane, nlane, rev, rev_count, rev_cap, nnei, sh_hi, sh_lo):
    """sort_reverse_row(i, ...) by the lanes of a group: the row copied to local memory, then each
    lane writes its entries at their rank (the entries are distinct slot numbers).  A row longer
    than the local arrays (nnei) is sorted by lane 0 with sort_reverse_row itself."""
    m = rev_count[i]
    if m > rev_cap:
        m = rev_cap
    if m > nnei:
        if lane == 0:
            sort_reverse_row(i, rev, rev_count, rev_cap)
        return
    for a in range(lane, m, nlane):
        v = rev[i * rev_cap + a]
        sh_hi[a] = v // SLOT_SPLIT
        sh_lo[a] = v % SLOT_SPLIT
    barrier(item)
    for a in range(lane, m, nlane):
        hi = sh_hi[a]
        lo = sh_lo[a]
        rank = 0
        for b in range(m):
            if sh_hi[b] < hi or (sh_hi[b] == hi and sh_lo[b] < lo):
                rank += 1
        rev[i * rev_cap + rank] = int(hi) * SLOT_SPLIT + int(lo)


BODIES = (entry_shift, scan_cell, neighbor_row_group, sort_reverse_row_group)
