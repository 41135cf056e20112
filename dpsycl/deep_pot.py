"""``DeepPot``: drop-in for ``deepmd.infer.DeepPot`` (same arguments, return order and shapes).

    e, f, v = DeepPot("frozen_model.pb").eval(coords, cells, atype)
    e, f, v, ae, av = dp.eval(coords, cells, atype, atomic=True)

coords (nframes, natoms·3) or (nframes, natoms, 3); cells (nframes, 9) or None for no PBC;
returns e (nframes, 1), f (nframes, natoms, 3), v (nframes, 9), ae (nframes, natoms, 1),
av (nframes, natoms, 9).  Device arrays (dpnp on SYCL, numba device arrays on CUDA) go in and
come out without a trip through the host.
"""
from __future__ import annotations

import os

import numpy as np

from .backends import make_backend, resolve_device
from .model import Model, load_model


class InputError(ValueError):
    """Malformed evaluation input; raised before anything is computed."""


class DeepPot:
    """A se_e2_a model on one device (``device="auto"`` picks the best one present)."""

    def __init__(self, model: Model | str | os.PathLike, device="auto", precision: str | None = None):
        self.model = model if isinstance(model, Model) else load_model(model)
        self.device = resolve_device(device)
        if self.device == "numpy":
            from .reference import NumpyBackend
            self.backend = NumpyBackend(self.model)
            self._evaluator = None
        else:
            from .evaluator import DeviceEvaluator
            self.backend = make_backend(self.device)
            self._evaluator = DeviceEvaluator(self.model, self.backend, precision)
            self._host_out: dict = {}
            self.device = self.backend.name

    # -- DeepPot's accessors -------------------------------------------------------------------
    def get_type_map(self) -> list[str]:
        return list(self.model.type_map)

    def get_rcut(self) -> float:
        return float(self.model.rcut)

    def get_ntypes(self) -> int:
        return self.model.ntypes

    def get_sel(self) -> list[int]:
        return list(self.model.sel)

    def get_dim_fparam(self) -> int:
        return 0

    def get_dim_aparam(self) -> int:
        return 0

    def describe_device(self) -> str:
        return self.backend.describe()

    def __repr__(self) -> str:
        return f"DeepPot({self.model.type_map}, device={self.device!r})"

    # -- evaluation --------------------------------------------------------------------------
    def eval(self, coords, cells, atom_types, atomic: bool = False, fparam=None, aparam=None,
             mixed_type: bool = False, **kwargs):
        if fparam is not None or aparam is not None:
            raise InputError("this model takes no fparam/aparam")
        on_device = self._evaluator is not None and self.backend.is_device_array(coords)
        atype = self._check_types(atom_types, mixed_type)
        natoms = len(atype)
        if on_device:
            return self._eval_device_arrays(coords, cells, atype, atomic)
        coords, cells = self._check_frames(coords, cells, natoms)
        outs = [self._eval_frame(coords[k], None if cells is None else cells[k], atype, atomic)
                for k in range(len(coords))]
        e = np.array([[o[0]] for o in outs])
        f = np.stack([o[1] for o in outs])
        v = np.stack([o[2] for o in outs])
        if not atomic:
            return e, f, v
        ae = np.stack([o[3] for o in outs])[..., None]
        av = np.stack([o[4] for o in outs])
        return e, f, v, ae, av

    def _check_types(self, atom_types, mixed_type):
        atype = np.asarray(atom_types)
        if atype.ndim == 2:
            if not np.all(atype == atype[:1]):
                raise InputError("atom types differ between frames; evaluate those frames separately")
            atype = atype[0]
        if atype.ndim != 1 or atype.size == 0:
            raise InputError(f"atom_types must be a 1-D list of species indices, got shape {atype.shape}")
        if not np.issubdtype(atype.dtype, np.integer):
            raise InputError(f"atom_types must be integers, got {atype.dtype}")
        bad = (atype < 0) | (atype >= self.model.ntypes)
        if bad.any():
            raise InputError(f"atom type {int(atype[bad][0])} is outside the model's type_map "
                             f"{self.model.type_map} (valid: 0..{self.model.ntypes - 1})")
        return atype.astype(np.int64)

    def _check_frames(self, coords, cells, natoms):
        coords = np.asarray(coords, dtype=np.float64)
        if coords.size == 0 or coords.size % (3 * natoms):
            raise InputError(f"coords of shape {coords.shape} do not hold {natoms} atoms × 3 per frame")
        coords = coords.reshape(-1, natoms, 3)
        nframes = len(coords)
        if not np.all(np.isfinite(coords)):
            raise InputError("coords contain NaN or infinite values")
        if cells is None:
            return coords, None
        cells = np.asarray(cells, dtype=np.float64)
        if cells.size == 0:
            return coords, None
        if cells.size != 9 * nframes:
            raise InputError(f"cells of shape {cells.shape} do not match {nframes} frame(s) of 9 numbers")
        cells = cells.reshape(nframes, 3, 3)
        if not np.all(np.isfinite(cells)):
            raise InputError("cells contain NaN or infinite values")
        for k, cell in enumerate(cells):
            vol = np.linalg.det(cell)
            if abs(vol) < 1e-8 * max(np.prod(np.linalg.norm(cell, axis=1)), 1e-300):
                raise InputError(f"cell of frame {k} is singular (volume {vol:.3g} Å³)")
        return coords, cells

    def _eval_frame(self, x, cell, atype, atomic):
        if self._evaluator is None:
            return self.backend.evaluate(x, cell, atype, atomic)
        ev, b = self._evaluator, self.backend
        pos = ev.upload("positions", x, ev.dtype)
        # results are copied to the host at once, so the output arrays can be reused between calls
        out = self._run_device(pos, ev.constant("atype", atype, np.int64), cell, (x.min(axis=0), x.max(axis=0)),
                               self._host_out)
        ae = b.to_host(out["atom_energy"]).astype(np.float64)
        av = b.to_host(out["atom_virial"]).astype(np.float64).reshape(-1, 9)
        f = b.to_host(out["force"]).astype(np.float64).reshape(-1, 3)
        return ae.sum(), f, av.sum(axis=0), ae, av

    def _run_device(self, pos, atype_dev, cell, bounds, out=None):
        ev = self._evaluator
        if cell is not None:
            ev.wrap(pos, cell, ev.buffer("image", int(pos.shape[0]), np.int64))
        nb = ev.build_neighbors(pos, atype_dev, cell, self.model.rcut, bounds=bounds)
        return ev.compute(pos, atype_dev, cell, nb, out)

    def _eval_device_arrays(self, coords, cells, atype, atomic):
        """One frame given as a device array (natoms·3 or natoms×3): results stay on the device."""
        ev, b = self._evaluator, self.backend
        pos = b.copy(b.from_user_array(coords, ev.dtype))
        natoms = len(atype)
        if int(pos.shape[0]) != 3 * natoms:
            raise InputError(f"device coords hold {int(pos.shape[0])} numbers, expected {3 * natoms}")
        cell = None
        if cells is not None:
            cell = np.asarray(b.to_host(cells) if b.is_device_array(cells) else cells, dtype=np.float64)
            cell = None if cell.size == 0 else cell.reshape(3, 3)
        bounds = None
        if cell is None:
            host = b.to_host(pos).reshape(-1, 3).astype(np.float64)
            bounds = (host.min(axis=0), host.max(axis=0))
        out = self._run_device(pos, b.asarray(atype, np.int64), cell, bounds)
        ae, f, av = out["atom_energy"], out["force"], out["atom_virial"]
        e = np.array([[float(b.to_host(ae).sum())]])
        v = b.to_host(av).reshape(-1, 9).sum(axis=0)[None, :]
        if atomic:
            return e, f, v, ae, av
        return e, f, v
