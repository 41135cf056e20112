"""Save and load a :class:`dpsycl.model.Model` as a self-describing HDF5 file (``.h5``).

The layout is documented in ``docs/model-format.md``.  Arrays are stored with the dtype and bits
they had in the DeePMD-kit graph; hyper-parameters are HDF5 attributes (booleans as int8 0/1,
strings as UTF-8).  No framework is needed to read a model: only h5py and NumPy.
"""
from __future__ import annotations

import os

import numpy as np

from .model import FORMAT_NAME, SCHEMA_VERSION, Layer, Model, ModelError, file_head

__all__ = ["write_model", "read_model", "dpsycl_version"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def dpsycl_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("dpsycl")
        except PackageNotFoundError:
            return "0+unknown"
    except ImportError:  # pragma: no cover
        return "0+unknown"


def _net_name(key: tuple[int, int]) -> str:
    centre, neighbour = key
    return f"net_{'all' if centre < 0 else centre}_{neighbour}"


def _write_layers(group, layers: list[Layer]) -> None:
    group.attrs["nlayers"] = np.int64(len(layers))
    for k, layer in enumerate(layers):
        lg = group.create_group(f"layer_{k}")
        lg.create_dataset("matrix", data=layer.matrix)
        lg.create_dataset("bias", data=layer.bias)
        if layer.idt is not None:
            lg.create_dataset("idt", data=layer.idt)


def write_model(model: Model, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (HDF5), atomically: a failed write leaves no partial file."""
    import h5py

    model.validate()
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
            f.attrs["dpsycl_version"] = dpsycl_version()
            f.attrs["deepmd_version"] = str(model.deepmd_version)
            f.attrs["model_version"] = str(model.model_version)
            f.attrs["source"] = str(model.source)
            f.create_dataset("type_map", data=np.array(model.type_map, dtype=object),
                             dtype=h5py.string_dtype("utf-8"))

            d = f.create_group("descriptor")
            d.attrs["type"] = model.descriptor_type
            d.attrs["rcut"] = np.float64(model.rcut)
            d.attrs["rcut_smth"] = np.float64(model.rcut_smth)
            d.attrs["sel"] = np.asarray(model.sel, dtype=np.int64)
            d.attrs["neuron"] = np.asarray(model.neuron, dtype=np.int64)
            d.attrs["axis_neuron"] = np.int64(model.axis_neuron)
            d.attrs["type_one_side"] = np.int8(bool(model.type_one_side))
            d.attrs["resnet_dt"] = np.int8(bool(model.resnet_dt))
            d.attrs["activation"] = model.activation
            d.attrs["precision"] = model.precision
            d.attrs["set_davg_zero"] = np.int8(bool(model.set_davg_zero))
            d.create_dataset("t_avg", data=model.t_avg)
            d.create_dataset("t_std", data=model.t_std)
            d.create_dataset("exclude_types",
                             data=np.asarray(model.exclude_types, dtype=np.int64).reshape(-1, 2))

            e = f.create_group("embedding_nets")
            for key in sorted(model.embedding_nets):
                g = e.create_group(_net_name(key))
                g.attrs["centre_type"] = np.int64(key[0])
                g.attrs["neighbour_type"] = np.int64(key[1])
                _write_layers(g, model.embedding_nets[key])

            fit = f.create_group("fitting")
            fit.attrs["neuron"] = np.asarray(model.fitting_neuron, dtype=np.int64)
            fit.attrs["resnet_dt"] = np.int8(bool(model.fitting_resnet_dt))
            fit.attrs["activation"] = model.fitting_activation
            fit.attrs["precision"] = model.precision
            fit.attrs["numb_fparam"] = np.int64(model.numb_fparam)
            fit.attrs["numb_aparam"] = np.int64(model.numb_aparam)
            for t, layers in enumerate(model.fitting_nets):
                _write_layers(fit.create_group(f"type_{t}"), layers)
            fit.create_dataset("bias_atom_e", data=model.bias_atom_e)
            fit.create_dataset("out_bias", data=model.out_bias)
            fit.create_dataset("out_std", data=model.out_std)
            for name, stats in (("fparam_stats", model.fparam_stats), ("aparam_stats", model.aparam_stats)):
                if stats:
                    sg = fit.create_group(name)
                    for k, v in stats.items():
                        sg.create_dataset(k, data=v)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------------------------
class _Reader:
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


def read_model(path: str | os.PathLike) -> Model:
    """Read a model written by :func:`write_model`; raise ModelError if it is not one."""
    import h5py

    path = os.fspath(path)
    if file_head(path) != _HDF5_MAGIC:
        raise ModelError(f"{path} is not an HDF5 file, so not a dpsycl model "
                         "(a DeePMD-kit frozen_model.pb is converted with `dpsycl extract`)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(f"{path}: cannot open as HDF5 ({str(exc).splitlines()[0]}); "
                         "the file is damaged or truncated") from None
    try:
        with f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode("utf-8", "replace")
            if fmt != FORMAT_NAME:
                raise ModelError(f"{path} is an HDF5 file but not a dpsycl model "
                                 f"(no format='{FORMAT_NAME}' attribute)")
            r = _Reader(f, path)
            try:
                version = int(r.attr(f, "schema_version"))
            except (TypeError, ValueError):
                raise ModelError(f"{path}: schema_version attribute is not an integer") from None
            if version > SCHEMA_VERSION:
                raise ModelError(f"model file has schema version {version}; this dpsycl reads up to "
                                 f"{SCHEMA_VERSION} — upgrade dpsycl ({path})")
            if version < 1:
                raise ModelError(f"{path}: invalid schema version {version}")
            model = _read_v1(r)
    except ModelError:
        raise
    except (KeyError, OSError, RuntimeError) as exc:
        raise ModelError(f"{path}: damaged model file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    model.validate()
    return model


def _read_v1(r: _Reader) -> Model:
    f = r.f
    type_map = [x.decode("utf-8") if isinstance(x, bytes) else str(x)
                for x in r.array(f, "type_map").ravel()]
    d = r.group("descriptor")
    e = r.group("embedding_nets")
    fit = r.group("fitting")

    embedding_nets = {}
    for name in sorted(e.keys()):
        g = r.group(f"embedding_nets/{name}")
        key = (int(r.attr(g, "centre_type")), int(r.attr(g, "neighbour_type")))
        embedding_nets[key] = r.layers(g)
    ntypes = len(type_map)
    fitting_nets = [r.layers(r.group(f"fitting/type_{t}")) for t in range(ntypes)]

    def stats(name: str) -> dict:
        if name not in fit:
            return {}
        sg = r.group(f"fitting/{name}")
        return {k: r.array(sg, k) for k in sg.keys()}

    exclude = r.array(d, "exclude_types").reshape(-1, 2)
    return Model(
        type_map=type_map,
        rcut=float(r.attr(d, "rcut")),
        rcut_smth=float(r.attr(d, "rcut_smth")),
        sel=list(r.attr(d, "sel")),
        neuron=list(r.attr(d, "neuron")),
        axis_neuron=int(r.attr(d, "axis_neuron")),
        type_one_side=bool(r.attr(d, "type_one_side")),
        resnet_dt=bool(r.attr(d, "resnet_dt")),
        activation=str(r.attr(d, "activation")),
        fitting_neuron=list(r.attr(fit, "neuron")),
        fitting_resnet_dt=bool(r.attr(fit, "resnet_dt")),
        fitting_activation=str(r.attr(fit, "activation")),
        precision=str(r.attr(d, "precision")),
        t_avg=r.array(d, "t_avg"),
        t_std=r.array(d, "t_std"),
        embedding_nets=embedding_nets,
        fitting_nets=fitting_nets,
        bias_atom_e=r.array(fit, "bias_atom_e"),
        out_bias=r.array(fit, "out_bias"),
        out_std=r.array(fit, "out_std"),
        exclude_types=[(int(a), int(b)) for a, b in exclude],
        set_davg_zero=bool(r.attr(d, "set_davg_zero")),
        numb_fparam=int(r.attr(fit, "numb_fparam")),
        numb_aparam=int(r.attr(fit, "numb_aparam")),
        fparam_stats=stats("fparam_stats"),
        aparam_stats=stats("aparam_stats"),
        descriptor_type=str(r.attr(d, "type")),
        deepmd_version=str(f.attrs.get("deepmd_version", "unknown")),
        model_version=str(f.attrs.get("model_version", "unknown")),
        source=str(f.attrs.get("source", "")),
    )
