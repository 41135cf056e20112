"""The shape of the package, checked: no import cycle, no reach into another module's private
names, modules of readable size, backends that fulfil their Protocol, descriptor units behind one
seam, and each rule written once.

Static checks read the source with ``ast`` (nothing is imported), over the three folders that
make up the installed package (dpsycl/, device_kernels/ as dpsycl.device_kernels, extract/ as
dpsycl.extract); the private-name check also covers tests/ and benchmarks/.
"""
from __future__ import annotations

import ast
import inspect
import math
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = {"dpsycl": ROOT / "dpsycl", "dpsycl.device_kernels": ROOT / "device_kernels",
                 "dpsycl.extract": ROOT / "extract"}
MAX_LINES = 600


def package_modules() -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every module of the installed package."""
    out = {}
    for name, folder in PACKAGE_ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if name == "dpsycl" and parts and parts[0] in ("device_kernels", "extract"):
                continue
            out[".".join([name, *parts])] = path
    return out


MODULES = package_modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports_of(module: str) -> set[str]:
    """Modules of the package that ``module`` imports, at any level of its code (lazy imports
    inside functions included: they are dependencies too)."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if _is_package(module) else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = []
            for alias in node.names:
                sub = f"{prefix}.{alias.name}"
                targets.append(sub if sub in MODULES else prefix)
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != module}
    return found


def test_module_list_is_complete():
    for name in ("dpsycl.evaluator", "dpsycl.device_kernels.se_e2_a", "dpsycl.extract.frozen_graph",
                 "dpsycl.descriptors.se_e2_a.reference", "dpsycl.backends.protocol"):
        assert name in MODULES


def test_no_import_cycle():
    graph = {m: imports_of(m) for m in MODULES}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):                      # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The checker itself: two modules importing each other are reported."""
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import x\n")
    fake = {"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"}
    monkeypatch.setattr(__import__(__name__), "MODULES", fake)
    assert imports_of("pkg.a") == {"pkg.b"} and imports_of("pkg.b") == {"pkg.a"}


def test_no_module_over_600_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


# ---------------------------------------------------------------------------------------------
# private names
#: underscore names that are public by convention (namedtuple API, dunders are skipped anyway)
PUBLIC_UNDERSCORE = {"_fields", "_replace", "_asdict", "_make", "_field_defaults"}
#: private names of other projects that dpsycl must use, each for a measured reason
THIRD_PARTY = {
    # numba-dpex 0.23 types local memory on the default device's cached queue; only dpctl's queue
    # manager hands out that exact queue (shared/notes/sycl-stack.md)
    ("dpctl", "_sycl_queue_manager"),
    # the standard library's documented way to end a process without running cleanup handlers
    ("os", "_exit"),
    # oneMKL's gemm as dpnp 0.15 (pinned) binds it: dpnp.matmul around it costs 0.3 ms of checks and copies
    # per product, six times the 0.05 ms of the call itself (the fitting net's products, dpsycl/backends/sycl.py)
    ("dpnp.backend.extensions.blas", "_blas_impl"),
    ("onemkl_blas", "_gemm"),
}


def _defined_private_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)          # __slots__ entries
    return {n for n in names if n.startswith("_")}


def private_reach(path: pathlib.Path) -> list[str]:
    """``obj._name`` and ``from m import _name`` where ``_name`` is not this module's own."""
    tree = ast.parse(path.read_text())
    own = _defined_private_names(tree)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = node.attr
            if not name.startswith("_") or name.startswith("__") or name in PUBLIC_UNDERSCORE or name in own:
                continue
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if (base, name) in THIRD_PARTY:
                continue
            problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{name}")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.name.startswith("_") and not alias.name.startswith("__")
                        and (node.module, alias.name) not in THIRD_PARTY):
                    problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: import {alias.name}")
    return problems


def test_no_code_touches_another_modules_private_names():
    files = list(MODULES.values()) + sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    problems = [p for f in files for p in private_reach(f)]
    assert not problems, "\n".join(problems)


def test_the_private_name_check_finds_a_reach(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(dp):\n    return dp._evaluator\n")
    good = tmp_path / "good.py"
    good.write_text("class A:\n    def __init__(self):\n        self._x = 1\n    def g(self, other):\n"
                    "        return other._x\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert private_reach(bad) == ["bad.py:2: ._evaluator"]
        assert private_reach(good) == []
    finally:
        ROOT = saved


# ---------------------------------------------------------------------------------------------
# backends and descriptor units behind their interfaces
def _protocol_methods(protocol) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in vars(protocol).items()
            if callable(fn) and not name.startswith("_")}


def _backend_classes():
    from dpsycl.backends import cuda, sycl_available
    classes = [cuda.CudaBackend]
    if sycl_available():
        from dpsycl.backends import sycl
        classes.append(sycl.SyclBackend)
    return classes


@pytest.mark.parametrize("cls", _backend_classes(), ids=lambda c: c.__name__)
def test_backends_implement_the_protocol(cls):
    from dpsycl.backends.protocol import DeviceBackend
    for name, sig in _protocol_methods(DeviceBackend).items():
        assert hasattr(cls, name), f"{cls.__name__} lacks {name}"
        have = inspect.signature(getattr(cls, name))
        assert list(have.parameters) == list(sig.parameters), (cls.__name__, name, have, sig)
    assert isinstance(getattr(cls, "kind", None), str)


def test_the_opencl_backend_is_a_protocol_instance():
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("no SYCL stack here")
    from dpsycl.backends import make_backend
    from dpsycl.backends.protocol import DeviceBackend
    backend = make_backend("opencl:cpu")
    assert isinstance(backend, DeviceBackend)
    for attr in ("name", "fp64", "is_gpu", "supports_groups", "parallel_width"):
        assert getattr(backend, attr) is not None


def test_a_kernel_launched_with_misplaced_arguments_is_refused():
    """Named argument packs are checked against the body's parameter list before compiling."""
    from dpsycl.backends.launch import Args, check_signature
    from dpsycl.device_kernels.integrators import kick
    check_signature(kick, 1, ("vel", "force", "inv_mass", "dt"))
    with pytest.raises(TypeError, match="argument 2 = 'inv_mass' where it takes 'force'"):
        check_signature(kick, 1, ("vel", "inv_mass", "force", "dt"))
    with pytest.raises(TypeError, match="3 arguments given, 4 taken"):
        check_signature(kick, 1, ("vel", "force", "inv_mass"))
    assert list(Args(a=1, b=2)) == [1, 2] and Args(a=1, b=2)._fields == ("a", "b")


UNAWARE_OF_DESCRIPTORS = ("evaluator.py", "workspace.py", "reference.py", "deep_pot.py", "model_io.py",
                          "backends/__init__.py", "backends/protocol.py", "backends/launch.py", "backends/kernels.py", "backends/sycl.py",
                          "backends/cuda.py", "md", "h5md.py", "device_kernels/__init__.py",
                          "device_kernels/forces.py", "device_kernels/neighbors.py", "device_kernels/layers.py")


def _code_words(path: pathlib.Path) -> set[str]:
    """Identifiers, imported names and non-docstring strings of a module (comments and docstrings
    may mention a descriptor as an example; code may not)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.alias):
            words |= set(node.name.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            words |= set(node.module.split("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words |= set(node.value.replace(".", " ").replace(":", " ").split())
    return words


def test_shared_code_names_no_descriptor():
    """The seam: adding a descriptor touches none of these (docs/architecture.md)."""
    from dpsycl.descriptors import UNITS
    words = set(UNITS) | {"SeE2A", "se_e2_a", "se_a"}
    offenders = []
    for rel in UNAWARE_OF_DESCRIPTORS:
        base = ROOT / ("dpsycl" if not rel.startswith("device_kernels") else "") / rel
        for path in ([base] if base.suffix == ".py" else sorted(base.rglob("*.py"))):
            if not path.exists():
                continue
            offenders += [f"{path.relative_to(ROOT)}: {w}" for w in words if w in _code_words(path)]
    assert not offenders, offenders


def test_every_descriptor_unit_is_complete():
    import importlib

    import dpsycl.device_kernels as device_kernels
    from dpsycl.descriptors import UNITS, DescriptorUnit
    for kind, unit in UNITS.items():
        assert isinstance(unit, DescriptorUnit) and unit.kind == kind == unit.params.kind
        for entry in ("forward", "backward"):
            assert callable(getattr(unit.reference, entry))
        assert "energies_and_pair_gradients" in vars(unit.device) and unit.device.layouts
        names = {b.__name__ for b in device_kernels.bodies(device_kernels.COMMON_MODULES + unit.kernel_modules)}
        assert len(names) > len(device_kernels.bodies())
        module, function = unit.extraction.split(":")
        assert callable(getattr(importlib.import_module(module), function))


# ---------------------------------------------------------------------------------------------
# one source for each rule
def _package_text_without(*exempt: str) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in MODULES.values()
            if str(p.relative_to(ROOT)) not in exempt}


@pytest.mark.parametrize("needle, home", [
    ("\\x89HDF", "dpsycl/formats.py"),                           # file magic
    ("more neighbours of one species", "dpsycl/neighbors.py"),   # the sel-truncation warning
    ("2 * n_in", "device_kernels/layers.py"),                    # the embedding skip rule
    ("GELU_C =", "device_kernels/activations.py"),               # the activation table
    ("def random_alloy", "dpsycl/structures.py"),                # structure builder
    ("mixed boundary conditions", "dpsycl/structures.py"),       # atoms -> arrays
])
def test_rule_is_written_once(needle, home):
    hits = [name for name, text in _package_text_without().items() if needle in text]
    assert hits == [home], hits


def test_numpy_and_kernel_activations_agree_for_every_table_entry():
    """Two implementations of the one table: the NumPy reference (by name) and the kernel body
    (by code), compared at points on both sides of every kink."""
    from dpsycl.device_kernels.activations import (ACTIVATIONS, ALIASES, activation, activation_argument,
                                                   activation_code)
    from dpsycl.networks import activate
    z = np.array([-40.0, -7.0, -1.3, -1e-3, 0.0, 1e-3, 0.7, 1.99, 2.01, 2.99, 3.01, 5.99, 6.01, 31.0, 40.0])
    for name in (*ACTIVATIONS, *ALIASES, "silut:2.0"):
        y, dy = activate(name, z)
        code, arg = activation_code(name), activation_argument(name)
        for k, zk in enumerate(z):
            yk, dyk = activation(code, float(zk), arg)
            # math.tanh and np.tanh may differ in the last bit, which 1 − tanh² amplifies near saturation
            assert yk == pytest.approx(y[k], rel=1e-14, abs=1e-15), (name, zk)
            assert dyk == pytest.approx(dy[k], rel=1e-9, abs=1e-15), (name, zk)
    with pytest.raises(ValueError, match="not supported"):
        activation_code("swish_unknown")
    with pytest.raises(ValueError, match="not a number"):
        activation_code("silut:x")


def _assert_within_four_ulp_of_math_tanh(tanh, seed, special):
    """tanh against libm's at random z from 1e-300 to saturation, at ``special`` points and their
    negatives, and at ±∞ and NaN (a NaN reaching a layer is not hidden as ±1)."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.uniform(-25.0, 25.0, 4000), rng.uniform(-1.0, 1.0, 4000), 10.0 ** rng.uniform(-300, 0, 2000),
                        special])
    z = np.concatenate([z, -z])
    for zk in z:
        got, want = tanh(float(zk)), math.tanh(float(zk))
        assert abs(got - want) <= 4 * np.spacing(abs(want)), (zk, got, want)
        assert got * want >= 0.0, zk
    assert tanh(math.inf) == 1.0 and tanh(-math.inf) == -1.0
    assert math.isnan(tanh(math.nan))


def test_branch_free_tanh_is_within_four_ulp_of_math_tanh():
    """The CUDA backend's float64 tanh (one path for every z; within 2.4 ulp of 40-digit mpmath,
    activations.py), on both sides of libdevice's switch at |z| ≈ 0.65 and of every step of its range
    reduction."""
    from dpsycl.device_kernels.activations import tanh_branch_free
    _assert_within_four_ulp_of_math_tanh(tanh_branch_free, 7, np.concatenate([
        np.arange(1, 60) * np.log(2.0) / 2.0, [0.0, 0.17328679514, 0.65, 0.6533, 19.06, 22.0, 22.5]]))


def test_expm1_tanh_is_within_four_ulp_of_math_tanh():
    """The tanh that SYCL CPU devices bind in the per-pair embedding nets (expm1 and one division),
    against libm's over the same points as the branch-free one, its cap at z = 20 included."""
    from dpsycl.device_kernels.activations import tanh_expm1
    _assert_within_four_ulp_of_math_tanh(tanh_expm1, 8, [0.0, 1e-8, 0.5, 19.99, 20.0, 20.01, 22.0, 700.0])
