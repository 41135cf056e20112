"""Per-atom integrator steps (velocity Verlet, the Langevin O step, velocity rescaling).

Units: Å, fs, eV, amu; ``inv_mass`` already holds the factor that turns eV/Å/amu into Å/fs².
Random numbers come from a counter-based hash of (seed, step, atom, component), so a trajectory
is reproduced bit for bit from the seed and the step number alone — no generator state to save.
"""
import math

MASK32 = 0xFFFFFFFF


def hash32(x):
    """Avalanching 32-bit integer hash (lowbias32); exact under 64-bit wrap-around or big ints."""
    x = x & MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


def gaussian(seed, step, counter):
    """Standard normal number for (seed, step, counter) by Box–Muller on two hashed uniforms."""
    h = hash32(hash32(hash32(seed) ^ (step & MASK32)) ^ ((step >> 32) & MASK32))
    u1 = (hash32(h ^ hash32(2 * counter)) + 0.5) / 4294967296.0
    u2 = (hash32(h ^ hash32(2 * counter + 1)) + 0.5) / 4294967296.0
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2)


def kick(i, vel, force, inv_mass, dt):
    """v ← v + dt · F/m."""
    for k in range(3):
        vel[3 * i + k] += dt * force[3 * i + k] * inv_mass[i]


def drift(i, pos, vel, dt):
    """x ← x + dt · v."""
    for k in range(3):
        pos[3 * i + k] += dt * vel[3 * i + k]


def langevin_o_step(i, vel, inv_mass, c1, kt_amu, seed, step):
    """Exact Ornstein–Uhlenbeck update v ← c1 v + sqrt((1 − c1²) kT/m) ξ (the O of BAOAB)."""
    sigma = math.sqrt((1.0 - c1 * c1) * kt_amu * inv_mass[i])
    for k in range(3):
        vel[3 * i + k] = c1 * vel[3 * i + k] + sigma * gaussian(seed, step, 3 * i + k)


def scale_velocities(i, vel, alpha):
    for k in range(3):
        vel[3 * i + k] *= alpha


def chunk_bounds(i, chunk, n):
    """Atoms [start, stop) of chunk i: the host finishes each per-chunk reduction."""
    start = i * chunk
    stop = start + chunk
    if stop > n:
        stop = n
    return start, stop


def max_displacement2(i, pos, ref, n, chunk, out):
    """out[i] ← max |pos_a − ref_a|² over atoms a of chunk i (the Verlet-skin check; host takes the max)."""
    best = pos[0] - pos[0]
    start, stop = chunk_bounds(i, chunk, n)
    for a in range(start, stop):
        dx = pos[3 * a] - ref[3 * a]
        dy = pos[3 * a + 1] - ref[3 * a + 1]
        dz = pos[3 * a + 2] - ref[3 * a + 2]
        d2 = dx * dx + dy * dy + dz * dz
        if d2 > best:
            best = d2
    out[i] = best


def twice_kinetic(i, vel, inv_mass, n, chunk, out):
    """out[i] ← Σ m_a v_a² over atoms a of chunk i, in eV (inv_mass holds 1 eV/(Å·amu) / m_a)."""
    acc = vel[0] - vel[0]
    start, stop = chunk_bounds(i, chunk, n)
    for a in range(start, stop):
        v2 = vel[3 * a] * vel[3 * a] + vel[3 * a + 1] * vel[3 * a + 1] + vel[3 * a + 2] * vel[3 * a + 2]
        acc += v2 / inv_mass[a]
    out[i] = acc


def position_bounds(i, pos, n, chunk, out):
    """out[6i:6i+3] ← min, out[6i+3:6i+6] ← max of the coordinates of chunk i (open-boundary grids)."""
    start, stop = chunk_bounds(i, chunk, n)
    for k in range(3):
        lo = pos[3 * start + k]
        hi = lo
        for a in range(start, stop):
            x = pos[3 * a + k]
            if x < lo:
                lo = x
            if x > hi:
                hi = x
        out[6 * i + k] = lo
        out[6 * i + 3 + k] = hi


BODIES = (hash32, gaussian, kick, drift, langevin_o_step, scale_velocities, chunk_bounds, max_displacement2,
          twice_kinetic, position_bounds)
