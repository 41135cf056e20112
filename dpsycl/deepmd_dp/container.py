"""Open DeePMD-kit's backend-neutral model file (``.dp``) and return its model dict, arrays included.

A ``.dp`` file (written by ``dp convert-backend``, ``deepmd.dpmodel.utils.serialization.save_dp_model``)
is HDF5 whose root attribute ``json`` holds one JSON object:

    {"software": "deepmd-kit", "version": "3.2.0", "time": ..., "backend": "TensorFlow" | "PyTorch" | ...,
     "model": {...the serialised model...}, "model_def_script": {...the training input's model...},
     "@variables": {"min_nbor_dist": ...}}

Every array of the model sits in a root dataset ``/variable_NNNN``; the JSON names it (the string
"/variable_0012") wherever the array belongs, which is in a value under a key ``@variables``, at any
depth, possibly inside lists.  Only h5py and the json module are used: nothing is unpickled and no
code from the file runs.  Errors are one-line ModelErrors that name the file.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..formats import DEEPMD_DP_ATTRIBUTE as JSON_ATTRIBUTE
from ..formats import open_hdf5
from ..model import ModelError

VARIABLES_KEY = "@variables"


class DpFile:
    """The parsed JSON of a ``.dp`` file with its variables replaced by NumPy arrays."""

    def __init__(self, path: str, content: dict):
        self.path = path
        self.content = content

    @property
    def model(self) -> dict:
        model = self.content.get("model")
        if not isinstance(model, dict):
            raise ModelError(f"{self.path}: the .dp file's JSON has no 'model' object (not a DeePMD-kit model file)")
        return model

    @property
    def training_model_section(self) -> dict:
        """The 'model' part of the training input DeePMD-kit stored beside the model ({} if absent)."""
        script = self.content.get("model_def_script")
        return script if isinstance(script, dict) else {}

    @property
    def writer(self) -> str:
        """Which DeePMD-kit wrote the file, from which backend: e.g. 'deepmd-kit 3.2.0 (TensorFlow)'."""
        software = self.content.get("software", "unknown software")
        version = self.content.get("version", "unknown version")
        backend = self.content.get("backend")
        return f"{software} {version}" + (f" ({backend})" if backend else "")


def read_dp_file(path: str | os.PathLike) -> DpFile:
    """The JSON of the ``.dp`` file at ``path`` with every ``@variables`` reference resolved to its array."""
    path = os.fspath(path)
    f = open_hdf5(path, ModelError, what=".dp file")
    try:
        with f:
            if JSON_ATTRIBUTE not in f.attrs:
                raise ModelError(f"{path} is an HDF5 file without the root attribute '{JSON_ATTRIBUTE}': "
                                 "not a DeePMD-kit .dp model")
            text = f.attrs[JSON_ATTRIBUTE]
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            if not isinstance(text, str):
                raise ModelError(f"{path}: the root attribute '{JSON_ATTRIBUTE}' is not text "
                                 f"({type(text).__name__}); not a DeePMD-kit .dp model")
            try:
                content = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ModelError(f"{path}: the root attribute '{JSON_ATTRIBUTE}' is not valid JSON ({exc.msg} at "
                                 f"line {exc.lineno}, column {exc.colno}); the .dp file is damaged") from None
            if not isinstance(content, dict):
                raise ModelError(f"{path}: the root attribute '{JSON_ATTRIBUTE}' holds a JSON "
                                 f"{type(content).__name__}, not an object; not a DeePMD-kit .dp model")
            content = _resolve(content, _VariableReader(f, path), inside_variables=False)
    except ModelError:
        raise
    except (KeyError, OSError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: damaged .dp file ({reason})") from None
    return DpFile(path, content)


class _VariableReader:
    """Reads the dataset a JSON variable reference names, each once."""

    def __init__(self, f, path: str):
        self.f = f
        self.path = path

    def __call__(self, reference: Any) -> np.ndarray:
        import h5py

        if not isinstance(reference, str):
            raise ModelError(f"{self.path}: a variable reference is {reference!r}, not the name of a dataset")
        obj = self.f.get(reference)
        if not isinstance(obj, h5py.Dataset):
            raise ModelError(f"{self.path}: the model refers to the dataset {reference}, which the file lacks "
                             "(damaged or truncated .dp file)")
        if obj.dtype.kind not in "biuf":
            raise ModelError(f"{self.path}: dataset {reference} holds {obj.dtype} values, not numbers")
        return np.array(obj[()], copy=True)


def _resolve(node: Any, read: _VariableReader, inside_variables: bool) -> Any:
    """A copy of ``node`` with every leaf under an ``@variables`` key replaced by its array (None stays
    None: DeePMD-kit writes None for an absent variable, e.g. a layer without ``idt``)."""
    if isinstance(node, dict):
        return {key: _resolve(value, read, inside_variables or key == VARIABLES_KEY) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, read, inside_variables) for value in node]
    if node is None or not inside_variables:
        return node
    return read(node)
