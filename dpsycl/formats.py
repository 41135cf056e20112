"""What kind of file a path holds, from its first bytes: the one place file magic is written.

Model files are dpsycl's HDF5 (``.h5``), DeePMD-kit 3's backend-neutral model (``.dp``: HDF5 too, told
apart by its root attribute ``json``, see :func:`hdf5_kind`) or DeePMD-kit's TensorFlow frozen graph (a
protobuf with no magic of its own); a zip is a PyTorch model (``.pth``); H5MD trajectories are HDF5 too.
"""
from __future__ import annotations

import os

HDF5 = "hdf5"
ZIP = "zip"
OTHER = "other"
DEEPMD_DP = "deepmd-dp"

#: the root attribute of a DeePMD-kit .dp file: the whole model as JSON (its arrays are datasets)
DEEPMD_DP_ATTRIBUTE = "json"
DEEPMD_DP_SUFFIX = ".dp"

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def kind_of(head: bytes) -> str:
    """The format of a file that starts with ``head``."""
    if head.startswith(HDF5_MAGIC):
        return HDF5
    if head.startswith(ZIP_MAGIC):
        return ZIP
    return OTHER


def read_head(path: str | os.PathLike, error=ValueError, size: int = 8) -> bytes:
    """The first ``size`` bytes of the file at ``path`` (all of it for size −1); ``error`` (one
    line) when there is no readable file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise error(f"model file not found: {path}")
    if os.path.isdir(path):
        raise error(f"model path is a directory, not a file: {path}")
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None


def sniff(path: str | os.PathLike, error=ValueError) -> str:
    """The format of the file at ``path``; ``error`` (one line) when there is no readable file."""
    return kind_of(read_head(path, error))


def model_kind(path: str | os.PathLike, error=ValueError) -> str:
    """As :func:`sniff`, with a DeePMD-kit .dp file (DEEPMD_DP) told apart from other HDF5 files."""
    kind = sniff(path, error)
    return hdf5_kind(path) if kind == HDF5 else kind


def hdf5_kind(path: str | os.PathLike) -> str:
    """DEEPMD_DP for an HDF5 file that holds a DeePMD-kit .dp model (root attribute ``json``), else HDF5
    (a dpsycl model, an H5MD trajectory, any other HDF5).  A file that HDF5 cannot open (damaged,
    truncated) is told by its suffix, so that its reader can say what is wrong with it."""
    import h5py

    try:
        with h5py.File(os.fspath(path), "r") as f:
            return DEEPMD_DP if DEEPMD_DP_ATTRIBUTE in f.attrs else HDF5
    except (OSError, RuntimeError, KeyError, ValueError):   # HDF5's errors on damaged metadata take all these forms
        return DEEPMD_DP if os.fspath(path).lower().endswith(DEEPMD_DP_SUFFIX) else HDF5


def open_hdf5(path: str | os.PathLike, error=ValueError, what: str = "file"):
    """The HDF5 file at ``path`` opened for reading; ``error`` (one line) when HDF5 cannot open it."""
    import h5py
    path = os.fspath(path)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise error(f"{path}: cannot open as HDF5 ({str(exc).splitlines()[0]}); "
                    f"the {what} is damaged or truncated") from None


def xyz_atom_count_problem(path: str | os.PathLike) -> str | None:
    """Why an (ext)xyz file cannot be read, if a frame declares more atoms than lines follow it.

    ASE's xyz readers trust the count line: a damaged count of 10⁹ in a 34-line file has them
    allocate and loop for minutes before failing.  Frames are walked by their count lines only."""
    with open(os.fspath(path), "rb") as f:
        lines = f.read().splitlines()
    k, frame = 0, 0
    while k < len(lines) and lines[k].strip():
        try:
            natoms = int(lines[k].split()[0])
        except ValueError:
            return None                 # not a count line: ASE words that error itself
        left = len(lines) - k - 2
        if natoms < 0 or natoms > left:
            return f"frame {frame} declares {natoms} atoms, but {max(left, 0)} lines follow its comment line"
        k += natoms + 2
        frame += 1
    return None
