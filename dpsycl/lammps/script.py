"""Where dpsycl enters a LAMMPS input script: the ``pair_style dpsycl`` line.

An ordinary LAMMPS input names its force field with ``pair_style``/``pair_coeff``; with dpsycl it
says, at the same place (after the box exists, before ``run``)::

    pair_style dpsycl [MODEL]          # or DeePMD-kit's own line: pair_style deepmd MODEL
    pair_coeff * * Cu Ag               # optional: the element of each atom type, in type order

The script is cut there into the part before and the part after, each run by LAMMPS itself as a
file (so ``variable``, ``include``, ``label``/``jump`` and ``if`` work inside each part); in
between, dpsycl installs itself (dpsycl/lammps/force_field.py).  The marker must be a line of
the main script, not of an included file, and a ``jump`` loop must not straddle it.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from .library import LammpsError

MARKER_STYLES = ("dpsycl", "deepmd")


@dataclass
class SplitScript:
    head: str                    # input lines before the marker
    tail: str                    # input lines after it (and after its pair_coeff, if any)
    model: str | None            # MODEL named on the pair_style line
    elements: list[str] | None   # elements of the pair_coeff line
    line: int                    # line number of the marker (1-based)


def _commands(text: str):
    """(first line number, physical lines, words) of each command; '&' continues a line."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, chunk = i, [lines[i]]
        while chunk[-1].rstrip().endswith("&") and i + 1 < len(lines):
            i += 1
            chunk.append(lines[i])
        i += 1
        joined = " ".join(c.rstrip().rstrip("&") for c in chunk)
        try:
            words = shlex.split(joined, comments=True)
        except ValueError:          # unbalanced quotes: not ours to judge, LAMMPS will
            words = joined.split()
        yield start, chunk, words


def split_script(text: str, name: str = "input") -> SplitScript:
    """Cut ``text`` at its ``pair_style dpsycl|deepmd`` line; LammpsError if there is none or two."""
    head, tail, found = [], [], None
    model = elements = None
    expect_coeff = False
    for start, chunk, words in _commands(text):
        if found is None:
            if len(words) >= 2 and words[0] == "pair_style" and words[1] in MARKER_STYLES:
                if len(words) > 3:
                    raise LammpsError(f"{name}:{start + 1}: 'pair_style {words[1]}' takes at most a model "
                                      f"file, got: {' '.join(words[2:])}")
                found, model, expect_coeff = start + 1, (words[2] if len(words) == 3 else None), True
                continue
            head += chunk
            continue
        if expect_coeff and words:
            expect_coeff = False
            if words[0] == "pair_coeff":
                if words[1:3] != ["*", "*"]:
                    raise LammpsError(f"{name}:{start + 1}: dpsycl's pair_coeff must be 'pair_coeff * * "
                                      f"ELEMENT...' (one element per atom type)")
                elements = words[3:] or None
                continue
        if len(words) >= 2 and words[0] == "pair_style" and words[1] in MARKER_STYLES:
            raise LammpsError(f"{name}:{start + 1}: a second 'pair_style {words[1]}' line (the first is line {found})")
        tail += chunk
    if found is None:
        raise LammpsError(f"{name} has no 'pair_style dpsycl' line: put one where the force field is set "
                          "(after read_data/create_box, before run), optionally followed by 'pair_coeff * * Cu Ag'")
    return SplitScript("\n".join(head) + "\n", "\n".join(tail) + "\n", model, elements, found)
