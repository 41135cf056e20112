"""The hybrid section of a model file: the group ``/descriptor`` (docs/model-format.md).

    /descriptor                attrs type="hybrid", nmembers
        member_{k}             member k's own section (its unit writes it: attrs type=..., ...)
"""
from __future__ import annotations

import numpy as np

from ...hdf5_files import fixed_text
from ...model_sections import SectionReader
from ..base import unit, unit_of
from .params import Hybrid


def write_section(group, d: Hybrid) -> None:
    group.attrs["type"] = fixed_text(d.kind)
    group.attrs["nmembers"] = np.int64(len(d.members))
    for k, member in enumerate(d.members):
        unit_of(member).write_section(group.create_group(f"member_{k}"), member)


def read_section(r: SectionReader, group) -> Hybrid:
    members = []
    for k in range(int(r.attr(group, "nmembers"))):
        sub = r.group(f"{group.name.lstrip('/')}/member_{k}")
        members.append(unit(str(r.attr(sub, "type"))).read_section(r, sub))
    return Hybrid(members=members)
