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
from .evaluation import Evaluator
from .evaluator import DeviceEvaluator, column_sums
from .errors import InputError
from .input_checks import check_cell, check_positions
from .model import Model
from .model_io import load_model
from .reference import ReferenceEvaluator


def make_evaluator(model: Model, device: str, precision: str | None = None) -> Evaluator:
    """The NumPy reference for ``device == "numpy"``, else the kernels on that device's backend."""
    if device == "numpy":
        return ReferenceEvaluator(model)
    return DeviceEvaluator(model, make_backend(device), precision)


class DeepPot:
    """A model on one device (``device="auto"`` picks the best one present).

    ``evaluator`` is what computes: the NumPy reference (device "numpy") or a
    :class:`dpsycl.evaluator.DeviceEvaluator` (MD runs on the latter, through its public API).
    """

    def __init__(self, model: Model | str | os.PathLike, device="auto", precision: str | None = None):
        self.model = model if isinstance(model, Model) else load_model(model)
        self.evaluator = make_evaluator(self.model, resolve_device(device), precision)
        self.device = self.evaluator.name

    @property
    def on_device(self) -> bool:
        """Whether the kernels run (a device backend), rather than the host reference."""
        return hasattr(self.evaluator, "backend")

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
        return int(self.model.fitting.numb_fparam)

    def get_dim_aparam(self) -> int:
        return int(self.model.fitting.numb_aparam)

    def describe_device(self) -> str:
        return self.evaluator.describe()

    def __repr__(self) -> str:
        return f"DeepPot({self.model.type_map}, device={self.device!r})"

    # -- evaluation --------------------------------------------------------------------------
    def eval(self, coords, cells, atom_types, atomic: bool = False, fparam=None, aparam=None,
             mixed_type: bool = False, **kwargs):
        on_device = self.on_device and self.evaluator.backend.is_device_array(coords)
        atype = self._check_types(atom_types, mixed_type)
        natoms = len(atype)
        if on_device:
            fparams, aparams = self.parameters_per_frame(fparam, aparam, 1, natoms)
            return self._eval_device_arrays(coords, cells, atype, atomic, fparams[0], aparams[0])
        coords, cells = self._check_frames(coords, cells, natoms)
        fparams, aparams = self.parameters_per_frame(fparam, aparam, len(coords), natoms)
        outs = [self.evaluator.evaluate(coords[k], None if cells is None else cells[k], atype, fparam=fparams[k],
                                        aparam=aparams[k], atomic=atomic)
                for k in range(len(coords))]
        e = np.array([[o[0]] for o in outs])
        f = frames_stacked([o[1] for o in outs])
        v = frames_stacked([o[2] for o in outs])
        check_finite_result(e, f)
        if not atomic:
            return e, f, v
        ae = frames_stacked([o[3] for o in outs])[..., None]
        av = frames_stacked([o[4] for o in outs])
        return e, f, v, ae, av

    def _check_types(self, atom_types, mixed_type):
        try:
            atype = np.asarray(atom_types)
        except ValueError as exc:        # ragged nested lists
            raise InputError(f"atom_types is not an array: {exc}") from None
        if atype.ndim == 2:
            if not np.all(atype == atype[:1]):
                raise InputError("atom types differ between frames; evaluate those frames separately")
            atype = atype[0]
        if atype.ndim != 1 or atype.size == 0:
            raise InputError(f"atom_types must be a 1-D list of species indices, got shape {atype.shape}")
        if not np.issubdtype(atype.dtype, np.integer) or atype.dtype == np.bool_:
            raise InputError(f"atom_types must be integers, got {atype.dtype}")
        if atype.min() < 0 or atype.max() >= self.model.ntypes:
            bad = (atype < 0) | (atype >= self.model.ntypes)
            raise InputError(f"atom type {int(atype[bad][0])} is outside the model's type_map "
                             f"{self.model.type_map} (valid: 0..{self.model.ntypes - 1})")
        return atype.astype(np.int64, copy=False)

    def parameters_per_frame(self, fparam, aparam, nframes: int, natoms: int):
        """Per-frame fparam (nfp,) and aparam (natoms, nap) with DeePMD-kit's broadcasting: fparam
        (nframes, nfp) or (nfp,) for every frame; aparam (nframes, natoms, nap), (natoms, nap) for
        every frame, or (nap,) for every frame and atom.  None where the model takes none."""
        nfp, nap = self.get_dim_fparam(), self.get_dim_aparam()
        frames = [None] * nframes

        def per_frame(values, name, count, shapes):
            if count == 0:
                if values is not None:
                    raise InputError(f"this model takes no {name} (dim_{name} is 0)")
                return frames
            if values is None:
                raise InputError(f"this model needs {name} of shape {shapes[0]} (dim_{name} = {count})")
            arr = np.asarray(values, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise InputError(f"{name} contains NaN or infinite values")
            for shape in shapes:
                if arr.size == int(np.prod(shape)):
                    return list(np.broadcast_to(arr.reshape(shape), shapes[0]).reshape(nframes, -1))
            raise InputError(f"{name} of shape {arr.shape} fits none of {', '.join(map(str, shapes))}")

        fparams = per_frame(fparam, "fparam", nfp, [(nframes, nfp), (nfp,)])
        aparams = per_frame(aparam, "aparam", nap, [(nframes, natoms, nap), (natoms, nap), (nap,)])
        return fparams, [None if a is None else a.reshape(natoms, nap) for a in aparams]

    def _check_frames(self, coords, cells, natoms):
        coords = _real_array(coords, "coords")
        if coords.size == 0 or coords.size % (3 * natoms):
            raise InputError(f"coords of shape {coords.shape} do not hold {natoms} atoms × 3 per frame")
        coords = coords.reshape(-1, natoms, 3)
        nframes = len(coords)
        if cells is not None:
            cells = _real_array(cells, "cells")
            if cells.size == 0:
                cells = None
            elif cells.size != 9 * nframes:
                raise InputError(f"cells of shape {cells.shape} do not match {nframes} frame(s) of 9 numbers")
            else:
                cells = cells.reshape(nframes, 3, 3)
        for k in range(nframes):
            cell = None if cells is None else cells[k]
            where = f"frame {k}" if nframes > 1 else ""
            if cell is not None:
                check_cell(cell, self.get_rcut(), InputError, where=f"cell of frame {k}" if nframes > 1 else "cell")
            check_positions(coords[k], cell, InputError, where=where)
        return coords, cells

    def _eval_device_arrays(self, coords, cells, atype, atomic, fparam=None, aparam=None):
        """One frame given as a device array (natoms·3 or natoms×3): results stay on the device."""
        ev = self.evaluator
        b = ev.backend
        pos = b.from_user_array(coords, ev.dtype)
        natoms = len(atype)
        if int(pos.shape[0]) != 3 * natoms:
            raise InputError(f"device coords hold {int(pos.shape[0])} numbers, expected {3 * natoms}")
        cell = None
        if cells is not None:
            cell = np.asarray(b.to_host(cells) if b.is_device_array(cells) else cells, dtype=np.float64)
            cell = None if cell.size == 0 else cell.reshape(3, 3)
        out = ev.evaluate_device(pos, atype, cell, fparam, aparam)
        ae, f, av = out["atom_energy"], out["force"], out["atom_virial"]
        e = np.array([[float(b.to_host(ae).sum())]])
        v = column_sums(b.to_host(av).reshape(-1, 9))[None, :]
        check_finite_result(e, None)        # the forces stay on the device: a NaN in them makes e NaN too
        if atomic:
            return e, f, v, ae, av
        return e, f, v


def frames_stacked(arrays: list) -> np.ndarray:
    """Per-frame results along a new first axis; one frame's array is a view, not a copy (each
    evaluation's results are fresh host arrays)."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def _real_array(values, name: str) -> np.ndarray:
    """``values`` as a float64 array; InputError for anything that is not real numbers (complex
    values would lose their imaginary part, strings or objects are not coordinates)."""
    try:
        arr = np.asarray(values)
    except ValueError as exc:            # ragged nested lists
        raise InputError(f"{name} is not an array of numbers: {' '.join(str(exc).split())}") from None
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must be real numbers, got an array of dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float64)   # no copy of a float64 array: the evaluators do not write to it


def check_finite_result(energies, forces) -> None:
    """A NaN or infinite result is an error, never an answer (input checks should make it
    unreachable; a model with non-finite parameters or atoms almost on top of each other could)."""
    if not all_finite(energies) or (forces is not None and not all_finite(forces)):
        raise InputError("the evaluation gave non-finite energies or forces (atoms almost on top of each other, "
                         "or a damaged model)")


def all_finite(values) -> bool:
    """Every value finite.  A NaN or ±inf anywhere makes the sum one, so a finite sum needs no look
    at each value (the look is only for finite values whose sum overflowed)."""
    return bool(np.isfinite(np.sum(values)) or np.all(np.isfinite(values)))
