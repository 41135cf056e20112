"""Named kernel arguments and the launch wrappers every backend generates from one template.

Kernel arguments travel as named packs (a ``typing.NamedTuple`` of the host code, or ``Args(...)``
for a few loose values) and are flattened only at launch.  The first launch of a body with a
given set of names checks them against the body's parameter list, so an argument can never land
in the wrong position silently; later launches reuse the compiled kernel (the check costs nothing
per call).

A wrapper gets the work-item index the backend's way, allocates the body's private scratch
(sizes are compile-time constants taken from the model) and calls the compiled body.

Arguments named in ``SPECIALISED`` are model constants that select code paths (the activation
functions and their argument, the fitting kernel's outputs per pass, the work-group passes' embedding
batch): they are not passed at launch but written into the wrapper as compile-time constants (the kernel
is compiled once per value), so the compiler drops the branches of every other activation and unrolls
the loops over a batch.  Passing the activations at run time measured 6% slower on an H200
(benchmarks/NOTES.md).
"""
from __future__ import annotations

import numpy as np


class Args:
    """A pack of named kernel arguments, in the order given: ``Args(pos=x, cell=h)``."""

    __slots__ = ("_fields", "_values")

    def __init__(self, **named):
        self._fields = tuple(named)
        self._values = tuple(named.values())

    def __iter__(self):
        return iter(self._values)

    def __repr__(self) -> str:
        return f"Args({', '.join(self._fields)})"


#: a wrapper is named after its body, so that profilers (ncu, VTune) list kernels by body
KERNEL_PREFIX = "kernel_"

SPECIALISED = frozenset({"act_emb", "act_emb_arg", "act_fit", "act_fit_arg", "fit_per_pass", "fit_quads", "batch",
                         "wide_rows"})


def flatten(packs) -> tuple[tuple[str, ...], tuple]:
    """(names, values) of packs laid end to end."""
    names: tuple[str, ...] = ()
    values: tuple = ()
    for pack in packs:
        names += pack._fields
        values += tuple(pack)
    return names, values


def body_parameters(body) -> tuple[str, ...]:
    code = body.__code__
    return code.co_varnames[:code.co_argcount]


def check_signature(body, n_index: int, names, local=(), scratch=()) -> None:
    """Raise TypeError unless body's parameters are n_index index parameters, then ``names``, then
    the group-local and private scratch arrays, in that order."""
    params = body_parameters(body)[n_index:]
    expected = (*names, *local, *scratch)
    if params != expected:
        first = next((k for k, (a, b) in enumerate(zip(params, expected)) if a != b), min(len(params), len(expected)))
        got = expected[first] if first < len(expected) else "(nothing)"
        want = params[first] if first < len(params) else "(nothing)"
        raise TypeError(f"kernel body '{body.__name__}' launched with argument {first + 1} = '{got}' where it "
                        f"takes '{want}' ({len(expected)} arguments given, {len(params)} taken)")


def wrapper_source(body_name: str, call_args: list[str], nscratch: int, *, signature: str, index: str,
                   alloc: str) -> str:
    """Wrapper of a body ``body(i, *args, *scratch)``; ``call_args`` are the wrapper's names for the
    arguments: ``a<k>`` (a kernel parameter) or ``C<k>`` (a compile-time constant)."""
    params = ", ".join(a for a in call_args if a.startswith("a"))
    scratch = "".join(f"    s{k} = {alloc.format(size=f'S{k}')}\n" for k in range(nscratch))
    call = ", ".join(call_args + [f"s{k}" for k in range(nscratch)])
    return (f"def {KERNEL_PREFIX}{body_name}({signature}n, {params}):\n"
            f"    i = {index}\n"
            f"{scratch}"
            f"    if i < n:\n"
            f"        {body_name}(i, {call})\n")


def group_wrapper_source(body_name: str, call_args: list[str], nlocal: int, nscratch: int, *, signature: str,
                         local_args: bool, group: str, lane: str, item: str, local_alloc: str, alloc: str) -> str:
    """Wrapper of a work-group body ``body(item, group_id, lane, nlane, *args, *local, *scratch)``.
    ``{locals}`` in ``signature`` stands for the local arrays when the backend passes them in."""
    signature = signature.format(locals="".join(f"l{k}, " for k in range(nlocal)))
    local = [f"l{k}" for k in range(nlocal)]
    params = [a for a in call_args if a.startswith("a")] + (local if local_args else [])
    lines = [f"def {KERNEL_PREFIX}{body_name}({signature}n, {', '.join(params)}):",
             f"    g = {group}",
             f"    lane = {lane}"]
    if not local_args and local_alloc:
        lines += [f"    l{k} = {local_alloc.format(size=f'L{k}')}" for k in range(nlocal)]
    lines += [f"    s{k} = {alloc.format(size=f'S{k}')}" for k in range(nscratch)]
    call = ", ".join([item, "g", "lane", "NLANE"] + call_args + local + [f"s{k}" for k in range(nscratch)])
    lines.append(f"    {body_name}({call})")
    return "\n".join(lines) + "\n"


def specialisation(names: tuple[str, ...], specialised=SPECIALISED) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Positions of the arguments passed at launch, and of those compiled in (``specialised``)."""
    const = tuple(k for k, name in enumerate(names) if name in specialised)
    return tuple(k for k in range(len(names)) if k not in const), const


def _exec(src: str, body_name: str, filename: str, ns: dict):
    """The wrapper function of ``src``, carrying ``dpsycl_identity``: its source and the constants compiled
    into it (not the compiled body, whose source a persistent cache digests on its own)."""
    constants = sorted((name, repr(value)) for name, value in ns.items() if name != body_name)
    exec(compile(src, filename, "exec"), ns)
    wrapper = ns[KERNEL_PREFIX + body_name]
    wrapper.dpsycl_identity = (src, tuple(constants))
    return wrapper


class KernelCache:
    """Compiled launch wrappers of one backend, one per (body, argument names, scratch, dtype).

    ``item_template`` and ``group_template`` are the keyword arguments of wrapper_source and
    group_wrapper_source in the backend's dialect; ``scope(dtype)`` gives the names the wrapper
    source uses (scratch allocator, DT); ``jit_kernel`` compiles a wrapper into a kernel
    (``jit_group_kernel`` a work-group wrapper, if the backend compiles those with other options);
    ``specialised``: the argument names compiled in as constants (default SPECIALISED).
    """

    def __init__(self, python_bodies: dict, compiled_bodies: dict, jit_kernel, scope, item_template: dict,
                 group_template: dict, jit_group_kernel=None, specialised=SPECIALISED):
        self.python_bodies = python_bodies
        self.compiled_bodies = compiled_bodies
        self.jit_kernel = jit_kernel
        self.jit_group_kernel = jit_group_kernel or jit_kernel
        self.scope = scope
        self.item_template = item_template
        self.group_template = group_template
        self.kernels: dict = {}
        self.splits: dict = {}
        self.specialised = frozenset(specialised)

    def _split(self, names, values):
        """(constants, run-time values, wrapper argument names) of one launch."""
        split = self.splits.get(names)
        if split is None:
            split = self.splits[names] = specialisation(names, self.specialised)
        keep, const = split
        if not const:
            return (), values, None
        constants = tuple(values[k] for k in const)
        return constants, tuple(values[k] for k in keep), const

    @staticmethod
    def _call_args(nargs: int, const, constants, ns: dict) -> list[str]:
        names = [f"a{k}" for k in range(nargs)]
        for j, (k, value) in enumerate(zip(const or (), constants)):
            names[k] = f"C{j}"
            ns[f"C{j}"] = value
        return names

    def item_kernel(self, body_name: str, names, values, scratch: dict, dtype, template: dict | None = None):
        """(compiled kernel, the values to pass at launch); ``template`` replaces item_template (a
        backend's second launch form, e.g. with an explicit work-group size)."""
        constants, runtime, const = self._split(names, values)
        key = (body_name, names, constants, tuple(scratch.items()), np.dtype(dtype).str,
               None if template is None else tuple(template.items()))
        kern = self.kernels.get(key)
        if kern is None:
            check_signature(self.python_bodies[body_name], 1, names, (), tuple(scratch))
            ns = {**self.scope(dtype), body_name: self.compiled_bodies[body_name]}
            ns.update({f"S{k}": int(size) for k, size in enumerate(scratch.values())})
            call_args = self._call_args(len(names), const, constants, ns)
            src = wrapper_source(body_name, call_args, len(scratch), **(template or self.item_template))
            kern = self.kernels[key] = self.jit_kernel(_exec(src, body_name, f"<{body_name} wrapper>", ns))
        return kern, runtime

    def group_kernel(self, body_name: str, names, values, nlane: int, local: dict, scratch: dict, dtype):
        """(compiled kernel, the values to pass at launch)."""
        constants, runtime, const = self._split(names, values)
        key = ("group", body_name, names, constants, nlane, tuple(local.items()), tuple(scratch.items()),
               np.dtype(dtype).str)
        kern = self.kernels.get(key)
        if kern is None:
            check_signature(self.python_bodies[body_name], 4, names, tuple(local), tuple(scratch))
            ns = {**self.scope(dtype), body_name: self.compiled_bodies[body_name], "NLANE": int(nlane)}
            ns.update({f"S{k}": int(size) for k, size in enumerate(scratch.values())})
            ns.update({f"L{k}": int(size) for k, size in enumerate(local.values())})
            call_args = self._call_args(len(names), const, constants, ns)
            src = group_wrapper_source(body_name, call_args, len(local), len(scratch), **self.group_template)
            kern = self.kernels[key] = self.jit_group_kernel(_exec(src, body_name, f"<{body_name} group wrapper>", ns))
        return kern, runtime
