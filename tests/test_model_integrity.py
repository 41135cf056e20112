"""A damaged model is refused, never evaluated: non-finite parameters are named at extraction and at
load, and a dpsycl model file damaged after it was written fails its recorded checksum.

The independent evidence is the damage itself: bytes overwritten in a real frozen graph, one
weight moved by one ulp in a written file, a NaN planted by a writer that is not dpsycl.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from dpsycl.cli import main
from dpsycl.hdf5_files import text
from dpsycl.model import ModelError
from dpsycl.model_io import CHECKSUM_ATTRIBUTE, content_digest, read_model, write_model

DATA = Path(__file__).parent / "data"
MODEL = DATA / "cuag_pair" / "model.h5"
GRAPH = DATA / "cuag_pair" / "frozen_model.pb"


def _extract(capsys, graph: Path, out: Path) -> tuple[int, str]:
    status = main(["extract", str(graph), "-o", str(out)])
    return status, capsys.readouterr().err


def test_frozen_graph_with_overwritten_bytes_is_refused_or_unchanged(tmp_path, capsys):
    """64 bytes of 0xff (a NaN in any float they cover) written at 16 places of a frozen graph:
    each extraction either ends in a one-line error (exit 2) or yields exactly the model of the
    intact graph (the bytes fell on something the model does not use).  Without the finiteness
    check the damaged weights reached the model file as NaN and every energy was NaN."""
    status, err = _extract(capsys, GRAPH, tmp_path / "intact.h5")
    assert status == 0, err
    intact = read_model(tmp_path / "intact.h5")
    raw = GRAPH.read_bytes()
    refused_non_finite = 0
    for k, offset in enumerate(np.linspace(len(raw) * 0.05, len(raw) * 0.95, 16).astype(int)):
        damaged = tmp_path / f"damaged_{k}.pb"
        damaged.write_bytes(raw[:offset] + b"\xff" * 64 + raw[offset + 64:])
        out = tmp_path / f"damaged_{k}.h5"
        status, err = _extract(capsys, damaged, out)
        if status == 0:
            model = read_model(out)
            for (name, a), (_, b) in zip(_arrays(model), _arrays(intact)):
                np.testing.assert_array_equal(a, b, err_msg=f"offset {offset}: {name} changed silently")
        else:
            assert status == 2 and err.count("\n") == 1 and err.startswith("dpsycl: error:"), err
            assert not out.exists()
            refused_non_finite += "non-finite" in err
    # the weights fill most of the graph, so most hits land on them and are named
    assert refused_non_finite >= 8


def _arrays(model):
    from dpsycl.model import named_arrays
    return list(named_arrays(model))


def test_non_finite_weight_is_refused_at_extraction_naming_it(tmp_path):
    model = read_model(MODEL)
    model.fitting.nets[0][2].matrix[3, 1] = np.nan
    with pytest.raises(ModelError, match=r"parameter fitting\.nets\[0\]\[2\]\.matrix holds 1 non-finite value "):
        write_model(model, tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_non_finite_weight_in_a_file_is_refused_naming_the_dataset(tmp_path):
    """A file written by another tool (checksum recomputed) with an inf in a fitting matrix."""
    path = tmp_path / "m.h5"
    shutil.copy(MODEL, path)
    with h5py.File(path, "r+") as f:
        matrix = f["fitting/type_0/layer_2/matrix"]
        values = matrix[()]
        values[0, 0] = np.inf
        matrix[...] = values
        f.attrs[CHECKSUM_ATTRIBUTE] = content_digest(f)
    with pytest.raises(ModelError, match=r"parameter /fitting/type_0/layer_2/matrix holds 1 non-finite value"):
        read_model(path)


@pytest.mark.parametrize("where", ["fitting/type_1/layer_0/bias", "descriptor/t_std", "type_map", "@rcut", "@sel"])
def test_file_changed_after_writing_fails_its_checksum(tmp_path, where):
    """One ulp in one weight, a renamed species, a cut-off moved by one ulp: each still parses, each
    would give other energies, each is refused by the checksum recorded when the file was written."""
    path = tmp_path / "m.h5"
    shutil.copy(MODEL, path)
    read_model(path)                                   # intact: the recorded checksum matches
    with h5py.File(path, "r+") as f:
        if where == "type_map":
            f["type_map"][0] = "Au"
        elif where.startswith("@"):
            group = f["descriptor"]
            value = group.attrs[where[1:]]
            group.attrs[where[1:]] = (np.nextafter(value, np.inf) if np.asarray(value).dtype.kind == "f"
                                      else np.asarray(value) + 1)
        else:
            data = f[where]
            values = data[()]
            values.flat[0] = np.nextafter(values.flat[0], np.inf)
            data[...] = values
    with pytest.raises(ModelError, match="do not match the checksum recorded at extraction"):
        read_model(path)


def test_every_shipped_model_file_carries_a_matching_checksum():
    """Every model the package and the tests ship verifies (the schema-1 file excepted on purpose)."""
    paths = [Path(__file__).parents[1] / "dpsycl" / "data" / "cuag.h5", *sorted(DATA.glob("*/model.h5"))]
    assert len(paths) >= 8
    for path in paths:
        with h5py.File(path, "r") as f:
            assert text(f.attrs[CHECKSUM_ATTRIBUTE]) == content_digest(f), path


def _items(f) -> dict:
    """Every attribute and dataset of an open file by path, text as str (either storage), the version and checksum
    attributes left out."""
    out = {}

    def value(v):
        v = np.asarray(v)
        return [text(x) for x in v.ravel()] if v.dtype.kind in "OSU" else v

    def add(name, obj):
        for k in obj.attrs:
            if (obj.name, k) not in (("/", CHECKSUM_ATTRIBUTE), ("/", "dpsycl_version")):
                out[f"{obj.name}@{k}"] = value(obj.attrs[k])
        if isinstance(obj, h5py.Dataset):
            out[f"/{name}"] = value(obj[()])

    add("", f)
    f.visititems(add)
    return out


@pytest.mark.parametrize("model", ["cuag", "tiny_hybrid_e3_compress", "tiny_tebd", "tiny_se_r_compress"])
def test_written_models_hold_no_global_heap_and_the_same_items(tmp_path, model):
    """A model file holds no variable-length strings, so no global heap collection (signature GCOL) that a damaged
    file could make HDF5 parse forever; the shipped files (variable-length text, or extracted again from the graph)
    and the rewritten one hold the same items, read by h5py from both files."""
    source = DATA / model / "model.h5"
    if not source.exists():
        source = tmp_path / "extracted.h5"
        assert main(["extract", str(DATA / model / "frozen_model.pb"), "-o", str(source)]) == 0
    out = tmp_path / "rewritten.h5"
    write_model(read_model(source), out)
    assert b"GCOL" not in out.read_bytes()
    with h5py.File(out, "r") as f:
        strings = []

        def collect(obj):
            types = [obj.attrs.get_id(k).dtype for k in obj.attrs] + ([obj.dtype] if isinstance(obj, h5py.Dataset) else [])
            strings.extend(info for info in map(h5py.check_string_dtype, types) if info is not None)

        collect(f)
        f.visititems(lambda name, obj: collect(obj))
        assert len(strings) >= 5 and all(info.length is not None for info in strings)
        new = _items(f)
    with h5py.File(source, "r") as f:
        old = _items(f)
    assert set(old) <= set(new), set(old) - set(new)    # an older file may lack what later schemas add (low_tail)
    for key, v in old.items():
        assert np.array_equal(np.asarray(new[key]), np.asarray(v)), key


def test_the_packaged_model_holds_no_global_heap():
    """The model the wheel ships (the README's `make run`, `dpsycl run` examples) was written with fixed-length text."""
    assert b"GCOL" not in (Path(__file__).parents[1] / "dpsycl" / "data" / "cuag.h5").read_bytes()
