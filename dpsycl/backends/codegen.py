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


def group_wrapper_source(body_name: str, nargs: int, nlocal: int, nscratch: int, *, signature: str,
                         local_args: bool, group: str, lane: str, item: str, local_alloc: str,
                         alloc: str) -> str:
    """Wrapper of a work-group body ``body(item, group_id, lane, nlane, *args, *local, *scratch)``."""
    args = [f"a{k}" for k in range(nargs)]
    local = [f"l{k}" for k in range(nlocal)]
    params = args + (local if local_args else [])
    lines = [f"def kernel({signature}n, {', '.join(params)}):",
             f"    g = {group}",
             f"    lane = {lane}"]
    if not local_args and local_alloc:
        lines += [f"    l{k} = {local_alloc.format(size=f'L{k}')}" for k in range(nlocal)]
    lines += [f"    s{k} = {alloc.format(size=f'S{k}')}" for k in range(nscratch)]
    call = ", ".join([item, "g", "lane", "NLANE"] + args + local + [f"s{k}" for k in range(nscratch)])
    lines.append(f"    {body_name}({call})")
    return "\n".join(lines) + "\n"


def build_group_wrapper(body_name: str, nargs: int, nlane: int, local: tuple[int, ...], scratch: tuple[int, ...],
                        scope: dict, **template):
    ns = dict(scope)
    ns.update({f"S{k}": int(size) for k, size in enumerate(scratch)})
    ns.update({f"L{k}": int(size) for k, size in enumerate(local)})
    ns["NLANE"] = int(nlane)
    src = group_wrapper_source(body_name, nargs, len(local), len(scratch), **template)
    exec(compile(src, f"<{body_name} group wrapper>", "exec"), ns)
    return ns["kernel"]
