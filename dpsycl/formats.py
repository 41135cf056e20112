"""What kind of file a path holds, from its first bytes: the one place file magic is written.

Model files are dpsycl's HDF5 (``.h5``) or DeePMD-kit's TensorFlow frozen graph (a protobuf with
no magic of its own); a zip is a PyTorch ``.pth`` or a DeePMD-kit 3 ``.dp``-era archive; H5MD
trajectories are HDF5 too.
"""
from __future__ import annotations

import os

HDF5 = "hdf5"
ZIP = "zip"
OTHER = "other"

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
