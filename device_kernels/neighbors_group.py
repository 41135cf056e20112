"""The neighbour row of one centre with the lanes of a work-group (wide devices).

neighbors.neighbor_row gives each centre one work-item that scans the stencil's cells and inserts
every atom within rc into its sorted species block: a chain of dependent loads and stores that a
GPU cannot hide when there are few centres (0.94 ms at 2,048 atoms on an H200, the longest kernel
of the evaluation; benchmarks/NOTES.md, session 10).  Here the lanes place nlane stencil cells at
once, then test their atoms together as one run of candidates, one per lane, and append those within
rc to a group-local list (a prefix count over the lanes keeps the scan order), then each lane places
its entries by their rank in the same total order as neighbor_row (pair_before: distance, in-cell
before image, index, shift), so the row is the same, entry for entry.  The list holds the atoms, grid
cells and stencil cells as numbers of the kernel's precision: exact for float64, and for float32 below
2²³ atoms (2²⁴ grid cells: the evaluator's rule for choosing this body).
"""
import math

from .group import group_prefix_count
from .neighbors import (atoms_to_visit, cell_of, grid_coordinates, image_offset, neighbor_row, pack_shift, pair_before,
                        row_status, sort_reverse_row, stencil_cell)
from .primitives import barrier


def entry_shift(q_cell, cx, cy, cz, ncell, reach):
    """(shift code, image flag) of a list entry from the stencil cell it was found in."""
    _, sx, sy, sz = stencil_cell(q_cell, cx, cy, cz, ncell, reach)
    code = pack_shift(sx, sy, sz)
    return code, 0 if code == pack_shift(0, 0, 0) else 1


def stencil_chunk(item, lane, nlane, c0, n_stencil, cx, cy, cz, ncell, reach, periodic, cell_count, cell_cap, sh_cell,
                  sh_scan):
    """Stencil cells c0 … c0 + nlane − 1 of centre cell (cx, cy, cz), lane l taking c0 + l: its grid cell, image
    shift and the number of its first atom among the chunk's candidates into sh_cell[5·l:] (g, sx, sy, sz,
    first), then a barrier; returns the chunk's number of candidates.  One cell per lane, so the integer
    divisions that place a cell are paid once per lane, not by every lane for every cell."""
    q = c0 + lane
    n_in_cell = 0
    if q < n_stencil:
        g, sx, sy, sz = stencil_cell(q, cx, cy, cz, ncell, reach)
        n_in_cell = atoms_to_visit(g, sx, sy, sz, periodic, cell_count, cell_cap)
        sh_cell[5 * lane] = g
        sh_cell[5 * lane + 1] = sx
        sh_cell[5 * lane + 2] = sy
        sh_cell[5 * lane + 3] = sz
    before, total = group_prefix_count(item, lane, nlane, n_in_cell, sh_scan)
    sh_cell[5 * lane + 4] = before
    barrier(item)
    return total


def chunk_cell(nlane, k, sh_cell):
    """The chunk's cell (its lane) holding candidate k: the last whose first candidate is ≤ k (cells
    without atoms share their first with the next cell, so the last one is the cell that has k)."""
    c = 0
    step = 1
    while 2 * step < nlane:
        step *= 2
    while step > 0:
        if c + step < nlane and sh_cell[5 * (c + step) + 4] <= k:
            c += step
        step = step // 2
    return c


def neighbor_row_group(item, i, lane, nlane, pos, atype, cell, grid_inv, origin, ncell, reach, periodic,
                       cell_count, cell_atoms, cell_cap, rc, sel_off, ntypes, nnei, nlist, nshift, type_count,
                       coincident, coincident_r2, status, sh_d, sh_j, sh_q, sh_t, sh_scan, sh_cell, dist):
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
    cx, cy, cz = grid_coordinates(cell_of(i, pos, grid_inv, origin, ncell), ncell)
    n_stencil = (2 * reach[0] + 1) * (2 * reach[1] + 1) * (2 * reach[2] + 1)
    count = 0
    # the stencil nlane cells at a time and their atoms as one run of candidates, one per lane: a cell holds
    # fewer atoms than a group has lanes, and a pass per cell left most lanes idle behind its barriers
    for c0 in range(0, n_stencil, nlane):
        n_cand = stencil_chunk(item, lane, nlane, c0, n_stencil, cx, cy, cz, ncell, reach, periodic, cell_count,
                               cell_cap, sh_cell, sh_scan)
        base = 0
        while base < n_cand:        # the same bound for every lane: the prefix count's barriers match
            k = base + lane
            found = 0
            j = 0
            c = 0
            d = 0.0 * rc
            if k < n_cand:
                c = chunk_cell(nlane, k, sh_cell)
                sx = int(sh_cell[5 * c + 1])
                sy = int(sh_cell[5 * c + 2])
                sz = int(sh_cell[5 * c + 3])
                j = cell_atoms[int(sh_cell[5 * c]) * cell_cap + k - int(sh_cell[5 * c + 4])]
                if j != i or sx != 0 or sy != 0 or sz != 0:
                    ox, oy, oz = image_offset(sx, sy, sz, cell)
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
                sh_q[slot] = c0 + c
                sh_t[slot] = atype[j]
            count += total
            base += nlane
        barrier(item)               # every lane has read sh_cell before the next chunk writes it
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
        code, img = entry_shift(int(sh_q[e]), cx, cy, cz, ncell, reach)
        rank = 0
        for f in range(count):
            if sh_t[f] != t_e:
                continue
            d_f = sh_d[f]
            if d_f < d:
                rank += 1
            elif d_f == d and f != e:
                code_f, img_f = entry_shift(int(sh_q[f]), cx, cy, cz, ncell, reach)
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


BODIES = (entry_shift, stencil_chunk, chunk_cell, neighbor_row_group, sort_reverse_row_group)
