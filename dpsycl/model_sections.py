"""Reading and writing the parts of a dpsycl model file (HDF5) that every section shares: dense
layers, attributes and datasets with one-line errors for a damaged file.

model_io.py writes the file and its shared sections (species, fitting); each descriptor unit
writes its own ``/descriptor`` group with these helpers (docs/model-format.md).
"""
from __future__ import annotations

import numpy as np

from .model import Layer, ModelError


def write_layers(group, layers: list[Layer]) -> None:
    group.attrs["nlayers"] = np.int64(len(layers))
    for k, layer in enumerate(layers):
        lg = group.create_group(f"layer_{k}")
        lg.create_dataset("matrix", data=layer.matrix)
        lg.create_dataset("bias", data=layer.bias)
        if layer.idt is not None:
            lg.create_dataset("idt", data=layer.idt)


class SectionReader:
    """Typed access to one open model file; every missing piece is a ModelError naming it."""

    def __init__(self, f, path: str):
        self.f = f
        self.path = path

    def group(self, name: str):
        import h5py

        obj = self.f.get(name)
        if not isinstance(obj, h5py.Group):
            raise ModelError(f"{self.path}: missing group /{name} (damaged or incomplete model file)")
        return obj

    def array(self, group, name: str) -> np.ndarray:
        import h5py

        obj = group.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise ModelError(f"{self.path}: missing dataset {group.name.rstrip('/')}/{name} "
                             "(damaged or incomplete model file)")
        return np.array(obj[()], copy=True)

    def attr(self, obj, name: str):
        if name not in obj.attrs:
            raise ModelError(f"{self.path}: missing attribute '{name}' on {obj.name} "
                             "(damaged or incomplete model file)")
        val = obj.attrs[name]
        if isinstance(val, bytes):
            return val.decode("utf-8")
        if isinstance(val, np.ndarray) and val.dtype.kind in "iu":
            return [int(x) for x in val.ravel()]
        if isinstance(val, (np.integer,)):
            return int(val)
        if isinstance(val, (np.floating,)):
            return float(val)
        return val

    def layers(self, group) -> list[Layer]:
        n = self.attr(group, "nlayers")
        out = []
        for k in range(int(n)):
            lg = self.group(f"{group.name.lstrip('/')}/layer_{k}")
            idt = self.array(lg, "idt") if "idt" in lg else None
            out.append(Layer(matrix=self.array(lg, "matrix"), bias=self.array(lg, "bias"), idt=idt))
        return out
