"""The activation functions of DeePMD-kit's networks: one table of names and codes, one body.

``ACTIVATIONS`` is the single source of which activations dpsycl evaluates and the integer code
each kernel receives; the NumPy reference (dpsycl/networks.py) and model validation read it too.
``ALIASES`` maps DeePMD-kit's other spellings onto those names ("none" is the linear layer;
"gelu_tf" is TensorFlow's tanh approximation, the same function as DeePMD-kit's "gelu";
"custom_silu" is DeePMD-kit's other name of "silut").  An activation may carry one argument,
written after a colon as DeePMD-kit does: the threshold T of "silut:T" (default 3).

    tanh      φ = tanh z
    gelu      φ = z/2 · (1 + tanh(√(2/π) (z + 0.044715 z³)))
    relu      φ = max(z, 0)
    relu6     φ = min(max(z, 0), 6)
    softplus  φ = log(1 + eᶻ)
    sigmoid   φ = σ(z) = 1 / (1 + e⁻ᶻ)
    linear    φ = z
    silu      φ = z σ(z)
    silut     φ = z σ(z) for z < T, else tanh(s (z − T)) + T σ(T),  s = σ(T) + T σ(T)(1 − σ(T))
              (continuous with a continuous first derivative at T)

Every tanh of the bodies goes through ``tanh`` (the body below: ``math.tanh``).  A backend may bind
``tanh_branch_free`` in its place (device_kernels.bind_bodies, as it binds its primitives): the CUDA
backend does so in float64, where libdevice's tanh takes one of two paths by |z| and a warp whose
lanes straddle |z| ≈ 0.65 runs both (benchmarks/NOTES.md, session 9).  The per-pair embedding nets
call ``pair_activation``, whose tanh is ``pair_tanh`` (by default ``tanh``): the SYCL backend binds
``tanh_expm1`` there on CPU devices, where the OpenCL compiler's vector tanh costs a third of the
embedding passes and expm1 plus a division half as much; its fitting kernels keep ``tanh``, which
they run faster with the library call (benchmarks/NOTES.md, session 13).
"""
import math

ACTIVATIONS = ("tanh", "gelu", "relu", "relu6", "softplus", "sigmoid", "linear", "silu", "silut")
ALIASES = {"none": "linear", "gelu_tf": "gelu", "custom_silu": "silut"}
DEFAULT_ARGUMENT = {"silut": 3.0}
GELU_C = 0.7978845608028654  # sqrt(2/pi)
GELU_A = 0.044715
#: the cubic coefficient of TensorFlow's tf.nn.gelu(approximate=True), DeePMD-kit's TensorFlow "gelu_tf":
#: it casts 0.044715 through float32, so its values depart from gelu's by up to ~1e-9 (dpsycl evaluates
#: gelu_tf as gelu, as DeePMD-kit's other backends do; only `dpsycl compress` uses this, as dp compress does)
GELU_A_TF = 0.044714998453855515


def canonical_activation(name):
    """The table's name for a DeePMD-kit activation name, its argument dropped (None and "" mean
    tanh, DeePMD-kit's default)."""
    base = (name or "tanh").lower().partition(":")[0]
    return ALIASES.get(base, base)


def activation_argument(name):
    """The argument of an activation ("silut:2.0" → 2.0; the table's default, else 0)."""
    _, colon, text = (name or "tanh").partition(":")
    if colon:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"activation '{name}': '{text}' is not a number") from None
    return DEFAULT_ARGUMENT.get(canonical_activation(name), 0.0)


def activation_code(name):
    """Integer code of an activation for the kernels; ValueError for one outside the table."""
    canonical = canonical_activation(name)
    if canonical not in ACTIVATIONS:
        raise ValueError(f"activation '{name}' is not supported; supported: {', '.join(ACTIVATIONS)}")
    activation_argument(name)
    return ACTIVATIONS.index(canonical)


#: log2(e), and ln 2 split in two (Cody and Waite): k·LN2_HI is exact for the k of tanh_branch_free
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10


def tanh(z):
    """tanh z (math.tanh; see the module docstring for tanh_branch_free)."""
    return math.tanh(z)


def tanh_branch_free(z):
    """tanh z = sign(z)·(eʸ − 1)/(eʸ + 1), y = 2|z|, on one path for every z (within 2.4 ulp of the true
    value; glibc's tanh: 2.0; 70,000 points against 40-digit mpmath, session 9): y = k ln2 + r with
    |r| ≤ ln2/2, eʳ − 1 by its Taylor series to r¹³ (the first term left out is < 1.2e-17 relative),
    eʸ − 1 = 2ᵏ(eʳ − 1) + (2ᵏ − 1), which has no cancellation for small |z| (k = 0 there).  |z| is capped
    at 22, where tanh is 1 in float64; a NaN stays NaN."""
    a = abs(z)
    if a > 22.0:
        a = 22.0
    y = a + a if a == a else 0.0     # a NaN: computed as 0, given back at the end
    k = math.floor(y * LOG2E + 0.5)
    r = (y - k * LN2_HI) - k * LN2_LO
    q = 2.08767569878681e-09 + r * 1.6059043836821613e-10
    q = 2.505210838544172e-08 + r * q
    q = 2.755731922398589e-07 + r * q
    q = 2.7557319223985893e-06 + r * q
    q = 2.48015873015873e-05 + r * q
    q = 0.0001984126984126984 + r * q
    q = 0.001388888888888889 + r * q
    q = 0.008333333333333333 + r * q
    q = 0.041666666666666664 + r * q
    q = 0.16666666666666666 + r * q
    q = 0.5 + r * q
    expm1_r = r + r * r * q
    scale = 1.0 * (1 << int(k))
    expm1_y = scale * expm1_r + (scale - 1.0)
    t = expm1_y / (expm1_y + 2.0) + 0.0 * a
    return t if z >= 0.0 else -t


def tanh_expm1(z):
    """tanh z = (e²ᶻ − 1)/(e²ᶻ + 1) by expm1, which has no cancellation for small |z| (a few ulp from
    the true value: expm1's error and two roundings).  From z = 20 on tanh is 1 in float64 and float32,
    so e²ᶻ is capped at e⁴⁰ (below float32's largest number); a NaN stays NaN (the comparison is false)."""
    capped = 20.0 if z > 20.0 else z
    e = math.expm1(capped + capped)
    return e / (e + 2.0)


def pair_tanh(z):
    """The tanh of the per-pair embedding nets (``tanh`` unless a backend binds another)."""
    return tanh(z)


def activation(code, z, arg):
    """φ(z) and φ'(z) for the activation with table code ``code`` and argument ``arg``."""
    if code == 0:
        y = tanh(z)
        return y, 1.0 - y * y
    if code == 1:
        t = tanh(GELU_C * (z + GELU_A * z * z * z))
        return 0.5 * z * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * z * z)
    if code == 2:
        return (z, 1.0) if z > 0.0 else (0.0 * z, 0.0 * z)
    if code == 3:
        if z <= 0.0:
            return 0.0 * z, 0.0 * z
        return (z, 1.0 + 0.0 * z) if z < 6.0 else (6.0 + 0.0 * z, 0.0 * z)
    if code == 4:
        if z > 30.0:
            return z, 1.0 + 0.0 * z
        e = math.exp(z)
        return math.log1p(e), e / (1.0 + e)
    if code == 5:
        y = 1.0 / (1.0 + math.exp(-z))
        return y, y * (1.0 - y)
    if code == 7 or (code == 8 and z < arg):
        sg = 1.0 / (1.0 + math.exp(-z))
        return z * sg, sg + z * sg * (1.0 - sg)
    if code == 8:
        sg = 1.0 / (1.0 + math.exp(-arg))
        slope = sg + arg * sg * (1.0 - sg)
        t = tanh(slope * (z - arg))
        return t + arg * sg, slope * (1.0 - t * t)
    return z, 1.0 + 0.0 * z


def pair_activation(code, z, arg):
    """``activation`` for the per-pair embedding nets: the same table, its tanh through ``pair_tanh``."""
    if code == 0:
        y = pair_tanh(z)
        return y, 1.0 - y * y
    return activation(code, z, arg)


BODIES = (tanh, tanh_branch_free, tanh_expm1, pair_tanh, activation, pair_activation)
