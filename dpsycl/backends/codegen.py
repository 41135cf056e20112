"""Thin launch wrappers around the kernel bodies, generated per backend from one template.

A wrapper gets the work-item index the backend's way, allocates the body's private scratch arrays
(sizes are compile-time constants taken from the model) and calls the compiled body.
"""
from __future__ import annotations


def wrapper_source(body_name: str, nargs: int, nscratch: int, *, signature: str, index: str,
                   alloc: str) -> str:
    args = ", ".join(f"a{k}" for k in range(nargs))
    scratch = "".join(f"    s{k} = {alloc.format(size=f'S{k}')}\n" for k in range(nscratch))
    call_args = ", ".join([f"a{k}" for k in range(nargs)] + [f"s{k}" for k in range(nscratch)])
    return (f"def kernel({signature}n, {args}):\n"
            f"    i = {index}\n"
            f"{scratch}"
            f"    if i < n:\n"
            f"        {body_name}(i, {call_args})\n")


def build_wrapper(body_name: str, nargs: int, scratch: tuple[int, ...], scope: dict, **template):
    """Python function of the wrapper; ``scope`` supplies the compiled body and the backend names."""
    ns = dict(scope)
    ns.update({f"S{k}": int(size) for k, size in enumerate(scratch)})
    exec(compile(wrapper_source(body_name, nargs, len(scratch), **template), f"<{body_name} wrapper>", "exec"), ns)
    return ns["kernel"]
