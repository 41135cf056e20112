"""Save and load a :class:`dpsycl.model.Model` as a self-describing HDF5 file (``.h5``).

The layout is documented in ``docs/model-format.md``: root attributes and the species, the
``/descriptor`` group written and read by the model's descriptor unit (dpsycl.descriptors), and
the ``/fitting`` group.  Arrays keep the dtype and bits they had in the DeePMD-kit graph;
hyper-parameters are HDF5 attributes (booleans as int8 0/1, text as fixed-length UTF-8: no
variable-length strings, whose global heap a damaged file could make HDF5 parse forever).  No framework is
needed to read a model: only h5py and NumPy.  Schema 1 files (dpsycl 0.1) read the same.

The root attribute ``content_sha256`` is a SHA-256 over every dataset and attribute (names, dtypes,
shapes, bytes; the attribute itself excluded), computed from the file as written and verified at
every load, so a file damaged after extraction is refused instead of giving wrong energies.
"""
from __future__ import annotations

import hashlib
import os
import warnings

import numpy as np

from .descriptors import unit, unit_of
from .formats import DEEPMD_DP, HDF5, ZIP, model_kind, open_hdf5, sniff
from .hdf5_files import fixed_text, fixed_texts, text
from .model import EnergyFitting, Model, ModelError, check_finite
from .model_sections import SectionReader, write_layers
from .version import installed_version

__all__ = ["load_model", "write_model", "read_model", "content_digest", "FORMAT_NAME", "SCHEMA_VERSION",
           "CHECKSUM_ATTRIBUTE", "UnverifiedModelWarning"]

FORMAT_NAME = "dpsycl-model"
SCHEMA_VERSION = 2
CHECKSUM_ATTRIBUTE = "content_sha256"


class UnverifiedModelWarning(UserWarning):
    """A model file written before dpsycl recorded checksums: its parameters cannot be verified."""


def load_model(path: str | os.PathLike) -> Model:
    """Load a model from a dpsycl ``.h5`` file, a DeePMD-kit ``.dp`` file (both read without TensorFlow or
    PyTorch) or, extracting it in memory with TensorFlow, a DeePMD-kit frozen graph ``.pb``."""
    path = os.fspath(path)
    kind = model_kind(path, ModelError)
    if kind == DEEPMD_DP:
        from .deepmd_dp import read_dp_model
        return read_dp_model(path)
    if kind == HDF5:
        return read_model(path)
    if kind == ZIP:
        raise ModelError(f"{path} is a zip archive (a DeePMD-kit PyTorch model .pth?); convert it with "
                         f"`dp --pt convert-backend {os.path.basename(path)} model.dp` and load the .dp")
    from .extract import extract_model
    return extract_model(path)


def write_model(model: Model, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (HDF5), atomically: a failed write leaves no partial file."""
    import h5py

    model.validate()
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = fixed_text(FORMAT_NAME)
            f.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
            f.attrs["dpsycl_version"] = fixed_text(installed_version())
            f.attrs["deepmd_version"] = fixed_text(str(model.deepmd_version))
            f.attrs["model_version"] = fixed_text(str(model.model_version))
            f.attrs["source"] = fixed_text(str(model.source))
            if model.type_embedding:   # the nets were folded from a model-level type embedding
                f.attrs["type_embedding"] = fixed_text(str(model.type_embedding))
            f.attrs["precision"] = fixed_text(model.precision)
            f.create_dataset("type_map", data=fixed_texts(model.type_map))
            unit_of(model.descriptor).write_section(f.create_group("descriptor"), model.descriptor)
            _write_fitting(f.create_group("fitting"), model.fitting)
            f.attrs[CHECKSUM_ATTRIBUTE] = fixed_text(content_digest(f))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _write_fitting(fit, fitting: EnergyFitting) -> None:
    fit.attrs["neuron"] = np.asarray(fitting.neuron, dtype=np.int64)
    fit.attrs["resnet_dt"] = np.int8(bool(fitting.resnet_dt))
    fit.attrs["activation"] = fixed_text(fitting.activation)
    fit.attrs["numb_fparam"] = np.int64(fitting.numb_fparam)
    fit.attrs["numb_aparam"] = np.int64(fitting.numb_aparam)
    for t, layers in enumerate(fitting.nets):
        write_layers(fit.create_group(f"type_{t}"), layers)
    fit.create_dataset("bias_atom_e", data=fitting.bias_atom_e)
    fit.create_dataset("out_bias", data=fitting.out_bias)
    fit.create_dataset("out_std", data=fitting.out_std)
    for name, stats in (("fparam_stats", fitting.fparam_stats), ("aparam_stats", fitting.aparam_stats)):
        if stats:
            sg = fit.create_group(name)
            for k, v in stats.items():
                sg.create_dataset(k, data=v)


def read_model(path: str | os.PathLike) -> Model:
    """Read a model written by :func:`write_model`; raise ModelError if it is not one."""
    path = os.fspath(path)
    if sniff(path, ModelError) != HDF5:
        raise ModelError(f"{path} is not an HDF5 file, so not a dpsycl model "
                         "(a DeePMD-kit frozen_model.pb is converted with `dpsycl extract`)")
    f = open_hdf5(path, ModelError)
    try:
        with f:
            if text(f.attrs.get("format")) != FORMAT_NAME:
                raise ModelError(f"{path} is an HDF5 file but not a dpsycl model "
                                 f"(no format='{FORMAT_NAME}' attribute)")
            r = SectionReader(f, path)
            try:
                version = int(r.attr(f, "schema_version"))
            except (TypeError, ValueError):
                raise ModelError(f"{path}: schema_version attribute is not an integer") from None
            if version > SCHEMA_VERSION:
                raise ModelError(f"model file has schema version {version}; this dpsycl reads up to "
                                 f"{SCHEMA_VERSION} — upgrade dpsycl ({path})")
            if version < 1:
                raise ModelError(f"{path}: invalid schema version {version}")
            _refuse_non_finite(f, path)
            model = _read(r, version)            # names a missing piece before the checksum fails
            _verify_checksum(f, path)
    except ModelError:
        raise
    except (KeyError, OSError, RuntimeError) as exc:
        raise ModelError(f"{path}: damaged model file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    model.validate()
    return model


def content_digest(f) -> str:
    """SHA-256 (hex) of every dataset and attribute of an open HDF5 file, in name order, except the
    checksum attribute itself: names, dtypes, shapes and bytes all count."""
    import h5py

    sha = hashlib.sha256()

    def feed(label: str, value) -> None:
        value = np.asarray(value)
        if value.dtype.kind in "OSU":                # strings: their UTF-8 bytes, not Python objects
            items = [text(v) for v in value.ravel()]
            payload = "\x00".join(items).encode("utf-8")
            dtype = "str"
        else:
            payload = np.ascontiguousarray(value).tobytes()
            dtype = value.dtype.str
        sha.update(f"{label}|{dtype}|{value.shape}|{len(payload)}|".encode("utf-8"))
        sha.update(payload)

    def feed_attributes(obj) -> None:
        for key in sorted(obj.attrs.keys()):
            if obj.name == "/" and key == CHECKSUM_ATTRIBUTE:
                continue
            feed(f"{obj.name}@{key}", obj.attrs[key])

    names: list[str] = []
    f.visit(names.append)
    feed_attributes(f)
    for name in sorted(names):
        obj = f[name]
        feed_attributes(obj)
        if isinstance(obj, h5py.Dataset):
            feed(f"/{name}", obj[()])
    return sha.hexdigest()


def _refuse_non_finite(f, path: str) -> None:
    import h5py

    def check(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fc":
            check_finite(f"/{name}", np.asarray(obj[()]), where=f"{path}: ")
    f.visititems(check)


def _verify_checksum(f, path: str) -> None:
    recorded = f.attrs.get(CHECKSUM_ATTRIBUTE)
    if recorded is None:
        warnings.warn(f"{path} records no parameter checksum (written by dpsycl 0.2 or earlier), so damage to it "
                      "cannot be detected; `dpsycl extract` it again to add one", UnverifiedModelWarning, stacklevel=3)
        return
    if text(recorded) != content_digest(f):
        raise ModelError(f"{path}: the parameters do not match the checksum recorded at extraction "
                         "(the file was damaged or edited after it was written); extract it again")


def _read(r: SectionReader, version: int) -> Model:
    f = r.f
    type_map = [text(x) for x in r.array(f, "type_map").ravel()]
    d = r.group("descriptor")
    descriptor = unit(str(r.attr(d, "type"))).read_section(r, d)
    # schema 1 kept the precision on the descriptor and fitting groups
    precision = str(r.attr(f, "precision") if version >= 2 else r.attr(d, "precision"))
    return Model(type_map=type_map, descriptor=descriptor, fitting=_read_fitting(r, len(type_map)),
                 precision=precision, deepmd_version=text(f.attrs.get("deepmd_version", "unknown")),
                 model_version=text(f.attrs.get("model_version", "unknown")), source=text(f.attrs.get("source", "")),
                 type_embedding=text(f.attrs.get("type_embedding", "")))


def _read_fitting(r: SectionReader, ntypes: int) -> EnergyFitting:
    fit = r.group("fitting")

    def stats(name: str) -> dict:
        if name not in fit:
            return {}
        sg = r.group(f"fitting/{name}")
        return {k: r.array(sg, k) for k in sg.keys()}

    return EnergyFitting(
        neuron=list(r.attr(fit, "neuron")),
        resnet_dt=bool(r.attr(fit, "resnet_dt")),
        activation=str(r.attr(fit, "activation")),
        nets=[r.layers(r.group(f"fitting/type_{t}")) for t in range(ntypes)],
        bias_atom_e=r.array(fit, "bias_atom_e"),
        out_bias=r.array(fit, "out_bias"),
        out_std=r.array(fit, "out_std"),
        numb_fparam=int(r.attr(fit, "numb_fparam")),
        numb_aparam=int(r.attr(fit, "numb_aparam")),
        fparam_stats=stats("fparam_stats"),
        aparam_stats=stats("aparam_stats"),
    )
